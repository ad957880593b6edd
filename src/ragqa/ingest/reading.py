"""What the readers took from each file, in the words `ragqa index` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ragqa.ingest.chunker import Chunker
from ragqa.ingest.documents import Document
from ragqa.ingest.layout import BlockKind


def read_summary(doc: Document) -> str:
    """What the reader took from an HTML or PDF file and left out, and what it assumed (one line,
    and one indented line per assumption)."""
    report = doc.report
    if report is None:
        return f"{doc.source}: {doc.id}"
    sentences, _ = Chunker().run([doc])
    kinds = Counter(s.kind for s in sentences)
    parts = [f"{report.sections} sections",
             f"{sum(s.quotable for s in sentences)} quotable sentences"]
    if report.format == "html":
        parts.append(f"{report.tables} tables ({report.table_rows} rows)")
        parts.append(f"{report.image_tables} tables only as images (recorded by caption)")
        parts.append(f"{report.figures} figures")
    if report.pages is not None:
        pages = {b.page for b in doc.layout if b.page is not None}
        parts.append(f"{report.pages} pages ({len(pages)} with text)")
    if report.format == "pdf":
        parts.append(f"{report.tables} tables read as rows ({report.table_rows} rows)")
        if kinds[BlockKind.CONTENTS]:
            parts.append(f"{kinds[BlockKind.CONTENTS]} contents entries (not quoted)")
    parts.append(f"{kinds[BlockKind.REFERENCE]} references (not quoted)")
    if report.format == "html":
        parts.append(f"{report.chrome_skipped} chrome elements skipped")
    else:
        parts.append(f"{report.chrome_skipped} furniture lines removed (running headers and "
                     f"footers, page numbers, stamps)")
        parts.append(f"{report.superscripts_dropped} superscript citation marks dropped")
    lines = [f"read {doc.source} [{report.format}] as {doc.id}: " + ", ".join(parts)]
    lines += [f"  assumed {note}" for note in report.assumed]
    return "\n".join(lines)


def read_summaries(documents: Iterable[Document]) -> list[str]:
    """Summaries of the HTML and PDF documents (Markdown and JSONL need none)."""
    return [read_summary(doc) for doc in documents if doc.report is not None]


def quotable_sentences(doc: Document) -> list[str]:
    """The texts of the sentences an answer may quote from `doc`, exactly as the reader and the
    chunker produce them for the index (reference entries, contents and table headers left out).

    >>> [doc] = read_file(Path("corpus/guideline.pdf"))
    >>> quotable_sentences(doc)[:1]
    ['Diagnosis of CD requires duodenal biopsy when the patient is on a gluten-containing diet.']
    """
    sentences, _ = Chunker().run([doc])
    return [s.text for s in sentences if s.quotable]
