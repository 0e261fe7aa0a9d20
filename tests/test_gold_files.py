"""The hand-labeled gold files: valid, tied to their seed article, and quoting it verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import article_gold_files, validate_gold_dir
from pipeline.extraction.documents import read_document
from schemas.gold import GoldDocument

GOLD_DIR = Path("gold")
SEEDS_DIR = Path("seeds")
GOLD_FILES = article_gold_files(GOLD_DIR)
SEED_FILES = sorted(SEEDS_DIR.glob("*.txt"))


def load_gold(path: Path) -> GoldDocument:
    """Parse one gold file with the gold schema."""
    return GoldDocument.model_validate_json(path.read_text(encoding="utf-8"))


def seed_text(doc_id: str) -> str:
    """The seed article exactly as the pipeline reads it."""
    return read_document(SEEDS_DIR / f"{doc_id}.txt").text


def test_gold_and_seed_folders_are_not_empty() -> None:
    """The parametrised tests below would pass vacuously without files."""
    assert SEED_FILES, "no seeds/*.txt"
    assert GOLD_FILES, "no gold/*.json"


@pytest.mark.parametrize("seed", SEED_FILES, ids=lambda p: p.stem)
def test_every_seed_has_a_gold_file(seed: Path) -> None:
    """Each seed article is labeled."""
    assert (GOLD_DIR / f"{seed.stem}.json").is_file()


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_gold_file_validates_and_names_its_seed(path: Path) -> None:
    """The file is a GoldDocument whose doc_id is its file stem and a seed's stem."""
    gold = load_gold(path)
    assert gold.doc_id == path.stem
    assert (SEEDS_DIR / f"{gold.doc_id}.txt").is_file()


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_gold_file_is_formatted(path: Path) -> None:
    """Pretty-printed with indent 2, unescaped Unicode and a trailing newline (GUIDELINES §1)."""
    raw = path.read_text(encoding="utf-8")
    data = json.loads(raw)
    assert raw == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_every_record_has_evidence_quoted_verbatim_with_offsets(path: Path) -> None:
    """Each quote occurs in the seed and its filled offsets span exactly that quote."""
    gold = load_gold(path)
    text = seed_text(gold.doc_id)
    records = [*gold.companies, *gold.people, *gold.deals]
    assert records, "a gold file without records"
    for record in records:
        assert record.evidence, record
        for evidence in record.evidence:
            assert evidence.quote in text, evidence.quote
            assert evidence.start is not None, evidence.quote
            assert evidence.end is not None, evidence.quote
            assert text[evidence.start : evidence.end] == evidence.quote
            assert evidence.start == text.find(evidence.quote), "offsets of the first occurrence"


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_names_and_references_are_consistent(path: Path) -> None:
    """Names occur in the seed, are unique, and deals/roles refer to records by their name."""
    gold = load_gold(path)
    text = seed_text(gold.doc_id).replace("\u00a0", " ")
    company_names = [company.name for company in gold.companies]
    person_names = [person.name for person in gold.people]
    assert len(set(company_names)) == len(company_names), "duplicate company"
    assert len(set(person_names)) == len(person_names), "duplicate person"
    for company in gold.companies:
        for name in (company.name, *company.aliases):
            assert "\u00a0" not in name and name in text, name
        assert company.name not in company.aliases
    for person in gold.people:
        assert person.name in text, person.name
        for role in person.roles:
            assert role.organization is None or role.organization in company_names, role
    known = set(company_names) | set(person_names)
    for deal in gold.deals:
        for party in deal.parties:
            assert party.name in known, party


@pytest.mark.parametrize("path", GOLD_FILES, ids=lambda p: p.stem)
def test_deal_parties_have_the_roles_of_their_type(path: Path) -> None:
    """Party roles follow the table of GUIDELINES §5.4."""
    allowed = {
        "investment": {"investor", "target"},
        "funding_round": {"investor", "target"},
        "acquisition": {"acquirer", "target", "seller"},
        "merger": {"partner"},
        "contract": {"customer", "supplier"},
        "partnership": {"partner"},
        "licensing": {"licensor", "licensee"},
    }
    for deal in load_gold(path).deals:
        assert len(deal.parties) >= 2, deal
        roles = {party.role for party in deal.parties}
        if deal.deal_type in allowed:
            assert roles <= allowed[deal.deal_type], deal
        if deal.deal_type in {"investment", "funding_round", "acquisition"}:
            assert "target" in roles, deal


def test_gold_dir_validates_clean() -> None:
    """The project's own gold validator reports no problem."""
    assert [str(problem) for problem in validate_gold_dir(GOLD_DIR, SEEDS_DIR)] == []


def test_headline_deal_of_each_seed() -> None:
    """Spot-check the labels the guidelines decide explicitly (latest figures win)."""
    deals = {path.stem: load_gold(path).deals[0] for path in GOLD_FILES}
    update = deals["000_0709ac1d3ffb39f1"]
    assert update.status == "agreed"
    assert update.amount is not None and update.amount.value == 14e9
    assert update.amount.qualifier == "about"
    assert update.stake_percent == 49
    for doc_id in ("001_153035b9c19ae3c6", "002_6bef6f25f7ec2a0a", "003_f746a913cebc95f0"):
        talks = deals[doc_id]
        assert talks.status == "in_talks", doc_id
        assert talks.amount is not None and talks.amount.qualifier == "over", doc_id
        assert talks.amount.value == 10e9, doc_id
    final = deals["004_be305ebc2eef9ae7"]
    assert (final.status, final.stake_percent) == ("agreed", 49)
    assert final.amount is not None and final.amount.qualifier == "exact"
