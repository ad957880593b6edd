"""Retrieve: BM25 and dense search over the index, fused into one ranking of chunks or sentences.

Chunks are the unit of the search API and of context; the answer stage retrieves sentences
directly (the same two retrievers and fusion over the sentence index), so a sentence that answers
the question is found even when its chunk as a whole ranks low.

Where the two retrievers run is a backend (`Backend`, set by RAGQA_BACKEND): in this process
(BM25 and FAISS in memory, the default) or in Milvus (ragqa.index.milvus: BM25, vector search and
RRF inside the engine). The Retriever fuses and shapes the results the same way for both.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import faiss
import numpy as np

from ragqa.errors import InvalidQueryError
from ragqa.index.bm25 import BM25Scorer
from ragqa.index.embed import Embedder
from ragqa.index.milvus import Kind
from ragqa.index.store import HybridIndex
from ragqa.index.tokenize import tokenize

if TYPE_CHECKING:
    from ragqa.config import Settings
    from ragqa.index.milvus import MilvusStore

log = logging.getLogger(__name__)


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


class Backend(str, Enum):
    """Where BM25 and dense search run: in this process, or in Milvus."""

    INPROCESS = "inprocess"
    MILVUS = "milvus"

    @classmethod
    def parse(cls, value: str) -> Backend:
        """Parse a backend name, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidQueryError(f"backend must be inprocess or milvus, got {value!r}") from None


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


@dataclass(frozen=True)
class Candidates:
    """One query's candidates from a backend: each retriever's rows with scores, best first, and
    the engine's own fused ranking when the backend fused them (None: the Retriever fuses)."""

    bm25: dict[int, float]
    dense: dict[int, float]
    fused: dict[int, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class SearchBackend(ABC):
    """Runs BM25 and dense search over the chunks or the sentences of one loaded index."""

    backend: Backend

    @abstractmethod
    def search(self, kind: Kind, tokens: list[list[str]], vectors: np.ndarray, n: int, k: int,
               mode: Mode, filters: Filters | None, rrf_k: int | None) -> list[Candidates]:
        """Per query (tokens and vector), each retriever's top-n rows of `kind` (chunk or
        sentence positions in the index); given `rrf_k`, a backend that fuses in its engine
        returns that fusion's top k instead."""


class InProcessBackend(SearchBackend):
    """BM25 (rank-bm25 or bm25s) and FAISS over the arrays of the loaded index."""

    backend = Backend.INPROCESS

    def __init__(self, index: HybridIndex) -> None:
        self.index = index
        self._doc_types = {
            Kind.CHUNKS: np.array([index.documents[c.doc_id].doc_type.value for c in index.chunks]),
            Kind.SENTENCES: np.array(
                [index.documents[s.doc_id].doc_type.value for s in index.sentences]),
        }
        # a document without a year is NaN, which no year filter admits
        self._years = {
            Kind.CHUNKS: _years([index.documents[c.doc_id].year for c in index.chunks]),
            Kind.SENTENCES: _years([index.documents[s.doc_id].year for s in index.sentences]),
        }

    def search(self, kind: Kind, tokens: list[list[str]], vectors: np.ndarray, n: int, k: int,
               mode: Mode, filters: Filters | None, rrf_k: int | None) -> list[Candidates]:
        chunks = kind is Kind.CHUNKS
        prefix = "" if chunks else "sentence_"
        faiss_index = self.index.faiss_index if chunks else self.index.sentence_faiss
        scorer = self.index.bm25 if chunks else self.index.sentence_bm25
        allowed = _allowed(filters, self._doc_types[kind], self._years[kind])
        timings: dict[str, float] = {}
        dense_lists: list[dict[int, float]] = [{} for _ in tokens]
        if mode in (Mode.HYBRID, Mode.DENSE):
            dense_lists = _timed(timings, f"{prefix}dense", _dense, faiss_index, vectors, n,
                                 allowed)
        out = []
        for query_tokens, dense in zip(tokens, dense_lists):
            bm25: dict[int, float] = {}
            if mode in (Mode.HYBRID, Mode.BM25):
                bm25 = _timed(timings, f"{prefix}bm25", _bm25, scorer, query_tokens, n, allowed)
            out.append(Candidates(bm25, dense, None, dict(timings)))
        return out


class MilvusBackend(SearchBackend):
    """BM25, dense search and RRF inside Milvus, over the collections `ragqa index` published.

    Rows come back as keys (chunk ids, sentence spans) and are mapped to this index's positions,
    so a process serving an older build while the aliases already point to a newer one still
    gets only rows it knows (the others are dropped).
    """

    backend = Backend.MILVUS

    def __init__(self, index: HybridIndex, store: MilvusStore, warn_stale: bool = True) -> None:
        """`warn_stale=False` for a backend made before its build is published (a reindex)."""
        from ragqa.index.milvus import sentence_key, version_tag

        self.index = index
        self.store = store
        self._rows = {
            Kind.CHUNKS: {c.id: i for i, c in reversed(list(enumerate(index.chunks)))},
            Kind.SENTENCES: {sentence_key(s.doc_id, s.char_start, s.char_end): i
                             for i, s in enumerate(index.sentences)},
        }
        served = store.served_version() if warn_stale else version_tag(index.version)
        if served != version_tag(index.version):
            log.warning("Milvus serves index version %s for %r, this process loaded %s: hits "
                        "outside the loaded index are dropped", served, store.name, index.version)

    def search(self, kind: Kind, tokens: list[list[str]], vectors: np.ndarray, n: int, k: int,
               mode: Mode, filters: Filters | None, rrf_k: int | None) -> list[Candidates]:
        if filters is not None and filters.doc_type == ():
            return [Candidates({}, {}) for _ in tokens]  # no type admitted (`in []` upsets Milvus)
        prefix = "" if kind is Kind.CHUNKS else "sentence_"
        expr = filter_expression(filters)
        timings: dict[str, float] = {}
        if mode is Mode.HYBRID and rrf_k is not None:
            fused = _timed(timings, f"{prefix}hybrid", self.store.hybrid, kind, tokens, vectors,
                           n, k, rrf_k, expr)
            return [Candidates({}, {}, self._positions(kind, pairs), dict(timings))
                    for pairs in fused]
        dense: list[list[tuple[str, float]]] = [[] for _ in tokens]
        bm25: list[list[tuple[str, float]]] = [[] for _ in tokens]
        if mode in (Mode.HYBRID, Mode.DENSE):
            dense = _timed(timings, f"{prefix}dense", self.store.dense, kind, vectors, n, expr)
        if mode in (Mode.HYBRID, Mode.BM25):
            bm25 = _timed(timings, f"{prefix}bm25", self.store.lexical, kind, tokens, n, expr)
        return [Candidates(self._positions(kind, b), self._positions(kind, d), None, dict(timings))
                for b, d in zip(bm25, dense)]

    def _positions(self, kind: Kind, pairs: list[tuple[str, float]]) -> dict[int, float]:
        """(key, score) pairs -> {row position: score}, best first, unknown keys dropped."""
        rows = self._rows[kind]
        out: dict[int, float] = {}
        for key, score in pairs:
            row = rows.get(key)
            if row is not None and row not in out:
                out[row] = score
        return out


def filter_expression(filters: Filters | None) -> str | None:
    """Filters as a Milvus boolean expression (None when nothing is filtered); a year bound also
    excludes documents without a year, as the in-process NaN years do."""
    from ragqa.index.milvus import NO_YEAR

    if filters is None or filters.is_empty():
        return None
    parts = []
    if filters.doc_type is not None:
        parts.append(f"doc_type in {json.dumps([str(t) for t in filters.doc_type])}")
    if filters.year_min is not None or filters.year_max is not None:
        parts.append(f"year > {NO_YEAR}")
    if filters.year_min is not None:
        parts.append(f"year >= {int(filters.year_min)}")
    if filters.year_max is not None:
        parts.append(f"year <= {int(filters.year_max)}")
    return " and ".join(parts)


def index_name(index: HybridIndex) -> str:
    """The name an index's Milvus collections go by: its directory's name (`default`, ...)."""
    return index.directory.name if index.directory is not None else "default"


def milvus_store(settings: Settings, name: str) -> MilvusStore:
    """The Milvus store of index `name` at the settings' URI."""
    from ragqa.index.milvus import MilvusStore

    return MilvusStore.open(settings.milvus_uri, name, settings.milvus_token)


def open_backend(index: HybridIndex, backend: Backend | None = None,
                 settings: Settings | None = None, store: MilvusStore | None = None
                 ) -> SearchBackend:
    """The search backend for `index`: `backend`, else the settings' (RAGQA_BACKEND)."""
    if backend is None or (backend is Backend.MILVUS and store is None):
        if settings is None:
            from ragqa.config import get_settings

            settings = get_settings()
        backend = backend or Backend.parse(settings.backend)
    if backend is Backend.INPROCESS:
        return InProcessBackend(index)
    if store is None:
        assert settings is not None
        store = milvus_store(settings, index_name(index))
    return MilvusBackend(index, store)


class Retriever:
    """Hybrid retrieval over one loaded index, on the backend the settings choose (or `backend`).

    >>> retriever = Retriever(index, embedder)
    >>> result = retriever.search("ketamine dose for suicidal ideation", k=5)
    """

    def __init__(
        self, index: HybridIndex, embedder: Embedder, candidates: int = 50,
        fusion: Fusion = Fusion.RRF, rrf_k: int = 60, dense_weight: float = 0.6,
        backend: SearchBackend | None = None,
    ) -> None:
        if candidates < 1:
            raise InvalidQueryError(f"candidates must be > 0, got {candidates}")
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        # the answer engine builds its Retriever without one: the settings decide
        self.backend = backend if backend is not None else open_backend(index)

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
        tokens = [tokenize(query) for query in queries]
        found = self.backend.search(Kind.CHUNKS, tokens, np.stack(vectors),
                                    max(self.candidates, k), k, mode, filters, self._engine_rrf())
        return [SearchResult(self._fuse(candidates, mode, k), vector, query_tokens,
                             candidates.timings_ms)
                for vector, query_tokens, candidates in zip(vectors, tokens, found)]

    def search_sentences(
        self, query: str, query_vector: np.ndarray, k: int = 50, mode: Mode = Mode.HYBRID,
        filters: Filters | None = None,
    ) -> SentenceResult:
        """The top-k sentences for `query`: BM25 over sentences and dense over their vectors, fused."""
        if not query or not query.strip():
            raise InvalidQueryError("query must not be empty")
        if k < 1:
            raise InvalidQueryError(f"k must be > 0, got {k}")
        tokens = tokenize(query)
        [found] = self.backend.search(Kind.SENTENCES, [tokens], query_vector.reshape(1, -1), k, k,
                                      mode, filters, self._engine_rrf())
        fused = self._fused_scores(found, mode)
        bm25_rank = _ranks(found.bm25)
        dense_rank = _ranks(found.dense)
        order = sorted(fused, key=lambda item: (-fused[item], item))[:k]
        hits = [SentenceHit(item, self.index.sentences[item].doc_id, float(fused[item]), rank,
                            bm25_rank.get(item), dense_rank.get(item),
                            _maybe(found.dense.get(item)))
                for rank, item in enumerate(order, start=1)]
        return SentenceResult(hits, tokens, dict(found.timings_ms))

    def _engine_rrf(self) -> int | None:
        """The RRF constant a backend may fuse with in its engine (None: weighted fusion here)."""
        return self.rrf_k if self.fusion is Fusion.RRF else None

    def _fused_scores(self, found: Candidates, mode: Mode) -> dict[int, float]:
        """One score per item from the two retrievers' rankings, by the mode and fusion chosen."""
        if found.fused is not None:
            return found.fused
        if mode is Mode.BM25:
            return found.bm25
        if mode is Mode.DENSE:
            return found.dense
        if self.fusion is Fusion.WEIGHTED:
            return weighted_scores(found.bm25, found.dense, self.dense_weight)
        return rrf_scores([list(found.bm25), list(found.dense)], self.rrf_k)

    def _fuse(self, found: Candidates, mode: Mode, k: int) -> list[Hit]:
        """One ranking of chunks from the two retrievers' rankings, by the mode and fusion chosen."""
        bm25, dense = found.bm25, found.dense
        bm25_rank = _ranks(bm25)
        dense_rank = _ranks(dense)
        fused = self._fused_scores(found, mode)
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


def _allowed(filters: Filters | None, doc_types: np.ndarray,
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
    return {i: s for i, s in zip(top.tolist(), scores[top].tolist()) if s > 0}


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
    return [{i: s for s, i in zip(row_s, row_i) if i >= 0}
            for row_s, row_i in zip(scores.tolist(), ids.tolist())]


def _maybe(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
