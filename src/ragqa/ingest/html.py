"""Read a saved web page (an article or guideline) into canonical text, layout and metadata.

lxml was chosen over trafilatura and selectolax by `eval/ingest_readers.py` on the CANMAT 2023
page (92 headings, 225 paragraphs, 133 list items, 12 HTML tables): all three keep the paragraphs
in order, and trafilatura's Markdown keeps the headings too, but it splits 9 of the 133 list items,
labels no table row with its column headers, keeps the hidden French abstract and the references'
"Google Scholar" links, drops table captions, and returns a string whose structure would have to
be parsed back; selectolax's text output marks 39 headings and leaves "Open in a new tab", and it
has no element tails for a walk over mixed content. A structural walk over lxml's tree marks all
92 headings, keeps 95 list items apart, labels 9 of the 12 first table rows with every header (all
12 on one line) and leaves no chrome, by the rules in `data/html_chrome.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import lxml.html
import yaml
from lxml import etree

from ragqa.errors import CorpusError
from ragqa.ingest.layout import Block, BlockKind, ReadReport, TextBuilder

_SPACE = re.compile(r"\s+")
# a space left before punctuation where an inline image (an evidence-level symbol, say) was dropped
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)\]](?!\d))")
_TABLE_LABEL = re.compile(r"^(Table|Box)\s+[\w.]+", re.IGNORECASE)
_FIGURE_LABEL = re.compile(r"^(Figure|Fig\.)\s+[\w.]+", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"^[a-z*\u2020\u2021\u00a7\u00b6#\d,\u2013-]{1,5}$")
_CELL_BREAK = "\x1e"  # a paragraph or list item boundary inside a table cell
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "ul", "ol", "li", "dl", "dt",
                         "dd", "blockquote", "pre", "figure", "figcaption", "table", "caption",
                         "hr", "br", "address", "details", "summary", "body", *_HEADINGS})


@dataclass(frozen=True)
class ChromeRules:
    """What counts as site chrome (see `data/html_chrome.yaml`)."""

    tags: frozenset[str]
    roles: frozenset[str]
    classes: frozenset[str]
    aria_labels: frozenset[str]
    texts: frozenset[str]
    reference_headings: frozenset[str]


@lru_cache(maxsize=1)
def chrome_rules() -> ChromeRules:
    """The chrome rules shipped with ragqa."""
    raw = yaml.safe_load(resources.files("ragqa.ingest").joinpath("data/html_chrome.yaml")
                         .read_text(encoding="utf-8"))
    return ChromeRules(
        tags=frozenset(raw["tags"]), roles=frozenset(raw["roles"]),
        classes=frozenset(raw["classes"]), aria_labels=frozenset(raw["aria_labels"]),
        texts=frozenset(t.casefold() for t in raw["texts"]),
        reference_headings=frozenset(t.casefold() for t in raw["reference_headings"]),
    )


@dataclass
class ParsedPage:
    """What the HTML reader found: metadata from meta tags, canonical text, layout, report."""

    metadata: dict[str, Any]
    text: str
    layout: tuple[Block, ...]
    report: ReadReport
    found_in: dict[str, str] = field(default_factory=dict)  # where title/authors/year came from


def clean(text: str) -> str:
    """Collapse whitespace and drop the space a removed inline element left before punctuation."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACE.sub(" ", text)).strip()


def looks_like_html(raw: bytes) -> bool:
    """Whether the start of a file is HTML markup (not a PDF, an image or plain text)."""
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"\x00" in raw[:4096] or head.startswith(b"%pdf"):
        return False
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<!--")) or bool(
        re.search(rb"<(html|head|body|article|main|p|div|h1)\b", head)
    )


def parse_html(raw: bytes, where: str) -> ParsedPage:
    """Parse a saved page: keep the article's text, drop chrome, read citation meta tags."""
    if not looks_like_html(raw):
        raise CorpusError(f"{where}:1: field 'format': not an HTML file (the extension says .html)")
    try:
        root = lxml.html.document_fromstring(raw)
    except (etree.ParserError, ValueError) as exc:
        raise CorpusError(f"{where}:1: field 'format': unreadable HTML ({exc})") from None
    metadata = _citation_metadata(root)
    rules = chrome_rules()
    body = root.find("body")
    removed = _strip_chrome(body if body is not None else root, rules)
    content = _content_root(root)
    outside = sum(1 for element in (body if body is not None else root).iter()
                  if isinstance(element.tag, str) and element.tag in ("p", "li", "a", "h2", "h3")
                  and not any(a is content for a in element.iterancestors()))
    walker = _Walker(rules)
    walker.walk(content)
    out = walker.out
    report = ReadReport(
        format="html", sections=out.sections, tables=walker.tables,
        table_rows=sum(b.kind is BlockKind.TABLE_ROW for b in out.blocks),
        image_tables=walker.image_tables, figures=walker.figures,
        references=sum(b.kind is BlockKind.REFERENCE for b in out.blocks),
        chrome_skipped=removed + outside + walker.chrome_skipped,
    )
    found_in = metadata.pop("_found_in", {})
    return ParsedPage(metadata, out.text, tuple(out.blocks), report, found_in)


def _strip_chrome(root: Any, rules: ChromeRules) -> int:
    """Remove every chrome element (keeping the text that follows it); returns how many had text."""
    doomed = []
    probe = _Walker(rules)
    for element in root.iter():
        if any(element is d or d in element.iterancestors() for d in doomed[-1:]):
            continue
        if probe._is_chrome(element):
            doomed.append(element)
    count = 0
    for element in doomed:
        if isinstance(element.tag, str) and clean(element.text_content()):
            count += 1
        if element.getparent() is not None:
            element.drop_tree()
    return count


def _content_root(root: Any) -> Any:
    """The element holding the article: the one <article>, else <main>, else the body."""
    for query in ("//article", "//main", "//*[@role='main']"):
        found = root.xpath(query)
        if len(found) == 1:
            return found[0]
    body = root.find("body")
    return body if body is not None else root


def _meta(root: Any, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        for element in root.xpath("//meta[@name=$n or @property=$n]", n=name):
            content = clean(element.get("content") or "")
            if content:
                values.append(content)
    return values


def _citation_metadata(root: Any) -> dict[str, Any]:
    """Title, authors, journal, year, DOI, PMID and PMCID from Highwire/Dublin Core meta tags."""
    data: dict[str, Any] = {}
    title = _meta(root, "citation_title", "dc.title", "DC.title", "og:title")
    if title:
        data["title"] = title[0]
    authors = _meta(root, "citation_author", "dc.creator", "DC.creator")
    if authors:
        data["authors"] = authors
    journal = _meta(root, "citation_journal_title", "citation_publisher", "dc.publisher",
                    "DC.publisher")
    if journal:
        data["publisher"] = journal[0]
    year = _first_year(_meta(root, "citation_publication_date", "citation_date", "citation_year",
                             "dc.date", "DC.date"))
    if year is not None:
        data["year"] = year
    doi = _meta(root, "citation_doi", "dc.identifier", "DC.identifier")
    for value in doi:
        match = re.search(r"10\.\d{4,9}/\S+", value)
        if match:
            data["doi"] = match.group(0)
            break
    pmid = _meta(root, "citation_pmid")
    if pmid:
        data["pmid"] = pmid[0]
    urls = _meta(root, "citation_fulltext_html_url", "citation_abstract_html_url", "og:url")
    urls += [link.get("href", "") for link in root.xpath("//link[@rel='canonical']")]
    pmcid = _meta(root, "citation_pmcid")
    for value in pmcid + urls:
        match = re.search(r"PMC\d+", value)
        if match:
            data["pmcid"] = match.group(0)
            break
    if urls:
        data["url"] = urls[0]
    found_in = {name: "citation meta tags" for name in ("title", "authors", "year") if name in data}
    if "title" not in data:  # a page without citation tags: its <title>, else its first <h1>
        for where, nodes in (("<title>", root.xpath("//title")), ("first <h1>", root.xpath("//h1"))):
            text = " ".join(nodes[0].text_content().split()) if nodes else ""
            if text:
                data["title"], found_in["title"] = text, f"page's {where}"
                break
    if "authors" not in data:  # <meta name="author" content="Jane Smith; Peter Jones">
        # people's names ("Smith, Jane" is one name, not two)
        named = [a.strip() for value in _meta(root, "author") for a in re.split(r";|, (?=[A-Z]\w* )", value)]
        if named and all(" " in a for a in named):
            data["authors"], found_in["authors"] = named, 'page\'s <meta name="author">'
    if "year" not in data:  # the page's publication date, as a news or blog page states it
        year = _first_year(_meta(root, "article:published_time", "dcterms.date", "dcterms.issued", "date"))
        if year is not None:
            data["year"], found_in["year"] = year, "page's date meta tag"
    data["_found_in"] = found_in
    return data


def _first_year(dates: list[str]) -> int | None:
    """The year of the first of `dates` that names one."""
    return next((int(m.group(0)) for date in dates if (m := re.search(r"\b(19|20)\d\d\b", date))), None)


@dataclass
class _Walker:
    """A depth-first walk that turns block elements into headings and typed blocks."""

    rules: ChromeRules
    out: TextBuilder = field(default_factory=TextBuilder)
    tables: int = 0
    image_tables: int = 0
    figures: int = 0
    chrome_skipped: int = 0
    _base_level: int | None = None
    _references_at: int | None = None  # heading level of the reference list we are in
    _inline: list[str] = field(default_factory=list)

    def walk(self, element: Any) -> None:
        """Emit the blocks of `element` and its descendants, in document order."""
        self._visit(element)
        self._flush()

    # -- chrome -------------------------------------------------------------------------------
    def _is_chrome(self, element: Any) -> bool:
        if not isinstance(element.tag, str):
            return True  # comments and processing instructions
        tag = element.tag.lower()
        if tag in self.rules.tags:
            return True
        if element.get("hidden") is not None or element.get("aria-hidden") == "true":
            return True
        if element.get("role") in self.rules.roles:
            return True
        if self.rules.classes.intersection((element.get("class") or "").split()):
            return True
        if element.get("aria-label") in self.rules.aria_labels:
            return True
        if tag in ("a", "div", "span", "p", "li") and len(element) <= 1:
            text = clean(element.text_content()).strip("[] ").casefold()
            if text and text in self.rules.texts:
                return True
        return False

    def _skip(self, element: Any) -> bool:
        if self._is_chrome(element):
            if isinstance(element.tag, str) and clean(element.text_content()):
                self.chrome_skipped += 1
            return True
        return False

    # -- the walk -----------------------------------------------------------------------------
    def _visit(self, element: Any) -> None:
        if self._skip(element):
            return
        tag = element.tag.lower()
        if tag in _HEADINGS:
            self._heading(_HEADINGS[tag], self._inline_text(element))
        elif tag == "table":
            self._table(element, caption=None)
        elif self._is_table_wrap(element):
            self._table_wrap(element)
        elif tag == "figure":
            self._figure(element)
        elif tag == "li":
            self._flush()
            self._list_item(element)
        elif tag == "img":
            pass  # an image's content is not text; table and figure images are recorded by caption
        elif tag == "br":
            self._inline.append(" ")
        elif tag in _BLOCK_TAGS:
            self._flush()
            if element.text:
                self._inline.append(element.text)
            for child in element:
                self._visit(child)
                if child.tail:
                    self._inline.append(child.tail)
            self._flush()
            return
        else:
            self._inline.append(self._inline_text(element))
        # the tail is handled by the parent's loop

    def _flush(self) -> None:
        text = clean("".join(self._inline))
        self._inline.clear()
        if text:
            self.out.block(text, self._kind(BlockKind.PROSE))

    def _kind(self, kind: BlockKind) -> BlockKind:
        return BlockKind.REFERENCE if self._references_at is not None else kind

    def _heading(self, level: int, title: str) -> None:
        self._flush()
        if not title:
            return
        if level == 1 and self._base_level is None:
            return  # the article's title is metadata; sections start below it
        if self._base_level is None:
            self._base_level = level - 1
        depth = max(1, level - self._base_level)
        if self._references_at is not None and depth <= self._references_at:
            self._references_at = None
        if title.rstrip(".:").casefold() in self.rules.reference_headings:
            self._references_at = depth
        self.out.heading(depth, title)

    def _inline_text(self, element: Any, in_table: bool = False) -> str:
        """The text of an inline element, without chrome, inline images or footnote marks
        (`in_table`: read it as table content, as a table's footnotes are)."""
        pieces: list[str] = []

        def collect(node: Any, in_table: bool) -> None:
            if self._skip(node):
                return
            tag = node.tag.lower()
            if tag == "img":
                pass
            elif tag == "sup" and in_table and _FOOTNOTE_MARK.match(clean(node.text_content())):
                pass  # a table footnote's mark would glue to the word ("supporta")
            elif tag == "sup" and node.xpath(".//a[starts-with(@href, '#')]"):
                pass  # a numbered citation
            elif tag == "br":
                pieces.append(" ")
            else:
                if tag in _BLOCK_TAGS:
                    pieces.append(_CELL_BREAK if in_table else " ")
                if node.text:
                    pieces.append(node.text)
                for child in node:
                    collect(child, in_table or tag in ("td", "th"))
                    if child.tail:
                        pieces.append(child.tail)
                if tag in _BLOCK_TAGS:
                    pieces.append(_CELL_BREAK if in_table else " ")

        in_table = in_table or bool(element.xpath("ancestor-or-self::td | ancestor-or-self::th"))
        collect(element, in_table)
        text = "".join(pieces)
        if in_table:  # paragraphs and list items of one cell: "a; b; c", or "a. b." after a stop
            text = _join_cell_parts(clean(part) for part in text.split(_CELL_BREAK))
        return clean(text)

    def _list_item(self, element: Any) -> None:
        """A list item is one block; a nested list's items follow as their own blocks."""
        nested = [child for child in element if isinstance(child.tag, str)
                  and child.tag.lower() in ("ul", "ol")]
        if element.xpath("ancestor::ol[contains(concat(' ', @class, ' '), ' ref-list ')]") or \
                self._references_at is not None:
            cite = element.find(".//cite")
            text = self._inline_text(cite if cite is not None else element)
            self.out.block(text, BlockKind.REFERENCE, tight=True)
            return
        pieces = [element.text or ""]
        for child in element:
            if child in nested:
                continue
            pieces.append(self._inline_text(child))
            if child.tail:
                pieces.append(child.tail)
        self.out.block(clean(" ".join(pieces)), self._kind(BlockKind.LIST_ITEM), tight=True)
        for child in nested:
            self._visit(child)

    # -- tables and figures ---------------------------------------------------------------------
    def _is_table_wrap(self, element: Any) -> bool:
        """A container whose first heading or caption names a table ("Table 2.1.", "Box 1")."""
        if element.tag.lower() not in ("section", "div", "figure"):
            return False
        label = self._label(element)
        return bool(label and _TABLE_LABEL.match(label))

    def _label(self, element: Any) -> str:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if child.tag.lower() in _HEADINGS or "caption" in (child.get("class") or "").split() \
                    or child.tag.lower() in ("caption", "figcaption", "header"):
                return self._inline_text(child)
            if child.tag.lower() not in ("a", "span"):
                return ""
        return ""

    def _caption(self, element: Any) -> str:
        """'Table 2.1. Caption text' from a table wrapper's label heading and caption."""
        parts: list[str] = []
        for child in element:
            if not isinstance(child.tag, str) or self._is_chrome(child):
                continue
            tag = child.tag.lower()
            classes = (child.get("class") or "").split()
            if tag in _HEADINGS or tag in ("caption", "figcaption") or "caption" in classes:
                parts.append(self._inline_text(child))
        return clean(" ".join(parts))

    def _table_wrap(self, element: Any) -> None:
        """A labelled table: its rows if it has a <table>, else a marker that it is an image."""
        self._flush()
        caption = self._caption(element)
        tables = element.xpath(".//table")
        if not tables:
            if element.xpath(".//img"):
                self.image_tables += 1
                label, _, rest = caption.partition(". ")
                marker = f"{label.rstrip('.')} (image in source): {rest or caption}"
                self.out.block(marker, BlockKind.IMAGE_TABLE,
                               section=(*self.out.section, caption))
                return
            # a boxed text labelled "Box 1" without a table: read it as prose under its caption
            self._with_section(caption, lambda: self._children_except_captions(element))
            return
        for table in tables:
            self._table(table, caption)
        notes = element.xpath(".//*[contains(concat(' ', @class, ' '), ' fn ')]"
                              " | .//*[contains(concat(' ', @class, ' '), ' tw-foot ')]/p")
        section = (*self.out.section, caption) if caption else self.out.section
        for note in notes:
            text = self._inline_text(note, in_table=True)
            if text:
                self.out.block(text, BlockKind.TABLE_NOTE, section=section, tight=True)

    def _children_except_captions(self, element: Any) -> None:
        for child in element:
            if isinstance(child.tag, str) and (child.tag.lower() in _HEADINGS or "caption" in (
                    child.get("class") or "").split()):
                continue
            self._visit(child)
        self._flush()

    def _with_section(self, caption: str, body) -> None:
        depth = self.out.depth + 1
        saved = list(self.out.path)
        self.out.heading(depth, caption)
        self.out.sections -= 1  # a table or box caption is not one of the document's sections
        body()
        self.out.path = saved

    def _figure(self, element: Any) -> None:
        self._flush()
        self.figures += 1
        caption = self._caption(element)
        if caption:
            self.out.block(caption, self._kind(BlockKind.CAPTION))

    def _table(self, table: Any, caption: str | None) -> None:
        """Each row one line, every cell labelled with its column header."""
        self._flush()
        self.tables += 1
        if caption is None and table.find("caption") is not None:
            caption = self._inline_text(table.find("caption"))
        grid, header_rows = _grid(table, self._inline_text)
        if not grid:
            return
        columns = len(grid[0])
        headers = [_column_header(grid[:header_rows], c) for c in range(columns)]
        section = (*self.out.section, caption) if caption else self.out.section
        if caption:
            self.out.line(caption)
        if any(headers):
            self.out.block(" | ".join(h for h in headers if h), BlockKind.TABLE_HEADER,
                           section=section, tight=bool(caption))
        group = ""
        for row in grid[header_rows:]:
            distinct = [cell for i, cell in enumerate(row) if cell and (i == 0 or cell != row[i - 1])]
            if len(distinct) == 1 and columns > 1 and all(cell == distinct[0] for cell in row):
                # a row spanning the table heads the rows below it, which carry it as their label:
                # shown, but not a row to quote on its own
                group = distinct[0]
                self.out.block(group, BlockKind.TABLE_HEADER, section=section, tight=True)
                continue
            cells = []
            for i, cell in enumerate(row):
                if not cell or (i and cell == row[i - 1] and headers[i] == headers[i - 1]):
                    continue
                cells.append(f"{headers[i]}: {cell}" if headers[i] else cell)
            if cells:
                line = " | ".join(cells)
                self.out.block(f"{group} | {line}" if group else line, BlockKind.TABLE_ROW,
                               section=section, tight=True)


def _join_cell_parts(parts: Iterable[str]) -> str:
    text = ""
    for part in parts:
        if part:
            text = part if not text else f"{text}{' ' if text[-1] in '.;:!?' else '; '}{part}"
    return text


def _grid(table: Any, text_of) -> tuple[list[list[str]], int]:
    """The table as a rectangular grid of cell texts (spans repeated) and its header row count."""
    rows = [tr for tr in table.iter("tr") if tr.getparent() is not None
            and next(tr.iterancestors("table")) is table]
    grid: list[list[str]] = []
    pending: dict[tuple[int, int], str] = {}
    header_rows = 0
    in_header = True
    for r, tr in enumerate(rows):
        line: list[str] = []
        c = 0
        cells = [cell for cell in tr if isinstance(cell.tag, str) and cell.tag in ("td", "th")]
        is_header = (tr.getparent().tag == "thead") or (bool(cells) and all(
            cell.tag == "th" for cell in cells) and r == header_rows)
        for cell in cells:
            while (r, c) in pending:
                line.append(pending.pop((r, c)))
                c += 1
            text = text_of(cell)
            rowspan = _span(cell.get("rowspan"))
            colspan = _span(cell.get("colspan"))
            for dc in range(colspan):
                line.append(text)
                for dr in range(1, rowspan):
                    pending[(r + dr, c + dc)] = text
            c += colspan
        while (r, c) in pending:
            line.append(pending.pop((r, c)))
            c += 1
        if in_header and is_header:
            header_rows += 1
        else:
            in_header = False
        grid.append(line)
    width = max((len(line) for line in grid), default=0)
    grid = [line + [""] * (width - len(line)) for line in grid if any(line)]
    return grid, min(header_rows, len(grid))


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 50))
    except ValueError:
        return 1


def _column_header(header_rows: list[list[str]], column: int) -> str:
    labels: list[str] = []
    for row in header_rows:
        label = row[column]
        if label and label not in labels:
            labels.append(label)
    return " \u2013 ".join(labels)


def read_html_file(path: Path) -> ParsedPage:
    """Read and parse one .html/.htm file; errors name the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}:1: field 'file': cannot read ({exc.strerror})") from None
    return parse_html(raw, str(path))
