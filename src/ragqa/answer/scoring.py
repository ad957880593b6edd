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


_FIGURE = re.compile(r"\d+(?:\.\d+)?\s?(?:%|mg|mcg|µg|hours?|minutes?|days?|weeks?)|\bd = |[A-Z]{2,}-\d|\b[A-Z]{3,}\b")


def specificity(text: str) -> float:
    """How concrete a sentence is: doses, durations, rates and named scales, capped at 1."""
    return min(1.0, len(_FIGURE.findall(text)) / 2)


def mmr(
    vectors: np.ndarray, scores: np.ndarray, k: int, diversity: float = 0.3,
    duplicate_threshold: float = 0.9,
) -> list[int]:
    """Maximal marginal relevance over candidates: indices of up to k picks, best first.

    A candidate whose similarity to an already picked one is at least `duplicate_threshold`
    is a near-duplicate and never picked.
    """
    picked: list[int] = []
    remaining = list(np.argsort(-scores, kind="stable"))
    while remaining and len(picked) < k:
        best, best_value = None, -np.inf
        for i in remaining:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in picked), default=0.0)
            if redundancy >= duplicate_threshold:
                continue
            value = (1 - diversity) * scores[i] - diversity * redundancy
            if value > best_value:
                best, best_value = i, value
        if best is None:
            break
        picked.append(int(best))
        remaining.remove(best)
    return picked


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
    best, best_hits = topics[-1], 0.0
    for topic in topics:
        hits = topic.weight * sum(1 for p in topic.patterns if p.search(text))
        if hits > best_hits:
            best, best_hits = topic, hits
    return best
