"""Abbreviations the documents define themselves: "coeliac disease (CD)", "calcium channel
blockers (CCBs)".

A guideline defines its abbreviations once and then writes them: "Patients with CD should be
reviewed annually" is about coeliac disease. Found in every document of an index when the engine
starts (ingest/abbreviations.py finds the definitions; the index embeds sentences with them
spelled out), so that

- a sentence that writes the short form also holds its expansion's words (answer/evidence.py's
  FactBook adds them): the coverage check and the candidate features see "coeliac" in it;
- a question that writes the short form is covered by a sentence that spells it out (coverage.py).

The definitions are each document's own: "CD" is coeliac disease in one guideline and Crohn's
disease in another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ragqa.answer.scoring import content_terms
from ragqa.index.tokenize import tokenize
from ragqa.ingest.abbreviations import document_abbreviations


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
            for short, long in document_abbreviations(text, content_terms).items():
                defined.setdefault(tokenize(short)[0], frozenset(content_terms(long)))
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
