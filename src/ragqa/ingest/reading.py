"""What the readers took from each file, in the words `ragqa index` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ragqa.ingest.chunker import Chunker
from ragqa.ingest.documents import Document
from ragqa.ingest.layout import BlockKind


def read_summary(doc: Document) -> str:
    """One line for an HTML or PDF document: sections, sentences, tables, pages, chrome skipped."""
    report = doc.report
    if report is None:
        return f"{doc.source}: {doc.id}"
    sentences, _ = Chunker().run([doc])
    kinds = Counter(s.kind for s in sentences)
    parts = [f"{report.sections} sections",
             f"{sum(n for k, n in kinds.items() if k.quotable)} quotable sentences"]
    if report.format == "html":
        parts.append(f"{report.tables} tables ({report.table_rows} rows)")
        parts.append(f"{report.image_tables} tables only as images (recorded by caption)")
        parts.append(f"{report.figures} figures")
    if report.pages is not None:
        pages = {b.page for b in doc.layout if b.page is not None}
        parts.append(f"{report.pages} pages ({len(pages)} with text)")
    parts.append(f"{kinds[BlockKind.REFERENCE]} references (not quoted)")
    what = "chrome elements" if report.format == "html" else "repeated header/footer lines"
    parts.append(f"{report.chrome_skipped} {what} skipped")
    return f"read {doc.source} [{report.format}] as {doc.id}: " + ", ".join(parts)


def read_summaries(documents: Iterable[Document]) -> list[str]:
    """Summaries of the HTML and PDF documents (Markdown and JSONL need none)."""
    return [read_summary(doc) for doc in documents if doc.report is not None]
