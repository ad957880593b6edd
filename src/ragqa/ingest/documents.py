"""Read corpus documents: Markdown (YAML front matter), JSONL, HTML and PDF files.

HTML and PDF files take their metadata from the file where they can (citation meta tags, the PDF's
document information) and from a sidecar `<file>.meta.yaml` where they cannot (the id and the
document type, at least); the sidecar's fields are the front matter's.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from ragqa.errors import CorpusError
from ragqa.ingest.layout import Block, ReadReport


class DocType(str, Enum):
    """The kind of publication a document summarises; orders evidence strength."""

    GUIDELINE = "guideline"
    CONSENSUS = "consensus"
    SYSTEMATIC_REVIEW = "systematic_review"
    META_ANALYSIS = "meta_analysis"
    RCT = "rct"
    LABEL = "label"
    REVIEW = "review"
    # A summary of other publications by an online medical-answer service (Praxis Medical
    # Insights, Dr.Oracle), or a note on what such a service attributes to a publication:
    # not peer reviewed and not itself a guideline, trial or meta-analysis.
    SECONDARY_SUMMARY = "secondary_summary"
    OTHER = "other"


class CheckedAgainst(str, Enum):
    """What a document's sentences were last compared with (its provenance)."""

    FULL_TEXT = "full_text"  # the publication's full text
    ABSTRACT = "abstract"  # the publication's abstract
    LABEL = "label"  # the drug label or regulator's text itself
    SECONDARY_SOURCE = "secondary_source"  # another text that reports the publication
    REVIEWER_RECALL = "reviewer_recall"  # the reviewer's knowledge of the publication, no copy at hand
    NOT_RECHECKED = "not_rechecked"  # nothing to compare with: not re-checked


class SourceForm(str, Enum):
    """Whose sentences a document holds: the publication's own, or a summary written for ragqa."""

    PUBLICATION = "publication"  # the publication's own text (a guideline, a label, an abstract)
    PROJECT_SUMMARY = "project_summary"  # a summary of the named publication written for this project


@dataclass(frozen=True)
class Provenance:
    """What a document's text is (`form`), what it was checked against, when, and the result."""

    checked_against: tuple[CheckedAgainst, ...]
    checked_on: str
    note: str
    form: SourceForm | None = None  # None: the document's metadata does not say

    def to_json(self) -> dict[str, Any]:
        """The provenance as JSON-ready values."""
        return {"form": self.form.value if self.form else None,
                "checked_against": [c.value for c in self.checked_against],
                "checked_on": self.checked_on, "note": self.note}


def parse_provenance(value: Any, fail: Callable[[str, str], Exception]) -> Provenance:
    """Validate a `provenance` mapping: form, checked_against (list), checked_on (date), note."""
    if isinstance(value, Provenance):
        return value
    if not isinstance(value, dict):
        raise fail("provenance", "must be a mapping with form, checked_against, checked_on and note")
    unknown = sorted(set(value) - {"form", "checked_against", "checked_on", "note"})
    if unknown:
        raise fail("provenance",
                   f"unknown key {unknown[0]!r} (known: form, checked_against, checked_on, note)")
    form = value.get("form")
    if form is not None:
        try:
            form = SourceForm(form)
        except ValueError:
            forms = " | ".join(f.value for f in SourceForm)
            raise fail("provenance", f"form must be one of {forms}, got {form!r}") from None
    kinds = value.get("checked_against")
    if isinstance(kinds, str):
        kinds = [kinds]
    allowed = " | ".join(c.value for c in CheckedAgainst)
    if not isinstance(kinds, list) or not kinds:
        raise fail("provenance", f"checked_against must list one or more of {allowed}")
    try:
        checked_against = tuple(CheckedAgainst(k) for k in kinds)
    except ValueError:
        raise fail("provenance", f"checked_against must be among {allowed}, got {kinds!r}") from None
    checked_on = value.get("checked_on")
    if isinstance(checked_on, datetime.date):
        checked_on = checked_on.isoformat()
    try:
        datetime.date.fromisoformat(str(checked_on))
    except ValueError:
        raise fail("provenance", f"checked_on must be a date YYYY-MM-DD, got {checked_on!r}") from None
    note = value.get("note")
    if not isinstance(note, str) or not note.strip():
        raise fail("provenance", "note must say what was compared and the result")
    return Provenance(checked_against, str(checked_on), " ".join(note.split()), form)


DOC_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
REQUIRED_FIELDS = ("id", "title", "doc_type")
# publisher and year are optional: an abstract from a data set may come without them, and a
# document never gets metadata its source does not have
OPTIONAL_FIELDS = ("publisher", "year", "authors", "url", "doi", "pmid", "pmcid", "provenance")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS + ("text", "sections"))


@dataclass(frozen=True)
class Document:
    """One source publication: metadata plus the canonical text all offsets point into."""

    id: str
    title: str
    text: str
    publisher: str | None
    year: int | None
    doc_type: DocType
    authors: tuple[str, ...] = ()
    url: str | None = None
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    provenance: Provenance | None = None
    source: str = field(default="", compare=False)
    # HTML and PDF documents: each block's section path, kind and page (empty for Markdown/JSONL,
    # whose `#` headings give the sections); used when chunking, not stored with the index
    layout: tuple[Block, ...] = field(default=(), compare=False, repr=False)
    # what the reader took from the file and left out, for `ragqa index` to report
    report: ReadReport | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # An index stores provenance as JSON; rebuild the typed value when read back.
        if self.provenance is not None and not isinstance(self.provenance, Provenance):
            def fail(field_name: str, problem: str) -> CorpusError:
                return CorpusError(f"document {self.id!r}: field '{field_name}': {problem}")

            object.__setattr__(self, "provenance", parse_provenance(self.provenance, fail))

    def metadata(self) -> dict[str, Any]:
        """Everything but the text, as JSON-ready values."""
        data = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("text", "layout", "report")}
        data["doc_type"] = self.doc_type.value
        data["authors"] = list(self.authors)
        data["provenance"] = self.provenance.to_json() if self.provenance else None
        return data

    def to_json(self) -> dict[str, Any]:
        """The document as one JSON object (metadata and text)."""
        return {**self.metadata(), "text": self.text}

    @property
    def content_hash(self) -> str:
        """A stable hash of text, metadata and layout (the source path excluded)."""
        payload = {k: v for k, v in self.to_json().items() if k != "source"}
        if self.layout:
            payload["layout"] = [block.to_json() for block in self.layout]
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
        if record.get(name) not in (None, "") and not isinstance(record[name], str):
            raise fail(name, f"must be a string, got {type(record[name]).__name__}")
    year = record.get("year")
    if year in (None, ""):
        year = None
    elif isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
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
    for name in ("url", "doi", "pmid", "pmcid"):
        value = record.get(name)
        if value is not None and not isinstance(value, (str, int)):
            raise fail(name, f"must be a string, got {type(value).__name__}")
        optional[name] = None if value in (None, "") else str(value)
    provenance = None
    if record.get("provenance") is not None:
        provenance = parse_provenance(record["provenance"], fail)
    text = _canonical_text(record, fail)
    return Document(
        id=doc_id,
        title=record["title"].strip(),
        text=text,
        publisher=(record.get("publisher") or "").strip() or None,
        year=year,
        doc_type=doc_type,
        authors=tuple(a.strip() for a in authors),
        provenance=provenance,
        source=where,
        **optional,
    )


def _canonical_text(record: dict[str, Any], fail: Callable[[str, str], CorpusError]) -> str:
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


SIDECAR_SUFFIX = ".meta.yaml"
_UNSAFE_ID = re.compile(r"[^a-z0-9._-]+")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The fields of `<file>.meta.yaml` beside `path`, or {} when there is none."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return {}
    try:
        record = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CorpusError(f"{sidecar}:{mark.line + 1 if mark else 1}: field 'sidecar': invalid "
                          f"YAML ({exc})") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{sidecar}:1: field 'sidecar': expected 'key: value' lines")
    if "text" in record or "sections" in record:
        raise CorpusError(f"{sidecar}:1: field 'text': the text comes from {path.name}")
    return record


# A PDF or HTML file without a sidecar is indexed as this kind of publication: nothing in a file
# says reliably whether it is a guideline, a trial or a review, so ragqa assumes none of them and
# says so (`ragqa index` prints it); a sidecar `doc_type:` sets the real one.
DEFAULT_DOC_TYPE = DocType.OTHER


def _document_from_file(path: Path, found: dict[str, Any], text: str, layout: tuple[Block, ...],
                        report: ReadReport, found_in: dict[str, str]) -> Document:
    """A Document from what a reader found in the file; its sidecar, when there is one, overrides,
    and what neither says is assumed (id from the file name, the default doc_type) and reported."""
    sidecar = read_sidecar(path)
    record = {**{k: v for k, v in found.items() if v not in (None, "", [])}, **sidecar}
    assumed: list[str] = []
    if record.get("id") in (None, ""):
        record["id"] = _UNSAFE_ID.sub("-", path.stem.lower()).strip("-._")
        assumed.append(f"id {record['id']!r} from the file name")
    if record.get("doc_type") in (None, ""):
        record["doc_type"] = DEFAULT_DOC_TYPE.value
        assumed.append(f"doc_type {DEFAULT_DOC_TYPE.value!r} (the default; set it in "
                       f"{path.name}{SIDECAR_SUFFIX})")
    if record.get("title") in (None, ""):
        record["title"] = path.stem.replace("-", " ").replace("_", " ").strip() or record["id"]
        assumed.append(f"title {record['title']!r} from the file name")
    for name in ("title", "authors", "year"):
        if not sidecar and name in found_in and record.get(name) not in (None, "", []):
            value = record[name]
            shown = ", ".join(value[:3]) + (", ..." if len(value) > 3 else "") \
                if isinstance(value, list) else value
            assumed.append(f"{name} {shown!r} from the {found_in[name]}" if isinstance(shown, str)
                           else f"{name} {shown} from the {found_in[name]}")
    missing = [name for name in REQUIRED_FIELDS if record.get(name) in (None, "")]
    if missing:
        raise CorpusError(
            f"{path}:1: field '{missing[0]}': missing (not in the file's metadata; add it to "
            f"{path.name}{SIDECAR_SUFFIX})"
        )
    record["text"] = text
    doc = document_from_record(record, str(path), {"": 1})
    # document_from_record strips the text; the layout's offsets point into it as built
    if doc.text != text:
        raise CorpusError(f"{path}:1: field 'text': canonical text has surrounding whitespace")
    return replace(doc, layout=layout, report=replace(report, assumed=tuple(assumed)))


def read_html(path: Path) -> Document:
    """Read one saved web page (.html/.htm): article text, sections, tables; chrome dropped."""
    from ragqa.ingest.html import read_html_file

    page = read_html_file(path)
    if not page.layout:
        raise CorpusError(
            f"{path}:1: field 'text': no article text found "
            f"({page.report.chrome_skipped} chrome elements skipped)"
        )
    return _document_from_file(path, page.metadata, page.text, page.layout, page.report,
                               page.found_in)


def read_pdf(path: Path) -> Document:
    """Read one PDF: text with the page of every block, headings from font sizes."""
    from ragqa.ingest.pdf import read_pdf_file

    parsed = read_pdf_file(path)
    if not parsed.layout:
        raise CorpusError(f"{path}:1: field 'text': no text found in {parsed.report.pages} "
                          f"page(s) (a scanned PDF needs OCR first)")
    return _document_from_file(path, parsed.metadata, parsed.text, parsed.layout, parsed.report,
                               parsed.found_in)


READERS: dict[str, Callable[[Path], list[Document]]] = {
    ".md": lambda path: [read_markdown(path)],
    ".jsonl": lambda path: list(read_jsonl(path)),
    ".html": lambda path: [read_html(path)],
    ".htm": lambda path: [read_html(path)],
    ".pdf": lambda path: [read_pdf(path)],
}
CORPUS_SUFFIXES = tuple(READERS)
SKIPPED_NAMES = frozenset({"README.md"})


def read_file(path: Path) -> list[Document]:
    """The documents of one corpus file, read by the reader its extension names."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise CorpusError(f"{path}:1: field 'format': unknown extension (known: "
                          f"{', '.join(CORPUS_SUFFIXES)})")
    return reader(path)


def corpus_files(path: Path) -> list[Path]:
    """The document files under `path` (a file or a folder), in a stable order."""
    if not path.exists():
        raise CorpusError(f"{path}: corpus path does not exist")
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES and p.name not in SKIPPED_NAMES
    )


def read_corpus(paths: Path | Iterable[Path]) -> list[Document]:
    """Read every document under one or more paths; duplicate ids are refused."""
    roots = [paths] if isinstance(paths, Path) else list(paths)
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for root in roots:
        for file in corpus_files(root):
            docs = read_file(file)
            for doc in docs:
                if doc.id in seen:
                    raise CorpusError(
                        f"{file}:1: field 'id': duplicate id {doc.id!r} (first in {seen[doc.id]})"
                    )
                seen[doc.id] = doc.source
                documents.append(doc)
    if not documents:
        raise CorpusError(
            f"{', '.join(map(str, roots))}: no documents found ({', '.join(CORPUS_SUFFIXES)})"
        )
    return documents


def corpus_fingerprint(documents: Iterable[Document]) -> str:
    """A hash of every document's content, independent of file order."""
    digest = hashlib.sha256()
    for content_hash in sorted(doc.content_hash for doc in documents):
        digest.update(content_hash.encode())
    return digest.hexdigest()
