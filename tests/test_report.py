"""The HTML report: spans nest correctly, and a real headless Chromium renders one highlight per
grounded evidence span and one labeled mark per value span, runs no injected script, and the
report leaks no API key.

Chromium is Debian's `chromium` package; without it these tests fail (they never skip), since
the report's promise is about what a browser shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pytest

from eval.align import RECORD_LISTS
from eval.load import load_gold, load_run
from eval.report import Highlight, ValueMark, articles, render_article, render_report, write_report
from eval.scoring import evaluate
from schemas.gold import GoldDocument
from schemas.records import Company, Deal, DocumentExtraction, Evidence, Person, Role, ValueSpan
from tests.dealx_process import REPO, Finished, run_dealx

ARTIFACTS = REPO / "tests" / "artifacts"
SENTINEL = "sk-dealx-sentinel-4f1c9a7e-do-not-leak"
GOLD_FLAGS = {"optional", "optional_fields"}
R = TypeVar("R", Company, Person, Deal)


class Dom(HTMLParser):
    """The elements of a page that the tests look at: highlights, scripts, body attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.highlights: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.body: dict[str, str | None] = {}
        self.tags: Counter[str] = Counter()
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags[tag] += 1
        if tag == "body":
            self.body = attributes
        elif tag == "script":
            self.scripts.append(attributes)
        elif "hl" in (attributes.get("class") or "").split():
            self.highlights.append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def offsets(highlight: dict[str, str | None]) -> tuple[str, int, int]:
    """A highlight element's document (its record key's first part), start and end."""
    doc_id = (highlight["data-rec"] or "").split("/")[0]
    return doc_id, int(highlight["data-start"] or -1), int(highlight["data-end"] or -1)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium offline; fails the test when it is not installed."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(
            "chromium not found: install Debian's package (apt-get install -y chromium); "
            "`make test` does this on a fresh machine",
            pytrace=False,
        )
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def rendered_dom(page: Path, profile: Path) -> Dom:
    """The DOM after the page's own script ran, as Chromium serializes it."""
    return Dom(chromium(profile, "--dump-dom", page.as_uri()).stdout)


def prediction(record: R, kind: type[R]) -> R:
    """A gold record as a model's: without gold flags, every evidence span marked grounded."""
    data = record.model_dump(exclude=GOLD_FLAGS)
    for evidence in data["evidence"]:
        evidence["grounded"] = evidence["start"] is not None
    return kind.model_validate(data)


def write_run(run_dir: Path, predictions: list[DocumentExtraction], errors: dict[str, str]) -> None:
    """A run directory as `dealx extract` leaves it: records, errors.jsonl, manifest.json."""
    (run_dir / "records").mkdir(parents=True)
    for doc in predictions:
        (run_dir / "records" / f"{doc.doc_id}.json").write_text(doc.model_dump_json(indent=2))
    lines = [json.dumps({"doc_id": doc_id, "reason": reason}) for doc_id, reason in errors.items()]
    (run_dir / "errors.jsonl").write_text("".join(f"{line}\n" for line in lines))
    manifest = {"model": "test/model", "prompt": "extract_v2", "grounding": "flag"}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


def grounded_spans(run_dir: Path) -> Counter[tuple[str, int, int]]:
    """(doc_id, start, end) of every evidence span with an offset in the run's records."""
    spans: Counter[tuple[str, int, int]] = Counter()
    for doc_id, doc in load_run(run_dir).predictions.items():
        for record in [*doc.companies, *doc.people, *doc.deals]:
            for evidence in record.evidence:
                assert (evidence.start is not None) == bool(evidence.grounded)
                if evidence.start is not None:
                    spans[(doc_id, evidence.start, evidence.end)] += 1
    return spans


@pytest.fixture
def seeds_run(tmp_path: Path) -> tuple[Path, Path, dict[str, GoldDocument]]:
    """A run over the repository's seeds built from their gold: some records right, one wrong
    value, one spurious, one missed, one ungrounded quote, a failed document, and an article
    without gold. Gold evidence overlaps a lot (one sentence backs several records)."""
    golds = load_gold(REPO / "gold")
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    extra = "Northwind Traders agreed to buy Contoso for $2 billion, the companies said."
    (seeds / "extra.txt").write_text(extra, encoding="utf-8")
    doc_ids = sorted(golds)
    predictions = []
    for doc_id in doc_ids[:-1]:  # the last document fails
        gold = golds[doc_id]
        companies = [prediction(c, Company) for c in gold.companies]
        if doc_id == doc_ids[0]:
            companies[0] = companies[0].model_copy(update={"founded_year": 1999})  # wrong value
            companies.pop()  # missed
            # spurious, on the very span of another record
            quote = gold.companies[1].evidence[0]
            spurious = Evidence(quote=quote.quote, start=quote.start, end=quote.end, grounded=True)
            companies.append(Company(name="Acme Holdings", evidence=[spurious]))
            # a quote grounding could not place, kept by --grounding flag: never highlighted
            companies[1] = companies[1].model_copy(
                update={
                    "evidence": [
                        *companies[1].evidence,
                        Evidence(quote="not in the article", grounded=False),
                    ],
                    "grounded": False,
                }
            )
        predictions.append(
            DocumentExtraction(
                doc_id=doc_id,
                companies=companies,
                people=[prediction(p, Person) for p in gold.people],
                deals=[prediction(d, Deal) for d in gold.deals],
            )
        )
    predictions.append(
        DocumentExtraction(
            doc_id="extra",
            companies=[
                Company(
                    name="Contoso",
                    evidence=[Evidence(quote="Contoso", start=32, end=39, grounded=True)],
                )
            ],
            deals=[
                Deal(
                    deal_type="acquisition",
                    parties=[
                        {"name": "Northwind Traders", "role": "acquirer"},
                        {"name": "Contoso", "role": "target"},
                    ],
                    amount="$2 billion",
                    evidence=[Evidence(quote=extra[:49], start=0, end=49, grounded=True)],
                )
            ],
        )
    )
    run_dir = tmp_path / "run"
    write_run(run_dir, predictions, {doc_ids[-1]: "model answer failed validation 3 times"})
    return run_dir, seeds, golds


def test_report_in_chromium_highlights_every_grounded_span(
    seeds_run: tuple[Path, Path, dict[str, GoldDocument]], tmp_path: Path
) -> None:
    run_dir, seeds, golds = seeds_run
    page = write_report(run_dir, golds, tmp_path / "report.html", documents_dir=seeds)
    expected = grounded_spans(run_dir)

    served = Dom(page.read_text(encoding="utf-8"))
    assert len(served.highlights) == sum(expected.values())
    dom = rendered_dom(page, tmp_path / "profile")
    assert len(dom.highlights) == sum(expected.values()) > 50
    assert dom.body.get("data-highlights") == str(sum(expected.values()))  # the page's own count
    assert Counter(map(offsets, dom.highlights)) == expected
    outcomes = Counter(h["class"] for h in dom.highlights)
    for outcome in ("correct", "wrong_value", "spurious", "optional", "unscored"):
        assert outcomes[f"hl o-{outcome}"] > 0, outcome
    text = "".join(dom.text)
    assert "Missed gold records" in text
    assert golds[sorted(golds)[0]].companies[-1].name in text  # the company dropped from doc 0
    assert "model answer failed validation 3 times" in text

    screenshot = tmp_path / "report.png"
    chromium(
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        page.as_uri(),
    )
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "report.png")


def test_report_is_self_contained(
    seeds_run: tuple[Path, Path, dict[str, GoldDocument]], tmp_path: Path
) -> None:
    run_dir, seeds, golds = seeds_run
    page = write_report(run_dir, golds, tmp_path / "report.html", documents_dir=seeds)
    html = page.read_text(encoding="utf-8")
    # Nothing to fetch: every link stays in the page, no stylesheet, frame, import or url().
    references = re.findall(r"""<[^>]*\b(?:src|href|action)\s*=\s*["']?([^"'\s>]*)""", html)
    assert all(reference.startswith("#") for reference in references), references
    assert not re.search(r"<link\b|<iframe\b|<img\b|@import|url\(", html, re.IGNORECASE)
    # And the browser is told to fetch nothing should anything slip through.
    assert "default-src 'none'" in html


def test_article_and_model_output_are_escaped(tmp_path: Path) -> None:
    article = "Intro. <script>window.pwned=1</script> <img src=x onerror=alert(2)> Acme rose."
    evil = "</script><script>alert(1)</script>"
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "evil.txt").write_text(article, encoding="utf-8")
    script_at = article.index("<script>")
    evidence = {"quote": "<script>window.pwned=1</script>", "start": script_at, "end": 39}
    gold = GoldDocument.model_validate(
        {
            "doc_id": "evil",
            "companies": [
                {"name": "Acme", "evidence": [evidence]},
                {"name": f"Gold {evil}", "evidence": [{"quote": evil}]},
            ],
        }
    )
    pred = DocumentExtraction(
        doc_id="evil",
        companies=[
            Company(name="Acme", headquarters=evil, evidence=[Evidence(**evidence)]),
            Company(name=evil, aliases=["<!--"], evidence=[Evidence(quote=evil, start=6, end=49)]),
        ],
    )
    run_dir = tmp_path / "run"
    write_run(run_dir, [pred], {})
    page = write_report(run_dir, {"evil": gold}, tmp_path / "report.html", documents_dir=seeds)
    raw = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in raw
    assert "<script>window.pwned" not in raw
    assert "<script>alert" not in raw

    dom = rendered_dom(page, tmp_path / "profile")
    assert dom.scripts == [{"type": "application/json", "id": "dealx-records"}, {}]
    assert dom.tags["img"] == 0
    assert dom.body.get("data-records") == "2"  # JSON.parse read both records intact
    assert dom.body.get("data-highlights") == "2"
    assert "<script>window.pwned=1</script>" in "".join(dom.text)  # shown as text


def test_report_command_leaves_no_api_key(tmp_path: Path) -> None:
    """The key in the environment through extraction and report appears nowhere in the page."""
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    (seeds / "unrecorded.txt").write_text("Globex bought Initech.\n", encoding="utf-8")
    cache, run_dir, out = tmp_path / "cache.sqlite", tmp_path / "run", tmp_path / "r.html"
    env = {**os.environ, "OPENAI_API_KEY": SENTINEL}

    def dealx(*args: str | Path) -> Finished:
        return run_dealx(list(args), env=env)

    assert (
        dealx(
            "cache", "import", REPO / "tests" / "fixtures" / "responses", "--cache", cache
        ).returncode
        == 0
    )
    extracted = dealx(
        "extract", seeds, "--cache", cache, "--cache-mode", "replay", "--out", run_dir
    )
    assert extracted.returncode == 1, extracted.stderr  # unrecorded.txt has no response
    reported = dealx("report", run_dir, "--gold", REPO / "gold", "--seeds", seeds, "-o", out)
    assert reported.returncode == 0, reported.stderr
    assert reported.stdout.strip() == str(out)
    page = out.read_bytes()
    assert b"no recorded response" in page  # the failure reason is shown
    assert SENTINEL.encode() not in page


def test_overlapping_spans_nest_with_one_hl_each() -> None:
    text = "Meta & Scale AI <agree> on a $14 billion deal."
    spans = [
        (0, 46),  # the whole text
        (0, 15),  # starts with it, ends inside
        (7, 23),  # crosses the end of (0, 15)
        (7, 23),  # the same span twice, from two records
        (16, 40),  # crosses the end of (7, 23)
        (29, 29),  # empty
        (44, 46),  # inside, at the very end
    ]
    highlights = [
        Highlight(s, e, f"d/company/{i}", "correct", "x") for i, (s, e) in enumerate(spans)
    ]
    rendered = render_article(text, highlights)
    dom = Dom(f"<div>{rendered}</div>")
    assert "".join(dom.text) == text
    assert sorted(
        (int(h["data-start"] or -1), int(h["data-end"] or -1)) for h in dom.highlights
    ) == sorted(spans)
    assert rendered.count("<span") == rendered.count("</span>")
    assert render_article("a < b", []) == "a &lt; b"


def test_hover_and_click_show_the_record_beside_gold(
    seeds_run: tuple[Path, Path, dict[str, GoldDocument]], tmp_path: Path
) -> None:
    run_dir, seeds, golds = seeds_run
    page = write_report(run_dir, golds, tmp_path / "report.html", documents_dir=seeds)
    # A probe after the page's script: hover the spurious span, then pin the wrong-value one by
    # a click and hover the spurious one again, writing what the panel shows onto <body>. The
    # page's CSP admits only its own script (by hash), so the probed copy goes without it.
    probe = """<script>
    const panel = () => document.getElementById("panel-records").textContent;
    const fire = (type, node) => node.dispatchEvent(new MouseEvent(type, {bubbles: true}));
    const spurious = document.querySelector(".hl.o-spurious");
    fire("mouseover", spurious);
    document.body.dataset.hovered = panel();
    fire("click", document.querySelector(".hl.o-wrong_value"));
    fire("mouseover", spurious);
    document.body.dataset.pinned = panel();
    document.body.dataset.active = String(document.querySelectorAll(".active").length);
    </script></body>"""
    html = page.read_text(encoding="utf-8")
    html = html.replace('<meta http-equiv="Content-Security-Policy"', "<meta name=csp")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", probe), encoding="utf-8")
    body = rendered_dom(probed, tmp_path / "profile").body
    hovered, pinned = body["data-hovered"] or "", body["data-pinned"] or ""
    assert "company: Acme Holdings" in hovered and "spurious" in hovered
    assert "company: Meta" in pinned and "Acme Holdings" not in pinned  # the click pinned it
    # field, predicted, gold (none), verdict: the wrong founded_year the fixture put in
    assert "founded_year1999spurious" in pinned
    assert int(body["data-active"] or 0) >= 1


class ArticleMarks(HTMLParser):
    """What the `.article` elements of a page hold: their text, and per value (record key,
    field) its text over all its pieces, its first piece's attributes and its labels. Fails on
    an end tag that does not close the innermost open element, so the served HTML must nest
    properly (a browser would silently repair it)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] | None = None  # None: outside
        self.text: list[str] = []
        self.values: dict[tuple[str, str], list[str]] = {}
        self.first: dict[tuple[str, str], dict[str, str | None]] = {}
        self.pieces: Counter[tuple[str, str]] = Counter()
        self.labels: dict[tuple[str, str], list[str]] = {}
        self.evidence_in_values = 0  # evidence elements opened inside a value mark
        self.feed(page)
        self.close()
        assert self.open is None, "an .article element is not closed"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if self.open is None:
            if tag == "div" and "article" in classes:
                self.open = []
            return
        if {"hl", "hlc"} & set(classes) and any(t == "mark" for t, _ in self.open):
            self.evidence_in_values += 1
        if tag == "mark":
            self.pieces[value_key(attributes)] += 1
            if "value" in classes:
                assert value_key(attributes) not in self.first, "two first pieces of a value"
                self.first[value_key(attributes)] = attributes
        if "vl" in classes:  # a label belongs inside its value's last piece
            owner_tag, owner = self.open[-1]
            assert owner_tag == "mark", "a label outside its value"
            self.labels.setdefault(value_key(owner), []).append(attributes["data-field"] or "")
        self.open.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        if self.open is None:
            return
        if not self.open:
            assert tag == "div", f"</{tag}> closes the article"
            self.open = None
            return
        opened, _ = self.open.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"

    def handle_data(self, data: str) -> None:
        if self.open is None:
            return
        self.text.append(data)
        for tag, attributes in self.open:
            if tag == "mark":
                self.values.setdefault(value_key(attributes), []).append(data)


def value_key(attributes: dict[str, str | None]) -> tuple[str, str]:
    """A value mark's record key and field: together they name one value span."""
    return attributes["data-rec"] or "", attributes["data-field"] or ""


def located(article: str, text: str, after: str = "") -> tuple[int, int]:
    """Start and end of the first `text` in `article` from the first `after` on."""
    start = article.index(text, article.index(after) if after else 0)
    return start, start + len(text)


def value(article: str, field: str, text: str, after: str = "", grounded: bool = True) -> ValueSpan:
    """A value span as grounding sets it, found in the article rather than counted by hand."""
    start, end = located(article, text, after)
    return ValueSpan(field=field, text=text, start=start, end=end, grounded=grounded)


def quote(article: str, text: str) -> Evidence:
    """A grounded evidence quote of `article`."""
    start, end = located(article, text)
    return Evidence(quote=text, start=start, end=end, grounded=True)


def expected_values(doc: DocumentExtraction) -> dict[tuple[str, str], ValueSpan]:
    """Every value span of an extraction by the (record key, field) the report gives it."""
    expected = {}
    for record_type, attribute in RECORD_LISTS.items():
        for index, record in enumerate(getattr(doc, attribute)):
            for span in record.spans:
                expected[(f"{doc.doc_id}/{record_type}/{index}", span.field)] = span
    return expected


def probed_page(page: Path, probe: str, out: Path) -> Path:
    """A copy of the report with `probe` run after the page's script; the page's CSP admits
    only its own script (by hash), so the copy goes without it."""
    html = page.read_text(encoding="utf-8")
    html = html.replace('<meta http-equiv="Content-Security-Policy"', "<meta name=csp")
    out.write_text(html.replace("</body>", f"<script>{probe}</script></body>"), encoding="utf-8")
    return out


VALUES_ARTICLE = (
    "Meta agreed to invest $14 billion in Scale AI. "
    "The deal was announced on June 10, 2025 in Menlo Park.\n"
    "Alexandr Wang, the CEO of Scale AI, will join Meta."
)


def values_extraction() -> DocumentExtraction:
    """Records whose value spans overlap every way: the same "Meta" is a company's name and a
    deal's party, "Scale AI" a company's name and a person's organization inside two crossing
    evidence quotes, a date runs past the end of its quote, and a flagged headquarters lies
    outside its record's evidence."""
    a = VALUES_ARTICLE
    first = "Meta agreed to invest $14 billion in Scale AI."
    return DocumentExtraction(
        doc_id="values",
        companies=[
            Company(
                name="Meta",
                headquarters="Menlo Park",
                evidence=[quote(a, first)],
                grounded=False,
                spans=[
                    value(a, "name", "Meta"),
                    value(a, "headquarters", "Menlo Park", grounded=False),
                ],
            ),
            Company(
                name="Scale AI",
                evidence=[quote(a, "the CEO of Scale AI, will join Meta.")],
                spans=[value(a, "name", "Scale AI", after="the CEO")],
            ),
        ],
        people=[
            Person(
                name="Alexandr Wang",
                roles=[Role(title="CEO", organization="Scale AI")],
                evidence=[quote(a, "Alexandr Wang, the CEO of Scale AI")],
                spans=[
                    value(a, "name", "Alexandr Wang"),
                    value(a, "roles[0].title", "CEO"),
                    value(a, "roles[0].organization", "Scale AI", after="the CEO"),
                ],
            )
        ],
        deals=[
            Deal(
                deal_type="investment",
                parties=[
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
                amount="$14 billion",
                date="2025-06-10",
                evidence=[quote(a, first), quote(a, "The deal was announced on June 10")],
                spans=[
                    value(a, "parties[0].name", "Meta"),
                    value(a, "parties[1].name", "Scale AI"),
                    value(a, "amount", "$14 billion"),
                    value(a, "date", "June 10, 2025"),
                ],
            )
        ],
    )


def check_values(marks: ArticleMarks, article: str, doc: DocumentExtraction) -> None:
    """Every value span of `doc` is marked once, over exactly its article text, labeled with
    its field, flagged when grounding flagged it; and the article's text is all there."""
    assert "".join(marks.text) == article
    assert marks.evidence_in_values == 0  # values nest inside evidence, never around it
    expected = expected_values(doc)
    assert set(marks.first) == set(marks.values) == set(expected)
    for key, span in expected.items():
        assert "".join(marks.values[key]) == article[span.start : span.end] == span.text, key
        assert marks.labels[key] == [span.field], key
        first = marks.first[key]
        assert (first["data-start"], first["data-end"]) == (str(span.start), str(span.end))
        flagged = "value flagged" if not span.grounded else "value"
        assert first["class"] == flagged, key


def test_value_spans_are_marked_labeled_and_nested(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "values.txt").write_text(VALUES_ARTICLE, encoding="utf-8")
    doc = values_extraction()
    run_dir = tmp_path / "run"
    write_run(run_dir, [doc], {})
    page = write_report(run_dir, {}, tmp_path / "report.html", documents_dir=seeds)
    served = page.read_text(encoding="utf-8")

    marks = ArticleMarks(served)  # fails on any end tag out of order
    check_values(marks, VALUES_ARTICLE, doc)
    # The overlaps did cut values into pieces, and "Scale AI" after "the CEO" is two values.
    assert sum(marks.pieces.values()) > len(marks.first)
    person_org = ("values/person/0", "roles[0].organization")
    assert marks.values[person_org] == marks.values[("values/company/1", "name")]
    assert "(1 flagged)" in served  # the document's summary line

    dom = rendered_dom(page, tmp_path / "profile")
    assert dom.body.get("data-values") == str(len(expected_values(doc)))
    assert dom.body.get("data-highlights") == "5"  # one per evidence quote, as before
    check_values(
        ArticleMarks(chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout),
        VALUES_ARTICLE,
        doc,
    )

    # Clicking a value pins its record, with its value spans listed and that value picked.
    probe = """
    const panel = () => document.getElementById("panel-records");
    const value = (field) => [...document.querySelectorAll(".article mark.value")]
      .find((node) => node.dataset.field === field);
    value("headquarters").dispatchEvent(new MouseEvent("click", {bubbles: true}));
    document.body.dataset.flagged = panel().textContent;
    document.body.dataset.picked = panel().querySelector("tr.picked").textContent;
    const meta = value("parties[0].name");
    meta.dispatchEvent(new MouseEvent("click", {bubbles: true}));  // unpins headquarters
    meta.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    document.body.dataset.cards = String(panel().querySelectorAll(".card").length);
    document.body.dataset.both = panel().textContent;
    """
    probed = probed_page(page, probe, tmp_path / "probed.html")
    body = rendered_dom(probed, tmp_path / "profile").body
    start, end = located(VALUES_ARTICLE, "Menlo Park")
    flagged = body["data-flagged"] or ""
    assert flagged.startswith("company: Meta") and "deal:" not in flagged
    assert body["data-picked"] == f"headquartersMenlo Park[{start}:{end}] flagged"
    assert "nameMeta[0:4]headquarters" in flagged  # not flagged
    # "Meta" is a value of the company and of the deal: both records show.
    assert body["data-cards"] == "2"
    both = body["data-both"] or ""
    assert "company: Meta" in both and "deal: investment: Meta (investor)" in both
    assert "parties[0].nameMeta[0:4]parties[1]" in both


def test_values_render_nested_in_evidence_without_a_run() -> None:
    text = "Meta & Scale AI <agree> on a $14 billion deal."
    empty_at = text.index("$14")
    highlights = [
        Highlight(0, 23, "d/company/0", "correct", "x"),
        Highlight(7, 46, "d/deal/0", "spurious", "y"),
    ]
    values = [
        ValueMark(*located(text, "Scale AI"), "d/company/0", "name", "Scale AI"),
        ValueMark(*located(text, "Scale AI <agree>"), "d/deal/0", "status", "Scale AI <agree>"),
        ValueMark(*located(text, "<agree> on"), "d/deal/0", "notes", "<agree> on", flagged=True),
        ValueMark(*located(text, "& Scale AI"), "d/company/0", "aliases[0]", "& Scale AI"),
        ValueMark(empty_at, empty_at, "d/deal/0", "empty", ""),
    ]
    rendered = render_article(text, highlights, values)
    marks = ArticleMarks(f'<div class="article">{rendered}</div>')
    assert "".join(marks.text) == text
    for mark in values:
        key = (mark.key, mark.field)
        assert "".join(marks.values.get(key, [])) == mark.text
        assert marks.labels[key] == [mark.field]
        assert marks.first[key]["class"] == ("value flagged" if mark.flagged else "value")
    assert marks.evidence_in_values == 0  # "& Scale AI" starts before the deal's evidence
    assert rendered.count("<mark") == rendered.count("</mark>")


def test_hostile_values_stay_text(tmp_path: Path) -> None:
    article = (
        'Acme said "<script>window.pwned=1</script>" and {name} {{0}} ${x} </mark></span> '
        "for $5 million."
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "hostile.txt").write_text(article, encoding="utf-8")
    hostile_field = 'aliases[0]"><img src=x onerror="window.pwned=2">'
    name = '"<script>window.pwned=1</script>"'
    doc = DocumentExtraction(
        doc_id="hostile",
        companies=[
            Company(
                name=name,
                aliases=["{name} {{0}} ${x}"],
                headquarters="</mark></span>",
                evidence=[quote(article, article[:-1])],
                spans=[
                    value(article, "name", name),
                    value(article, hostile_field, "{name} {{0}} ${x}"),
                    value(article, "headquarters", "</mark></span>", grounded=False),
                ],
            )
        ],
    )
    run_dir = tmp_path / "run"
    write_run(run_dir, [doc], {})
    page = write_report(run_dir, {}, tmp_path / "report.html", documents_dir=seeds)
    raw = page.read_text(encoding="utf-8")
    assert "<script>window.pwned" not in raw
    assert "<img" not in raw
    assert "</mark></span> for" not in raw
    check_values(ArticleMarks(raw), article, doc)

    profile = tmp_path / "profile"
    dom_text = chromium(profile, "--dump-dom", page.as_uri()).stdout
    dom = Dom(dom_text)
    assert dom.scripts == [{"type": "application/json", "id": "dealx-records"}, {}]
    assert dom.tags["img"] == 0
    assert dom.body.get("data-values") == "3"
    check_values(ArticleMarks(dom_text), article, doc)

    # The panel shows the values as text too (the probe runs without the CSP, so an injected
    # element would run its handler).
    probe = """
    for (const node of document.querySelectorAll(".article mark.value")) {
      node.dispatchEvent(new MouseEvent("click", {bubbles: true}));
      node.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    }
    document.body.dataset.panel = document.getElementById("panel-records").textContent;
    document.body.dataset.images = String(document.querySelectorAll("img").length);
    document.body.dataset.pwned = String(window.pwned);
    """
    probed = probed_page(page, probe, tmp_path / "probed.html")
    body = rendered_dom(probed, profile).body
    assert body["data-images"] == "0" and body["data-pwned"] == "undefined"
    shown = body["data-panel"] or ""
    assert name in shown and hostile_field in shown and "</mark></span>" in shown


def test_header_reads_support_columns_when_there(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "values.txt").write_text(VALUES_ARTICLE, encoding="utf-8")
    run_dir = tmp_path / "run"
    write_run(run_dir, [values_extraction()], {})
    run = load_run(run_dir)
    evaluation = evaluate(run, {})
    support = {
        "records_checked": [4],
        "records_supported": [3],
        "support_rate": [0.75],
        "value_support_rate": [0.9],
    }
    after = dataclasses.replace(evaluation, overall=pd.DataFrame(support))
    page = render_report(run, after, articles(seeds))
    assert "Support rate: <b>0.750</b> (3 of 4 records; value support <b>0.900</b>)." in page
    # Eval tables from before the support columns (or without grounding: NaN rates) say n/a.
    before = dataclasses.replace(evaluation, overall=pd.DataFrame({"grounding_rate": [0.5]}))
    page = render_report(run, before, articles(seeds))
    assert "Support rate: <b>n/a</b> (n/a of n/a records; value support <b>n/a</b>)." in page


def test_report_finds_articles_from_the_manifest_and_says_when_one_changed(
    tmp_path: Path,
) -> None:
    import pipeline
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import import_entries

    cache = tmp_path / "cache.sqlite"
    with ResponseCache(cache) as store:
        import_entries(store, REPO / "tests" / "fixtures" / "responses")
    seed = sorted((REPO / "seeds").glob("*.txt"))[0]
    article = tmp_path / "articles" / seed.name
    article.parent.mkdir()
    shutil.copy(seed, article)
    results = pipeline.extract(article, cache=cache, cache_mode="replay", strategy="plain")
    pipeline.write_run(results, tmp_path / "run")
    [(doc_id, entry)] = json.loads((tmp_path / "run" / "manifest.json").read_text())[
        "inputs"
    ].items()
    assert (doc_id, entry["path"]) == (seed.stem, str(article.resolve()))
    first_line = seed.read_text(encoding="utf-8").splitlines()[0]

    page = write_report(tmp_path / "run", {}, tmp_path / "report.html").read_text()
    assert first_line in page and "article text not found" not in page
    assert "changed since the run" not in page
    article.write_text(seed.read_text(encoding="utf-8") + "An edit.\n", encoding="utf-8")
    page = write_report(tmp_path / "run", {}, tmp_path / "report.html").read_text()
    assert "changed since the run" in page
