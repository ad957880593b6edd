"""Read corpus documents from Markdown (YAML front matter) and JSONL files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from ragqa.errors import CorpusError


class DocType(str, Enum):
    """The kind of publication a document summarises; orders evidence strength."""

    GUIDELINE = "guideline"
    CONSENSUS = "consensus"
    SYSTEMATIC_REVIEW = "systematic_review"
    META_ANALYSIS = "meta_analysis"
    RCT = "rct"
    LABEL = "label"
    REVIEW = "review"
    OTHER = "other"


DOC_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
REQUIRED_FIELDS = ("id", "title", "publisher", "year", "doc_type")
OPTIONAL_FIELDS = ("authors", "url", "doi", "pmid")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS + ("text", "sections"))


@dataclass(frozen=True)
class Document:
    """One source publication: metadata plus the canonical text all offsets point into."""

    id: str
    title: str
    text: str
    publisher: str
    year: int
    doc_type: DocType
    authors: tuple[str, ...] = ()
    url: str | None = None
    doi: str | None = None
    pmid: str | None = None
    source: str = field(default="", compare=False)

    def metadata(self) -> dict[str, Any]:
        """Everything but the text, as JSON-ready values."""
        data = asdict(self)
        data.pop("text")
        data["doc_type"] = self.doc_type.value
        data["authors"] = list(self.authors)
        return data

    def to_json(self) -> dict[str, Any]:
        """The document as one JSON object (metadata and text)."""
        return {**self.metadata(), "text": self.text}

    @property
    def content_hash(self) -> str:
        """A stable hash of text and metadata (the source path excluded)."""
        payload = {k: v for k, v in self.to_json().items() if k != "source"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def document_from_record(record: dict[str, Any], where: str, line_of: dict[str, int]) -> Document:
    """Validate one raw record into a Document; errors name `where`, the field and its line."""

    def fail(field_name: str, problem: str) -> CorpusError:
        line = line_of.get(field_name, line_of.get("", 1))
        return CorpusError(f"{where}:{line}: field '{field_name}': {problem}")

    if not isinstance(record, dict):
        raise fail("", "expected a mapping of fields")
    unknown = sorted(set(record) - KNOWN_FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field (known: {', '.join(sorted(KNOWN_FIELDS))})")
    for name in REQUIRED_FIELDS:
        if record.get(name) in (None, ""):
            raise fail(name, "missing")
    doc_id = record["id"]
    if not isinstance(doc_id, str) or not DOC_ID_PATTERN.match(doc_id):
        raise fail("id", f"must be lowercase letters, digits, '.', '_' or '-', got {doc_id!r}")
    for name in ("title", "publisher"):
        if not isinstance(record[name], str):
            raise fail(name, f"must be a string, got {type(record[name]).__name__}")
    year = record["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
        raise fail("year", f"must be a year between 1900 and 2100, got {year!r}")
    try:
        doc_type = DocType(record["doc_type"])
    except ValueError:
        allowed = " | ".join(t.value for t in DocType)
        raise fail("doc_type", f"must be one of {allowed}, got {record['doc_type']!r}") from None
    authors = record.get("authors") or []
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
        raise fail("authors", "must be a list of names")
    optional: dict[str, str | None] = {}
    for name in ("url", "doi", "pmid"):
        value = record.get(name)
        if value is not None and not isinstance(value, (str, int)):
            raise fail(name, f"must be a string, got {type(value).__name__}")
        optional[name] = None if value in (None, "") else str(value)
    text = _canonical_text(record, fail)
    return Document(
        id=doc_id,
        title=record["title"].strip(),
        text=text,
        publisher=record["publisher"].strip(),
        year=year,
        doc_type=doc_type,
        authors=tuple(a.strip() for a in authors),
        source=where,
        **optional,
    )


def _canonical_text(record: dict[str, Any], fail) -> str:
    """The text offsets point into: `text` as given, or `sections` joined as Markdown headings."""
    sections = record.get("sections")
    text = record.get("text")
    if sections is not None:
        if text:
            raise fail("sections", "give either 'text' or 'sections', not both")
        if not isinstance(sections, list) or not sections:
            raise fail("sections", "must be a non-empty list of {heading, text}")
        parts = []
        for i, section in enumerate(sections):
            if not isinstance(section, dict) or not isinstance(section.get("text"), str):
                raise fail("sections", f"item {i} must be an object with a 'text' string")
            heading = str(section.get("heading") or "").strip()
            body = section["text"].strip()
            parts.append(f"# {heading}\n\n{body}" if heading else body)
        text = "\n\n".join(parts)
    if not isinstance(text, str) or not text.strip():
        raise fail("text", "missing or empty")
    return text.strip()


# YAML constructs whose errors are found after the line that opened them (an unclosed quote or
# bracket runs on into the next keys): the error points at the opening line.
_OPENED_CONSTRUCTS = ("quoted scalar", "flow sequence", "flow mapping")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


def read_markdown(path: Path) -> Document:
    """Read one Markdown document with YAML front matter."""
    raw = _read_text(path)
    match = _FRONT_MATTER.match(raw)
    if not match:
        raise CorpusError(f"{path}:1: field 'front matter': file must start with a '---' YAML block")
    header = match.group(1)
    try:
        record = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        opened = getattr(exc, "context_mark", None)
        context = getattr(exc, "context", None) or ""
        if opened is not None and (mark is None or mark.line >= header.count("\n")
                                   or any(what in context for what in _OPENED_CONSTRUCTS)):
            mark = opened  # an unclosed quote or bracket: where it opened, not where it ran out
        line = mark.line + 2 if mark else 1
        problem = " ".join(part for part in (getattr(exc, "context", None),
                                             getattr(exc, "problem", None)) if part) or str(exc)
        raise CorpusError(f"{path}:{line}: field 'front matter': invalid YAML ({problem})") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{path}:2: field 'front matter': expected 'key: value' lines")
    if "text" in record or "sections" in record:
        raise CorpusError(f"{path}:2: field 'text': the text is the Markdown body, not a field")
    line_of = {"": 1}
    for number, line in enumerate(header.splitlines(), start=2):
        key = line.split(":", 1)[0].strip()
        if key and not line.startswith((" ", "-", "\t")):
            line_of.setdefault(key, number)
    line_of["text"] = header.count("\n") + 4
    record["text"] = raw[match.end():]
    return document_from_record(record, str(path), line_of)


def read_jsonl(path: Path) -> Iterator[Document]:
    """Read one document per line from a JSONL file."""
    raw = _read_text(path)
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number}: field 'json': invalid JSON ({exc.msg})") from None
        yield document_from_record(record, str(path), {"": number})


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}:1: field 'encoding': not UTF-8 ({exc.reason})") from None


CORPUS_SUFFIXES = (".md", ".jsonl")
SKIPPED_NAMES = frozenset({"README.md"})


def corpus_files(path: Path) -> list[Path]:
    """The document files under `path` (a file or a folder), in a stable order."""
    if not path.exists():
        raise CorpusError(f"{path}: corpus path does not exist")
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.suffix in CORPUS_SUFFIXES and p.name not in SKIPPED_NAMES
    )


def read_corpus(paths: Path | Iterable[Path]) -> list[Document]:
    """Read every document under one or more paths; duplicate ids are refused."""
    roots = [paths] if isinstance(paths, Path) else list(paths)
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for root in roots:
        for file in corpus_files(root):
            docs = [read_markdown(file)] if file.suffix == ".md" else list(read_jsonl(file))
            for doc in docs:
                if doc.id in seen:
                    raise CorpusError(
                        f"{file}:1: field 'id': duplicate id {doc.id!r} (first in {seen[doc.id]})"
                    )
                seen[doc.id] = doc.source
                documents.append(doc)
    if not documents:
        raise CorpusError(f"{', '.join(map(str, roots))}: no documents found (.md or .jsonl)")
    return documents


def corpus_fingerprint(documents: Iterable[Document]) -> str:
    """A hash of every document's content, independent of file order."""
    digest = hashlib.sha256()
    for content_hash in sorted(doc.content_hash for doc in documents):
        digest.update(content_hash.encode())
    return digest.hexdigest()
