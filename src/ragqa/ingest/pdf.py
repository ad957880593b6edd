"""Read a PDF into canonical text with the page of every block, its headings, references and tables.

pypdfium2 was chosen over pdfplumber by `eval/ingest_readers.py` on the CANMAT 2023 page printed
to PDF by Chromium (55 pages): both find the same 219 of 225 paragraphs in reading order, but
pdfplumber took 39 s against pypdfium2's 0.7 s on this machine and puts superscripts on lines of
their own. pdfium reports each character's box, baseline, font size and weight, which is all the
layout analysis below needs, and it works offline under a permissive licence (Apache/BSD); pymupdf
(AGPL) and docling (layout models downloaded at run time) were ruled out (issue 22).

The reading, in the order it is done:
1. lines (`_page_lines`): pdfium's lines in its reading order, a ligature or dash that a font gives
   no Unicode for written out (LaTeX's T1 codes, Unicode's U+FB00-FB06), parted where pdfium ran
   two printed lines together or where a gap wider than any word space parts two table cells (not a label:
   a recommendation's number hanging in the margin stays with its text, and a justified line's
   stretched spaces, no wider than its own word spaces, stay word spaces); the type size
   as printed (font size by text matrix); superscript citation marks (small, raised) dropped, an
   exponent after a unit kept, a mark pdfium set apart as a piece of its own dropped too, and a
   word space put where a dropped mark stood between a sentence's end and the next, or between
   the mark and a word pdfium began a new piece at; pieces on one baseline merged (two pieces of
   prose a sentence's space apart too, however wide a justified line stretched it, when together
   they fill the line above edge to edge); a word broken at a line end marked `SOFT_HYPHEN`; a
   line opening with a glyph of a dingbat font, or punctuation of a symbol font (a DeltaSymbol
   "["), opens with a bullet;
2. page furniture (running heads and feet, page numbers, stamps, sideways chapter tabs) removed by
   position and repetition (`furniture.py`);
3. each line classed: contents entry (dot leaders), caption ("Table 2 Histological ...", not a
   line of prose naming a table: "Table 4 lists ..."), heading (type size, weight, capitals,
   numbering; numbered headings nest under their parent number, and a heading set between two
   numbered chapters in a larger type than theirs sits inside the first), or body;
4. lines grouped into paragraphs by line spacing, indentation and list marks: a bullet (Word's
   Symbol and Wingdings bullets too) always opens an item, so does the next mark of the same list
   at the same indent, and text set out to the left of a list ends it; a remark in brackets on a
   line of its own ("(Grade B)", "[2004, amended 2019]") closes the paragraph above;
5. the reference list (by its heading, or by runs of numbered citation-like entries) read as one
   entry per reference; a captioned table's smaller-type lines, and runs of cells side by side,
   read as rows (labelled by a bold header row), a cell's wrapped lines joined to it (a baseline
   with nothing in the first column, or going on in lower case, continues the row above);
   contents lines marked (under a contents heading, and a list of figures or tables right after
   it: an entry ends in a page number, arabic or roman, or leaves it on a line of its own);
6. a paragraph cut at a column or page break joined to its continuation, past captions, boxes,
   tables and footnotes (a table, however many rows, counts as one block of the look-ahead), unless
   its last line stops well short of its column's edge and the next paragraph opens with a
   capital: it ended there;
7. line-end hyphens resolved by the document's own vocabulary (`hyphens.py`; a word it breaks at
   two different places is one word).
"""

from __future__ import annotations

import ctypes
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from ragqa.errors import CorpusError
from ragqa.ingest.furniture import Placed, find_furniture
from ragqa.ingest.hyphens import SOFT_HYPHEN, dehyphenate, vocabulary
from ragqa.ingest.layout import Block, BlockKind, ReadReport, TextBuilder

_SPACE = re.compile(r"\s+")
_HEADING_RATIO = 1.08  # a line this much larger than the body text is a heading
_MAX_HEADING_CHARS = 200
_BOLD_WEIGHT = 540  # pdfium's font weight of a bold face (when the font says it): 600 and up, and
# 545 (12 pt) to 570 (10 pt) for TeX's Computer Modern bold (CMBX), between a regular 400 or medium
# 500 and semibold
# a bold face by its font's name: "Arial-BoldMT", "Helvetica,Bold", "Minion-Bd", "AdvOT1234.B"
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|[-,.+_](?:b|bd|bl)$", re.IGNORECASE)
# fonts of bullets: every glyph of a dingbat font is one; of a symbol font, its punctuation and
# private-use codes are (its letters and signs are Greek and mathematics)
_DINGBAT_FONT = re.compile(r"dingbat|wingding|webding", re.IGNORECASE)
_SYMBOL_FONT = re.compile(r"symbol", re.IGNORECASE)
_BULLET_CATEGORIES = {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Co"}
_MAX_BOLD_HEADING_CHARS = 120  # a bold body-size line this short, without a full stop, is a heading
_MAX_CAPS_HEADING_CHARS = 80  # so is a line this short in capitals
_CELL_GAP = 1.5  # a gap this many times the type size between two characters parts table cells
_RULE_WIDTH = 2.0  # a drawn path at most this wide (points), and taller than it, is a vertical rule
# what a character code stands for when a font gives no Unicode for it: TeX's T1 encoding, used
# by a LaTeX font embedded as a bitmap, gives its ligatures and dashes as their own codes
# ("in\x1dammatory", "101\x15111"); a Unicode ligature ("\ufb01rst") is written out, so that the
# quoted text is searched and matched as it reads
_GLYPH_TEXT = {0x1B: "ff", 0x1C: "fi", 0x1D: "fl", 0x1E: "ffi", 0x1F: "ffl", 0x15: "\u2013", 0x16: "\u2014",
               0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "st",
               0xFB06: "st"}
_Rule = tuple[float, float, float]  # a vertical rule drawn on a page: (x, bottom, top)
# a paragraph's last line this share of its column's width short of the column's edge ends it
_SHORT_LAST_LINE = 0.25
_PROSE_CELL = 45  # "cells" this long (the median) are lines of prose side by side, not a table
_SIDE_MARGIN = 0.1  # share of the page's width at its left and right that is margin
_HEADING_BAND = 0.05  # a line in this share of the page's height at its top or bottom is no heading
# an exponent, kept: a "2" or "3" (or "-1") raised after a unit ("kg/m2", "1.73 m2", "mm3")
_EXPONENT = re.compile(r"[23]|[-−]1")
_UNIT_BEFORE = re.compile(r"(?:/|\d\s?)[a-zA-Zμµ]{1,3}$")
_GLUED_NUMBER = re.compile(r"(\b\d{1,2}\.\d{1,2})([A-Z][a-z]{2,})")
_SUPERSCRIPT_SIZE = 0.85  # a mark this much smaller than its line's text ...
_SUPERSCRIPT_RISE = 0.2  # ... and raised by this share of the text's size is a superscript
# a sentence's end and the next one's capital: pdfium began a piece at a citation mark between
# them ("low.", mark "11", "Recommendations ..."), and the mark's place is the word space
_NEXT_SENTENCE = re.compile(r"[.;:!?][A-Z]")
# TeX widens the space after a sentence's end to at most this many times the type size in a
# stretched justified line
_SENTENCE_SPACE = 3.0
_WORD_GAP = 0.2  # a gap this share of the type size between two characters reads as a space
_JUSTIFIED = 1.5  # a gap at most this many times a line's word spaces is a word space
# citation and footnote marks: "6", "25–27", "1,2", "*", "†", a table's footnote letter "a"
_SUPERSCRIPT_MARK = re.compile(r"[\d,.;\u2013\u2014\-–*†‡§¶\s]+|[a-h]")
# numbered headings: "3", "3.2", "3.2.1.", "3a." (a letter after the number is one level deeper)
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4}(?:[a-z](?=[.)\s]))?)[.)]?\s+[A-Z(]")
# bullets as printed: typographic ones, and those of Word's Symbol and Wingdings fonts (private use)
_BULLETS = "▸►•●▪◦■□✓➢◆➤\uf0b7\uf0a7\uf0d8\uf076\uf0fco"  # "o": Word's second level
_LIST_MARK = re.compile(rf"^(?:[{_BULLETS}\-–*]|\(?[0-9]{{1,2}}[.)]|\(?[a-zA-Z][.)]|\(?[ivx]{{1,4}}[.)])\s")
# a list's or reference list's label standing apart from its text ("(12)", "[3]", "4.", "•"), or
# a recommendation's number hanging in the margin ("1.1.1" beside "Offer ...")
_LABEL_ONLY = re.compile(rf"\(?\[?\d{{1,4}}[.)\]]?|\d{{1,2}}(?:\.\d{{1,2}}){{1,3}}\.?|[{_BULLETS}\-–*]|\(?[a-zA-Z][.)]")
_BULLET = re.compile(rf"^[{_BULLETS}–-]\s+(?=\S)")  # a list item's bullet, not quoted with it
_RUNS_ON = re.compile(r"\s*[a-z]")  # a lower-case word: the sentence goes on
_BULLET_GLYPH = re.compile(rf"^[{_BULLETS}]\s")  # a bullet that no wrapped sentence starts with
# a line that is one short remark in brackets: "(Grade B)", "[2019]", "[2004, amended 2011]"; not
# a list's or a citation's label ("(2)", "[12]", "[3, 4]")
_PARENTHETICAL = re.compile(r"^[(\[](?!\d{1,3}(?:[,–-]\s?\d{1,3})*[)\]])[^()\[\]]{1,60}[)\]][.;]?$")
_LEADERS = re.compile(r"(?:\.\s?){4,}|…{2,}|_{4,}|(?:·\s?){4,}")
# a contents entry's page number: arabic, or the lower-case roman of front matter ("Acronyms ... vi"),
# ending the entry or on a line of its own
_PAGE_NUMBER = r"(?:\d{1,4}|[ivxlc]{1,7})"
_PAGE_NUMBER_END = re.compile(rf"\s{_PAGE_NUMBER}$")
_PAGE_NUMBER_ONLY = re.compile(rf"\s*{_PAGE_NUMBER}\s*$")
_TERMINAL = re.compile(r"[.?!:](?:[\"'’”)\]]*)$")
_TRAILING_CITATION = re.compile(r"\s*\[[\d,–\-\s]+\]$")
_REFERENCE_LABEL = re.compile(r"^(?:\[(\d{1,4})\]|\((\d{1,4})\)|(\d{1,4})[.)]?)\s+\S")
_CITATION_LIKE = re.compile(
    r"^(?:\[\d{1,4}\]|\(\d{1,4}\)|\d{1,4}[.)]?)\s+[A-Z][\w'’\-]+(?:\s[\w'’\-]+){0,3},?\s[A-Z]{1,3}\b.*"
    r"\b(?:19|20)\d\d\b", re.DOTALL)
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
# a guideline's next review date ("Next review: March 2024", "due for review in 2025"): not the year
# it was published
_REVIEW_DATE = re.compile(r"\b(?:next review|review date|due for review|to be reviewed|review due)\b"
                          r"[^.;\n]{0,40}", re.IGNORECASE)
# a page footnote's mark: "3 The threshold was agreed ...", "* Data from ..."
_FOOTNOTE = re.compile(r"^(?:\d{1,3}|[*†‡§¶])\s+(?=[A-Z])")
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters
# "© World Health Organization 2021", "Copyright 2019 the authors": the year a work was published
_COPYRIGHT = re.compile(rf"(?:©|\(c\)|\bcopyright\b)[^.\n]{{0,60}}?{_YEAR.pattern}", re.IGNORECASE)
_COPYRIGHT_PAGES = 4  # a copyright line is read on the first pages only
# a byline's group after its authors ("... on behalf of the Cardiology Network"): not an author
_ON_BEHALF = re.compile(r"\s+(?:on behalf of|for the)\s+", re.IGNORECASE)
_JUNK_TITLE = re.compile(r"^(?:untitled|microsoft word\b|.*\.(?:docx?|pdf|indd|tex|qxd))",
                         re.IGNORECASE)
_NAME = re.compile(r"^[A-Z][\w'’.\-]*(?:\s[A-Za-z][\w'’.\-]*){1,4}$")


@dataclass(frozen=True)
class Line:
    """One line of a page: its text, font size, baseline, page (1-based), boldness, left and right
    edges, and the page's height (None when unknown)."""

    text: str
    size: float
    y: float
    page: int
    bold: bool = False
    x0: float = 0.0
    x1: float = 0.0
    page_height: float | None = None
    sideways_in_margin: bool = False  # set sideways in the left or right margin (a chapter tab)
    word_gap: float = 0.0  # the median space between its words as printed (0: one word)
    opens_with_mark: bool = False  # a superscript mark before its first word was dropped (a note's)
    spaced_after_mark: bool = False  # ... and a word space stood between the mark and that word


@dataclass(frozen=True)
class PdfRules:
    """The words that name a PDF's blocks (see `data/pdf_layout.yaml`)."""

    reference_headings: frozenset[str]
    contents_headings: frozenset[str]
    contents_lists: frozenset[str]
    table_labels: tuple[str, ...]
    figure_labels: tuple[str, ...]
    image_placeholders: re.Pattern[str]

    def caption(self, text: str) -> str | None:
        """"table" or "figure" when `text` opens a caption ("Table 2 ...", "Figure 1. ..."), else
        None."""
        for kind, labels in (("table", self.table_labels), ("figure", self.figure_labels)):
            for label in labels:
                found = re.match(rf"{re.escape(label)}\s?[A-Z]?\d+(?:\.\d+)*[a-z]?\b[.:]?", text)
                # a line of prose that names a table ("Table 4 lists ...", "... the criteria in" /
                # "Table 18 must also be met") goes on in lower case; a caption's title does not
                if found and (found.group().endswith((".", ":")) or not _RUNS_ON.match(text, found.end())):
                    return kind
        return None


@lru_cache(maxsize=1)
def pdf_rules() -> PdfRules:
    """The rules of `data/pdf_layout.yaml`."""
    raw = yaml.safe_load(resources.files("ragqa.ingest").joinpath("data/pdf_layout.yaml")
                         .read_text(encoding="utf-8"))
    return PdfRules(frozenset(t.casefold() for t in raw["reference_headings"]),
                    frozenset(t.casefold() for t in raw["contents_headings"]),
                    frozenset(t.casefold() for t in raw["contents_lists"]),
                    tuple(raw["caption_labels"]["table"]), tuple(raw["caption_labels"]["figure"]),
                    re.compile(r"\s*\b(?:" + "|".join(re.escape(t) for t in raw["image_placeholders"])
                               + r")\b", re.IGNORECASE))


@dataclass
class ParsedPdf:
    """What the PDF reader found: document information, canonical text, layout, report."""

    metadata: dict[str, Any]
    text: str
    layout: tuple[Block, ...]
    report: ReadReport
    found_in: dict[str, str] = field(default_factory=dict)  # where title/authors/year came from


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
        lines: list[Line] = []
        marks = 0
        for number in range(len(pdf)):
            page_lines, dropped = _page_lines(pdf, number)
            lines += page_lines
            marks += dropped
        info = pdf.get_metadata_dict(skip_empty=True)
        pages = len(pdf)
    finally:
        pdf.close()
    parsed = parse_lines(lines, pages, info)
    parsed.report = replace(parsed.report, superscripts_dropped=marks)
    return parsed


@dataclass
class _Char:
    char: str
    size: float
    base: float
    x0: float
    x1: float


def _page_lines(pdf: Any, number: int) -> tuple[list[Line], int]:
    """The lines of one page in pdfium's reading order, and how many superscript marks were
    dropped from them."""
    from pypdfium2 import raw

    page = pdf[number]
    height, width = float(page.get_height()), float(page.get_width())
    rules = _vertical_rules(page)
    textpage = page.get_textpage()
    try:
        box = raw.FS_RECTF()
        matrix = raw.FS_MATRIX()
        ox, oy = ctypes.c_double(), ctypes.c_double()
        pieces: list[Line] = []
        turned: set[int] = set()  # the pieces set sideways
        dropped = 0
        chars: list[_Char] = []
        first_last: list[int] = []

        def end_line() -> None:
            nonlocal dropped
            line, marks = _make_line(chars, number + 1, height)
            dropped += marks
            if line is not None:
                bold = all(_is_bold(textpage, i) for i in (first_last[0], first_last[-1]))
                angle = raw.FPDFText_GetCharAngle(textpage.raw, first_last[0])
                if min(abs(angle), abs(angle - 2 * math.pi)) > 0.2:
                    turned.add(len(pieces))
                pieces.append(replace(line, bold=bold))

        for index in range(textpage.count_chars()):
            code = raw.FPDFText_GetUnicode(textpage.raw, index)
            char = _GLYPH_TEXT.get(code) or chr(code)
            if char in "\r\n":
                if chars:
                    end_line()
                chars, first_last = [], []
                continue
            if code == 2 or char == SOFT_HYPHEN or (char == "-" and raw.FPDFText_IsHyphen(
                    textpage.raw, index) == 1):
                char = SOFT_HYPHEN
            if char.isspace() or char == SOFT_HYPHEN:
                chars.append(_Char(" " if char != SOFT_HYPHEN else char, 0.0, 0.0, 0.0, 0.0))
                continue
            raw.FPDFText_GetLooseCharBox(textpage.raw, index, box)
            raw.FPDFText_GetCharOrigin(textpage.raw, index, ox, oy)
            # the size as printed: the font's size scaled by its text matrix (many PDFs set a
            # 1-point font and scale it); the box height when pdfium knows no matrix
            raw.FPDFText_GetMatrix(textpage.raw, index, matrix)
            size = raw.FPDFText_GetFontSize(textpage.raw, index) * math.sqrt(
                abs(matrix.a * matrix.d - matrix.b * matrix.c))
            if size <= 0:
                size = box.top - box.bottom
            if not any(c.size > 0 for c in chars) and _is_symbol_bullet(textpage, index, char):
                char = "•"
            here = _Char(char, round(size, 2), oy.value, box.left, box.right)
            if _parts(chars, here, rules):
                end_line()
                chars, first_last = [], []
            chars.append(here)
            first_last[1:] = [index] if first_last else []
            if not first_last:
                first_last.append(index)
        if chars:
            end_line()
        pieces = _sideways_in_margin(pieces, turned, width)
        lines, marks = _merge_fragments(pieces, rules)
        return lines, dropped + marks
    finally:
        textpage.close()
        page.close()


def _sideways_in_margin(pieces: list[Line], turned: set[int], width: float) -> list[Line]:
    """The pieces with those set sideways in a margin marked: wholly left or right of the page's
    horizontal text (a download stamp beside a wide margin), or within `_SIDE_MARGIN` of the edge
    on a page with no horizontal text."""
    flat = [p for i, p in enumerate(pieces) if i not in turned]
    left = max(min((p.x0 for p in flat), default=0.0), _SIDE_MARGIN * width)
    right = min(max((p.x1 for p in flat), default=width), (1 - _SIDE_MARGIN) * width)
    return [replace(p, sideways_in_margin=i in turned and (p.x1 <= left or p.x0 >= right))
            for i, p in enumerate(pieces)]


def _vertical_rules(page: Any) -> list[_Rule]:
    """The vertical lines drawn on a page (a table's cell borders)."""
    from pypdfium2 import raw

    rules = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    for index in range(raw.FPDFPage_CountObjects(page.raw)):  # raw calls: a page may draw thousands
        obj = raw.FPDFPage_GetObject(page.raw, index)
        if raw.FPDFPageObj_GetType(obj) != raw.FPDF_PAGEOBJ_PATH or not raw.FPDFPageObj_GetBounds(
                obj, left, bottom, right, top):
            continue
        if right.value - left.value <= _RULE_WIDTH < top.value - bottom.value:
            rules.append(((left.value + right.value) / 2, bottom.value, top.value))
    return rules


def _ruled_between(rules: Sequence[_Rule], left: float, right: float, base: float) -> bool:
    """Whether a rule is drawn strictly between x `left` and `right` across baseline `base`."""
    return any(left < x < right and bottom <= base <= top for x, bottom, top in rules)


def _parts(chars: list[_Char], here: _Char, rules: Sequence[_Rule] = ()) -> bool:
    """Whether `here` starts another line than the characters before it on pdfium's line: pdfium
    ran two printed lines together (at a line-end hyphen), or two table cells (a gap wider than any
    word space, or a cell border drawn between them), unless what stands before the gap is a label
    ("4.", "•", "1.1.1" hanging in the margin beside its recommendation)."""
    last = next((c for c in reversed(chars) if c.size > 0), None)
    if last is None:
        return False
    if here.base < last.base - 0.6 * last.size and here.x0 < last.x0:
        return True
    # between the two characters' middles: a character's loose box may reach over a tight border
    bordered = _ruled_between(rules, (last.x0 + last.x1) / 2, (here.x0 + here.x1) / 2, here.base)
    return ((bordered or here.x0 - last.x1 > _CELL_GAP * here.size)
            and not _LABEL_ONLY.fullmatch(_text_of(chars)))


def _text_of(chars: list[_Char]) -> str:
    return "".join(c.char for c in chars).strip()


def _make_line(chars: list[_Char], page: int, height: float) -> tuple[Line | None, int]:
    """One line from its characters: superscript marks dropped, the size and baseline most of its
    characters have."""
    visible = [c for c in chars if c.size > 0]
    if not visible:
        return None, 0
    sizes = Counter(round(c.size, 1) for c in visible)
    size = sizes.most_common(1)[0][0]
    body = [c for c in visible if round(c.size, 1) == size]
    base = sorted(c.base for c in body)[len(body) // 2]
    keep = [True] * len(chars)
    spaced: set[int] = set()  # dropped marks that stood where a word space is seen, not typed
    marks = 0
    i = 0
    while i < len(chars):
        if _superscript(chars[i], size, base):
            j = i
            while j < len(chars) and (chars[j].size == 0 or _superscript(chars[j], size, base)):
                j += 1
            run = "".join(c.char for c in chars[i:j])
            before = "".join(c.char for c, k in zip(chars[:i], keep, strict=False) if k)
            if _SUPERSCRIPT_MARK.fullmatch(run) and not (
                    _EXPONENT.fullmatch(run.strip()) and _UNIT_BEFORE.search(before)):
                for k in range(i, j):
                    keep[k] = chars[k].size == 0  # keep the spaces around it
                if 0 < i and j < len(chars) and chars[i - 1].size > 0 and chars[j].size > 0 \
                        and chars[j].x0 - chars[j - 1].x1 > _WORD_GAP * size:
                    spaced.add(i)  # "low.(11) Recommendations" printed with no space character
                marks += 1
            i = j
        else:
            i += 1
    text = "".join(" " if n in spaced else c.char for n, (c, k) in enumerate(zip(chars, keep, strict=True))
                   if k or n in spaced)
    spaced_open = text[:1].isspace()
    text = _SPACE.sub(" ", text).strip()
    text = re.sub(rf"\s*{SOFT_HYPHEN}\s*", SOFT_HYPHEN, text)
    text = _GLUED_NUMBER.sub(r"\1 \2", text)  # "7.23Indications": a numbered item's number
    if not text.strip(SOFT_HYPHEN):
        return None, marks
    # the line's extent counts its dropped marks: a piece pdfium began at a superscript still
    # touches the piece before it
    first = next(n for n, c in enumerate(chars) if c.size > 0)
    return Line(text, size, base, page, False, min(c.x0 for c in visible),
                max(c.x1 for c in visible), height, word_gap=_word_gap(chars),
                opens_with_mark=not keep[first],
                spaced_after_mark=not keep[first] and spaced_open), marks


def _prose(text: str) -> bool:
    """Whether a piece reads as words rather than a table's figures or signs."""
    printed = [ch for ch in text if not ch.isspace()]
    return bool(printed) and sum(ch.isalpha() for ch in printed) >= 0.6 * len(printed)


def _word_gap(chars: list[_Char]) -> float:
    """The median gap between words (characters a space apart) as printed."""
    gaps = []
    previous, spaced = None, False
    for c in chars:
        if c.size == 0:
            spaced = previous is not None
            continue
        if previous is not None and spaced:
            gaps.append(c.x0 - previous.x1)
        previous, spaced = c, False
    return sorted(gaps)[len(gaps) // 2] if gaps else 0.0


def _superscript(char: _Char, size: float, base: float) -> bool:
    return (char.size > 0 and char.size < size * _SUPERSCRIPT_SIZE
            and char.base > base + size * _SUPERSCRIPT_RISE)


def _merge_fragments(lines: list[Line], rules: Sequence[_Rule] = ()) -> tuple[list[Line], int]:
    """Join consecutive pieces that sit on one baseline a word space apart (pdfium starts a new
    line where a superscript raised the baseline); pieces further apart, or with a cell border
    drawn between them, stay apart (table cells).
    A citation mark that pdfium set apart as a piece of its own, raised and smaller, just after the
    piece before it ("... policy." then "12") is dropped; how many were is returned too."""
    merged: list[Line] = []
    marks = 0
    for line in lines:
        if merged:
            last = merged[-1]
            gap = line.x0 - last.x1
            if (_SUPERSCRIPT_MARK.fullmatch(line.text) and any(ch.isdigit() for ch in line.text)
                    and line.size < _SUPERSCRIPT_SIZE * last.size
                    and line.y > last.y + _SUPERSCRIPT_RISE * last.size
                    and line.y < last.y + last.size and -1.0 <= gap < 0.8 * last.size):
                marks += 1
                continue
            # a justified line in a narrow column stretches its spaces past a cell's gap: between
            # two pieces of prose, a gap no wider than their own word spaces stretched is one
            spaces = max(last.word_gap, line.word_gap)
            if (abs(line.y - last.y) < 0.3 * max(line.size, last.size) and -1.0 <= gap
                    and (gap < 0.8 * max(line.size, last.size)
                         or gap < _JUSTIFIED * spaces and _prose(last.text) and _prose(line.text)
                         or _sentence_space(merged[-2] if len(merged) > 1 else None, last, line))
                    and not _ruled_between(rules, last.x1 - 1.0, line.x0 + 1.0, line.y)):
                # a piece pdfium began at a dropped mark ("condition X" then "1 highlighted")
                # touches the piece before it, but its word stood a space after the mark
                joiner = "" if (gap < 0.12 * line.size and not line.spaced_after_mark
                                and not _NEXT_SENTENCE.match(last.text[-1:] + line.text)
                                or last.text.endswith(SOFT_HYPHEN)) else " "
                merged[-1] = replace(last, text=last.text + joiner + line.text, x1=line.x1,
                                     size=max(last.size, line.size) if len(line.text) > len(
                                         last.text) else last.size, bold=last.bold and line.bold,
                                     word_gap=max(spaces, gap) if joiner else spaces)
                continue
        merged.append(line)
    return merged, marks


def _sentence_space(above: Line | None, last: Line, line: Line) -> bool:
    """Whether the gap between two pieces of prose on one baseline is the space after a sentence
    in a justified line, stretched past a cell's gap: the first piece ends a sentence, the second
    opens one, and together they fill the line above them edge to edge ("mains low." then "Adults
    presenting with" under a line of the column's full width)."""
    size = max(line.size, last.size)
    return (above is not None and above.page == line.page and line.x0 - last.x1 < _SENTENCE_SPACE * size
            and _terminated(last.text) and line.text[:1].isupper()
            and _prose(last.text) and _prose(line.text) and _prose(above.text)
            and 0.8 * size < above.y - line.y < 2.0 * size
            and abs(above.x0 - last.x0) < 0.5 * size and abs(above.x1 - line.x1) < 0.5 * size)


def _is_symbol_bullet(textpage: Any, index: int, char: str) -> bool:
    """Whether a character that opens a line is a bullet drawn from a symbol font: any glyph of a
    dingbat font ("l" is Wingdings' ●), and punctuation or a private-use code of a symbol font
    (the "[" of a DeltaSymbol font is a bullet; the α, β and ≥ of a Symbol font are text)."""
    font = _font_name(textpage, index)
    if _DINGBAT_FONT.search(font):
        return True
    return bool(_SYMBOL_FONT.search(font)) and unicodedata.category(char) in _BULLET_CATEGORIES


def _is_bold(textpage: Any, index: int) -> bool:
    """Whether a character is set bold: by weight, or by its font's name (weights vary)."""
    from pypdfium2 import raw

    if raw.FPDFText_GetFontWeight(textpage.raw, index) >= _BOLD_WEIGHT:
        return True
    return bool(_BOLD_FONT.search(_font_name(textpage, index)))


def _font_name(textpage: Any, index: int) -> str:
    """The name of the font a character is set in ("Arial-BoldMT", "DeltaSymbol")."""
    from pypdfium2 import raw

    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage.raw, index, name, len(name), ctypes.byref(flags))
    return name.value.decode("latin-1")


class Role(str, Enum):
    """What a paragraph of a PDF is, while the reader works out its layout."""

    HEADING = "heading"
    PROSE = "prose"
    CAPTION = "caption"
    CONTENTS = "contents"
    ROW = "row"
    HEADER = "header"
    NOTE = "note"
    REFERENCE = "reference"


# the block each role becomes, and whether it follows the block before on the next line
_BLOCK_OF: dict[Role, tuple[BlockKind, bool]] = {
    Role.PROSE: (BlockKind.PROSE, False),
    Role.CAPTION: (BlockKind.CAPTION, False),
    Role.CONTENTS: (BlockKind.CONTENTS, True),
    Role.ROW: (BlockKind.TABLE_ROW, True),
    Role.HEADER: (BlockKind.TABLE_HEADER, True),
    Role.NOTE: (BlockKind.TABLE_NOTE, True),
    Role.REFERENCE: (BlockKind.REFERENCE, True),
}

_LOOK_AHEAD = 12  # blocks a paragraph cut at a break may skip to reach its continuation
# the parts of a float (a table's rows and header, its notes, a caption): a paragraph cut by one
# skips it whole, however many rows it has, and counts it as one block
_FLOAT = frozenset({Role.ROW, Role.HEADER, Role.NOTE, Role.CAPTION})


@dataclass
class _Para:
    lines: list[Line]
    role: Role
    level: int = 0
    cut: bool = False  # ended at a column or page break, not at a paragraph's end
    table: bool = False  # a caption that opens a table

    @property
    def size(self) -> float:
        return self.lines[0].size

    @property
    def text(self) -> str:
        return _join(line.text for line in self.lines)


def parse_lines(lines: list[Line], pages: int, info: dict[str, str]) -> ParsedPdf:
    """Read the lines of a PDF into canonical text and layout: furniture removed, headings,
    paragraphs joined across breaks, references, tables and contents marked."""
    furniture = find_furniture([Placed(ln.page, ln.y, ln.text, ln.page_height,
                                       ln.sideways_in_margin) for ln in lines], pages)
    rules = pdf_rules()
    kept = [replace(line, text=rules.image_placeholders.sub("", line.text).strip())
            for i, line in enumerate(lines) if i not in furniture]
    kept = [line for line in kept if line.text]
    body = _body_size(kept)
    levels = _heading_levels(kept, body)
    step = _line_steps(kept)
    paras = _attach_remarks(_paragraphs(kept, levels, step, rules))
    _nest_numbered(paras)
    _inside_chapters(paras)
    for para in paras:
        if para.role == Role.HEADING and len(para.text) > _MAX_HEADING_CHARS:
            para.role = Role.PROSE  # a byline or an abstract set large, not a heading
    references = _mark_references(paras, rules, body)
    _mark_footnotes(paras, body)
    tables = _mark_tables(paras, body) + _mark_grid_tables(paras)
    _mark_contents(paras, rules)
    paras = _join_cut_paragraphs(paras)
    words = vocabulary("\n".join(p.text for p in paras))
    out = TextBuilder()
    for para in paras:
        text = dehyphenate(para.text, words)
        if para.role == Role.HEADING:
            out.heading(para.level, text)
            continue
        kind, tight = _BLOCK_OF[para.role]
        if kind is BlockKind.PROSE and _BULLET.match(text):
            kind, text = BlockKind.LIST_ITEM, _BULLET.sub("", text, count=1)
        out.block(text, kind, page=para.lines[0].page, tight=tight)
    rows = sum(1 for block in out.blocks if block.kind is BlockKind.TABLE_ROW)
    metadata, found_in = _metadata(info, paras)
    report = ReadReport(format="pdf", sections=out.sections, pages=pages,
                        chrome_skipped=len(furniture), tables=tables, table_rows=rows,
                        references=references)
    return ParsedPdf(metadata, out.text, tuple(out.blocks), report, found_in)


def _body_size(lines: list[Line]) -> float:
    """The font size most characters are set in."""
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size, 1)] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters)


def _heading_style(line: Line, body: float) -> tuple[float, int, int] | None:
    """How prominent a heading line is (font size, capitals, weight, numbering depth), or None
    for body text; larger sorts first."""
    text = line.text
    if line.page_height and not _HEADING_BAND * line.page_height < line.y < (
            1 - _HEADING_BAND) * line.page_height:
        return None  # a stamp in the page's margin, not a heading
    if sum(c.isalpha() for c in text) < 3 or not text[:1].isalnum() or _LEADERS.search(text) or _LIST_MARK.match(text) and not \
            _NUMBERED.match(text):
        return None
    numbered = _NUMBERED.match(text)
    depth = _depth(numbered.group(1)) if numbered else 0
    if line.size >= body * _HEADING_RATIO and len(text) <= _MAX_HEADING_CHARS:
        return (round(line.size, 1), 2, -depth)
    if abs(line.size - body) > 0.6 or text.endswith((".", ",", ";")) and not numbered:
        return None
    if text.endswith((",", ";")) or sum(c.isdigit() for c in text) > len(text) / 3:
        return None
    if _is_caps(text) and len(text) <= _MAX_CAPS_HEADING_CHARS and " " in text.strip() or (
            _is_caps(text) and line.bold and len(text) <= _MAX_CAPS_HEADING_CHARS):
        return (round(body, 1), 1, -depth)
    if line.bold and len(text) <= _MAX_BOLD_HEADING_CHARS and (text[:1].isupper() or numbered):
        return (round(body, 1), 0, -depth)
    return None


def _heading_levels(lines: list[Line], body: float) -> dict[int, int]:
    """The heading level (1 = top) of each heading line: larger type first (three levels at most,
    so a title page's many sizes do not push the body's headings down), then capitals, then
    bold; a numbered heading one level deeper per dot ("3.2" under "3")."""
    styles = {id(line): style for line in lines
              if (style := _heading_style(line, body)) is not None}
    large = sorted({size for size, tier, _ in styles.values() if tier == 2}, reverse=True)
    top = {size: min(i + 1, 3) for i, size in enumerate(large)}
    below = min(len(large), 3)
    levels = {}
    for key, (size, tier, depth) in styles.items():
        level = top[size] if tier == 2 else below + (1 if tier == 1 else 2)
        levels[key] = min(level - depth, 6)  # depth is stored negated (deeper sorts later)
    return levels


def _nest_numbered(paras: list[_Para]) -> None:
    """A numbered heading goes one level below the heading its number continues ("2.1" and "2a"
    under "2"), whatever its type size says."""
    last: dict[str, int] = {}
    for para in paras:
        match = _NUMBERED.match(para.text) if para.role == Role.HEADING else None
        if match is None:
            continue
        number = match.group(1)
        parent = number[:-1] if number[-1:].isalpha() else number.rpartition(".")[0]
        if parent in last:
            para.level = min(last[parent] + 1, 6)
        # two headings of one number ("3 Recommendations", "3. RECOMMENDATION ON ..."): the
        # higher one is the chapter
        last[number] = min(para.level, last.get(number, para.level))


def _inside_chapters(paras: list[_Para]) -> None:
    """An unnumbered heading set between two numbered chapters in a larger type than theirs
    ("Conclusions" closing chapter 2 before "3. Unique Indian Thin-Fat Phenotype", or the title
    repeated at a page's top) is inside the chapter it follows: one level below the numbered
    heading before it, so the chapters after it are not filed under it."""
    heads = [p for p in paras if p.role == Role.HEADING]
    numbered = {i: m.group(1) for i, p in enumerate(heads) if (m := _NUMBERED.match(p.text))}
    chapters = [i for i, number in numbered.items() if _depth(number) == 0]
    if len(chapters) < 2:
        return
    chapter_level = min(heads[i].level for i in chapters)
    before: _Para | None = None
    for i in range(chapters[0], chapters[-1]):
        if i in numbered:
            before = heads[i]
        elif before is not None and heads[i].level < chapter_level:
            heads[i].level = min(before.level + 1, 6)


def _depth(number: str) -> int:
    """How deep a heading number is: "3" 0, "3.2" and "3a" 1, "3.2.1" 2."""
    return number.count(".") + (1 if number[-1:].isalpha() else 0)


def _line_steps(lines: list[Line]) -> dict[float, float]:
    """The usual distance between consecutive baselines, per font size."""
    steps: dict[float, Counter[float]] = {}
    for a, b in pairwise(lines):
        gap = a.y - b.y
        if a.page == b.page and round(a.size, 1) == round(b.size, 1) and 0.8 * a.size < gap < \
                3 * a.size:
            steps.setdefault(round(a.size, 1), Counter())[round(gap, 1)] += 1
    return {size: counts.most_common(1)[0][0] for size, counts in steps.items()}


def _terminated(text: str) -> bool:
    """Whether a paragraph's text ends a sentence."""
    return bool(_TERMINAL.search(_TRAILING_CITATION.sub("", text.rstrip())))


def _paragraphs(lines: list[Line], levels: dict[int, int], steps: dict[float, float],
                rules: PdfRules) -> list[_Para]:
    """Lines grouped into headings, captions, contents entries and paragraphs."""
    paras: list[_Para] = []
    previous: Line | None = None
    for line in lines:
        level = levels.get(id(line))
        current = paras[-1] if paras else None
        flow = previous is not None and _flow_break(previous, line)
        if current is not None and flow:
            current.cut = True
        if _LEADERS.search(line.text):
            paras.append(_Para([line], Role.CONTENTS))
        elif (kind := rules.caption(line.text)) is not None:
            paras.append(_Para([line], Role.CAPTION, table=kind == "table"))
        elif level is not None:
            if (current is not None and current.role == Role.HEADING and not flow
                    and previous is not None and 0 < previous.y - line.y <= 2 * line.size
                    and (current.level == level or abs(line.size - previous.size) < 0.3
                         and (len(previous.text) >= 40 or line.text[:1].islower())
                         and not _NUMBERED.match(line.text))):
                # the same heading's next line (a long heading wraps; its number starts no line)
                current.lines.append(line)
            else:
                paras.append(_Para([line], Role.HEADING, level))
        elif (current is not None and current.role in (Role.PROSE, Role.CAPTION) and not flow
              and previous is not None and not _breaks(current, previous, line, steps)):
            current.lines.append(line)
        else:
            paras.append(_Para([line], Role.PROSE))
        previous = line
    return paras


def _attach_remarks(paras: list[_Para]) -> list[_Para]:
    """A remark in brackets on a line of its own, below the paragraph above it on the same page
    ("(Grade B)", or "[2004, amended 2019]" set apart in bold after a recommendation's list),
    closes that paragraph: it is not a statement."""
    out: list[_Para] = []
    for para in paras:
        if (para.role == Role.PROSE and out and out[-1].role == Role.PROSE and len(para.lines) == 1
                and _PARENTHETICAL.match(para.text) and out[-1].lines[-1].page == para.lines[0].page):
            out[-1].lines.extend(para.lines)
            continue
        out.append(para)
    return out


def _flow_break(previous: Line, line: Line) -> bool:
    """Whether the text flow moved to another page or column between two lines."""
    return line.page != previous.page or line.y > previous.y + 0.5 * line.size


def _breaks(para: _Para, previous: Line, line: Line, steps: dict[float, float]) -> bool:
    """Whether `line` starts a new paragraph after `previous` (same page and column)."""
    size = line.size
    gap = previous.y - line.y
    step = steps.get(round(size, 1), 1.25 * size)
    if abs(line.size - previous.size) > 0.6 or gap < 0.5 * size or gap > step * 1.45:
        return True
    if line.x0 > previous.x1 or line.x1 < para.lines[0].x0 or line.x0 < min(
            p.x0 for p in para.lines) - 2 * size:
        return True  # side by side, or another column: a table's cells or a box
    if _BULLET_GLYPH.match(line.text):
        return True  # a bullet opens an item, however full the line before it
    if para.role == Role.CAPTION:
        return False
    mark = _LIST_MARK.match(para.lines[0].text)
    if mark and abs(line.x0 - para.lines[0].x0) < 0.5 * size and line.text.startswith(mark.group().strip()):
        return True  # the next item of the same list ("– aged over 80, or" / "– has had a stroke")
    if mark and line.x0 < para.lines[0].x0 - 0.5 * size and (
            _terminated(previous.text) or not line.text[:1].islower()):
        # the text after a list, set out from its items: after an item with no full stop too
        # ("• a temperature above 37.8°C" / "2.1.4 Refer people with ..."), unless it goes on in
        # lower case
        return True
    left = min(p.x0 for p in para.lines[1:]) if len(para.lines) > 1 else para.lines[0].x0
    right = max(p.x1 for p in para.lines)
    if _terminated(previous.text) and (line.x0 > left + 0.5 * size or _LIST_MARK.match(line.text)
                                       or previous.x1 < right - 3 * size):
        return True
    if previous.x1 < right - 3 * size and line.x0 > left + 0.5 * size and line.text[:1].isupper():
        # a line that stops short, then one indented in capitals: a new paragraph even when the
        # first ends in no full stop ("... within six weeks (Grade B)" / "   Individuals with ...")
        return True
    return bool(_LIST_MARK.match(line.text)) and previous.x1 < right - 3 * size


def _mark_contents(paras: list[_Para], rules: PdfRules) -> None:
    """A table of contents' lines (under a contents heading, ending in a page number) are
    contents entries, and so are those of a list of figures or tables right after it. An entry
    whose page number stands on a line of its own takes along the lines since the entry before it
    (a wrapped title, a figure's label: "Fig. 1" / "Analytic framework ..." / "3")."""
    inside: int | None = None
    pending: list[_Para] = []
    for para in paras:
        if para.role == Role.HEADING:
            pending = []
            if inside is not None and para.level <= inside and not _PAGE_NUMBER_END.search(
                    para.text):
                inside = para.level if _heading_name(para.text) in rules.contents_lists else None
            elif inside is not None:
                para.role = Role.CONTENTS
                continue
            if _heading_name(para.text) in rules.contents_headings:
                inside = para.level
        elif inside is not None and para.role in (Role.PROSE, Role.ROW, Role.CAPTION):
            if _PAGE_NUMBER_ONLY.match(para.text):
                for entry in (*pending, para):
                    entry.role = Role.CONTENTS
                pending = []
            elif _PAGE_NUMBER_END.search(para.text):
                para.role = Role.CONTENTS
                pending = []
            else:
                pending.append(para)


def _heading_name(text: str) -> str:
    """A heading's words without its number and punctuation, in lower case."""
    return re.sub(r"^[\d.\s]+|[.:\s]+$", "", text).casefold()


def _smaller(size: float, body: float) -> bool:
    """Whether type of `size` is smaller than the body type's (by more than rounding)."""
    return size < body - 0.3


def _mark_footnotes(paras: list[_Para], body: float) -> None:
    """A page's footnotes are notes, one per mark, the mark left out: paragraphs in type smaller
    than the body's at the foot of a page (no line in body type below them), opening with a mark
    and words ("3 The threshold was agreed by consensus ..."). Read as prose, they were quoted with
    their number, and swept into the table or list item above them. A footnote that cites a
    publication, and one on a page of the reference list, stays with the references."""
    lowest: dict[int, float] = {}  # per page, the lowest line in body type or larger
    for para in paras:
        for line in para.lines:
            if not _smaller(line.size, body):
                lowest[line.page] = min(lowest.get(line.page, math.inf), line.y)
    out: list[_Para] = []
    for para in paras:
        first = para.lines[0]
        if not (para.role == Role.PROSE and _smaller(para.size, body) and _opens_note(first)
                and len(first.text.split()) >= 4 and not _CITATION_LIKE.match(para.text)
                and all(line.page == first.page for line in para.lines)
                and first.y < lowest.get(first.page, math.inf)):
            out.append(para)
            continue
        for line in para.lines:  # one note per mark at the notes' left edge
            if _opens_note(line) and abs(line.x0 - first.x0) < 0.5 * line.size:
                out.append(_Para([replace(line, text=_FOOTNOTE.sub("", line.text))], Role.NOTE))
            else:
                out[-1].lines.append(line)
    paras[:] = out


def _opens_note(line: Line) -> bool:
    """Whether a line opens a footnote: with its mark and words ("3 The threshold ..."), or with
    words after a raised mark the reader dropped (LaTeX's footnotes)."""
    return bool(_FOOTNOTE.match(line.text)) or (line.opens_with_mark and line.text[:1].isupper())


def _mark_references(paras: list[_Para], rules: PdfRules, body: float) -> int:
    """Mark the reference list (under a references heading, or runs of numbered citation-like
    paragraphs) and split it into one paragraph per entry; the number of entries."""
    inside: int | None = None
    for para in paras:
        if para.role == Role.HEADING:
            if inside is not None and para.level <= inside:
                inside = None
            if _heading_name(para.text) in rules.reference_headings:
                inside = para.level
        elif inside is not None and para.role in (Role.PROSE, Role.CAPTION, Role.CONTENTS):
            para.role = Role.REFERENCE
    # numbered entries elsewhere: a run of two or more, or one in a footnote's smaller type
    for i, para in enumerate(paras):
        if para.role != Role.PROSE or not _CITATION_LIKE.match(para.text):
            continue
        neighbours = [paras[j] for j in (i - 1, i + 1) if 0 <= j < len(paras)]
        if _smaller(para.size, body) or any(
                n.role == Role.REFERENCE or _CITATION_LIKE.match(n.text) for n in neighbours):
            para.role = Role.REFERENCE
    split: list[_Para] = []
    for para in paras:
        if para.role == Role.REFERENCE and split and split[-1].role == Role.REFERENCE:
            split[-1].lines += para.lines
        else:
            split.append(para)
    paras[:] = [entry for para in split for entry in (
        _reference_entries(para) if para.role == Role.REFERENCE else [para])]
    return sum(1 for p in paras if p.role == Role.REFERENCE)


def _reference_entries(para: _Para) -> list[_Para]:
    """A run of reference lines split into entries: at each line that opens with the next number
    of the list ("12 ", "12.", "[12]", "(12)"), or, when the entries are not numbered, where a line
    returns to the left of a hanging indent."""
    labels = [_label(line.text) for line in para.lines]
    numbered = sum(1 for label in labels if label is not None) >= 2
    entries: list[_Para] = []
    previous: Line | None = None
    expected: int | None = None
    for line, label in zip(para.lines, labels, strict=True):
        if numbered:
            starts = label is not None and (expected is None or label in (expected, expected + 1))
        else:
            starts = (previous is None or line.page != previous.page or line.x0 < previous.x0 - 2.0
                      or previous.y - line.y > 1.8 * line.size or line.y > previous.y)
        if starts and label is not None:
            expected = label + 1
        if entries and not starts:
            entries[-1].lines.append(line)
        else:
            entries.append(_Para([line], Role.REFERENCE))
        previous = line
    return entries


def _label(text: str) -> int | None:
    """The number a reference entry opens with, or None."""
    match = _REFERENCE_LABEL.match(text)
    return int(next(g for g in match.groups() if g)) if match else None


def _mark_tables(paras: list[_Para], body: float) -> int:
    """Read the smaller-type lines after a table's caption as its rows (cells on one baseline,
    left to right); the number of tables read so."""
    tables = 0
    i = 0
    while i < len(paras):
        caption = paras[i]
        i += 1
        if caption.role != Role.CAPTION or not caption.table:
            continue
        j = i
        while j < len(paras) and (paras[j].role == Role.PROSE and _smaller(paras[j].size, body)
                                  or paras[j].role == Role.NOTE):
            j += 1
        if not any(para.role == Role.PROSE for para in paras[i:j]):
            continue
        cells = [line for para in paras[i:j] if para.role == Role.PROSE for line in para.lines]
        notes = [para for para in paras[i:j] if para.role == Role.NOTE]  # a page's footnotes
        rows = _rows(cells)
        paras[i:j] = rows + notes
        i += len(rows) + len(notes)
        tables += 1
    return tables


def _mark_grid_tables(paras: list[_Para]) -> int:
    """Read runs of two or more rows of cells side by side (one-line paragraphs on one baseline,
    left to right) as tables: a bold first row is the header, and each later cell is labelled with
    its column's header ("Line of treatment: First line | Criteria: ..."), as the HTML reader
    does; a line under a cell continues it. The number of tables read so."""
    tables = 0
    i = 0
    last_header: list[str] | None = None  # a table running on from the previous page keeps it
    last_page = 0
    last_end = 0  # where the last table's rows end
    while i < len(paras):
        rows: list[list[Line]] = []
        j = i
        while j < len(paras):
            row = _side_by_side(paras, j)
            if len(row) >= 2 and (not rows or len(row) == len(rows[0])):
                cells = [replace(p.lines[0], text=p.text) for p in row]
                j += len(row)
                if rows and _bold_header(cells) == (last_header or [c.text for c in rows[0]]):
                    continue  # the header repeated at the top of the next page
                rows.append(cells)
            elif rows and _continues_cell(paras[j], rows[-1]):
                column = _column(paras[j].lines[0], rows[-1])
                cell = rows[-1][column]
                rows[-1][column] = replace(cell, text=_join([cell.text, paras[j].text]))
                j += 1
            else:
                break
        lengths = sorted(len(cell.text) for row in rows for cell in row)
        if len(rows) < 2 or lengths[len(lengths) // 2] >= _PROSE_CELL:
            i += 1  # two columns of prose read line by line are not a table
            continue
        header = _bold_header(rows[0])
        out = []
        body = rows
        if header is not None:
            out.append(_Para([replace(rows[0][0], text=" | ".join(header))], Role.HEADER))
            body = rows[1:]
        elif (last_header is not None and len(last_header) == len(rows[0])
              and rows[0][0].page == last_page + 1
              and not any(p.role == Role.CAPTION for p in paras[last_end:i])):
            header = last_header  # unless another table's caption comes between
        for row in body:
            out.append(_Para([replace(row[0], text=_labelled(header, [c.text for c in row]))],
                             Role.ROW))
        paras[i:j] = out
        i += len(out)
        tables += 1
        last_header, last_page, last_end = header, rows[-1][-1].page, i
    return tables


def _side_by_side(paras: list[_Para], start: int) -> list[_Para]:
    """The one-line paragraphs from `start` on that sit on one baseline, left to right."""
    row: list[_Para] = []
    for para in paras[start:]:
        line = para.lines[0]
        if para.role not in (Role.PROSE, Role.HEADING) or any(
                other.x0 < line.x0 - 1.0 or other.page != line.page for other in para.lines):
            break  # a cell's lines stay in its column
        if row and (line.page != row[0].lines[0].page or abs(line.y - row[0].lines[0].y)
                    > 0.4 * line.size or line.x0 <= row[-1].lines[0].x1):
            break
        row.append(para)
    return row


def _column(line: Line, row: list[Line]) -> int:
    """The index of the cell of `row` whose column `line` starts in."""
    return min(range(len(row)), key=lambda k: abs(row[k].x0 - line.x0))


def _continues_cell(para: _Para, row: list[Line]) -> bool:
    """Whether a one-line paragraph is a cell's next line: below the row, in one of its columns."""
    if len(para.lines) != 1 or para.role not in (Role.PROSE, Role.HEADING):
        return False
    line = para.lines[0]
    cell = row[_column(line, row)]
    return (line.page == cell.page and 0 < cell.y - line.y < 1.6 * line.size
            and abs(line.x0 - cell.x0) < line.size)


def _rows(cells: list[Line]) -> list[_Para]:
    """Lines grouped by baseline into rows (page by page, top to bottom), cells left to right; a
    cell's wrapped lines join it (see `_wrapped`); one-cell rows after the last many-cell row are
    the table's notes."""
    rows: list[list[Line]] = []
    for line in sorted(cells, key=lambda ln: (ln.page, -ln.y, ln.x0)):
        if rows and rows[-1][0].page == line.page and abs(rows[-1][0].y - line.y) < 0.4 * line.size:
            rows[-1].append(line)
        else:
            rows.append([line])
    for row in rows:
        row.sort(key=lambda ln: ln.x0)
    left = min((ln.x0 for ln in cells), default=0.0)
    joined: list[list[Line]] = []
    for row in rows:
        if joined and _wrapped(row, joined[-1], left):
            joined[-1] = _with_wrapped(joined[-1], row)
        else:
            joined.append(row)
    last_many = max((k for k, row in enumerate(joined) if len(row) > 1), default=-1)
    # a bold first row of two or more cells is the header: each later row of as many cells has
    # its cells labelled with it ("Severity: Low | First choice: Amoxicillin ..."), as the HTML
    # reader does, and the header repeated on the next page is left out
    header = _bold_header(joined[0]) if last_many > 0 else None
    out: list[_Para] = []
    for k, row in enumerate(joined):
        cells = [ln.text for ln in row]
        if header is not None and k == 0:
            out.append(_Para([replace(row[0], text=" | ".join(cells))], Role.HEADER))
            continue
        if header is not None and _bold_header(row) == header:
            continue
        labels = header if k <= last_many and header is not None and len(cells) == len(header) else None
        role = Role.ROW if k <= last_many else Role.NOTE
        out.append(_Para([replace(row[0], text=_labelled(labels, cells))], role))
    return out


def _bold_header(row: list[Line]) -> list[str] | None:
    """The cell texts of a row that reads as a table's header (two or more cells, all bold), or
    None."""
    return [line.text for line in row] if len(row) > 1 and all(line.bold for line in row) else None


def _labelled(header: list[str] | None, cells: list[str]) -> str:
    """A row's cells, each labelled with its column's header when there is one ("Severity: Low |
    First choice: ..."), as the HTML reader writes a row."""
    return " | ".join(f"{name}: {cell}" if name else cell
                      for name, cell in zip(header or [""] * len(cells), cells, strict=True))


def _wrapped(row: list[Line], above: list[Line], left: float) -> bool:
    """Whether a baseline's lines are the wrapped lines of the row above's cells rather than a row
    of their own: just below it, and either nothing in the table's first column (a row starts with
    its first cell) or every line going on in lower case."""
    first = row[0]
    lowest = min(ln.y for ln in above)
    if first.page != above[0].page or not 0 < lowest - first.y < 2.0 * first.size:
        return False
    return first.x0 > left + first.size or all(ln.text[:1].islower() for ln in row)


def _with_wrapped(above: list[Line], row: list[Line]) -> list[Line]:
    """The row above with each wrapped line joined to the cell whose column it starts in (a line
    left of every cell, or past the last one, starts a cell of its own); a cell's baseline becomes
    its last line's."""
    cells = list(above)
    for line in row:
        inside = [k for k, cell in enumerate(cells) if cell.x0 - line.size <= line.x0 <= max(cell.x1, cell.x0 + line.size)]
        if inside:
            k = min(inside, key=lambda k: abs(cells[k].x0 - line.x0))
            cell = cells[k]
            cells[k] = replace(cell, text=_join([cell.text, line.text]), x1=max(cell.x1, line.x1),
                               y=line.y)
        else:
            cells.append(line)
            cells.sort(key=lambda ln: ln.x0)
    return cells


def _join_cut_paragraphs(paras: list[_Para]) -> list[_Para]:
    """Join each paragraph cut mid-sentence at a column or page break (or interrupted by a
    caption, box, table, heading or footnote) to the paragraph that continues it."""
    edges = _column_edges(paras)
    i = 0
    while i < len(paras):
        para = paras[i]
        j = _continuation(paras, i, edges) if para.role == Role.PROSE and not _terminated(
            para.text) else None
        if j is None:
            i += 1
            continue
        para.lines += paras[j].lines
        para.cut = paras[j].cut
        del paras[j]
    return paras


def _column_edges(paras: list[_Para]) -> dict[tuple[int, int], float]:
    """Per page and left edge (in steps of a type size), the rightmost end of the prose lines
    that start there: where a full line of that column ends."""
    edges: dict[tuple[int, int], float] = {}
    for para in paras:
        if para.role != Role.PROSE:
            continue
        for line in para.lines:
            key = (line.page, round(line.x0 / max(line.size, 1.0)))
            edges[key] = max(edges.get(key, 0.0), line.x1)
    return edges


def _ends_short(para: _Para, edges: dict[tuple[int, int], float]) -> bool:
    """Whether a paragraph's last line stops well short of its column's right edge: the
    paragraph ended there ("Strong recommendation, moderate-certainty evidence" closing a
    recommendation at a page's foot), for a sentence running on to the next page fills its line."""
    last = para.lines[-1]
    edge = edges.get((last.page, round(last.x0 / max(last.size, 1.0))), last.x1)
    return last.x1 < edge - _SHORT_LAST_LINE * (edge - last.x0)


def _continuation(paras: list[_Para], i: int, edges: dict[tuple[int, int], float]) -> int | None:
    """The index of the paragraph that continues the unfinished paragraph `i`, if any: the first
    later paragraph of prose in the same type, when `i` was cut or interrupted."""
    para = paras[i]
    skipped = 0
    for j in range(i + 1, len(paras)):
        candidate = paras[j]
        if candidate.role in _FLOAT and paras[j - 1].role in _FLOAT:
            continue  # the rest of a float already counted
        skipped += 1
        if skipped > _LOOK_AHEAD:
            return None
        if candidate.role == Role.PROSE and abs(candidate.size - para.size) <= 0.6:
            if para.text.endswith(SOFT_HYPHEN) and candidate.text[:1].isalnum() and not candidate.text[:1].islower():
                continue  # a word broken at the line's end goes on in lower case: not a figure's text
            if j == i + 1 and not para.cut:
                return None  # the next paragraph in the same column: a real paragraph break
            return j if _continues(para, candidate, direct=j == i + 1,
                                   ended=_ends_short(para, edges)) else None
    return None


def _continues(para: _Para, candidate: _Para, direct: bool, ended: bool) -> bool:
    """Whether `candidate` reads on from `para`, which ends without finishing its sentence
    (`ended`: its last line stops short of the column's edge, so only a lower-case or
    punctuation opening, or a hyphen or comma before the break, says it goes on)."""
    first = candidate.lines[0]
    text = first.text
    if _LIST_MARK.match(text):
        return False
    if text[:1].islower() or text[:1] in "(,;–—-" or para.text.endswith(
            (SOFT_HYPHEN, ",", ";", "(", "-", "–")):
        return True
    indented = len(candidate.lines) > 1 and first.x0 > min(
        ln.x0 for ln in candidate.lines[1:]) + 0.5 * first.size
    return para.cut and direct and not indented and not ended


def _join(lines: Any) -> str:
    """Join wrapped lines: a line-end hyphen before a lowercase letter is marked as a break the
    vocabulary resolves."""
    text = ""
    for line in lines:
        if text.endswith(SOFT_HYPHEN):
            text += line
        elif text.endswith("-") and line[:1].islower():
            text += SOFT_HYPHEN + line
        elif line[:1] in ".,;:)]" and text:
            text += line  # what stood before the mark (an image, say) was left out
        elif text.endswith(("–", "/")) and line[:1].isalnum():
            text += line  # "mild–" + "moderate", "and/" + "or": broken after a dash or slash
        else:
            text = f"{text} {line}" if text else line
    return text.strip()


def _metadata(info: dict[str, str], paras: list[_Para]) -> tuple[dict[str, Any], dict[str, str]]:
    """Title, authors and year from the PDF's document information, else from its first page;
    and where each was found."""
    metadata: dict[str, Any] = {}
    first_page = [p for p in paras if p.lines[0].page == min(
        (q.lines[0].page for q in paras), default=1)]
    title = _SPACE.sub(" ", info.get("Title", "")).strip()
    found = {"title": "document information", "authors": "document information",
             "year": "document information"}
    title_para: _Para | None = None
    if not title or _JUNK_TITLE.match(title) or " " not in title:  # "untitled", "ATAO:TX_1~AB"
        headings = [p for p in first_page if p.role == Role.HEADING and _could_be_title(p.text)]
        if headings:
            title_para = max(headings, key=lambda p: p.size)
            title = dehyphenate(title_para.text)
            found["title"] = "first page"
        else:
            title = ""
    if title:
        metadata["title"] = title
    # a login name ("hmorris") is what a word processor writes as the author, not a person's name
    recorded = [a.strip() for a in re.split(r";|, (?=[A-Z])", info.get("Author", ""))
                if a.strip() and " " in a.strip()]
    byline = _byline(first_page, title_para or next(
        (p for p in first_page if p.role == Role.HEADING and _SPACE.sub(" ", p.text).strip() == title), None))
    # the byline when the information names no one else (it often names only the first author)
    if byline and all(a in byline for a in recorded):
        metadata["authors"] = byline
        found["authors"] = "first page"
    elif recorded:
        metadata["authors"] = recorded
    created = _YEAR.search(info.get("CreationDate", "")[2:6] or "")
    # the first page's own years: not those of the works it cites (its reference entries and
    # footnotes), nor one after the file was made
    years = Counter(int(y) for p in first_page if p.role not in (Role.REFERENCE, Role.NOTE)
                    for y in _YEAR.findall(_REVIEW_DATE.sub("", p.text))
                    if not created or int(y) <= int(created.group()))
    if years:
        metadata["year"] = max(years, key=lambda y: (years[y], y))
        found["year"] = "first page"
    elif (copyright := _copyright_year(paras)) is not None:
        # a cover page names no year: the copyright line of the pages after it does
        metadata["year"] = copyright
        found["year"] = "copyright line"
    elif created:
        metadata["year"] = int(created.group())
        found["year"] = "file's creation date"
    return metadata, {k: v for k, v in found.items() if k in metadata}


def _copyright_year(paras: list[_Para]) -> int | None:
    """The year of the first copyright line on the first `_COPYRIGHT_PAGES` pages, or None."""
    return next((int(m.group(1)) for p in paras if p.lines[0].page <= _COPYRIGHT_PAGES
                  for m in _COPYRIGHT.finditer(p.text)), None)


def _could_be_title(text: str) -> bool:
    """Whether a first-page heading may be the document's title: not a logo's or a journal's short
    name ("WHO", "NICE", "Gut"), which a title page may set large; a one-word title ("Libtasn1",
    "Obesity") may be."""
    return len(text) > 8 or any(len(w) >= 4 and not w.isupper() for w in _WORD.findall(text))


def _byline(first_page: list[_Para], title: _Para | None) -> list[str]:
    """The author names of the byline among the first three paragraphs after the title (a
    subtitle or a document number may come first), or []."""
    if title is None or title not in first_page:
        return []
    after = first_page[first_page.index(title) + 1:][:3]
    return next((names for p in after if (names := _names(p.text))), [])


def _names(text: str) -> list[str]:
    """The author names of a first-page byline ("Jonas F Ludvigsson, Julio C Bai, ..."), or []
    (the group they write for, "... on behalf of the Cardiology Network", is not an author)."""
    text = _ON_BEHALF.split(text)[0]
    pieces = [p.strip(" *†‡0-9") for p in re.split(r",| and |;", text) if p.strip(" *†‡0-9,")]
    names = [p for p in pieces if _NAME.match(p)]
    return names if len(names) >= 2 and len(names) >= 0.6 * len(pieces) else []


__all__ = ["Line", "ParsedPdf", "PdfRules", "parse_lines", "pdf_rules", "read_pdf_file"]
