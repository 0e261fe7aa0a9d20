"""The committed responses of the default model and prompt replay offline for all five seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.store.cache import CacheEntry, ResponseCache
from pipeline.store.cache_transfer import (
    Imported,
    export_entries,
    import_entries,
    read_entry,
)
from schemas.errors import InputError
from tests.dealx_process import Finished, run_dealx

FIXTURES = Path("tests/fixtures/responses")
SEEDS = sorted(Path("seeds").glob("*.txt"))


def replay(tmp_path: Path, name: str, strategy: str) -> Finished:
    """`dealx extract` over the seeds with --cache-mode replay into tmp_path/name."""
    return run_dealx(
        [
            "extract",
            "seeds",
            "--out",
            tmp_path / name,
            "--cache",
            tmp_path / "cache.sqlite",
            "--cache-mode",
            "replay",
            "--strategy",
            strategy,
        ]
    )


def test_every_seed_has_recorded_real_responses_for_both_strategies() -> None:
    entries = [read_entry(path) for path in sorted(FIXTURES.glob("*.json"))]
    seeds = [seed.stem for seed in SEEDS]
    plain = [e.doc_id for e in entries if e.request["prompt"] == "extract_v2"]
    constrained = {e.doc_id for e in entries if e.request["prompt"] == "constrained_v2"}
    assert sorted(plain) == seeds and sorted(constrained) == seeds
    for entry in entries:
        # Provenance: the local model answered, through llama.cpp, with these versions.
        assert entry.request["provider"] == "local" and entry.server_model
        assert entry.provenance["versions"]["llama_cpp_python"]
        assert entry.raw_response["choices"][0]["finish_reason"] == "stop"
        assert entry.latency_s > 0 and entry.completion_tokens > 0


@pytest.mark.parametrize("strategy", ["plain", "constrained"])
def test_replay_is_offline_and_identical_on_two_runs(tmp_path: Path, strategy: str) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        total = len(list(FIXTURES.glob("*.json")))
        assert import_entries(cache, FIXTURES) == Imported(read=total, new=total)
        # Imported again: nothing new.
        assert import_entries(cache, FIXTURES) == Imported(read=total, new=0)
    first, second = replay(tmp_path, "a", strategy), replay(tmp_path, "b", strategy)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    for seed in SEEDS:
        a = (tmp_path / "a" / "records" / f"{seed.stem}.json").read_text()
        b = (tmp_path / "b" / "records" / f"{seed.stem}.json").read_text()
        assert a == b
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    prompt = "extract_v2" if strategy == "plain" else "constrained_v2"
    recorded = [read_entry(path) for path in FIXTURES.glob("*.json")]
    assert manifest["cache_misses"] == 0
    assert manifest["cache_hits"] == sum(e.request["prompt"] == prompt for e in recorded)
    assert manifest["strategy"] == strategy


def test_export_then_import_round_trips(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "a.sqlite") as cache:
        import_entries(cache, FIXTURES)
        written = export_entries(cache, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(p.name for p in FIXTURES.glob("*.json"))
    for path in written:
        assert path.read_text() == (FIXTURES / path.name).read_text()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"doc_id": "../../escaped"}, r"unsafe document id '\.\./\.\./escaped'"),
        ({"key": "../../x" + "0" * 57}, r"cache key '\.\./\.\./x0+' is not a SHA-256 hex digest"),
    ],
)
def test_entries_that_would_escape_the_export_folder_are_refused(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    recorded = json.loads(next(FIXTURES.glob("*.json")).read_text())
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "entry.json").write_text(json.dumps({**recorded, **changes}))
    with ResponseCache(tmp_path / "a.sqlite") as cache:
        with pytest.raises(InputError, match=f"entry.json: {message}"):
            import_entries(cache, crafted)
        # An entry written into the cache by other means cannot escape on export either.
        cache.put(CacheEntry.from_json({**recorded, **changes}))
        with pytest.raises(InputError, match=message):
            export_entries(cache, tmp_path / "out" / "inner")
    assert not (tmp_path / "escaped.json").exists() and not list(tmp_path.rglob("escaped*"))


def _contains(quotes: str, *forms: str) -> bool:
    """Case-insensitive containment, with plain spaces and straight apostrophes: written here,
    not borrowed from dealx, so the check does not trust the code it checks."""

    def plain(text: str) -> str:
        return text.replace("\u00a0", " ").replace("\u2019", "'").casefold()

    return any(plain(form) in plain(quotes) for form in forms if form)


def test_every_kept_record_is_supported_by_its_own_evidence(tmp_path: Path) -> None:
    """What `make run` leaves (the constrained replay, strict grounding): each kept record's
    evidence contains its identifying values, and every offset indexes what it claims."""
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        import_entries(cache, FIXTURES)
    assert replay(tmp_path, "run", "constrained").returncode == 0
    kept = 0
    for seed in SEEDS:
        text = seed.read_text(encoding="utf-8")
        record = json.loads((tmp_path / "run" / "records" / f"{seed.stem}.json").read_text())
        aliases = {c["name"]: [c["name"], *c["aliases"]] for c in record["companies"]}
        for kind in ("companies", "people", "deals"):
            for item in record[kind]:
                kept += 1
                assert item["evidence"] and item["grounded"] is True
                for evidence in item["evidence"]:
                    assert text[evidence["start"] : evidence["end"]] == evidence["quote"]
                quotes = " ".join(e["quote"] for e in item["evidence"])
                if kind == "companies":
                    assert _contains(quotes, item["name"], *item["aliases"]), item
                elif kind == "people":
                    assert _contains(quotes, item["name"], item["name"].split()[-1]), item
                else:
                    for party in item["parties"]:
                        forms = aliases.get(party["name"], [party["name"]])
                        assert _contains(quotes, party["name"], *forms), (party, quotes)
                for span in item["spans"]:
                    assert text[span["start"] : span["end"]] == span["text"]
                    assert any(
                        e["start"] <= span["start"] and span["end"] <= e["end"]
                        for e in item["evidence"]
                    ), span
    assert kept > 0
