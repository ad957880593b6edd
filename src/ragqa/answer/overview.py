"""What an index covers, read from its documents: counts, newest year, provenance, subjects.

Index -> CorpusOverview. Used to say, in plain words, what the corpus can answer (in an abstention,
on the empty page, in the README) without a hand-written list of topics.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ragqa.index.store import HybridIndex
from ragqa.index.tokenize import STOPWORDS, s_stem

_WORD = re.compile(r"[^\W\d_][\w'-]*")


@lru_cache(maxsize=1)
def _settings() -> dict:
    return json.loads(resources.files("ragqa.answer").joinpath("data/overview.json").read_text())


@dataclass(frozen=True)
class CorpusOverview:
    """One index's documents summed up: how many, how new, whose text, and on what."""

    documents: int
    newest_year: int | None
    by_form: dict[str, int]  # publication / project_summary / unrecorded -> documents
    by_type: dict[str, int]  # doc_type -> documents
    subjects: tuple[str, ...]  # the words most titles share, most documents first

    def covers(self) -> str:
        """One sentence on what the corpus covers."""
        words = ", ".join(self.subjects)
        return (f"The corpus holds {self.documents} documents"
                + (f" (newest {self.newest_year})" if self.newest_year else "")
                + (f"; its titles are mostly about {words}." if words else "."))

    def forms(self) -> str:
        """Whose text the documents are, in plain words."""
        parts = []
        if self.by_form.get("publication"):
            parts.append(f"{self.by_form['publication']} in the publication's own words")
        if self.by_form.get("project_summary"):
            parts.append(f"{self.by_form['project_summary']} summaries written for ragqa")
        if self.by_form.get("unrecorded"):
            parts.append(f"{self.by_form['unrecorded']} without recorded provenance")
        return ", ".join(parts)


_CACHE: dict[str, CorpusOverview] = {}


def corpus_overview(index: HybridIndex) -> CorpusOverview:
    """The overview of an index (computed once per index version)."""
    cached = _CACHE.get(index.version)
    if cached is not None:
        return cached
    ignored = set(_settings()["title_words_ignored"])
    docs = list(index.documents.values())
    forms: Counter[str] = Counter()
    for doc in docs:
        form = doc.provenance.form.value if doc.provenance and doc.provenance.form else "unrecorded"
        forms[form] += 1
    words: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for doc in docs:
        seen = set()
        for word in _WORD.findall(doc.title):
            key = s_stem(word.lower())
            if word.lower() in ignored or key in ignored or len(key) < 3:
                continue
            seen.add(key)
            shown.setdefault(key, word if word.isupper() else word.lower())  # first spelling seen
        words.update(seen)
    ranked = sorted(((n, w) for w, n in words.items() if n > 2), key=lambda nw: (-nw[0], nw[1]))
    subjects = tuple(shown[w] for _, w in ranked[:_settings()["subjects_shown"]])  # ties by word
    years = [d.year for d in docs if d.year]
    overview = CorpusOverview(
        documents=len(docs), newest_year=max(years) if years else None, by_form=dict(forms),
        by_type=dict(Counter(d.doc_type.value for d in docs)), subjects=subjects,
    )
    _CACHE[index.version] = overview
    return overview


def looks_english(question: str, index: HybridIndex) -> bool:
    """Whether most of a question's words are English function words or words of the index."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words:
        return False
    known = sum(w in STOPWORDS or s_stem(w) in index.sentence_df for w in words)
    return known / len(words) >= float(_settings()["english_share"])
