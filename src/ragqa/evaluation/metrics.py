"""Metric functions: small, pure and tested on hand-made examples."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence


def doc_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Collapse a ranked list of chunk doc ids into unique documents, first occurrence wins."""
    seen: dict[str, None] = {}
    for doc_id in doc_ids:
        seen.setdefault(doc_id, None)
    return list(seen)


def recall_at(ranking: Sequence[str], gold: set[str], k: int) -> float:
    """Share of gold documents found in the top k."""
    if not gold:
        return 0.0
    return len(set(ranking[:k]) & gold) / len(gold)


def mrr_at(ranking: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold document in the top k (0 when none)."""
    for rank, doc_id in enumerate(ranking[:k], start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(ranking[:k], start=1) if d in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


def fact_hits(patterns: Sequence[str], texts: Sequence[str]) -> list[bool]:
    """For each case-insensitive regex, whether it matches any of the texts."""
    joined = "\n".join(texts)
    return [re.search(p, joined, flags=re.IGNORECASE) is not None for p in patterns]


def precision_recall(predicted: Sequence[bool], expected: Sequence[bool]) -> tuple[float, float]:
    """Precision and recall of the positive class (for abstention: abstained == True)."""
    tp = sum(p and e for p, e in zip(predicted, expected))
    fp = sum(p and not e for p, e in zip(predicted, expected))
    fn = sum(e and not p for p, e in zip(predicted, expected))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
