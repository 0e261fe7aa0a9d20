"""The consolidated section of the HTML report (eval/report_consolidated.py)."""

from __future__ import annotations

import json
from pathlib import Path

from eval.consolidation import gold_extractions
from eval.load import load_gold
from eval.report import write_report
from pipeline.consolidation import consolidate, write_consolidation


def gold_run(root: Path) -> Path:
    run = root / "run"
    (run / "records").mkdir(parents=True)
    for record in gold_extractions(load_gold(Path("gold"))):
        (run / "records" / f"{record.doc_id}.json").write_text(record.model_dump_json())
    inputs = {p.stem: {"path": str(p.resolve())} for p in Path("seeds").glob("*.txt")}
    (run / "manifest.json").write_text(json.dumps({"inputs": inputs}))
    return run


def test_each_deal_shows_its_timeline_sources_and_conflicts(tmp_path: Path) -> None:
    run = gold_run(tmp_path)
    write_consolidation(consolidate(run), run / "consolidated")
    page = write_report(run, load_gold(Path("gold")), tmp_path / "report.html").read_text()
    section = page[page.index('<section class="consolidated"') :]
    section = section[: section.index("</section>")]
    assert "Consolidated deals (13, 6 reported by more than one article" in section
    deal = section[section.index('id="investment:meta+scale-ai"') :]
    deal = deal[: deal.index("</details>")]
    assert deal.count("<tr><td>") == 5  # one timeline row per source
    for doc_id in sorted(p.stem for p in Path("seeds").glob("*.txt")):
        assert f'href="#doc-{doc_id}"' in deal
        assert f'id="doc-{doc_id}"' in page  # the per-article section it links to
    assert "<td>2025-06-09</td>" in deal and "<td>undated</td>" in deal
    assert "amount (agreed): about USD 14B" in deal and "USD 14B (<a" in deal


def test_no_consolidation_no_section_and_a_broken_one_is_a_notice(tmp_path: Path) -> None:
    run = gold_run(tmp_path)
    golds = load_gold(Path("gold"))
    assert 'class="consolidated"' not in write_report(run, golds, tmp_path / "a.html").read_text()
    (run / "consolidated").mkdir()
    (run / "consolidated" / "consolidated.json").write_text('{"documents": 3}')
    page = write_report(run, golds, tmp_path / "b.html").read_text()
    assert "consolidated.json: not a consolidation" in page


def test_values_are_escaped(tmp_path: Path) -> None:
    run = gold_run(tmp_path)
    consolidation = consolidate(run)
    hostile = consolidation.deals[0].model_copy(update={"id": '"><script>alert(1)</script>'})
    consolidation = consolidation.model_copy(update={"deals": [hostile]})
    write_consolidation(consolidation, run / "consolidated")
    page = write_report(run, load_gold(Path("gold")), tmp_path / "r.html").read_text()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page
