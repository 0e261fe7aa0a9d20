"""The library API: `pipeline.extract`/`aextract`/`write_run` and `eval.score`/`compare`, on the
recorded responses of the embedded model (replayed from a real SQLite cache), from plain Python
and from inside a running event loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import eval as dealx_eval
import pipeline
from pipeline.store.cache import ResponseCache
from pipeline.store.cache_transfer import import_entries
from schemas.errors import DocumentsFailed, InputError
from schemas.records import DocumentExtraction

RESPONSES = Path("tests/fixtures/responses")
SEEDS = Path("seeds")
GOLD = Path("gold")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cache") / "cache.sqlite"
    with ResponseCache(path) as store:
        import_entries(store, RESPONSES)
    return path


def test_extract_returns_grounded_records_in_input_order(cache: Path) -> None:
    results = pipeline.extract([SEEDS], cache=cache, cache_mode="replay", strategy="constrained")
    assert [r.doc_id for r in results] == sorted(p.stem for p in SEEDS.glob("*.txt"))
    assert all(isinstance(r, DocumentExtraction) for r in results)
    assert results.failures == {}
    # Grounded: every kept value's span is the article's own text at its offsets.
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    spans = [
        (r.doc_id, span)
        for r in results
        for record in (*r.companies, *r.people, *r.deals)
        for span in record.spans
    ]
    assert spans
    assert all(texts[doc][s.start : s.end] == s.text for doc, s in spans)
    assert all(r.support is not None for r in results)


def test_a_document_given_as_text_is_extracted_like_its_file(cache: Path) -> None:
    seed = sorted(SEEDS.glob("*.txt"))[0]
    document = pipeline.Document(seed.stem, seed.read_text(encoding="utf-8"))
    [from_text] = pipeline.extract(document, cache=cache, cache_mode="replay", strategy="plain")
    [from_file] = pipeline.extract(seed, cache=cache, cache_mode="replay", strategy="plain")
    assert from_text == from_file


def test_aextract_works_inside_a_running_event_loop(cache: Path) -> None:
    async def notebook_cell() -> tuple[list[str], list[str]]:
        awaited = await pipeline.aextract(SEEDS, cache=cache, cache_mode="replay")
        # The synchronous facade, called from inside the loop, as a notebook user would.
        called = pipeline.extract(SEEDS, cache=cache, cache_mode="replay")
        return [r.doc_id for r in awaited], [r.doc_id for r in called]

    awaited, called = asyncio.run(notebook_cell())
    assert awaited == called and len(awaited) == 5


def test_failed_documents_are_named_and_the_others_kept(cache: Path) -> None:
    seed = sorted(SEEDS.glob("*.txt"))[0]
    unknown = pipeline.Document("never-recorded", "Acme agreed to buy Beta for $5 million.")
    with pytest.raises(DocumentsFailed) as raised:
        pipeline.extract([seed, unknown], cache=cache, cache_mode="replay", strategy="plain")
    assert list(raised.value.failures) == ["never-recorded"]
    assert "no recorded response" in raised.value.failures["never-recorded"]
    assert [r.doc_id for r in raised.value.extractions] == [seed.stem]

    collected = pipeline.extract(
        [seed, unknown], cache=cache, cache_mode="replay", strategy="plain", on_error="collect"
    )
    assert [r.doc_id for r in collected] == [seed.stem]
    assert list(collected.failures) == ["never-recorded"]


def test_a_document_id_used_twice_is_refused(cache: Path) -> None:
    twice = [pipeline.Document("same", "Text one."), pipeline.Document("same", "Text two.")]
    with pytest.raises(InputError, match="used twice"):
        pipeline.extract(twice, cache=cache, cache_mode="replay")


def test_write_run_makes_a_run_directory_that_eval_scores(cache: Path, tmp_path: Path) -> None:
    results = pipeline.extract(SEEDS, cache=cache, cache_mode="replay", on_error="collect")
    manifest = pipeline.write_run(results, tmp_path / "run")
    for name in ("manifest.json", "deals.csv", "companies.csv", "people.csv", "documents.csv"):
        assert (tmp_path / "run" / name).is_file()
    assert manifest["documents"]["ok"] == 5
    # The manifest records where each input came from and the hash of its text.
    for doc_id, entry in manifest["inputs"].items():
        path = Path(entry["path"])
        assert path.is_absolute() and path.stem == doc_id
    on_disk = dealx_eval.score(tmp_path / "run", GOLD)
    in_memory = dealx_eval.score(results, GOLD)
    assert on_disk.by_type.equals(in_memory.by_type)
    assert float(on_disk.overall["f1"].iloc[0]) > 0


def test_write_run_refuses_a_run_of_other_settings(cache: Path, tmp_path: Path) -> None:
    plain = pipeline.extract(SEEDS, cache=cache, cache_mode="replay", strategy="plain")
    pipeline.write_run(plain, tmp_path / "run")
    before = (tmp_path / "run" / "manifest.json").read_bytes()
    constrained = pipeline.extract(SEEDS, cache=cache, cache_mode="replay", strategy="constrained")
    with pytest.raises(InputError, match="extracted with strategy plain, not constrained"):
        pipeline.write_run(constrained, tmp_path / "run")
    assert (tmp_path / "run" / "manifest.json").read_bytes() == before


def test_compare_takes_runs_or_records(cache: Path) -> None:
    plain = pipeline.extract(SEEDS, cache=cache, cache_mode="replay", strategy="plain")
    constrained = pipeline.extract(SEEDS, cache=cache, cache_mode="replay")
    comparison = dealx_eval.compare(plain, constrained, GOLD)
    overall = comparison.deltas.set_index("scope").loc["overall"]
    scores = (dealx_eval.score(plain, GOLD), dealx_eval.score(constrained, GOLD))
    expected = float(scores[1].overall["f1"].iloc[0]) - float(scores[0].overall["f1"].iloc[0])
    assert overall["delta"] == pytest.approx(expected)


def test_readme_use_from_python_example_runs_as_written(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = Path("README.md").read_text(encoding="utf-8")
    section = readme.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    # The example's world: the seeds, the gold and the cache `make run` fills.
    repo = Path.cwd()
    for name in ("seeds", "gold"):
        (tmp_path / name).symlink_to(repo / name)
    (tmp_path / ".dealx").mkdir()
    (tmp_path / ".dealx" / "cache.sqlite").write_bytes(cache.read_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    manifest = json.loads((tmp_path / "runs" / "from-python" / "manifest.json").read_text())
    assert manifest["documents"]["ok"] == 5
