"""Broken caches and broken exported entries: an entry file of the wrong bytes, shape or field
types is refused by `dealx cache import` with one line naming it (exit 2) and nothing of the
folder is written; a stored row of the wrong types is set aside as a miss; a cache file with
damaged pages or another program's tables is one line (exit 2), not a SQLite traceback."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import pipeline
from pipeline.store.cache import CacheEntry, ResponseCache
from pipeline.store.cache_transfer import export_entries, import_entries
from schemas.errors import EXIT_USAGE, DocumentsFailed, InputError
from tests.dealx_process import REPO, run_dealx

FIXTURES = REPO / "tests" / "fixtures" / "responses"
RECORDED = sorted(FIXTURES.glob("*.json"))
SEED = REPO / "seeds" / "000_0709ac1d3ffb39f1.txt"
PAGE = 4096  # SQLite's default page size, which dealx keeps


def recorded(index: int = 0) -> dict:
    """A recorded entry as its exported JSON object."""
    return json.loads(RECORDED[index].read_text(encoding="utf-8"))


def with_fields(**changes: object) -> Callable[[Path], None]:
    """Writes a recorded entry, these fields changed, as `path` (json.dumps writes NaN as NaN
    and a lone surrogate as its \\u escape, as a hand-edited file may hold them)."""
    return lambda path: path.write_text(json.dumps({**recorded(), **changes}), encoding="utf-8")


def without(field: str) -> Callable[[Path], None]:
    """Writes a recorded entry without `field` as `path`."""
    entry = {name: value for name, value in recorded().items() if name != field}
    return lambda path: path.write_text(json.dumps(entry), encoding="utf-8")


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


# Each broken file, how it is made, and what its one-line error says of it.
BROKEN = {
    "not UTF-8": (write_bytes(b"\xff\xfe"), "not UTF-8 (byte 0)"),
    "a folder": (Path.mkdir, "cannot read (not a regular file)"),
    "a FIFO": (os.mkfifo, "cannot read (not a regular file)"),
    "a symlink loop": (symlink_loop, "cannot read (Too many levels of symbolic links)"),
    "deeply nested": (write_bytes(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
    "an array": (write_bytes(b"[1, 2]"), "(it is an array, not a JSON object)"),
    "no key": (without("key"), "(no key)"),
    "numeric provenance": (with_fields(provenance=0), "provenance is an integer, not a JSON"),
    "numeric doc_id": (with_fields(doc_id=5), "doc_id is an integer, not a string"),
    "NaN latency": (with_fields(latency_s=float("nan")), "latency_s is nan, not a finite number"),
    "null created_at": (with_fields(created_at=None), "created_at is null, not a string"),
    "null record": (with_fields(record=None), "record is null, not a JSON object"),
    "array record": (with_fields(record=[1, 2]), "record is an array, not a JSON object"),
    "text count": (
        with_fields(prompt_tokens="many"),
        "prompt_tokens is a string, not a non-negative integer",
    ),
    "boolean count": (with_fields(reasks=True), "reasks is a boolean, not a non-negative integer"),
    "negative count": (with_fields(reasks=-1), "reasks is -1, not a non-negative integer"),
    "huge count": (
        with_fields(completion_tokens=2**64),
        "completion_tokens is 18446744073709551616",
    ),
    "lone surrogate": (
        with_fields(created_at="\ud800 2025"),
        "a string holds the unpaired surrogate '\\ud800'",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_entry_file_is_refused_and_nothing_is_imported(tmp_path: Path, case: str) -> None:
    make, problem = BROKEN[case]
    folder = tmp_path / "entries"
    folder.mkdir()
    # Sorted before the broken file: read first, yet not written either.
    (folder / "a.json").write_text(RECORDED[1].read_text(encoding="utf-8"), encoding="utf-8")
    make(folder / "x.json")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.put(CacheEntry.from_json(recorded(2)))
        before = cache.entries()
        with pytest.raises(InputError) as refused:
            import_entries(cache, folder)
        message = str(refused.value)
        assert message.startswith(f"{folder / 'x.json'}: ") and problem in message
        assert "\n" not in message
        assert cache.entries() == before


def test_a_refused_import_exits_2_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "entries"
    folder.mkdir()
    with_fields(record=None)(folder / "x.json")
    cache = tmp_path / "cache.sqlite"
    result = run_dealx(["cache", "import", folder, "--cache", cache])
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [
        f"dealx: error: {folder / 'x.json'}: not a dealx cache entry "
        "(record is null, not a JSON object)"
    ]
    assert not cache.exists()  # the folder is checked before the cache is made


# A stored row written by hand or an older version: SQL that breaks it, and the reason it is
# set aside with.
WRONG_ROWS = {
    "record null": ("record = 'null'", "record is null, not a JSON object"),
    "record array": ("record = '[1, 2]'", "record is an array, not a JSON object"),
    "text count": ("prompt_tokens = 'many'", "prompt_tokens is a string, not a non-negative"),
    "text latency": ("latency_s = 'slow'", "latency_s is a string, not a finite number"),
    "blob model": ("server_model = x'00'", "server_model is bytes, not a string or null"),
    "blob record": ("record = x'ff'", "'utf-8' codec can't decode byte 0xff"),
}


@pytest.mark.parametrize("case", WRONG_ROWS)
@pytest.mark.parametrize("read", ["get_answer", "get"])
def test_a_stored_row_of_the_wrong_types_is_set_aside_as_a_miss(
    tmp_path: Path, case: str, read: str
) -> None:
    change, reason = WRONG_ROWS[case]
    entry = CacheEntry.from_json(recorded())
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.put(entry)
        with cache._db:
            cache._db.execute(f"UPDATE responses SET {change}")
        assert getattr(cache, read)(entry.key) is None
        assert len(cache) == 0
        [(key, why)] = cache._db.execute("SELECT key, reason FROM set_aside").fetchall()
    assert key == entry.key and why.startswith(f"unreadable entry: {reason}")


def test_a_row_whose_request_is_broken_replays_but_is_not_exported(tmp_path: Path) -> None:
    entry = CacheEntry.from_json(recorded())
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.put(entry)
        with cache._db:
            cache._db.execute("UPDATE responses SET request = '[]'")
        # A replay reads only the answer's columns; the request is not its concern.
        assert cache.get_answer(entry.key) == entry.answer
        assert export_entries(cache, tmp_path / "exported") == []
        [why] = cache._db.execute("SELECT reason FROM set_aside").fetchone()
    assert why == "unreadable entry: request is an array, not a JSON object"


def test_a_replay_of_a_row_of_the_wrong_types_fails_the_document_as_a_miss(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache.sqlite"
    with ResponseCache(cache) as store:
        import_entries(store, FIXTURES)
        with store._db:
            store._db.execute(
                "UPDATE responses SET prompt_tokens = 'many' WHERE doc_id = ?", (SEED.stem,)
            )
    with pytest.raises(DocumentsFailed) as failed:
        pipeline.extract(SEED, cache=cache, cache_mode="replay", strategy="plain")
    assert list(failed.value.failures) == [SEED.stem]
    assert failed.value.failures[SEED.stem].startswith(f"{SEED.stem}: no recorded response in ")


def damaged_cache(tmp_path: Path) -> Path:
    """A cache of the recorded entries whose pages after the tables' roots are overwritten."""
    path = tmp_path / "damaged.sqlite"
    with ResponseCache(path) as cache:
        import_entries(cache, FIXTURES)
    # The last connection's close checkpointed the WAL into the file and removed it.
    assert not path.with_name(f"{path.name}-wal").exists()
    data = bytearray(path.read_bytes())
    assert len(data) > 20 * PAGE
    for offset in range(4 * PAGE, len(data), 7):
        data[offset] = 0x5A
    path.write_bytes(data)
    return path


def test_a_cache_with_damaged_pages_is_an_input_error(tmp_path: Path) -> None:
    path = damaged_cache(tmp_path)
    damaged = f"{path}: the cache is damaged (database disk image is malformed)"
    with ResponseCache(path) as cache:  # the schema page is whole
        for use in (
            lambda: export_entries(cache, tmp_path / "exported"),
            lambda: import_entries(cache, FIXTURES),
            lambda: cache.get_answer(recorded()["key"]),  # a replayed document's reason
        ):
            with pytest.raises(InputError) as refused:
                use()
            assert str(refused.value) == damaged
    assert not (tmp_path / "exported").exists()


def test_exporting_a_damaged_cache_exits_2_with_one_line(tmp_path: Path) -> None:
    path = damaged_cache(tmp_path)
    before = path.read_bytes()
    result = run_dealx(["cache", "export", tmp_path / "exported", "--cache", path])
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [
        f"dealx: error: {path}: the cache is damaged (database disk image is malformed)"
    ]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("responses (x)", "table responses has no column key and 12 more"),
        ("set_aside (key, reason)", "table set_aside has no column doc_id and 12 more"),
    ],
)
def test_a_cache_with_other_tables_is_refused_when_opened(
    tmp_path: Path, table: str, problem: str
) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {table}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(InputError) as refused:
        ResponseCache(path)
    assert str(refused.value) == f"{path}: not a dealx cache ({problem})"
    assert path.read_bytes() == before  # not switched to WAL, no table added
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


def test_replaying_from_another_programs_table_exits_2_before_any_document(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE responses (x)")
    db.close()
    out = tmp_path / "run"
    result = run_dealx(["extract", SEED, "--cache-mode", "replay", "--cache", path, "--out", out])
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [
        f"dealx: error: {path}: not a dealx cache (table responses has no column key and 12 more)"
    ]
    assert not out.exists()
