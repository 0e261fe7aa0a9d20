"""`dealx stability`: per field, how often repeated runs agree and how often they are right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.scoring import evaluate
from eval.stability import stability_table
from schemas.errors import InputError
from tests.dealx_process import Dealx
from tests.test_eval_cli import DOC_IDS, gold_records, make_gold, make_run
from tests.test_eval_comparison import doc, run_of

PARTIES = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]
DEAL = {"deal_type": "investment", "parties": PARTIES, "amount": 14e9}


def test_a_field_right_in_some_runs_only_is_right_by_luck() -> None:
    golds = {d: doc(d, {"deals": [DEAL]}, gold=True) for d in ("d0", "d1", "d2")}
    right = run_of(*(doc(d, {"deals": [DEAL]}) for d in golds))
    # The third run gets d0's amount wrong and misses d1's deal.
    lucky = run_of(
        doc("d0", {"deals": [{**DEAL, "amount": 9e9}]}),
        doc("d1", {"deals": []}),
        doc("d2", {"deals": [DEAL]}),
    )
    table = stability_table([evaluate(run, golds) for run in (right, right, lucky)])
    rows = table.set_index(["record_type", "field"])
    amount = rows.loc[("deal", "amount")]
    assert amount["items"] == 3
    assert (amount["right_always"], amount["right_sometimes"]) == (pytest.approx(1 / 3), 2 / 3)
    assert amount["runs_agree"] == pytest.approx(1 / 3)
    assert amount["accuracy"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    found = rows.loc[("deal", "(record)")]
    assert (found["right_always"], found["right_sometimes"], found["right_never"]) == (
        pytest.approx(2 / 3),
        pytest.approx(1 / 3),
        0.0,
    )
    deal_type = rows.loc[("deal", "deal_type")]
    assert deal_type["runs_agree"] == pytest.approx(2 / 3)  # d1: "" in the run that missed it
    with pytest.raises(InputError, match="at least two runs"):
        stability_table([evaluate(right, golds)])


def test_stability_command(tmp_path: Path, dealx: Dealx) -> None:
    gold = make_gold(tmp_path)
    first = make_run(tmp_path, "one", {d: gold_records(i) for i, d in enumerate(DOC_IDS)})
    records = {d: gold_records(i) for i, d in enumerate(DOC_IDS)}
    records["doc0"]["deals"][0]["amount"]["value"] = 1.5e9
    second = make_run(tmp_path, "two", records)
    result = dealx("stability", first, second, "--gold", gold, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {(r["record_type"], r["field"]): r for r in json.loads(result.stdout)}
    assert rows[("deal", "amount")]["right_sometimes"] == pytest.approx(0.2)
    assert rows[("company", "name")]["right_always"] == 1.0
