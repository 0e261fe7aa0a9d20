"""Deal blocking, pairwise features and clustering (pipeline/consolidation/deals.py)."""

from __future__ import annotations

from typing import Any

from pipeline.consolidation import deals as deals_module
from pipeline.consolidation.deals import DealMention, candidates, cluster_deals, score_pair
from schemas.records import Deal

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]


def mention(
    doc_id: str, investor: str = "meta", target: str = "scale", **fields: Any
) -> DealMention:
    """An investment investor -> target reported in `doc_id` with `fields`."""
    deal = Deal.model_validate(
        {
            "deal_type": fields.pop("deal_type", "investment"),
            "parties": [{"name": investor, "role": "investor"}, {"name": target, "role": "target"}],
            "evidence": EVIDENCE,
            **fields,
        }
    )
    roles = {investor: "investor", target: "target"}
    return DealMention(f"{doc_id}:deals[0]", doc_id, deal, roles)


def money(value: float, qualifier: str = "exact") -> dict[str, Any]:
    return {"value": value, "currency": "USD", "qualifier": qualifier}


def test_talks_then_agreement_with_revised_amount_score_above_the_threshold() -> None:
    talks = mention("a", status="in_talks", amount=money(10e9, "over"))
    agreed = mention("b", status="agreed", amount=money(14e9, "about"), stake_percent=49)
    pair = score_pair(talks, agreed)
    assert pair.veto is None
    assert pair.features["parties"] == 1.0 and pair.features["type"] == 1.0
    assert pair.features["amount"] == 0.5  # "over $10B" reaches $14B
    assert pair.score >= deals_module.THRESHOLD


def test_a_valuation_is_never_compared_with_an_amount() -> None:
    """Scale AI's ~$14B valuation next to Meta's $14B investment: different fields."""
    round_ = mention("a", status="completed", amount=money(1e9), valuation=money(14e9, "about"))
    investment = mention("b", status="agreed", amount=money(14e9))
    pair = score_pair(round_, investment)
    assert pair.features["amount"] == 0.0
    assert pair.veto is not None and "amount USD 1B vs USD 14B" in pair.veto


def test_contradictions_veto_a_pair() -> None:
    agreed = mention("a", status="agreed", amount=money(14e9), stake_percent=49)
    assert (
        "stake 49% vs 20%"
        in score_pair(agreed, mention("b", status="agreed", stake_percent=20)).veto
    )
    assert "incompatible" in score_pair(agreed, mention("b", deal_type="contract")).veto
    swapped = mention("b", investor="scale", target="meta", status="agreed")
    assert "investor in one and target" in score_pair(agreed, swapped).veto
    dated = score_pair(mention("a", date="2025-03"), mention("b", date="2024-05"))
    assert "deal dates 2025-03 and 2024-05 differ" in dated.veto


def test_an_article_s_two_deals_of_one_pair_stay_apart() -> None:
    """002 reports the new talks and Meta's earlier investment: two records, two deals."""
    new = mention("a", status="in_talks", amount=money(10e9, "over"))
    earlier = DealMention(
        "a:deals[1]",
        "a",
        mention("x", status="completed").deal,
        {"meta": "investor", "scale": "target"},
    )
    elsewhere = mention("b", status="in_talks", amount=money(10e9, "over"))
    clusters, decisions = cluster_deals([new, earlier, elsewhere])
    assert clusters == [[0, 2], [1]]
    kept = [d for d in decisions[1] if d.verdict == "keep_apart"]
    assert kept and "two records of article a" in kept[0].reason


def test_average_linkage_keeps_one_good_pair_from_chaining_two_deals() -> None:
    """b fits a and c, but a and c contradict: b joins one of them, never both."""
    a = mention("a", status="agreed", amount=money(14e9))
    b = mention("b", status="agreed")
    c = mention("c", status="agreed", amount=money(1e9))
    clusters, decisions = cluster_deals([a, b, c])
    assert clusters == [[0, 1], [2]]
    [refused] = [d for d in decisions[1] if (d.a, d.b) == ("b:deals[0]", "c:deals[0]")]
    assert refused.verdict == "keep_apart"
    assert "c:deals[0] and a:deals[0] contradict" in refused.reason
    assert all(d.features and d.reason for group in decisions for d in group)


def test_blocking_compares_only_records_that_share_parties() -> None:
    mentions = [mention(f"d{i}", investor=f"i{i % 50}", target=f"t{i % 50}") for i in range(500)]
    pairs = candidates(mentions)
    # 50 blocks of 10 records: 50 * 45 pairs, not 500 * 499 / 2.
    assert len(pairs) == 50 * 45
    assert all(mentions[a].entities == mentions[b].entities for a, b in pairs)


def test_a_block_past_the_limit_compares_neighbors_only(monkeypatch: Any) -> None:
    monkeypatch.setattr(deals_module, "BLOCK_LIMIT", 5)
    mentions = [mention(f"d{i:02d}", amount=money(1e9 * (i % 3 + 1))) for i in range(40)]
    pairs = candidates(mentions)
    assert len(pairs) <= 40 * 5
    clusters, _ = cluster_deals(mentions)
    # Same parties, three distinct exact amounts at no stage: three deals.
    assert len(clusters) == 3
