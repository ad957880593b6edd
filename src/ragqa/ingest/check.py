"""A reviewer's checklist: every figure-bearing sentence of a corpus document, to tick against its source.

>>> checks = check_documents(read_corpus(Path("corpus")), doc_id="fava-2020-ketamine-dose-ranging-rct")
>>> print(checklist_markdown(checks))
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ragqa.errors import DocumentNotFoundError
from ragqa.ingest.documents import CheckedAgainst, Document, Provenance
from ragqa.ingest.sentences import paragraphs, split_sentences

# A figure is a number as written in the corpus (0.5, 0.2-0.25, 50%, -28.07, 1,000) or a number
# word that states a count or a rate ("five infusions", "twice weekly"); "one" is left out because
# it is mostly a pronoun ("one of saline and one of ketamine").
FIGURE = re.compile(
    r"(?:(?<![\w.-])[-\u2212])?\d+(?:[.,]\d+)*(?:\s?-\s?\d+(?:[.,]\d+)*)?%?"
    r"|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty"
    r"|fifty|hundred|thousand|half|twice|triple|percent)\b",
    re.IGNORECASE,
)

MISSING = "missing"


@dataclass(frozen=True)
class FigureSentence:
    """A sentence of a document that states at least one figure; doc.text[start:end] == text."""

    section: tuple[str, ...]
    start: int
    end: int
    text: str
    figures: tuple[str, ...]


@dataclass(frozen=True)
class DocumentCheck:
    """One document's checklist: its citation, its provenance and its figure-bearing sentences."""

    doc_id: str
    citation: str
    provenance: Provenance | None
    sentences: tuple[FigureSentence, ...]


def figures_in(text: str) -> tuple[str, ...]:
    """The figures a sentence states, in order."""
    return tuple(m.group(0) for m in FIGURE.finditer(text))


def figure_sentences(doc: Document) -> list[FigureSentence]:
    """The sentences of a document's prose (headings excluded) that state a figure."""
    found = []
    for block in paragraphs(doc.text):
        for span in split_sentences(doc.text, block.span):
            text = doc.text[span.start:span.end]
            figures = figures_in(text)
            if figures:
                found.append(FigureSentence(block.section, span.start, span.end, text, figures))
    return found


def citation(doc: Document) -> str:
    """A one-line citation: authors, title, publisher, year, type and identifiers."""
    authors = f"{', '.join(doc.authors)}. " if doc.authors else ""
    ids = " ".join(x for x in (doc.doi and f"doi:{doc.doi}", doc.pmid and f"PMID {doc.pmid}") if x)
    return f"{authors}{doc.title} {doc.publisher}, {doc.year} ({doc.doc_type.value}) {ids}".strip()


def check_documents(documents: Iterable[Document], doc_id: str | None = None) -> list[DocumentCheck]:
    """The checklists of every document, or of the one with `doc_id` (DocumentNotFoundError if none)."""
    docs = [d for d in documents if doc_id is None or d.id == doc_id]
    if doc_id is not None and not docs:
        raise DocumentNotFoundError(f"no document {doc_id!r} in the corpus")
    return [
        DocumentCheck(d.id, citation(d), d.provenance, tuple(figure_sentences(d)))
        for d in sorted(docs, key=lambda d: d.id)
    ]


def provenance_counts(documents: Iterable[Document]) -> dict[str, int]:
    """How many documents were checked against each kind of source (a document may count twice)."""
    counts: Counter[str] = Counter()
    for doc in documents:
        if doc.provenance is None:
            counts[MISSING] += 1
        else:
            counts.update({kind.value for kind in doc.provenance.checked_against})
    order = [kind.value for kind in CheckedAgainst] + [MISSING]
    return {kind: counts[kind] for kind in order if counts[kind]}


def checklist_markdown(checks: list[DocumentCheck]) -> str:
    """The checklists as Markdown, one tick box per figure-bearing sentence."""
    out: list[str] = []
    for check in checks:
        out += [f"## {check.doc_id}", "", check.citation, ""]
        if check.provenance is None:
            out += ["Provenance: MISSING (add `provenance:` to the front matter)", ""]
        else:
            kinds = ", ".join(k.value for k in check.provenance.checked_against)
            line = (f"Provenance: checked {check.provenance.checked_on} against {kinds}: "
                    f"{check.provenance.note}")
            out += [line, ""]
        for n, s in enumerate(check.sentences, start=1):
            where = " > ".join(s.section) or "(no heading)"
            out.append(f"- [ ] {n}. [{where}, chars {s.start}-{s.end}; figures: "
                       f"{', '.join(s.figures)}] {s.text}")
        if not check.sentences:
            out.append("(no figure-bearing sentences)")
        out.append("")
    sentences = sum(len(c.sentences) for c in checks)
    missing = sum(c.provenance is None for c in checks)
    out.append(f"{len(checks)} documents, {sentences} figure-bearing sentences, "
               f"{missing} without provenance.")
    return "\n".join(out)
