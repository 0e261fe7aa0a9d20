"""The row spool: what a run keeps of each document until it writes its tables, held in a
temporary SQLite database and read back in document order."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.store import row_spool, run_dir
from pipeline.store.row_spool import RowSpool
from pipeline.store.run_dir import csv_parts, write_document_table, write_tables

# Ids in an order that byte, code point and arrival order would each sort differently.
IDS = ["b-2", "a-10", "é-1", "a-9", "Z-1", "\U0001d400-1", "ａ-1", "a-1"]


@pytest.mark.parametrize("pending", [1, 3, row_spool.PENDING_DOCUMENTS])
def test_rows_come_back_in_document_order_and_in_order_within_a_document(
    pending: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However many documents wait to be moved into the database when the rows are read.
    monkeypatch.setattr(row_spool, "PENDING_DOCUMENTS", pending)
    spool = RowSpool()
    for doc_id in IDS:
        spool.add_document(doc_id, {"deals": [(doc_id, 1), (doc_id, 2)], "people": [(doc_id,)]})
    deals = list(spool.table_rows("deals"))
    assert deals == [[doc_id, n] for doc_id in sorted(IDS) for n in (1, 2)]
    assert list(spool.table_rows("people")) == [[doc_id] for doc_id in sorted(IDS)]
    assert list(spool.table_rows("companies")) == []
    spool.close()


def test_values_survive_the_spool_with_their_types() -> None:
    row = ("d", 'a "quoted", line\nbreak \\ {braces}', None, True, False, 2016, 49.0, 0.1 + 0.2)
    spool = RowSpool()
    spool.add_document("d", {"companies": [row]})
    assert [tuple(r) for r in spool.table_rows("companies")] == [row]


def test_documents_of_this_invocation_replace_an_earlier_ones_rows() -> None:
    spool = RowSpool()
    spool.add_document("b", {}, {"doc_id": "b", "status": "ok", "tokens_in": 7})
    spool.add_document("d", {}, {"doc_id": "d", "status": "failed", "requests": 2})
    earlier = [
        {"doc_id": "a", "status": "ok", "tokens_in": "3", "note": "x"},
        {"doc_id": "b", "status": "failed", "tokens_in": "", "note": "y"},
        {"doc_id": "c", "status": "ok", "tokens_in": "1.0", "note": ""},
    ]
    spool.add_earlier_documents(["doc_id", "status", "tokens_in", "note"], earlier)
    assert spool.document_columns == ["doc_id", "status", "tokens_in", "note", "requests"]
    assert list(spool.document_rows()) == [
        earlier[0],
        {"doc_id": "b", "status": "ok", "tokens_in": 7},
        earlier[2],
        {"doc_id": "d", "status": "failed", "requests": 2},
    ]


def test_inputs_are_kept_by_document_the_last_one_winning() -> None:
    spool = RowSpool()
    spool.add_document("b", {}, path="/in/b.txt", sha256="1" * 64)
    spool.add_document("a", {}, path=None, sha256="2" * 64)
    spool.add_document("b", {}, path="/in/b2.txt", sha256="3" * 64)
    spool.add_document("c", {})  # no input known (a document given as text has a hash)
    assert spool.inputs() == {
        "a": {"path": None, "sha256": "2" * 64},
        "b": {"path": "/in/b2.txt", "sha256": "3" * 64},
    }


def test_schema_hashes_come_back_distinct_and_sorted() -> None:
    spool = RowSpool()
    spool.add_document("a", {}, schemas=["c" * 64, "a" * 64])
    spool.add_document("b", {}, schemas=["b" * 64, "a" * 64])
    spool.add_document("c", {})
    assert list(spool.schemas()) == ["a" * 64, "b" * 64, "c" * 64]


def test_the_spool_moves_to_a_temp_file_that_close_deletes(tmp_path: Path) -> None:
    # Rows far beyond SQLite's page cache go to a file in TMPDIR (unlinked at once, so it is
    # found through the process's open files), not to memory.
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from pipeline.store.row_spool import RowSpool

def spooled():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{{fd}}")
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(os.environ["TMPDIR"]):
            found.append(os.fstat(int(fd)).st_size)
    return found

spool = RowSpool()
for i in range(3000):
    spool.add_document(f"doc-{{i:05d}}", {{"deals": [("x" * 20000,)]}})
print(max(spooled()) // 2**20)
spool.close()
print(len(spooled()))
"""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    megabytes, left_open = map(int, done.stdout.split())
    assert megabytes >= 50  # 3,000 rows of 20 kB
    assert left_open == 0
    assert list(tmp_path.iterdir()) == []


def _pandas_csv(columns: list[str], rows: list[tuple[object, ...]]) -> str:
    return pd.DataFrame(rows, columns=columns).to_csv(index=False)


def test_csv_parts_write_what_pandas_writes_for_columns_of_one_type() -> None:
    columns = ["doc_id", "text", "maybe", "flag", "count", "amount"]
    hostile = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", "\\ {} ' \t", "", "ünï", "\x01"]
    rng = random.Random(7)
    rows = [
        (
            f"d{i}",
            rng.choice(hostile) + str(i),
            rng.choice([None, "x"]),
            rng.choice([True, False]),
            rng.randrange(10**6),
            rng.choice([14e9, 0.1 + 0.2, 49.0, 1e20, 1.5e-05, -0.0]),
        )
        for i in range(run_dir.CSV_PART_ROWS * 2 + 5)
    ]
    assert "".join(csv_parts(columns, rows)) == _pandas_csv(columns, rows)
    assert "".join(csv_parts(columns, [])) == _pandas_csv(columns, [])


def test_csv_parts_format_each_cell_on_its_own() -> None:
    # pandas makes a column of integers with a gap floats ("2016.0"); a file written in parts
    # cannot know the whole column, so each cell keeps its own form.
    written = "".join(csv_parts(["doc_id", "year"], [("a", 2016), ("b", None)]))
    assert written == "doc_id,year\na,2016\nb,\n"
    assert _pandas_csv(["doc_id", "year"], [("a", 2016), ("b", None)]).endswith("a,2016.0\nb,\n")


def test_tables_are_written_in_document_order_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(row_spool, "CHUNK_ROWS", 3)
    monkeypatch.setattr(run_dir, "CSV_PART_ROWS", 2)
    spool = RowSpool()
    people = {
        doc_id: [(doc_id, f"P {doc_id}", "", f"Q {doc_id}", True, "name=0:1")] for doc_id in IDS
    }
    for doc_id in IDS:
        spool.add_document(doc_id, {"people": people[doc_id] * 2})
    counts = write_tables(tmp_path, spool)
    assert counts == {"companies": 0, "people": 2 * len(IDS), "deals": 0}
    written = pd.read_csv(tmp_path / "people.csv", keep_default_na=False, dtype=str)
    assert list(written["doc_id"]) == [doc_id for doc_id in sorted(IDS) for _ in range(2)]
    assert (tmp_path / "deals.csv").read_text(encoding="utf-8").count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "companies.csv",
        "deals.csv",
        "people.csv",
    ]


def test_documents_csv_keeps_earlier_rows_verbatim(tmp_path: Path) -> None:
    (tmp_path / "documents.csv").write_text(
        'doc_id,status,tokens_in,error\na,ok,3.0,\nb,failed,,"timed out, twice"\n',
        encoding="utf-8",
    )
    spool = RowSpool()
    spool.add_document("b", {}, {"doc_id": "b", "status": "ok", "tokens_in": 5, "error": None})
    spool.add_document("0", {}, {"doc_id": "0", "status": "ok", "tokens_in": 1, "cost": 0.5})
    write_document_table(tmp_path, spool)
    assert (tmp_path / "documents.csv").read_text(encoding="utf-8") == (
        "doc_id,status,tokens_in,error,cost\n0,ok,1,,0.5\na,ok,3.0,,\nb,ok,5,,\n"
    )


def test_an_empty_documents_csv_is_a_line_break_as_pandas_wrote_it(tmp_path: Path) -> None:
    write_document_table(tmp_path, RowSpool())
    assert (tmp_path / "documents.csv").read_text() == pd.DataFrame([]).to_csv(index=False)
