"""Context-safe quote spans: a quote never opens with a word that points at a sentence left out.

Real guidelines are not written to be quoted one sentence at a time: "These antidepressants can
increase blood levels of ...", "Hence, the recommendation has been adjusted to ...". `quote_span`
widens a sentence to the contiguous run of sentences of its section that it depends on; a table
row is quoted as its own line, which carries its table's column headers as labels; `dangles` is
the check the tests run on every quote. The opening words are data: `data/dependent_openers.yaml`.

>>> span = quote_span(sentences, 12)            # sentences of one document, in text order
>>> doc.text[span.start:span.end]               # a verbatim, self-contained quote
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from ragqa.ingest.chunker import Sentence
from ragqa.ingest.layout import BlockKind
from ragqa.ingest.sentences import Span, split_sentences

MAX_LOOKBACK = 3  # sentences a quote may reach back; a longer chain is quoted from its 4th link
MAX_LOOKAHEAD = 8  # list items a quote of the sentence that introduces them takes in
# opening quotes, brackets and footnote marks, skipped before the opening words
_LEADING = re.compile(r"^[\s\"'\u201c\u2018(\[*\u2020\u2021\u00a7]+")
_ASIDE = re.compile(r"\([^()]*\)")  # a parenthetical aside, left out when counting opening words
_WORD = re.compile(r"\S+")
_TABLE = (BlockKind.TABLE_ROW, BlockKind.TABLE_HEADER)


@dataclass(frozen=True)
class QuoteSpan:
    """What to quote for a sentence: text[start:end] (contiguous, verbatim) and, for a table row,
    the span of its table's column header line (whose labels the row line already carries)."""

    doc_id: str
    start: int
    end: int
    first: int  # index of the first sentence of the span
    last: int  # index of the last sentence (the one asked for, or the last item it introduces)
    header: tuple[int, int] | None = None


@lru_cache(maxsize=1)
def _opener() -> re.Pattern[str]:
    raw = yaml.safe_load(resources.files("ragqa.ingest").joinpath("data/dependent_openers.yaml")
                         .read_text(encoding="utf-8"))
    phrases = [*raw["pronouns"], *raw["connectives"], *raw["comparatives"]]
    nouns = raw["anaphoric_nouns"]
    alternatives = [re.escape(p) for p in sorted(phrases, key=len, reverse=True)]
    # "the trial" opens a sentence capitalised; "the trial showed" but not "the trial of X"
    noun_alternatives = [re.escape(n[:1].upper() + n[1:]) + r"(?!\s+(?:of|in|by|from|called|named)\b)"
                         for n in sorted(nouns, key=len, reverse=True)]
    return re.compile(r"^(?:" + "|".join(alternatives + noun_alternatives) + r")\b(?![-'])")


@lru_cache(maxsize=1)
def _demonstrative() -> tuple[re.Pattern[str], int, re.Pattern[str]]:
    """A demonstrative that points back ("these issues", not "such as" or "these guidelines"),
    within how many opening words it must start, and its words alone, anywhere (a text in which
    they never occur needs no sentence splitting to be cleared)."""
    raw = yaml.safe_load(resources.files("ragqa.ingest").joinpath("data/dependent_openers.yaml")
                         .read_text(encoding="utf-8"))["demonstratives"]
    words = "|".join(re.escape(w) for w in raw["words"])
    not_before = "|".join(re.escape(w) for w in raw["not_before"])
    selves = "|".join(re.escape(w) for w in raw["self_references"])
    pattern = (rf"\b(?:{words})\b(?!\s+(?:{not_before})\b)"
               rf"(?!\s+(?:[\w-]+\s+)?(?:{selves})\b)")
    return (re.compile(pattern, re.IGNORECASE), int(raw["within_words"]),
            re.compile(f"(?:{words})", re.IGNORECASE))


def dangles(text: str) -> bool:
    """Whether `text` (a sentence, or a quote of several) needs the sentence before it: it opens
    with a pronoun or connective, or a demonstrative in its first sentence's opening words points
    back ("Given these issues, ...")."""
    text = _LEADING.sub("", text)
    if _opener().match(text):
        return True
    pattern, within, anywhere = _demonstrative()
    # Without a parenthesis nothing is cut out of the text, so the first sentence is a prefix of it:
    # when the words occur nowhere in the text, they do not occur there (and splitting, which is
    # most of the cost of a quote span, can be skipped)
    if "(" not in text and not anywhere.search(text):
        return False
    first = split_sentences(text, Span(0, len(text)))
    text = _ASIDE.sub("", text[:first[0].end] if first else text)
    words = [m.end() for m in _WORD.finditer(text)]
    found = pattern.search(text)
    return bool(words and found and found.start() < words[min(within, len(words)) - 1])


def quote_span(sentences: Sequence[Sentence], index: int) -> QuoteSpan:
    """The contiguous span to quote for sentences[index]: reaching back, within its section and
    document, to the sentence a dangling opener leans on. A table row is quoted as its own line,
    which the reader writes with every cell labelled by its column header ("Risk of discontinuation
    symptoms: High risk | Antidepressant: Paroxetine; Venlafaxine"); `header` is the span of the
    table's header line those labels come from."""
    target = sentences[index]
    if target.kind is BlockKind.TABLE_ROW:
        return QuoteSpan(target.doc_id, target.char_start, target.char_end, index, index,
                         _header_line(sentences, index))
    first = index
    while (dangles(sentences[first].text) and first > 0 and index - first < MAX_LOOKBACK
           and _same_run(sentences[first - 1], target)):
        first -= 1
    last = index
    # a sentence that ends on a colon ("WHO recommends drugs from any of the following three
    # classes:") states nothing without what follows: the next sentence, or the list items
    if target.text.rstrip().endswith(":"):
        while (last + 1 < len(sentences) and last - index < MAX_LOOKAHEAD
               and _same_run(sentences[last + 1], target)
               and (last == index or sentences[last].kind is BlockKind.LIST_ITEM
                    and sentences[last + 1].kind is BlockKind.LIST_ITEM)):
            last += 1
    return QuoteSpan(target.doc_id, sentences[first].char_start, sentences[last].char_end, first, last)


def _header_line(sentences: Sequence[Sentence], index: int) -> tuple[int, int] | None:
    """The span of the column header line of the table that sentences[index] is a row of: the
    first header of the run of rows and headers (a row spanning the table heads a group) it ends."""
    target = sentences[index]
    header = None
    j = index - 1
    while j >= 0 and sentences[j].kind in _TABLE and _same_run(sentences[j], target):
        if sentences[j].kind is BlockKind.TABLE_HEADER:
            header = (sentences[j].char_start, sentences[j].char_end)
        j -= 1
    return header


def _same_run(sentence: Sentence, target: Sentence) -> bool:
    """Whether `sentence` may join a quote of `target`: same document, section and kind family."""
    if sentence.doc_id != target.doc_id or sentence.section != target.section:
        return False
    if target.kind is BlockKind.TABLE_ROW:
        return sentence.kind in _TABLE
    if target.kind is BlockKind.TABLE_NOTE:  # "* These have robust evidence ..." leans on the rows
        return sentence.kind in (BlockKind.TABLE_NOTE, BlockKind.TABLE_ROW)
    return sentence.kind.quotable and sentence.kind is not BlockKind.TABLE_ROW
