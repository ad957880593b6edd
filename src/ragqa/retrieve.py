"""Retrieve: BM25 and dense search over the index, fused into one ranking of chunks or sentences.

Chunks are the unit of the search API and of context; the answer stage retrieves sentences
directly (the same two retrievers and fusion over the sentence index), so a sentence that answers
the question is found even when its chunk as a whole ranks low.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import faiss
import numpy as np

from ragqa.errors import InvalidQueryError
from ragqa.index.bm25 import BM25Scorer
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.index.tokenize import tokenize


class Mode(str, Enum):
    """Which retrievers run: both fused, or one alone (for ablations)."""

    HYBRID = "hybrid"
    BM25 = "bm25"
    DENSE = "dense"

    @classmethod
    def parse(cls, value: str) -> Mode:
        """Parse a mode name, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidQueryError(f"mode must be hybrid, bm25 or dense, got {value!r}") from None


class Fusion(str, Enum):
    """How two rankings become one: reciprocal rank fusion, or weighted normalised scores."""

    RRF = "rrf"
    WEIGHTED = "weighted"

    @classmethod
    def parse(cls, value: str) -> Fusion:
        """Parse a fusion name, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidQueryError(f"fusion must be rrf or weighted, got {value!r}") from None


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some document types and a range of years."""

    doc_type: tuple[str, ...] | None = None
    year_min: int | None = None
    year_max: int | None = None

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return self.doc_type is None and self.year_min is None and self.year_max is None


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with each retriever's rank and score (None where it did not rank it)."""

    chunk_index: int
    chunk_id: str
    doc_id: str
    score: float
    rank: int
    bm25_rank: int | None
    bm25_score: float | None
    dense_rank: int | None
    dense_score: float | None


@dataclass(frozen=True)
class SentenceHit:
    """One retrieved sentence: its fused rank and score and each retriever's rank."""

    sentence_id: int
    doc_id: str
    score: float
    rank: int
    bm25_rank: int | None
    dense_rank: int | None
    dense_score: float | None


@dataclass(frozen=True)
class SentenceResult:
    """The ranked sentences of one query."""

    hits: list[SentenceHit]
    query_tokens: list[str]
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class SearchResult:
    """The ranked hits of one query plus the query's embedding (reused by the answer engine)."""

    hits: list[Hit]
    query_vector: np.ndarray
    query_tokens: list[str]
    timings_ms: dict[str, float]


def rrf_scores(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings that hold an item (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def min_max(scores: dict[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1]; all-equal scores become 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {item: 1.0 for item in scores}
    return {item: (value - low) / (high - low) for item, value in scores.items()}


def weighted_scores(
    bm25: dict[int, float], dense: dict[int, float], dense_weight: float = 0.6
) -> dict[int, float]:
    """Weighted sum of min-max-normalised scores; an item missing from one side scores 0 there."""
    b, d = min_max(bm25), min_max(dense)
    return {
        item: (1 - dense_weight) * b.get(item, 0.0) + dense_weight * d.get(item, 0.0)
        for item in set(b) | set(d)
    }


def _timed(timings: dict[str, float], name: str, fn: Callable, *args):
    import time

    start = time.perf_counter()
    result = fn(*args)
    timings[name] = round((time.perf_counter() - start) * 1000, 3)
    return result


class Retriever:
    """Hybrid retrieval over one loaded index.

    >>> retriever = Retriever(index, embedder)
    >>> result = retriever.search("ketamine dose for suicidal ideation", k=5)
    """

    def __init__(
        self, index: HybridIndex, embedder: Embedder, candidates: int = 50,
        fusion: Fusion = Fusion.RRF, rrf_k: int = 60, dense_weight: float = 0.6,
    ) -> None:
        if candidates < 1:
            raise InvalidQueryError(f"candidates must be > 0, got {candidates}")
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self._doc_types = np.array([index.documents[c.doc_id].doc_type.value for c in index.chunks])
        self._sentence_doc_types = np.array(
            [index.documents[s.doc_id].doc_type.value for s in index.sentences])
        # a document without a year is NaN, which no year filter admits
        self._years = _years([index.documents[c.doc_id].year for c in index.chunks])
        self._sentence_years = _years([index.documents[s.doc_id].year for s in index.sentences])

    def search(
        self, query: str, k: int = 10, mode: Mode = Mode.HYBRID, filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
    ) -> SearchResult:
        """The top-k chunks for `query`, ranked by the chosen mode."""
        timings: dict[str, float] = {}
        if query_vector is None and query and query.strip():
            query_vector = _timed(timings, "embed", self.embedder.embed, [query])[0]
        [result] = self.search_many([query], None if query_vector is None else [query_vector],
                                    k, mode, filters)
        result.timings_ms.update(timings)
        return result

    def search_many(
        self, queries: list[str], vectors: list[np.ndarray] | None, k: int = 10,
        mode: Mode = Mode.HYBRID, filters: Filters | None = None,
    ) -> list[SearchResult]:
        """The top-k chunks for each query; the dense side searches all queries in one call."""
        for query in queries:
            if not query or not query.strip():
                raise InvalidQueryError("query must not be empty")
        if k < 1:
            raise InvalidQueryError(f"k must be > 0, got {k}")
        if vectors is None:
            vectors = list(self.embedder.embed(queries))
        timings: dict[str, float] = {}
        allowed = self._allowed(filters, self._doc_types, self._years)
        n = max(self.candidates, k)
        dense_lists: list[dict[int, float]] = [{} for _ in queries]
        if mode in (Mode.HYBRID, Mode.DENSE):
            dense_lists = _timed(timings, "dense", _dense, self.index.faiss_index,
                                 np.stack(vectors), n, allowed)
        results = []
        for query, vector, dense in zip(queries, vectors, dense_lists):
            tokens = tokenize(query)
            bm25: dict[int, float] = {}
            if mode in (Mode.HYBRID, Mode.BM25):
                bm25 = _timed(timings, "bm25", _bm25, self.index.bm25, tokens, n, allowed)
            hits = self._fuse(bm25, dense, mode, k)
            results.append(SearchResult(hits, vector, tokens, dict(timings)))
        return results

    def search_sentences(
        self, query: str, query_vector: np.ndarray, k: int = 50, mode: Mode = Mode.HYBRID,
        filters: Filters | None = None,
    ) -> SentenceResult:
        """The top-k sentences for `query`: BM25 over sentences and dense over their vectors, fused."""
        if not query or not query.strip():
            raise InvalidQueryError("query must not be empty")
        if k < 1:
            raise InvalidQueryError(f"k must be > 0, got {k}")
        timings: dict[str, float] = {}
        allowed = self._allowed(filters, self._sentence_doc_types, self._sentence_years)
        tokens = tokenize(query)
        bm25: dict[int, float] = {}
        dense: dict[int, float] = {}
        if mode in (Mode.HYBRID, Mode.DENSE):
            [dense] = _timed(timings, "sentence_dense", _dense, self.index.sentence_faiss,
                             query_vector.reshape(1, -1), k, allowed)
        if mode in (Mode.HYBRID, Mode.BM25):
            bm25 = _timed(timings, "sentence_bm25", _bm25, self.index.sentence_bm25, tokens, k,
                          allowed)
        fused = self._fused_scores(bm25, dense, mode)
        bm25_rank = _ranks(bm25)
        dense_rank = _ranks(dense)
        order = sorted(fused, key=lambda item: (-fused[item], item))[:k]
        hits = [SentenceHit(item, self.index.sentences[item].doc_id, float(fused[item]), rank,
                            bm25_rank.get(item), dense_rank.get(item), _maybe(dense.get(item)))
                for rank, item in enumerate(order, start=1)]
        return SentenceResult(hits, tokens, timings)

    def _fused_scores(self, bm25: dict[int, float], dense: dict[int, float],
                      mode: Mode) -> dict[int, float]:
        """One score per item from the two retrievers' rankings, by the mode and fusion chosen."""
        if mode is Mode.BM25:
            return bm25
        if mode is Mode.DENSE:
            return dense
        if self.fusion is Fusion.WEIGHTED:
            return weighted_scores(bm25, dense, self.dense_weight)
        return rrf_scores([list(bm25), list(dense)], self.rrf_k)

    def _fuse(self, bm25: dict[int, float], dense: dict[int, float], mode: Mode,
              k: int) -> list[Hit]:
        """One ranking of chunks from the two retrievers' rankings, by the mode and fusion chosen."""
        bm25_rank = _ranks(bm25)
        dense_rank = _ranks(dense)
        fused = self._fused_scores(bm25, dense, mode)
        order = sorted(fused, key=lambda item: (-fused[item], item))[:k]
        hits = []
        for rank, item in enumerate(order, start=1):
            chunk = self.index.chunks[item]
            hits.append(Hit(
                item, chunk.id, chunk.doc_id, float(fused[item]), rank,
                bm25_rank.get(item), _maybe(bm25.get(item)),
                dense_rank.get(item), _maybe(dense.get(item)),
            ))
        return hits

    def _allowed(self, filters: Filters | None, doc_types: np.ndarray,
                 years: np.ndarray) -> np.ndarray | None:
        """Which rows (chunks or sentences) the filters let through, or None for all."""
        if filters is None or filters.is_empty():
            return None
        mask = np.ones(len(doc_types), dtype=bool)
        if filters.doc_type is not None:
            mask &= np.isin(doc_types, list(filters.doc_type))
        if filters.year_min is not None:
            mask &= years >= filters.year_min
        if filters.year_max is not None:
            mask &= years <= filters.year_max
        return mask


def _years(years: list[int | None]) -> np.ndarray:
    """Years as floats, NaN where a document has none."""
    return np.array([np.nan if y is None else y for y in years], dtype=float)


def _ranks(scores: dict[int, float]) -> dict[int, int]:
    """Rank (from 1) of each item of a best-first score dict."""
    return {item: r for r, item in enumerate(scores, start=1)}


def _bm25(scorer: BM25Scorer, tokens: list[str], n: int,
          allowed: np.ndarray | None) -> dict[int, float]:
    """BM25's top-n rows with a positive score, best first."""
    scores = scorer.scores(tokens)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    n = min(n, len(scores))
    if n == 0:
        return {}
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return {int(i): float(scores[i]) for i in top if scores[i] > 0}


def _dense(faiss_index, vectors: np.ndarray, n: int,
           allowed: np.ndarray | None) -> list[dict[int, float]]:
    """For each query vector, the top-n rows by inner product, best first."""
    total = faiss_index.ntotal
    if total == 0:
        return [{} for _ in vectors]
    queries = np.ascontiguousarray(vectors.reshape(len(vectors), -1), dtype=np.float32)
    params = None
    if allowed is not None:
        ids = np.flatnonzero(allowed).astype(np.int64)
        if len(ids) == 0:
            return [{} for _ in vectors]
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
    scores, ids = faiss_index.search(queries, min(n, total), params=params)
    return [{int(i): float(s) for s, i in zip(row_s, row_i) if i >= 0}
            for row_s, row_i in zip(scores, ids)]


def _maybe(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
