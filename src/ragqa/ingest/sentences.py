"""Sentence and paragraph spans with exact character offsets into a document's text.

blingfire was chosen over pysbd by `eval/sentence_splitters.py`: both split 13 of its 14 labelled
clinical paragraphs exactly, but pysbd's miss cuts a sentence in two ("approx." | "20% of patients"),
which would quote a fragment, while blingfire's miss keeps two sentences together; blingfire also
returns character offsets directly and is faster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import blingfire

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# a bracketed remark in words standing alone after a sentence ("(Grade B)", "[Level 1]", "(Strong
# recommendation)"): it qualifies the sentence before it and is quoted with it (a bare number,
# "(2)" or "[12]", opens an item or cites: it stays where it is)
_REMARK = re.compile(r"[(\[](?=[^()\[\]]*[A-Za-z]{2})[^()\[\]]{1,60}[)\]]\.?")
_REMARK_WORDS = 6
# a numbered recommendation or item after a sentence's end or a run-in label ("... of patients.
# 4.2 We recommend", "... weight gain. 7.3(L) Offer ...", "Recommendations: 4.1 We recommend"): a
# new sentence, which the splitter keeps with the one before it when the number follows the stop
_NUMBERED = re.compile(r"(?:(?<=[.!?;])|(?<=[A-Za-z)\]]:))\s+"
                       r"(?=\d{1,2}(?:\.\d{1,2}){1,2}(?:\s?\([A-Z]\))?\s+(?:[A-Z][a-z]|A\s))")
# a numbered item ("3.2 The ...", "7.3(L) Offer ..."): at a sentence's start, and anywhere after a space
_ITEM = re.compile(r"\s*(\d{1,2})\.(\d{1,2})(?:\s?\([A-Z]\))?\s+[A-Z][a-z]")
_NEXT_ITEM = re.compile(r"\s+(?=(\d{1,2})\.(\d{1,2})(?:\s?\([A-Z]\))?\s+[A-Z][a-z])")


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) into a document's canonical text."""

    start: int
    end: int


@dataclass(frozen=True)
class Block:
    """A paragraph of prose with the heading path it sits under."""

    span: Span
    section: tuple[str, ...]


def paragraphs(text: str) -> list[Block]:
    """Split Markdown text into prose paragraphs, each with its heading path; headings are not prose."""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    position = 0
    for piece in _BLANK_LINES.split(text) + [""]:
        start = text.find(piece, position) if piece else -1
        if start < 0:
            continue
        position = start + len(piece)
        lines_start = start
        prose_start = None
        for line in piece.split("\n"):
            match = _HEADING.match(line)
            if match:
                if prose_start is not None:
                    blocks.append(_block(text, prose_start, lines_start - 1, path))
                    prose_start = None
                level = len(match.group(1))
                path = [(lvl, name) for lvl, name in path if lvl < level]
                path.append((level, match.group(2).strip()))
            elif line.strip() and prose_start is None:
                prose_start = lines_start
            lines_start += len(line) + 1
        if prose_start is not None:
            blocks.append(_block(text, prose_start, position, path))
    return blocks


def _block(text: str, start: int, end: int, path: list[tuple[int, str]]) -> Block:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Block(Span(start, end), tuple(name for _, name in path))


def split_sentences(text: str, span: Span) -> list[Span]:
    """The sentences of text[span.start:span.end], as spans into `text`; a bracketed remark
    standing alone after a sentence ("... on a gluten-containing diet. (Grade B)") stays with it."""
    piece = text[span.start:span.end]
    if not piece.strip():
        return []
    _, offsets = blingfire.text_to_sentences_and_offsets(piece)
    spans = []
    for start, end in _numbered(piece, offsets):
        start, end = _trimmed(piece, start, end)
        if end <= start:
            continue
        remark = _REMARK.match(piece, start, end)
        if spans and remark and len(remark.group(0).split()) <= _REMARK_WORDS \
                and text[spans[-1].end - 1] in ".!?":
            # the remark closes the sentence before (the splitter may have put it at the start of
            # the next one)
            spans[-1] = Span(spans[-1].start, span.start + remark.end())
            start, end = _trimmed(piece, remark.end(), end)
            if end <= start:
                continue
        spans.append(Span(span.start + start, span.start + end))
    return spans


def _numbered(piece: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The splitter's sentences, each cut again before a numbered item that follows its end, or
    that comes next in the numbering of the item before it ("3.2 The risk ... obesity 3.3 Emerging
    literature ...": a list of recommendations printed without full stops)."""
    out = []
    last: tuple[int, int] | None = None  # the number of the last item that opened a sentence
    for start, end in offsets:
        while True:
            opened = _ITEM.match(piece, start)
            if opened:
                last = (int(opened.group(1)), int(opened.group(2)))
            cut = _next_cut(piece, start, end, last)
            if cut is None:
                break
            out.append((start, cut.start()))
            start = cut.end()
        out.append((start, end))
    return out


def _next_cut(piece: str, start: int, end: int, last: tuple[int, int] | None) -> re.Match[str] | None:
    """The first place in piece[start:end] after its start where a numbered item opens a sentence."""
    cut = _NUMBERED.search(piece, start + 1, end)
    if last is None:
        return cut
    following = next((m for m in _NEXT_ITEM.finditer(piece, start + 1, end)
                      if (int(m.group(1)), int(m.group(2))) == (last[0], last[1] + 1)), None)
    if following is not None and (cut is None or following.start() < cut.start()):
        return following
    return cut


def _trimmed(piece: str, start: int, end: int) -> tuple[int, int]:
    """piece[start:end] without its leading and trailing white space, as (start, end)."""
    while start < end and piece[start].isspace():
        start += 1
    while end > start and piece[end - 1].isspace():
        end -= 1
    return start, end
