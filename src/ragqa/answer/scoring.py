"""Scoring parts of evidence selection: content terms, specificity, MMR, overview topics."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ragqa.index.tokenize import STOPWORDS, tokenize

# How much a source type counts: guidelines and meta-analyses above a single trial above a review.
EVIDENCE_LEVEL = {
    "guideline": 1.0, "meta_analysis": 1.0, "consensus": 0.9, "systematic_review": 0.9,
    "label": 0.85, "rct": 0.75, "review": 0.6, "other": 0.5,
    "secondary_summary": 0.7,  # online medical-answer services' summaries: below guidelines, trials, meta-analyses
}

# Question words that carry no topic: they must not count toward lexical overlap.
QUESTION_WORDS = frozenset(
    ["effective", "effectiveness", "work", "works", "help", "helps", "use", "used", "using", "treat", "treating", "treatment", "good", "safe", "recommended", "recommend", "really", "actually", "tell", "know", "people", "patient", "patients", "someone"]
)


def content_terms(text: str) -> set[str]:
    """The topic-bearing tokens of a text (no stopwords, no question words)."""
    return {t for t in tokenize(text) if t not in STOPWORDS and t not in QUESTION_WORDS}


# what makes a sentence concrete: a dose, duration or rate, a named scale
FIGURE = re.compile(r"\d+(?:\.\d+)?\s?(?:%|mg|mcg|µg|hours?|minutes?|days?|weeks?)|\bd = |[A-Z]{2,}-\d|\b[A-Z]{3,}\b")


def specificity(text: str) -> float:
    """How concrete a sentence is: doses, durations, rates and named scales, capped at 1."""
    return min(1.0, len(FIGURE.findall(text)) / 2)


def mmr(
    vectors: np.ndarray, scores: np.ndarray, k: int, diversity: float = 0.3,
    duplicate_threshold: float = 0.9,
) -> list[int]:
    """Maximal marginal relevance over candidates: indices of up to k picks, best first.

    A candidate whose similarity to an already picked one is at least `duplicate_threshold`
    is a near-duplicate and never picked. Ties go to the higher score, then the lower index.
    """
    n = len(scores)
    if n == 0 or k <= 0:
        return []
    order = np.argsort(-scores, kind="stable")  # candidates in the order ties are broken
    ranked = np.asarray(scores, dtype=np.float64)[order]
    vectors = np.asarray(vectors)[order]
    redundancy = np.zeros(n)  # to the picks so far (0 before the first pick)
    open_ = np.ones(n, dtype=bool)  # not picked, not a near-duplicate of a pick
    picked: list[int] = []
    while len(picked) < k:
        value = np.where(open_, (1 - diversity) * ranked - diversity * redundancy, -np.inf)
        best = int(np.argmax(value))
        if not open_[best]:
            break
        # one product of every candidate with the new pick (k products, not one per pair)
        similarity = (vectors @ vectors[best]).astype(np.float64)
        redundancy = similarity if not picked else np.maximum(redundancy, similarity)
        picked.append(best)
        open_[best] = False
        open_ &= redundancy < duplicate_threshold
    return [int(order[i]) for i in picked]


@dataclass(frozen=True)
class Topic:
    """An answer heading and the patterns that put a statement under it."""

    id: str
    heading: str
    patterns: tuple[re.Pattern[str], ...]
    facets: tuple[str, ...] = ()
    weight: float = 1.0
    slots: int | None = None


@lru_cache(maxsize=1)
def default_topics() -> tuple[Topic, ...]:
    """The topics shipped in `answer/data/topics.json`, in display order."""
    data = json.loads(resources.files("ragqa.answer").joinpath("data/topics.json").read_text())
    return tuple(
        Topic(t["id"], t["heading"], tuple(re.compile(p, re.IGNORECASE) for p in t["patterns"]),
              tuple(t.get("facets", ())), t.get("weight", 1.0), t.get("slots"))
        for t in data["topics"]
    )


def assign_topic(text: str, topics: tuple[Topic, ...]) -> Topic:
    """The topic with the most weighted pattern hits in the text; ties go to the earlier topic."""
    return strongest_topic([sum(1 for p in t.patterns if p.search(text)) for t in topics], topics)


def strongest_topic(counts: list[int], topics: tuple[Topic, ...]) -> Topic:
    """The topic with the most weighted hits, given each topic's count of matching patterns; ties
    go to the earlier topic, and the last topic (other) when none matches."""
    best, best_hits = topics[-1], 0.0
    for topic, count in zip(topics, counts):
        hits = topic.weight * count
        if hits > best_hits:
            best, best_hits = topic, hits
    return best
