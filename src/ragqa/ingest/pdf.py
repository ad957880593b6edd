"""Read a PDF into canonical text with the page of every block and headings from font sizes.

pypdfium2 was chosen over pdfplumber by `eval/ingest_readers.py` on the CANMAT 2023 page printed
to PDF by Chromium (55 pages): both find the same 219 of 225 paragraphs in reading order, but
pdfplumber took 39 s against pypdfium2's 0.7 s on this machine and puts superscripts on lines of
their own ("Raymond W Lam" / "1,*,"); pdfium reports each character's font size and font name,
which is all heading detection needs here (92 of 92 headings marked, 2.3 s for the whole reader).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from ragqa.errors import CorpusError
from ragqa.ingest.layout import Block, BlockKind, ReadReport, TextBuilder

_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
_HEADING_RATIO = 1.12  # a line this much larger than the body text is a heading
_MAX_HEADING_CHARS = 200
_BOLD_WEIGHT = 600  # pdfium's font weight of a bold face (when the font says it)
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_MAX_BOLD_HEADING_CHARS = 120  # a bold body-size line this short, without a full stop, is a heading


@dataclass(frozen=True)
class Line:
    """One line of a page: its text, largest font size, baseline, page (1-based), boldness."""

    text: str
    size: float
    y: float
    page: int
    bold: bool = False


@dataclass
class ParsedPdf:
    """What the PDF reader found: document information, canonical text, layout, report."""

    metadata: dict[str, Any]
    text: str
    layout: tuple[Block, ...]
    report: ReadReport


def read_pdf_file(path: Path) -> ParsedPdf:
    """Read one .pdf file; a file that is not a PDF is an error naming it."""
    import pypdfium2 as pdfium

    try:
        head = path.read_bytes()[:1024]
    except OSError as exc:
        raise CorpusError(f"{path}:1: field 'file': cannot read ({exc.strerror})") from None
    if b"%PDF-" not in head:
        raise CorpusError(f"{path}:1: field 'format': not a PDF file (the extension says .pdf)")
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise CorpusError(f"{path}:1: field 'format': unreadable PDF ({exc})") from None
    try:
        lines = [line for number in range(len(pdf)) for line in _page_lines(pdf, number)]
        info = pdf.get_metadata_dict(skip_empty=True)
        pages = len(pdf)
    finally:
        pdf.close()
    return parse_lines(lines, pages, info)


def _page_lines(pdf: Any, number: int) -> list[Line]:
    """The lines of one page, in pdfium's reading order, each with its largest font size."""
    from pypdfium2 import raw

    page = pdf[number]
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        lines: list[Line] = []
        chars: list[str] = []
        size = 0.0
        y = 0.0
        visible: list[int] = []  # indexes of the line's first and last visible characters

        def end_line() -> None:
            text = _SPACE.sub(" ", "".join(chars)).strip()
            if text:
                # a line is bold when it starts and ends bold (checking every character is slow)
                bold = all(_is_bold(textpage, i) for i in (visible[0], visible[-1]))
                lines.append(Line(text, size, y, number + 1, bold))

        for index in range(count):
            char = chr(raw.FPDFText_GetUnicode(textpage.raw, index))
            if char in "\r\n":
                end_line()
                chars, size, visible = [], 0.0, []
                continue
            if not chars:
                y = textpage.get_charbox(index)[1]
            if not char.isspace():
                size = max(size, raw.FPDFText_GetFontSize(textpage.raw, index))
                visible[1:] = [index] if visible else []
                if not visible:
                    visible.append(index)
            chars.append(char)
        end_line()
        return lines
    finally:
        textpage.close()
        page.close()


def _is_bold(textpage: Any, index: int) -> bool:
    """Whether a character is set bold: by weight, or by its font's name (weights vary)."""
    import ctypes

    from pypdfium2 import raw

    if raw.FPDFText_GetFontWeight(textpage.raw, index) >= _BOLD_WEIGHT:
        return True
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage.raw, index, name, len(name), ctypes.byref(flags))
    return bool(_BOLD_FONT.search(name.value.decode("latin-1")))


def parse_lines(lines: list[Line], pages: int, info: dict[str, str]) -> ParsedPdf:
    """Group lines into headings and paragraphs; drop lines repeated on most pages."""
    repeated = _repeated_lines(lines, pages)
    edges = _page_edges(lines)
    kept = [line for i, line in enumerate(lines)
            if not (i in edges and _DIGITS.sub("#", line.text) in repeated)]
    body = _body_size(kept)
    heading_sizes = sorted({round(line.size, 1) for line in kept
                            if line.size >= body * _HEADING_RATIO}, reverse=True)
    level_of = {size: min(i + 1, 5) for i, size in enumerate(heading_sizes)}
    bold_level = min(len(heading_sizes) + 1, 6)

    def level(line: Line) -> int | None:
        """The heading level of a line, or None for body text."""
        if round(line.size, 1) in level_of and len(line.text) <= _MAX_HEADING_CHARS:
            return level_of[round(line.size, 1)]
        if (line.bold and len(line.text) <= _MAX_BOLD_HEADING_CHARS
                and not line.text.endswith((".", ",", ";")) and line.text[:1].isupper()):
            return bold_level
        return None

    step = _line_step(kept)
    out = TextBuilder()
    paragraph: list[Line] = []
    heading: list[Line] = []

    def flush_paragraph() -> None:
        if paragraph:
            out.block(_join(line.text for line in paragraph), BlockKind.PROSE,
                      page=paragraph[0].page)
            paragraph.clear()

    def flush_heading() -> None:
        if heading:
            out.heading(level(heading[0]) or bold_level, _join(h.text for h in heading))
            heading.clear()

    previous: Line | None = None
    for line in kept:
        if level(line) is not None:
            flush_paragraph()
            if heading and (level(heading[-1]) != level(line) or heading[-1].page != line.page):
                flush_heading()
            heading.append(line)
        else:
            flush_heading()
            if paragraph and previous is not None and _breaks(previous, line, step):
                flush_paragraph()
            paragraph.append(line)
        previous = line
    flush_paragraph()
    flush_heading()
    metadata: dict[str, Any] = {}
    if info.get("Title"):
        metadata["title"] = _SPACE.sub(" ", info["Title"]).strip()
    if info.get("Author"):
        metadata["authors"] = [a.strip() for a in re.split(r";|, (?=[A-Z])", info["Author"])
                               if a.strip()]
    report = ReadReport(format="pdf", sections=out.sections, pages=pages,
                        chrome_skipped=len(lines) - len(kept))
    return ParsedPdf(metadata, out.text, tuple(out.blocks), report)


def _repeated_lines(lines: list[Line], pages: int) -> set[str]:
    """Running heads and footers: a page's first or last two lines (digits ignored) that recur
    in that place on at least half of 3+ pages."""
    if pages < 3:
        return set()
    by_page: dict[int, list[Line]] = {}
    for line in lines:
        by_page.setdefault(line.page, []).append(line)
    on_pages: dict[str, set[int]] = {}
    for page, page_lines in by_page.items():
        for line in page_lines[:2] + page_lines[-2:]:
            on_pages.setdefault(_DIGITS.sub("#", line.text), set()).add(page)
    return {text for text, seen in on_pages.items() if len(seen) >= max(3, pages / 2)}


def _page_edges(lines: list[Line]) -> set[int]:
    """Indexes of each page's first two and last two lines."""
    first: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        first.setdefault(line.page, []).append(i)
    return {i for indexes in first.values() for i in indexes[:2] + indexes[-2:]}


def _body_size(lines: list[Line]) -> float:
    """The font size most characters are set in."""
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size, 1)] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _line_step(lines: list[Line]) -> float:
    """The usual distance between the baselines of consecutive lines of body text."""
    steps = Counter(round(a.y - b.y) for a, b in pairwise(lines)
                    if a.page == b.page and a.y > b.y)
    return float(steps.most_common(1)[0][0]) if steps else 0.0


def _breaks(previous: Line, line: Line, step: float) -> bool:
    """Whether `line` starts a new paragraph after `previous`."""
    if line.page != previous.page:
        return previous.text.endswith((".", ":", "?", "!"))
    gap = previous.y - line.y
    return gap <= 0 or (step > 0 and gap > step * 1.5) or abs(line.size - previous.size) > 0.5


def _join(lines) -> str:
    """Join wrapped lines: a line-end hyphen before a lowercase letter joins without a space."""
    text = ""
    for line in lines:
        if text.endswith("-") and line[:1].islower():
            text += line
        else:
            text = f"{text} {line}" if text else line
    return text.strip()
