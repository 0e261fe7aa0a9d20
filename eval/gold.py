"""Load gold files and check them against the schema and the seed articles they label."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from eval.consolidated_gold import check_consolidated_gold
from pipeline.extraction.documents import Document, load_documents
from pipeline.extraction.grounding import ground
from pipeline.store.run_files import JsonFileError, error_location, read_json_file
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction

_LISTS = {"company": "companies", "person": "people", "deal": "deals"}
# The consolidated gold sits beside the per-article files; it is not one of them.
CONSOLIDATED_GOLD = "consolidated.json"
UNREVIEWED = (
    "an unreviewed draft (dealx gold draft); review it as gold/GUIDELINES.md section 10 says, "
    "then set reviewed to true"
)


def article_gold_files(gold_dir: Path) -> list[Path]:
    """The per-article gold files of `gold_dir` (every *.json but consolidated.json)."""
    return [path for path in sorted(gold_dir.glob("*.json")) if path.name != CONSOLIDATED_GOLD]


@dataclass(frozen=True)
class GoldProblem:
    """One problem in a gold file, printed as `file: field: message`."""

    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


def parse_gold_file(path: Path) -> tuple[GoldDocument | None, list[GoldProblem]]:
    """Parse one gold file; problems name the field, or the line for invalid JSON."""
    try:
        data = read_json_file(path)
    except JsonFileError as exc:
        return None, [GoldProblem(path, exc.where, exc.problem)]
    try:
        gold = GoldDocument.model_validate(data)
    except ValidationError as exc:
        return None, [
            GoldProblem(path, error_location(error["loc"]), error["msg"])
            for error in exc.errors(include_url=False)
        ]
    if gold.doc_id != path.stem:
        return gold, [GoldProblem(path, "doc_id", f"{gold.doc_id!r} differs from file stem")]
    if not gold.reviewed:
        return gold, [GoldProblem(path, "reviewed", UNREVIEWED)]
    return gold, []


def check_quotes(path: Path, gold: GoldDocument, document: Document) -> list[GoldProblem]:
    """Every evidence quote must occur verbatim in the seed, and offsets (if given) must fit."""
    problems: list[GoldProblem] = []
    for kind in ("companies", "people", "deals"):
        for index, record in enumerate(getattr(gold, kind)):
            for ev_index, evidence in enumerate(record.evidence):
                field = f"{kind}[{index}].evidence[{ev_index}]"
                if evidence.quote not in document.text:
                    problems.append(
                        GoldProblem(path, f"{field}.quote", f"not found in {document.path}")
                    )
                elif evidence.start is not None and (
                    document.text[evidence.start : evidence.end] != evidence.quote
                ):
                    problems.append(
                        GoldProblem(path, f"{field}.start", "offsets do not span the quote")
                    )
    return problems


def check_support(path: Path, gold: GoldDocument, document: Document) -> list[GoldProblem]:
    """Gold is held to the extractor's rule: each record's quotes must state its values (name
    or alias, every party, amounts, stake, date, titles...), checked by the same grounding."""
    plain = DocumentExtraction.model_validate(
        gold.model_dump(
            exclude={kind: {"__all__": {"optional", "optional_fields"}} for kind in _LISTS.values()}
        )
    )
    _, findings = ground(plain, document.text, "flag")
    return [
        GoldProblem(
            path,
            f"{_LISTS[finding.record_type]}[{finding.index}].{finding.field}",
            f"{finding.value!r}: {finding.reason}",
        )
        for finding in findings
        if finding.field != "evidence"  # check_quotes reports quotes not in the article
    ]


def validate_gold_dir(gold_dir: Path, seeds_dir: Path) -> list[GoldProblem]:
    """Check every gold file in `gold_dir` against the schema, its seed and the support rule;
    [] when all is clean."""
    documents = {doc.doc_id: doc for doc in load_documents([seeds_dir])}
    files = article_gold_files(gold_dir)
    if not files:
        return [GoldProblem(gold_dir, "(folder)", "no gold files (*.json)")]
    problems: list[GoldProblem] = []
    golds: dict[str, GoldDocument] = {}
    for path in files:
        gold, found = parse_gold_file(path)
        problems.extend(found)
        if gold is None:
            continue
        document = documents.get(path.stem)
        if document is None:
            problems.append(
                GoldProblem(path, "doc_id", f"no document {path.stem!r} in {seeds_dir}")
            )
            continue
        problems.extend(check_quotes(path, gold, document))
        problems.extend(check_support(path, gold, document))
        golds[gold.doc_id] = gold
    consolidated = gold_dir / CONSOLIDATED_GOLD
    if consolidated.exists():
        problems.extend(
            GoldProblem(consolidated, field, message)
            for field, message in check_consolidated_gold(consolidated, golds)
        )
    return problems


def load_gold_dir(gold_dir: Path) -> dict[str, GoldDocument]:
    """Load every valid gold file, keyed by document id; a path that is no folder and invalid
    files raise InputError."""
    if not gold_dir.is_dir():
        raise InputError(f"{gold_dir}: no such gold folder")
    golds: dict[str, GoldDocument] = {}
    for path in article_gold_files(gold_dir):
        gold, problems = parse_gold_file(path)
        if problems or gold is None:
            raise InputError(str(problems[0]))
        golds[gold.doc_id] = gold
    return golds
