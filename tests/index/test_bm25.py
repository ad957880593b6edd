"""The rank-bm25 backend: rank-bm25's own scores, computed over each term's postings."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.index.bm25 import RankBM25Scorer
from ragqa.index.tokenize import tokenize

CHUNKS = [
    "Ketamine 0.5 mg/kg IV over 40 minutes for treatment-resistant depression.",
    "Esketamine nasal spray 56 or 84 mg twice weekly; monitor blood pressure.",
    "Ketamine ketamine ketamine: a very repetitive chunk about ketamine.",
    "Lithium reduces suicide in mood disorders.",
    "",
    "Psilocybin microdosing was compared with placebo; ketamine was not studied.",
]


@pytest.mark.parametrize("query", [
    "ketamine dose for depression", "ketamine ketamine", "lithium suicide", "unknownword",
    "0.5 mg/kg ketamine IV", "",
])
def test_scores_equal_rank_bm25s_own_bit_for_bit(query):
    scorer = RankBM25Scorer([tokenize(c) for c in CHUNKS])
    tokens = tokenize(query) + ["\u2205"]  # the empty chunk's placeholder is a term too
    expected = np.asarray(scorer.model.get_scores(tokens), dtype=np.float32)
    assert scorer.scores(tokens).tobytes() == expected.tobytes()
    assert scorer.scores([]).tolist() == [0.0] * len(CHUNKS)
