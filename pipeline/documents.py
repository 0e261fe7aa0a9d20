"""Read the input articles: UTF-8 text files (*.txt, *.md) from files or folders."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError

DOCUMENT_SUFFIXES = (".txt", ".md")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Document:
    """One article: its id (the file stem), where it came from, and its text exactly as read."""

    doc_id: str
    path: Path
    text: str


def check_doc_id(doc_id: str, source: Path | str) -> str:
    """A document id becomes a file name under RUN_DIR, so it may not hold path separators."""
    if not _SAFE_ID.match(doc_id) or ".." in doc_id:
        raise InputError(f"{source}: unsafe document id {doc_id!r} (letters, digits, . _ - only)")
    return doc_id


def read_document(path: Path) -> Document:
    """Read one article; curly quotes, non-breaking spaces and boilerplate stay in the text."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise InputError(f"{path}: binary file (NUL bytes), not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 (byte {exc.start}); convert it, e.g. iconv -f cp1252 -t utf-8"
        ) from exc
    if not text.strip():
        raise InputError(f"{path}: empty document")
    return Document(doc_id=check_doc_id(path.stem, path), path=path, text=text)


def find_document_paths(paths: Iterable[Path]) -> list[Path]:
    """Expand files and folders into the article files they hold, sorted within each folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in DOCUMENT_SUFFIXES
            )
            if not inside:
                raise InputError(f"{path}: no documents (*.txt, *.md) in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def load_documents(paths: Iterable[Path]) -> list[Document]:
    """Load every article under `paths`; two files with the same id are an error."""
    documents: list[Document] = []
    seen: dict[str, Path] = {}
    for path in find_document_paths(paths):
        document = read_document(path)
        if document.doc_id in seen:
            raise InputError(
                f"{path}: document id {document.doc_id!r} already used by {seen[document.doc_id]}"
            )
        seen[document.doc_id] = path
        documents.append(document)
    return documents
