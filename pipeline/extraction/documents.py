"""Read the input articles: UTF-8 text files (*.txt, *.md) from files or folders.

Two kinds of bad input, two outcomes. A problem with what was asked for (no such path, a folder
with no documents, two files with one id, an id that cannot be a file name) is found before
any work and stops the command (InputError, exit 2). A file that is there but is not a readable
article (empty, whitespace only, binary, not UTF-8) is an UnreadableDocument, a DocumentError:
a batch records it as one failed document (exit 1) and extracts the others.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from schemas.errors import DocumentError, InputError

DOCUMENT_SUFFIXES = (".txt", ".md")
# A file name holds 255 bytes: room is left for ".json" and a temp file's suffix.
MAX_ID_BYTES = 200
STDIN_ID = "stdin"
# Bytes asked for per read: most articles take one; below the size at which malloc maps (and
# unmaps) memory for the buffer.
READ_CHUNK = 64 * 1024
# The largest article read, file or standard input: six times the 5.5 MB article the README
# measures (275 requests), and a bound on what a device file, a runaway pipe or a sparse file
# can make dealx hold in memory.
MAX_ARTICLE_BYTES = 32 * 1024 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Document:
    """One article: its id (the file stem, or any safe id for text given directly), its text
    exactly as read, and the file it came from (None for text given directly)."""

    doc_id: str
    text: str
    path: Path | None = None


class UnreadableDocument(DocumentError):
    """A file that cannot be read as an article; its message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.doc_id = path.stem


def text_sha256(text: str) -> str:
    """The hash of an article's text as read, recorded in the manifest beside its path."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_doc_id(doc_id: str, source: Path | str) -> str:
    """A document id is the file stem as written (spaces and any letters included), and it
    becomes a file name under RUN_DIR and gold/: so no path separator, no "..", no leading dot
    (a hidden file), no ":" (it ends the id in a consolidation mention key), no control or
    invisible formatting character, and at most MAX_ID_BYTES bytes of UTF-8."""
    problem = _id_problem(doc_id)
    if problem:
        raise InputError(f"{printable(str(source))}: unsafe document id {doc_id!r} ({problem})")
    return doc_id


def printable(text: str) -> str:
    """`text` with control characters (and the surrogates that stand for a file name's
    non-UTF-8 bytes) escaped, so that a message about it stays one line and can be printed."""
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char).startswith("C") else char for char in text
    )


def _id_problem(doc_id: str) -> str | None:
    """Why a document id cannot be a file name, or None."""
    if not doc_id or doc_id.startswith("."):
        return "empty or starts with a dot"
    if any(part in doc_id for part in ("/", "\\", ":", "..")):
        return "holds / \\ : or .."
    # Among ASCII characters exactly the controls (category Cc) are not printable: one C call
    # instead of a category lookup per character, for the ids of every run's every document.
    if (
        not doc_id.isprintable()
        if doc_id.isascii()
        else any(unicodedata.category(char).startswith("C") for char in doc_id)
    ):
        return "holds a control or invisible character"
    if doc_id != doc_id.strip():
        return "starts or ends with whitespace"
    if len(doc_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"longer than {MAX_ID_BYTES} bytes"
    return None


def decode_article(path: Path, data: bytes) -> str:
    """The text of an article file. Anything but UTF-8 is refused, not guessed: the bytes alone
    cannot tell cp1252 from latin-1 or Mac Roman, and a wrong guess silently changes names,
    currency signs and quotes (which grounding then checks against the wrong text)."""
    if not data:
        raise UnreadableDocument(path, "empty file")
    if data.startswith(_UTF16_BOMS):
        raise UnreadableDocument(path, "UTF-16 text; convert it, e.g. iconv -f utf-16 -t utf-8")
    if b"\x00" in data:
        raise UnreadableDocument(path, "binary file (NUL bytes), not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            path, f"not UTF-8 (byte {exc.start}); convert it, e.g. iconv -f cp1252 -t utf-8"
        ) from exc
    if not text.strip():
        raise UnreadableDocument(path, "only whitespace, no text")
    return text


def read_document(path: Path) -> Document:
    """Read one article; curly quotes, non-breaking spaces and boilerplate stay in the text."""
    doc_id = check_doc_id(path.stem, path)
    try:
        data = _read_bytes(path)
    except OSError as exc:
        raise UnreadableDocument(path, f"cannot read ({exc.strerror})") from exc
    return Document(doc_id=doc_id, path=path, text=decode_article(path, data))


def read_article(path: Path) -> Document:
    """An article read as the pipeline reads one (UTF-8 only, its size limited), and only from
    a regular file: a FIFO or a device where a run's input was would block or never end."""
    if path.exists() and not path.is_file():
        raise UnreadableDocument(path, "not a regular file")
    return read_document(path)


def _read_bytes(path: Path) -> bytes:
    """A file's bytes in as few system calls as it takes: open, read to the end, close. A
    buffered file object adds two fstats, an isatty and a seek, and every system call lets go
    of the GIL and has to win it back."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _read_limited(path, lambda size: os.read(fd, size))
    finally:
        os.close(fd)


def _read_limited(path: Path, read: Callable[[int], bytes]) -> bytes:
    """Everything `read` gives until it gives b"", in READ_CHUNK reads; past MAX_ARTICLE_BYTES
    it stops, one byte over, and the article is refused, so an endless stream cannot fill the
    memory."""
    chunks, total = [], 0
    while total <= MAX_ARTICLE_BYTES and (
        chunk := read(min(READ_CHUNK, MAX_ARTICLE_BYTES + 1 - total))
    ):
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_ARTICLE_BYTES:
        raise UnreadableDocument(
            path, f"larger than {MAX_ARTICLE_BYTES // 2**20} MiB, too large for one article"
        )
    return b"".join(chunks)


def read_stream(stream: BinaryIO, doc_id: str = STDIN_ID) -> Document:
    """Read one article from a byte stream (`dealx extract -` reads standard input), checked
    like a file, size included; its id is `doc_id`."""
    check_doc_id(doc_id, "<stdin>")
    path = Path("<stdin>")
    return Document(doc_id=doc_id, text=decode_article(path, _read_limited(path, stream.read)))


def find_document_paths(paths: Iterable[Path]) -> list[Path]:
    """Expand files and folders into the article files they hold, sorted within each folder.
    Hidden files and folders inside a folder (.git, macOS ._ resource forks) are not articles;
    a file named on its own is taken as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in DOCUMENT_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.is_file()
            )
            if not inside:
                raise InputError(f"{path}: no documents (*.txt, *.md) in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def check_document_paths(paths: list[Path]) -> None:
    """Every id must be a safe file name and used once; checked for all files before any is
    read, so a bad batch stops before it has done (or written) anything."""
    seen: dict[str, Path] = {}
    for path in paths:
        doc_id = check_doc_id(path.stem, path)
        if doc_id in seen:
            raise InputError(f"{path}: document id {doc_id!r} already used by {seen[doc_id]}")
        seen[doc_id] = path


def list_documents(paths: Iterable[Path]) -> list[Path]:
    """The article files under `paths` in order, their ids checked; usage problems raise
    InputError before any file is read. A batch reads each file only when its turn comes, so
    memory does not grow with the number of articles."""
    found = find_document_paths(paths)
    check_document_paths(found)
    return found


def load_documents(paths: Iterable[Path]) -> list[Document]:
    """Load every article under `paths`; any bad file, unreadable ones included, is an error."""
    return [read_document(path) for path in list_documents(paths)]
