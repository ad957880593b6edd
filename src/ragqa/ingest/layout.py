"""The layout of a read document: typed blocks with spans into its canonical text.

Markdown and JSONL documents need no layout (their `#` headings give the sections). HTML and PDF
readers build the canonical text and its layout together with a `TextBuilder`, so the section path,
the kind of every block (prose, list item, table row, reference, ...) and, for PDFs, its page are
recorded where they are known instead of being guessed back from the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class BlockKind(str, Enum):
    """What a block of a document is; decides whether the answer may quote it."""

    PROSE = "prose"
    LIST_ITEM = "list_item"
    TABLE_HEADER = "table_header"  # a table's column headers "A | B | C", or a row spanning it
    TABLE_ROW = "table_row"  # one row, each cell labelled with its column header: "A: x | B: y"
    TABLE_NOTE = "table_note"  # a table's footnote
    CAPTION = "caption"  # a figure's caption and legend
    IMAGE_TABLE = "image_table"  # "Table N (image in source): caption": the content is not in the text
    REFERENCE = "reference"  # an entry of the reference list
    CONTENTS = "contents"  # a table of contents' entry ("2.1 Diagnosis .......... 12")

    @property
    def quotable(self) -> bool:
        """Whether an answer may quote this block as evidence."""
        return self not in _NOT_QUOTABLE

    @property
    def whole(self) -> bool:
        """Whether the block is one statement (never split into sentences)."""
        return self in _WHOLE

    @classmethod
    def parse(cls, value: str) -> BlockKind:
        """Parse a block kind, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            allowed = " | ".join(kind.value for kind in cls)
            raise ValueError(f"block kind must be one of {allowed}, got {value!r}") from None


_NOT_QUOTABLE = frozenset({BlockKind.TABLE_HEADER, BlockKind.IMAGE_TABLE, BlockKind.REFERENCE,
                           BlockKind.CONTENTS})
_WHOLE = frozenset({BlockKind.TABLE_HEADER, BlockKind.TABLE_ROW, BlockKind.IMAGE_TABLE,
                    BlockKind.REFERENCE, BlockKind.CONTENTS})


@dataclass(frozen=True)
class Block:
    """A span [start, end) of a document's text with its section path, kind and page (PDF only)."""

    start: int
    end: int
    section: tuple[str, ...]
    kind: BlockKind = BlockKind.PROSE
    page: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"start": self.start, "end": self.end, "section": list(self.section),
                "kind": self.kind.value, "page": self.page}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Block:
        """Inverse of to_json."""
        return cls(int(data["start"]), int(data["end"]), tuple(data["section"]),
                   BlockKind.parse(data["kind"]), data.get("page"))


@dataclass(frozen=True)
class ReadReport:
    """What a reader took from one file and what it left out, for `ragqa index` to print."""

    format: str
    sections: int = 0
    tables: int = 0
    table_rows: int = 0
    image_tables: int = 0
    figures: int = 0
    references: int = 0
    pages: int | None = None
    chrome_skipped: int = 0  # page-furniture elements (HTML) or lines (PDF) dropped
    superscripts_dropped: int = 0  # PDF: superscript citation marks taken off the words they sat on
    assumed: tuple[str, ...] = ()  # fields not in the file nor a sidecar: "doc_type=other", ...


@dataclass
class TextBuilder:
    """Append headings and blocks to a canonical text, recording each block's span and section.

    >>> out = TextBuilder()
    >>> out.heading(1, "Methods")
    >>> out.block("Ketamine 0.5 mg/kg IV was given.")
    >>> out.text, out.blocks[0].section
    ('# Methods\\n\\nKetamine 0.5 mg/kg IV was given.', ('Methods',))
    """

    parts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    path: list[tuple[int, str]] = field(default_factory=list)
    length: int = 0
    sections: int = 0
    _tight: bool = False  # the next block follows on the next line, not after a blank line

    def heading(self, level: int, title: str) -> None:
        """Open a section `title` at `level` (1 = top), closing deeper ones; shown as a # heading."""
        title = title.strip()
        if not title:
            return
        level = max(1, min(level, 6))
        self.path = [(lvl, name) for lvl, name in self.path if lvl < level]
        self.path.append((level, title))
        self.sections += 1
        self._append(f"{'#' * level} {title}", tight=False)

    def line(self, text: str, tight: bool = False) -> None:
        """Append text that is shown but is not a block (a table's title, say)."""
        self._append(text, tight)

    def block(self, text: str, kind: BlockKind = BlockKind.PROSE,
              section: tuple[str, ...] | None = None, page: int | None = None,
              tight: bool = False) -> None:
        """Append one block; `tight` puts it on the next line (table rows, list items)."""
        text = text.strip()
        if not text:
            return
        start = self._append(text, tight)
        self.blocks.append(Block(start, start + len(text), self.section if section is None
                                 else section, kind, page))

    @property
    def section(self) -> tuple[str, ...]:
        """The current section path."""
        return tuple(name for _, name in self.path)

    @property
    def depth(self) -> int:
        """The level of the innermost open section (0 before the first heading)."""
        return self.path[-1][0] if self.path else 0

    @property
    def text(self) -> str:
        """The canonical text so far."""
        return "".join(self.parts)

    def _append(self, text: str, tight: bool) -> int:
        if self.parts:
            separator = "\n" if tight else "\n\n"
            self.parts.append(separator)
            self.length += len(separator)
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        return start
