"""Companies and people resolved across documents (pipeline/consolidation/entities.py)."""

from __future__ import annotations

from typing import Any

from pipeline.consolidation.entities import resolve_entities
from schemas.records import DocumentExtraction

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]


def doc(doc_id: str, companies: list[Any] = (), people: list[Any] = ()) -> DocumentExtraction:
    """A document of companies (name or (name, aliases)) and people (name or (name, org))."""
    return DocumentExtraction.model_validate(
        {
            "doc_id": doc_id,
            "companies": [
                {"name": c, "evidence": EVIDENCE}
                if isinstance(c, str)
                else {"name": c[0], "aliases": c[1], "evidence": EVIDENCE}
                for c in companies
            ],
            "people": [
                {"name": p, "evidence": EVIDENCE}
                if isinstance(p, str)
                else {
                    "name": p[0],
                    "roles": [{"title": "CEO", "organization": p[1]}],
                    "evidence": EVIDENCE,
                }
                for p in people
            ],
        }
    )


def names(entities: Any) -> list[tuple[str, list[str]]]:
    return [(e.name, sorted(m.doc_id for m in e.mentions)) for e in entities]


def test_legal_suffixes_and_aliases_join_one_company() -> None:
    index = resolve_entities(
        {
            "a": doc("a", ["Meta"]),
            "b": doc("b", [("Meta", ["Meta Platforms"])]),
            "c": doc("c", ["Meta Platforms Inc."]),
            "d": doc("d", ["Meta Platforms"]),
            "e": doc("e", ["Meta"]),
        }
    )
    [meta] = index.companies
    assert meta.name == "Meta"  # the form most records use
    assert meta.aliases == ["Meta Platforms", "Meta Platforms Inc."]
    assert sorted(m.doc_id for m in meta.mentions) == ["a", "b", "c", "d", "e"]
    assert all(d.verdict == "merge" for d in meta.decisions)


def test_scale_joins_scale_ai_but_scale_venture_partners_stays_apart() -> None:
    index = resolve_entities(
        {
            "a": doc("a", ["Scale AI"]),
            "b": doc("b", [("Scale", ["Scale AI"])]),
            "c": doc("c", ["Scale Venture Partners"]),
            "d": doc("d", ["Scale"]),  # no alias: "Scale" is Scale AI without "AI"
        }
    )
    assert names(index.companies) == [
        ("Scale AI", ["a", "b", "d"]),
        ("Scale Venture Partners", ["c"]),
    ]
    assert index.party("c", "Scale Venture Partners") != index.party("a", "Scale AI")
    assert index.party("d", "Scale") == index.party("a", "Scale AI") == "company:scale-ai"


def test_a_short_name_of_two_organizations_joins_neither() -> None:
    index = resolve_entities(
        {
            "a": doc("a", ["Scale AI"]),
            "b": doc("b", [("Scale Venture Partners", ["Scale"])]),
            "c": doc("c", ["Scale"]),
        }
    )
    assert names(index.companies) == [
        ("Scale AI", ["a"]),
        ("Scale Venture Partners", ["b"]),
        ("Scale", ["c"]),
    ]
    kept = [d for d in index.companies[2].decisions if d.verdict == "keep_apart"]
    assert len(kept) == 2
    assert "not forms of each other" in kept[0].reason


def test_a_surname_joins_the_full_name_of_its_article_or_company() -> None:
    index = resolve_entities(
        {
            "a": doc("a", ["Scale AI"], [("Alexandr Wang", "Scale AI")]),
            "b": doc("b", ["Scale AI"], [("Wang", "Scale AI")]),
            "c": doc("c", ["Acme"], [("Wang", "Acme")]),  # another Wang: no shared company
            "d": doc("d", ["Scale AI"], [("Alex Wang", "Scale AI")]),
        }
    )
    assert names(index.people) == [("Alexandr Wang", ["a", "b", "d"]), ("Wang", ["c"])]
    [joined] = [d for d in index.people[0].decisions if d.a == "b:people[0]"]
    assert "shorter form" in joined.reason


def test_a_surname_that_fits_two_people_stays_apart() -> None:
    index = resolve_entities(
        {"a": doc("a", [], ["Alexandr Wang", "Lily Wang", "Wang"])},
    )
    assert [e.name for e in index.people] == ["Alexandr Wang", "Lily Wang", "Wang"]
    assert any(d.verdict == "keep_apart" for d in index.people[2].decisions)
