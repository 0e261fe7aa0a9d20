"""Resolve companies and people across documents.

Companies: records join when their normalized names are equal ("Meta Platforms Inc." ->
"meta", by `schemas.normalize`), or when one record's name is a name form of another: an alias
the other's article gives it ("Scale" with alias "Scale AI"), the name without a trailing "AI"
("Scale AI" -> "scale") or without spaces ("Open AI" -> "openai"). A name that is a form of two
entities that are not forms of each other ("Scale" of "Scale AI" and of "Scale Venture
Partners") joins neither: one shared word must not chain two organizations.

People: records join on equal normalized names; a surname alone ("Wang") or a shorter first
name ("Alex Wang", "A. Wang") joins the one full name it fits among the people of the same
article or of the same organization (by their roles); with none or several, it stays apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz.distance import JaroWinkler

from schemas.consolidated import ConsolidatedEntity, Decision, EntityMention, mention_key
from schemas.normalize import fold, normalize_company, normalize_person
from schemas.records import Company, DocumentExtraction, Person

# Jaro-Winkler similarity at which two first names are spellings of one ("Alexandr"/"Alexander").
FIRST_NAME_SIMILARITY = 0.9
# Extra words that a company's short name leaves out ("Scale AI" is also called "Scale").
_WEAK_SUFFIXES = frozenset({"ai"})


@dataclass
class EntityIndex:
    """The resolved entities, and the entity id of each name a deal party may use."""

    companies: list[ConsolidatedEntity]
    people: list[ConsolidatedEntity]
    # Per document: normalized company name/alias or person name/surname -> entity id.
    by_doc_name: dict[str, dict[str, str]]
    # Across documents: normalized name -> entity id, where only one entity has that name.
    by_name: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)  # entity id -> display name

    def party(self, doc_id: str, name: str) -> str:
        """The entity a deal party names in its document; an unknown name is its own entity."""
        for key in (normalize_company(name), normalize_person(name)):
            found = self.by_doc_name.get(doc_id, {}).get(key) or self.by_name.get(key)
            if found:
                return found
        return f"unresolved:{normalize_company(name)}"

    def name(self, entity_id: str, fallback: str) -> str:
        """An entity's display name; `fallback` (as written) for an unresolved one."""
        return self.names.get(entity_id, fallback)


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression keeps later finds O(1)
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller key stays root: deterministic


def resolve_entities(extractions: dict[str, DocumentExtraction]) -> EntityIndex:
    """Resolve every company and person record of `extractions` into entities."""
    by_doc_name: dict[str, dict[str, str]] = defaultdict(dict)
    companies = _resolve_companies(extractions)
    for entity in companies:
        for mention in entity.mentions:
            for name in (mention.name, *mention.aliases):
                by_doc_name[mention.doc_id].setdefault(normalize_company(name), entity.id)
    people = _resolve_people(extractions, by_doc_name)
    for entity in people:
        for mention in entity.mentions:
            key = normalize_person(mention.name)
            doc_names = by_doc_name[mention.doc_id]
            doc_names.setdefault(key, entity.id)
            doc_names.setdefault(key.split()[-1], entity.id)
    by_name: dict[str, str] = {}
    shared: set[str] = set()
    for entity in (*companies, *people):
        normalize = normalize_company if entity.kind == "company" else normalize_person
        for name in {normalize(n) for n in (entity.name, *entity.aliases)}:
            if by_name.setdefault(name, entity.id) != entity.id:
                shared.add(name)
    for name in shared:
        del by_name[name]  # a name two entities share resolves only inside its own document
    names = {entity.id: entity.name for entity in (*companies, *people)}
    return EntityIndex(companies, people, dict(by_doc_name), by_name, names)


def _company_groups(
    extractions: dict[str, DocumentExtraction],
) -> tuple[dict[str, list[tuple[str, Company]]], dict[str, set[str]]]:
    """Company records grouped by normalized name, and each group's name forms."""
    groups: dict[str, list[tuple[str, Company]]] = defaultdict(list)
    for doc_id, extraction in extractions.items():
        for index, company in enumerate(extraction.companies):
            key = normalize_company(company.name)
            groups[key].append((mention_key(doc_id, "companies", index), company))
    forms: dict[str, set[str]] = {}
    for key, members in groups.items():
        names = {key, *(normalize_company(a) for _, c in members for a in c.aliases)}
        forms[key] = names | {form for name in names for form in _name_forms(name)}
    return groups, forms


def _name_forms(name: str) -> set[str]:
    """Shorter or differently spaced forms of a normalized company name."""
    words = name.split()
    forms = {name.replace(" ", "")}
    if len(words) > 1 and words[-1] in _WEAK_SUFFIXES:
        forms.add(" ".join(words[:-1]))
    return forms - {name}


def _resolve_companies(
    extractions: dict[str, DocumentExtraction],
) -> list[ConsolidatedEntity]:
    groups, forms = _company_groups(extractions)
    holders: dict[str, list[str]] = defaultdict(list)  # a name form -> the groups that have it
    for key in groups:
        for form in forms[key]:
            holders[form].append(key)
    union = _UnionFind(groups)
    decisions: dict[str, list[Decision]] = defaultdict(list)
    for key in groups:
        others = [other for other in holders.get(key, ()) if other != key]
        linked = all(
            a in forms[b] or b in forms[a] for i, a in enumerate(others) for b in others[i + 1 :]
        )
        for other in others:
            a, b = groups[key][0][0], groups[other][0][0]
            if linked:
                if union.find(key) == union.find(other):
                    continue  # the other way round already joined them
                union.union(key, other)
                reason = f"'{key}' is a name form of '{other}' (its alias, or without 'AI'/spaces)"
                decisions[key].append(Decision(a=a, b=b, verdict="merge", reason=reason))
            else:
                rivals = ", ".join(f"'{o}'" for o in others)
                reason = f"'{key}' is a name form of {rivals}, which are not forms of each other"
                for side in (key, other):
                    decisions[side].append(Decision(a=a, b=b, verdict="keep_apart", reason=reason))
    return _entities("company", groups, union, decisions)


def _resolve_people(
    extractions: dict[str, DocumentExtraction], company_names: dict[str, dict[str, str]]
) -> list[ConsolidatedEntity]:
    groups: dict[str, list[tuple[str, Person]]] = defaultdict(list)
    for doc_id, extraction in extractions.items():
        for index, person in enumerate(extraction.people):
            key = normalize_person(person.name)
            # A surname alone is too weak to join two articles by itself: it is grouped per
            # article, and joins a full name only through an article or a company.
            key = key if " " in key else f"{key}@{doc_id}"
            groups[key].append((mention_key(doc_id, "people", index), person))
    # Where each name group appears: its documents and its organizations (company entity ids).
    context: dict[str, set[str]] = {}
    for key, members in groups.items():
        seen = set()
        for source, person in members:
            doc_id = source.split(":", 1)[0]
            seen.add(f"doc:{doc_id}")
            for role in person.roles:
                if role.organization:
                    org = normalize_company(role.organization)
                    seen.add(company_names.get(doc_id, {}).get(org, f"org:{org}"))
        context[key] = seen
    by_surname: dict[str, list[str]] = defaultdict(list)
    for key in groups:
        by_surname[_bare(key).split()[-1]].append(key)
    union = _UnionFind(groups)
    decisions: dict[str, list[Decision]] = defaultdict(list)
    # Full-name variants first ("Alex Wang" with "Alexandr Wang"), then surnames, so that a
    # surname fits one person however many spellings of that person there are.
    for key in sorted(groups, key=lambda k: (" " not in _bare(k), k)):
        fits = list(
            {
                union.find(other): other
                for other in by_surname[_bare(key).split()[-1]]
                if other != key
                and " " in other
                and _shorter_form(_bare(key), other)
                and context[key] & context[other]
            }.values()
        )
        if not fits:
            continue
        a = groups[key][0][0]
        if len(fits) == 1:
            union.union(key, fits[0])
            reason = (
                f"'{_bare(key)}' is a shorter form of '{fits[0]}' in the same article or company"
            )
            decisions[key].append(
                Decision(a=a, b=groups[fits[0]][0][0], verdict="merge", reason=reason)
            )
        else:
            reason = f"'{_bare(key)}' fits several people: " + ", ".join(f"'{f}'" for f in fits)
            decisions[key].extend(
                Decision(a=a, b=groups[f][0][0], verdict="keep_apart", reason=reason) for f in fits
            )
    return _entities("person", groups, union, decisions)


def _entities(
    kind: str,
    groups: dict[str, list[tuple[str, Company | Person]]],
    union: _UnionFind,
    decisions: dict[str, list[Decision]],
) -> list[ConsolidatedEntity]:
    """One entity per union of name groups, with its mentions and decisions."""
    clusters: dict[str, list[str]] = defaultdict(list)
    for key in groups:
        clusters[union.find(key)].append(key)
    entities = []
    for keys in clusters.values():
        members = sorted((m for key in keys for m in groups[key]), key=lambda m: m[0])
        mentions = [
            EntityMention(
                source=source,
                doc_id=source.split(":", 1)[0],
                name=record.name,
                aliases=getattr(record, "aliases", []),
                evidence=record.evidence,
            )
            for source, record in members
        ]
        merged = [d for key in keys for d in decisions[key]]
        for key in keys:
            first, *rest = groups[key]
            merged.extend(
                Decision(a=first[0], b=source, verdict="merge", reason=f"same name '{_bare(key)}'")
                for source, _ in rest
            )
        entities.append(_entity(kind, mentions, merged))
    return _unique_ids(entities)


def _bare(key: str) -> str:
    """A person group's name without its "@doc" (set for a surname alone)."""
    return key.split("@", 1)[0]


def _shorter_form(short: str, full: str) -> bool:
    """True when `short` is `full` without (or with a shorter) first name: "wang", "a wang",
    "alex wang" and "alexander wang" are forms of "alexandr wang"."""
    short_words, full_words = short.split(), full.split()
    if len(short_words) == 1:
        return len(full_words) > 1
    if len(full_words) < len(short_words) or short_words[-1] != full_words[-1]:
        return False
    first, other = short_words[0], full_words[0]
    return (
        (len(first) == 1 and other.startswith(first))
        or (len(first) >= 3 and other.startswith(first))
        or JaroWinkler.normalized_similarity(first, other) >= FIRST_NAME_SIMILARITY
    )


def _entity(
    kind: str, mentions: list[EntityMention], decisions: list[Decision]
) -> ConsolidatedEntity:
    """The entity's name is the form most of its records use, as name or alias (ties: the
    longer, then the first in order); every other form is an alias."""
    written = Counter(n for m in mentions for n in dict.fromkeys((m.name, *m.aliases)))
    name = max(written, key=lambda n: (written[n], len(n), -list(written).index(n)))
    forms = dict.fromkeys(n for m in mentions for n in (m.name, *m.aliases))
    seen = {fold(name)}
    aliases = []
    for form in forms:
        if fold(form) not in seen:
            seen.add(fold(form))
            aliases.append(form)
    slug = "-".join(fold(name).split()) or "unnamed"
    return ConsolidatedEntity(
        id=f"{kind}:{slug}",
        kind=kind,  # type: ignore[arg-type]
        name=name,
        aliases=aliases,
        mentions=mentions,
        decisions=sorted(decisions, key=lambda d: (d.a, d.b, d.verdict)),
    )


def _unique_ids(entities: list[ConsolidatedEntity]) -> list[ConsolidatedEntity]:
    """Entities in order of their first mention; a repeated id (two entities kept apart under
    one name) gets -2, -3, ..."""
    entities.sort(key=lambda e: e.mentions[0].source)
    used: Counter[str] = Counter()
    out = []
    for entity in entities:
        used[entity.id] += 1
        if used[entity.id] > 1:
            entity = entity.model_copy(update={"id": f"{entity.id}-{used[entity.id]}"})
        out.append(entity)
    return out
