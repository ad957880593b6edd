"""BM25 over chunk tokens, with two backends chosen in the index parameters.

rank-bm25 is the reference implementation but scores every chunk in Python for every query term;
bm25s keeps a sparse matrix of precomputed scores and is the backend for large corpora.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path

import numpy as np

from ragqa.errors import IndexFormatError


class BM25Backend(str, Enum):
    """Which library scores BM25."""

    RANK_BM25 = "rank_bm25"
    BM25S = "bm25s"

    @classmethod
    def parse(cls, value: str) -> BM25Backend:
        """Parse a backend name, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(b.value for b in cls)
            raise IndexFormatError(f"bm25 backend must be one of {allowed}, got {value!r}") from None


class BM25Scorer(ABC):
    """Scores every chunk of the index for a tokenized query."""

    @abstractmethod
    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """One float score per chunk, in chunk order."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the scorer's plain files into `directory`."""

    @abstractmethod
    def vocabulary(self) -> frozenset[str]:
        """Every token that occurs in the indexed chunks."""


class RankBM25Scorer(BM25Scorer):
    """rank-bm25's BM25Okapi, rebuilt at load time from the stored token lists (JSON).

    Scores are rank-bm25's, computed by the same arithmetic, but only over the chunks that hold
    each query term (rank-bm25 looks every chunk up in Python for every term).
    """

    FILE = "bm25_tokens.json"

    def __init__(self, corpus_tokens: list[list[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.corpus_tokens = corpus_tokens
        # rank-bm25 divides by zero on an empty corpus of tokens; a placeholder keeps it defined
        self.model = BM25Okapi([tokens or ["\u2205"] for tokens in corpus_tokens])
        model = self.model
        doc_len = np.array(model.doc_len)
        # the length part of each chunk's denominator, as rank-bm25 computes it
        self._length_norm = model.k1 * (1 - model.b + model.b * doc_len / model.avgdl)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for row, frequencies in enumerate(model.doc_freqs):
            for term, count in frequencies.items():
                rows, counts = postings.setdefault(term, ([], []))
                rows.append(row)
                counts.append(count)
        self._postings = {term: (np.array(rows), np.array(counts))
                          for term, (rows, counts) in postings.items()}

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        model = self.model
        score = np.zeros(model.corpus_size)
        for term in query_tokens:
            if term not in self._postings:
                continue  # rank-bm25 adds 0 for it
            rows, q_freq = self._postings[term]
            score[rows] += (model.idf.get(term) or 0) * (
                q_freq * (model.k1 + 1) / (q_freq + self._length_norm[rows]))
        return score.astype(np.float32)

    def save(self, directory: Path) -> None:
        (directory / self.FILE).write_text(json.dumps(self.corpus_tokens))

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.model.idf)

    @classmethod
    def load(cls, directory: Path) -> RankBM25Scorer:
        return cls(json.loads((directory / cls.FILE).read_text()))


class BM25SScorer(BM25Scorer):
    """bm25s: a sparse matrix of precomputed BM25 scores, saved as .npy without pickle."""

    DIR = "bm25s"

    def __init__(self, model, n_chunks: int) -> None:
        self.model = model
        self.n_chunks = n_chunks

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> BM25SScorer:
        import bm25s

        model = bm25s.BM25()
        model.index([tokens or ["\u2205"] for tokens in corpus_tokens], show_progress=False)
        return cls(model, len(corpus_tokens))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self.model.vocab_dict]
        if not known:
            return np.zeros(self.n_chunks, dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)

    def save(self, directory: Path) -> None:
        self.model.save(str(directory / self.DIR), allow_pickle=False)

    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.model.vocab_dict)

    @classmethod
    def load(cls, directory: Path, n_chunks: int) -> BM25SScorer:
        import bm25s

        model = bm25s.BM25.load(str(directory / cls.DIR), allow_pickle=False)
        return cls(model, n_chunks)


def build_scorer(backend: BM25Backend, corpus_tokens: list[list[str]]) -> BM25Scorer:
    """Build the scorer of the chosen backend."""
    if backend is BM25Backend.BM25S:
        return BM25SScorer.build(corpus_tokens)
    return RankBM25Scorer(corpus_tokens)


def load_scorer(backend: BM25Backend, directory: Path, n_chunks: int) -> BM25Scorer:
    """Load the scorer of the chosen backend from an index directory."""
    if backend is BM25Backend.BM25S:
        return BM25SScorer.load(directory, n_chunks)
    return RankBM25Scorer.load(directory)
