"""Scoring parts: MMR from one matrix product picks what the pairwise definition picks."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.answer.scoring import mmr
from ragqa.answer.selection import stated_figures


def pairwise_mmr(vectors, scores, k, diversity, duplicate):
    """MMR as defined, one pair at a time (the reference the vectorised one must match)."""
    picked: list[int] = []
    remaining = list(np.argsort(-scores, kind="stable"))
    while remaining and len(picked) < k:
        best, best_value = None, -np.inf
        for i in remaining:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in picked), default=0.0)
            if redundancy >= duplicate:
                continue
            value = (1 - diversity) * scores[i] - diversity * redundancy
            if value > best_value:
                best, best_value = i, value
        if best is None:
            break
        picked.append(int(best))
        remaining.remove(best)
    return picked


@pytest.mark.parametrize("seed", range(20))
def test_picks_equal_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    n, dim = int(rng.integers(1, 60)), 16
    base = rng.normal(size=(n, dim))
    base[n // 2:] = base[: n - n // 2] + rng.normal(scale=0.05, size=(n - n // 2, dim))  # near twins
    vectors = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
    scores = np.round(rng.uniform(size=n), 2)  # rounded: ties happen
    for k, diversity, duplicate in [(10, 0.3, 0.95), (n, 0.5, 0.9), (3, 0.0, 1.1)]:
        assert mmr(vectors, scores, k, diversity, duplicate) == \
            pairwise_mmr(vectors, scores, k, diversity, duplicate)


def test_near_duplicates_are_never_picked_and_nothing_is_picked_from_nothing():
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    assert mmr(vectors, np.array([0.9, 0.8, 0.1]), 3, 0.3, 0.95) == [0, 2]
    assert mmr(np.zeros((0, 2), dtype=np.float32), np.zeros(0), 5) == []


def test_a_recommendation_number_is_not_a_stated_figure():
    # two recommendations worded alike state the same figures, whatever their numbers
    a = stated_figures("10.11 Patients with obesity should be advised to limit gestational weight gain to 5–9 kilograms.")
    b = stated_figures("10.10(L) Patients with obesity should be advised to limit gestational weight gain to 5–9 kilograms.")
    assert a == b == ["5", "9"]
    # a figure that opens a sentence without being its number stays a figure
    assert stated_figures("2.5 mg twice daily was given.") == ["2.5"]
    assert stated_figures("An IV dose of 0.5 mg/kg.") == ["0.5"]
