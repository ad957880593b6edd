"""Page furniture of a PDF: running headers and footers, page numbers, journal running titles and
download stamps, found by position and repetition across pages (as GROBID and pymupdf4llm do).

A line is furniture when it sits at a page's edge (one of the two topmost or two bottommost lines,
or in the outer margin band when the page size is known) and the same text, digits ignored, sits at
about the same height on many pages; when the same text recurs on two pages or more (a chapter's
running head) exactly where the document's other furniture sits; when a page's topmost or
bottommost line is its own page number, or that number beside a heading the document sets
elsewhere; or when it is set sideways in the left or right margin (a chapter tab, a vertical
download stamp). Nothing here knows any document's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

_DIGITS = re.compile(r"\d+")
# a page number in roman numerals ("iv", "XII"), as front matter is numbered
_ROMAN = re.compile(r"\b(?=[ivxlc]+\b)c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
EDGE_LINES = 2  # lines counted from each edge of a page
MARGIN_BAND = 0.08  # fraction of the page height at the top and bottom that is margin
MIN_SHARE = 0.3  # furniture recurs on at least this share of the pages ...
MIN_PAGES = 3  # ... and on 3 or more
# a chapter's running head recurs on the chapter's pages but its first, exactly where the document's
# other furniture sits: on 2 pages or more there (a three-page chapter of a manual has two)
MIN_HEAD_PAGES = 2
Y_TOLERANCE = 6.0  # points: how far the same furniture line may move from page to page


@dataclass(frozen=True)
class Placed:
    """Where a line sits: its page (1-based), baseline height, text; the page's height; and, for
    text set sideways, whether it lies in the page's left or right margin."""

    page: int
    y: float
    text: str
    page_height: float | None = None
    sideways_in_margin: bool = False


def furniture_key(text: str) -> str:
    """The text that repeats from page to page: numbers (page numbers, dates, roman page numbers)
    ignored."""
    return _SPACE.sub(" ", _ROMAN.sub("#", _DIGITS.sub("#", text))).strip().casefold()


def _top_to_bottom(lines: Sequence[Placed]) -> dict[int, list[int]]:
    """Each page's line indexes, topmost first."""
    by_page: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        by_page.setdefault(line.page, []).append(i)
    return {page: sorted(indexes, key=lambda i: -lines[i].y) for page, indexes in by_page.items()}


def edge_indexes(lines: Sequence[Placed]) -> set[int]:
    """Indexes of the lines at a page's edges: two from the top, two from the bottom, and any in
    the outer margin band."""
    edges: set[int] = set()
    for ordered in _top_to_bottom(lines).values():
        edges.update(ordered[:EDGE_LINES] + ordered[-EDGE_LINES:])
        for i in ordered:
            height = lines[i].page_height
            if height and not MARGIN_BAND * height < lines[i].y < (1 - MARGIN_BAND) * height:
                edges.add(i)
    return edges


# a page's number as a line of its own: "7", "- 7 -", "Page 7", "7 of 12"
_PAGE_NUMBER = re.compile(r"(?:page\s+)?[-\u2013\u2014\s]*(\d{1,4})[-\u2013\u2014\s]*(?:of\s+\d{1,4})?",
                          re.IGNORECASE)
# a line opening or closing with a number, the rest a running head ("2   4 URATE-LOWERING THERAPY")
_NUMBERED_HEAD = re.compile(r"^(?P<n>\d{1,4})\s+(?P<a>.*[^\d\s].*)$|^(?P<b>.*[^\d\s].*?)\s+(?P<m>\d{1,4})$")


def own_page_lines(lines: Sequence[Placed]) -> set[int]:
    """Indexes of the lines that are furniture on their page alone, however few the pages: the
    page's topmost or bottommost line when it is the page's own number, or that number beside the
    text of a line the document sets elsewhere (a running head that repeats a section heading or
    the title, as LaTeX's and many books' heads do, different on every page)."""
    written: set[str] = {_SPACE.sub(" ", line.text).strip().casefold() for line in lines}
    found: set[int] = set()
    for page, ordered in _top_to_bottom(lines).items():
        for i in {ordered[0], ordered[-1]}:
            text = _SPACE.sub(" ", lines[i].text).strip()
            number = _PAGE_NUMBER.fullmatch(text)
            if number and int(number.group(1)) == page:
                found.add(i)
                continue
            head = _NUMBERED_HEAD.match(text)
            if head is None or int(head.group("n") or head.group("m")) != page:
                continue
            rest = (head.group("a") or head.group("b")).strip().casefold()
            if len(rest) > 3 and rest in written:
                found.add(i)
    return found


def find_furniture(lines: Sequence[Placed], pages: int) -> set[int]:
    """Indexes of the furniture lines: edge lines whose text (digits ignored) recurs at about the
    same height on at least 30% of 3 or more pages, and the lines `own_page_lines` finds."""
    if pages < 3:
        return {i for i, line in enumerate(lines) if line.sideways_in_margin} | own_page_lines(lines)
    needed = max(MIN_PAGES, MIN_SHARE * pages)
    places: dict[str, list[int]] = {}
    for i in edge_indexes(lines):
        places.setdefault(furniture_key(lines[i].text), []).append(i)
    furniture = {i for i, line in enumerate(lines) if line.sideways_in_margin}
    for indexes in places.values():
        if len({lines[i].page for i in indexes}) < needed:
            continue
        middle = median(lines[i].y for i in indexes)
        placed = [i for i in indexes if abs(lines[i].y - middle) <= Y_TOLERANCE]
        if len({lines[i].page for i in placed}) >= needed:
            furniture.update(placed)
    # a chapter's running head (its title on its own pages only): fewer pages, but it sits where
    # the document's furniture sits
    slots = sorted({round(lines[i].y) for i in furniture if not lines[i].sideways_in_margin})
    for indexes in places.values():
        placed = [i for i in indexes if i not in furniture and any(
            abs(lines[i].y - y) <= Y_TOLERANCE / 2 for y in slots)]
        if len({lines[i].page for i in placed}) >= MIN_HEAD_PAGES:
            furniture.update(placed)
    return furniture | own_page_lines(lines)
