"""Split long articles on paragraph boundaries, and merge the answers for their chunks."""

from __future__ import annotations

import re

from schemas.records import Company, Deal, DocumentExtraction, Person

Evidenced = Company | Person | Deal

# A conservative characters-per-token ratio for English news text (real ratios are ~4).
CHARS_PER_TOKEN = 3
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def input_budget_chars(context_tokens: int, max_tokens: int, prompt_tokens: int) -> int:
    """How many article characters fit beside the prompt and the answer in the context."""
    return max(1000, (context_tokens - max_tokens - prompt_tokens) * CHARS_PER_TOKEN)


def split_text(text: str, max_chars: int, overlap: int = 1) -> list[str]:
    """Chunks of whole paragraphs of at most `max_chars` (a longer paragraph is cut on lines,
    then hard), each repeating the last `overlap` paragraphs of the previous chunk."""
    if len(text) <= max_chars:
        return [text]
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    pieces: list[str] = []
    for paragraph in paragraphs:
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        for line in paragraph.splitlines():
            pieces.extend(line[i : i + max_chars] for i in range(0, len(line), max_chars))
    chunks: list[list[str]] = []
    current: list[str] = []
    for piece in pieces:
        if current and _joined_len([*current, piece]) > max_chars:
            chunks.append(current)
            current = current[-overlap:] if overlap else []
            if _joined_len([*current, piece]) > max_chars:
                current = []
        current.append(piece)
    chunks.append(current)
    return ["\n\n".join(chunk) for chunk in chunks]


def _joined_len(pieces: list[str]) -> int:
    return sum(map(len, pieces)) + 2 * (len(pieces) - 1)


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", name.casefold()).split())


def merge_extractions(parts: list[DocumentExtraction]) -> DocumentExtraction:
    """Union of the answers for one document (its chunks, its constrained calls); a record seen
    again, in an overlap or twice in one answer, is kept once (the first copy wins and gains
    the other copy's evidence). Gold has one record per real-world entity and deal."""
    merged = DocumentExtraction(doc_id=parts[0].doc_id)
    seen: dict[tuple[str, ...], Evidenced] = {}
    for part in parts:
        for company in part.companies:
            if _is_new(seen, ("company", _name_key(company.name)), company):
                merged.companies.append(company)
        for person in part.people:
            if _is_new(seen, ("person", _name_key(person.name)), person):
                merged.people.append(person)
        for deal in part.deals:
            parties = sorted(f"{_name_key(p.name)}:{p.role}" for p in deal.parties)
            if _is_new(seen, ("deal", deal.deal_type, *parties), deal):
                merged.deals.append(deal)
    return merged


def _is_new(
    seen: dict[tuple[str, ...], Evidenced], key: tuple[str, ...], record: Evidenced
) -> bool:
    first = seen.setdefault(key, record)
    if first is record:
        return True
    quotes = {evidence.quote for evidence in first.evidence}
    first.evidence.extend(e for e in record.evidence if e.quote not in quotes)
    return False
