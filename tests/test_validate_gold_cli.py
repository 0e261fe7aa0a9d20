"""Invalid gold files are reported as `file: field: message`, by the checker and by the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.gold import GoldProblem, parse_gold_file, validate_gold_dir
from tests.dealx_process import Dealx

ARTICLE = (
    "Meta has reached a deal with Scale AI for a strategic investment of about $14 billion. "
    "Under the agreement, Meta will acquire a 49 percent stake in the startup.\n"
)
DEAL_QUOTE = (
    "Meta has reached a deal with Scale AI for a strategic investment of about $14 billion."
)
STAKE_QUOTE = "Meta will acquire a 49 percent stake in the startup"


def gold_deal(**fields: Any) -> dict[str, Any]:
    """A gold deal that is valid against ARTICLE, with `fields` changed."""
    return {
        "deal_type": "investment",
        "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
        "amount": "about $14 billion",
        "stake_percent": 49,
        "evidence": [{"quote": DEAL_QUOTE}, {"quote": STAKE_QUOTE}],
        **fields,
    }


def write_gold(gold_dir: Path, doc_id: str, *deals: dict[str, Any]) -> Path:
    path = gold_dir / f"{doc_id}.json"
    path.write_text(json.dumps({"doc_id": doc_id, "deals": list(deals)}, indent=2))
    return path


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "article.txt").write_text(ARTICLE, encoding="utf-8")
    return folder


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    folder = tmp_path / "gold"
    folder.mkdir()
    return folder


@pytest.fixture
def broken_gold(gold: Path, seeds: Path) -> dict[Path, tuple[str, str]]:
    """Five broken gold files, each mapped to the (field, message) expected for it."""
    # (a) a stake out of range, written as news wording
    stake = write_gold(gold, "stake", gold_deal(stake_percent="140%"))
    # (b) a deal with no parties
    parties = write_gold(gold, "parties", gold_deal(parties=[]))
    # (c) an evidence quote that is not in the article (the second quote is, and is fine)
    quote = write_gold(
        gold,
        "article",
        gold_deal(
            evidence=[
                {"quote": DEAL_QUOTE},
                {"quote": "Meta will buy all of Scale AI"},
                {"quote": STAKE_QUOTE},
            ]
        ),
    )
    # (d) invalid JSON: a stray comma on line 3
    broken = gold / "broken.json"
    broken.write_text('{\n  "doc_id": "broken",\n  "deals": [,]\n}\n')
    # (e) gold for a document that is not among the seeds
    ghost = write_gold(gold, "ghost", gold_deal())
    return {
        stake: (
            "deals[0].stake_percent",
            "Value error, stake_percent must be between 0 and 100, got 140",
        ),
        parties: ("deals[0].parties", "List should have at least 1 item after validation, not 0"),
        quote: ("deals[0].evidence[1].quote", f"not found in {seeds / 'article.txt'}"),
        broken: ("line 3", "invalid JSON: Expecting value"),
        ghost: ("doc_id", f"no document 'ghost' in {seeds}"),
    }


def test_validate_gold_dir_reports_each_problem(
    gold: Path, seeds: Path, broken_gold: dict[Path, tuple[str, str]]
) -> None:
    problems = validate_gold_dir(gold, seeds)
    assert sorted(problems, key=str) == sorted(
        (GoldProblem(path, field, message) for path, (field, message) in broken_gold.items()),
        key=str,
    )


def test_cli_prints_one_line_per_problem_and_fails(
    dealx: Dealx, gold: Path, seeds: Path, broken_gold: dict[Path, tuple[str, str]]
) -> None:
    result = dealx("validate-gold", gold, "--seeds", seeds)
    assert result.returncode == 1, result.stderr
    expected = {f"{path}: {field}: {message}" for path, (field, message) in broken_gold.items()}
    assert set(result.stdout.splitlines()) == expected
    assert "5 problem(s)" in result.stderr


def test_clean_gold_passes(dealx: Dealx, gold: Path, seeds: Path) -> None:
    # A clean gold deal: its quotes state every value (the article gives no date).
    write_gold(gold, "article", gold_deal(date=None))
    assert validate_gold_dir(gold, seeds) == []
    result = dealx("validate-gold", gold, "--seeds", seeds)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all gold files valid" in result.stdout


def test_messages_stay_one_line_under_a_long_path(dealx: Dealx, tmp_path: Path) -> None:
    # rich wraps at 80 columns when stdout is a pipe; CI's long temp paths cut this line in two.
    gold = tmp_path / ("a-folder-with-a-long-name-" * 5) / "gold"
    gold.mkdir(parents=True)
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "article.txt").write_text(ARTICLE, encoding="utf-8")
    write_gold(gold, "article", gold_deal())
    result = dealx("validate-gold", gold, "--seeds", tmp_path / "seeds")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"{gold}: all gold files valid\n"


def test_gold_values_are_normalized(gold: Path) -> None:
    parsed, problems = parse_gold_file(write_gold(gold, "article", gold_deal()))
    assert problems == []
    assert parsed is not None
    amount = parsed.deals[0].amount
    assert amount is not None
    assert (amount.value, amount.currency, amount.qualifier) == (14e9, "USD", "about")


def test_negative_amount_in_gold_names_the_field(gold: Path) -> None:
    path = write_gold(gold, "article", gold_deal(), gold_deal(amount="-$5 million"))
    _, problems = parse_gold_file(path)
    assert [(p.field, p.message) for p in problems] == [
        ("deals[1].amount.value", "Value error, a money value must not be negative, got -5e+06")
    ]


def test_unreadable_stake_is_reported_not_raised(gold: Path) -> None:
    # A list where a number belongs used to escape pydantic as an AttributeError.
    _, problems = parse_gold_file(write_gold(gold, "article", gold_deal(stake_percent=[49])))
    assert [p.field for p in problems] == ["deals[0].stake_percent"]


def test_empty_gold_folder_is_a_problem(gold: Path, seeds: Path) -> None:
    assert validate_gold_dir(gold, seeds) == [
        GoldProblem(gold, "(folder)", "no gold files (*.json)")
    ]


def test_gold_quotes_must_support_the_record(gold: Path, seeds: Path) -> None:
    """A quote that is in the article but does not state a value is a problem: the stake
    sentence alone names neither Scale AI (only "the startup") nor the amount."""
    write_gold(gold, "article", gold_deal(evidence=[{"quote": STAKE_QUOTE}]))
    problems = {(p.field, p.message) for p in validate_gold_dir(gold, seeds)}
    assert problems == {
        ("deals[0].parties[1].name", "'Scale AI': parties[1].name is not in the record's evidence"),
        (
            "deals[0].amount",
            "{'value': 14000000000.0, 'currency': 'USD', 'qualifier': 'about'}: "
            "amount is not in the record's evidence",
        ),
    }
