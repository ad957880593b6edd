"""Abbreviations the documents define themselves: "coeliac disease (CD)", "calcium channel
blockers (CCBs)".

A guideline defines its abbreviations once and then writes them: "Patients with CD should be
reviewed annually" is about coeliac disease. Found in every document of an index when the engine
starts (the algorithm of Schwartz and Hearst, PSB 2003: a short form in brackets, and the fewest
words before it whose letters it takes in order, its first letter starting a word), so that

- a sentence that writes the short form also holds its expansion's words (answer/evidence.py's
  FactBook adds them): the coverage check and the candidate features see "coeliac" in it;
- a question that writes the short form is covered by a sentence that spells it out (coverage.py).

The definitions are each document's own: "CD" is coeliac disease in one guideline and Crohn's
disease in another.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from ragqa.answer.scoring import content_terms
from ragqa.index.tokenize import tokenize

# a bracketed short form: 2 to 10 characters, a letter first, one capital at least, at most two words
_BRACKETED = re.compile(r"\(\s*([A-Za-z][\w\-/&]{0,8}[\w](?:\s[\w\-]{1,6})?)\s*[;,)]")
_WORD = re.compile(r"[\w'\u2019-]+")


def long_form(short: str, before: str) -> str | None:
    """The long form that `short` abbreviates at the end of `before`, or None (Schwartz-Hearst:
    the short form's letters and digits, last first, each found in the words before it in order,
    the first one at the start of a word)."""
    words = _WORD.findall(before)
    letters = sum(ch.isalnum() for ch in short)
    window = words[-min(letters + 5, 2 * letters):] if words else []
    text = " ".join(window)
    s, i = len(short) - 1, len(text) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (text[i].lower() != c or (s == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    found = text[start:]
    # the long form is longer than the short one and not the short form again
    if len(found) <= len(short) or found.lower() == short.lower() or len(found.split()) < 2 \
            and found.lower().startswith(short.lower()):
        return None
    return found


def definitions(text: str) -> list[tuple[str, str]]:
    """The (short form, long form) pairs a text defines."""
    out = []
    for m in _BRACKETED.finditer(text):
        short = m.group(1).strip()
        if not any(ch.isupper() for ch in short) or not 2 <= len(short) <= 10:
            continue
        found = long_form(short, text[:m.start()])
        if found is not None:
            out.append((short, found))
    return out


class DefinedAbbreviations:
    """Each document's own abbreviations, as tokens: short form -> its expansion's content terms.

    >>> defined = DefinedAbbreviations.of([("bsg", "Adults with coeliac disease (CD) ...")])
    >>> sorted(defined.expansion("bsg", "cd"))
    ['coeliac', 'disease']
    """

    def __init__(self, by_document: dict[str, dict[str, frozenset[str]]]) -> None:
        self.by_document = by_document
        # over the whole corpus, each short form's most frequent expansion (what a question that
        # writes it most likely means)
        counts: Counter[tuple[str, frozenset[str]]] = Counter(
            (short, long) for defined in by_document.values() for short, long in defined.items())
        self.anywhere: dict[str, frozenset[str]] = {}
        for (short, long), _ in counts.most_common():
            self.anywhere.setdefault(short, long)

    @classmethod
    def of(cls, texts: Iterable[tuple[str, str]]) -> DefinedAbbreviations:
        """From (document id, text) pairs: a document's first definition of a short form holds."""
        by_document: dict[str, dict[str, frozenset[str]]] = {}
        for doc_id, text in texts:
            defined = by_document.setdefault(doc_id, {})
            for short, long in definitions(text):
                tokens = tokenize(short)
                expansion = frozenset(content_terms(long))
                if len(tokens) != 1 or len(expansion) < 2 or tokens[0] in expansion:
                    continue
                defined.setdefault(tokens[0], expansion)
        return cls({d: v for d, v in by_document.items() if v})

    def expansion(self, doc_id: str, token: str) -> frozenset[str]:
        """What the short-form token stands for in the document (empty if it defines none)."""
        return self.by_document.get(doc_id, {}).get(token, frozenset())

    def expand(self, doc_id: str, terms: frozenset[str]) -> frozenset[str]:
        """A sentence's terms with the expansions of the document's short forms among them."""
        defined = self.by_document.get(doc_id)
        if not defined:
            return terms
        added = [defined[t] for t in terms if t in defined]
        return terms.union(*added) if added else terms
