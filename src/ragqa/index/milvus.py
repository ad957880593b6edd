"""The index in Milvus: one collection of chunks and one of sentences per build, behind aliases.

Each row holds what retrieval needs: a key (the chunk id, or `doc_id@start-end` for a sentence),
the document id and section, the dense vector, ragqa's own tokens of the text joined by spaces in
a field with a whitespace analyzer (so `0.5mg/kg` and `caps-5` stay whole), the sparse BM25 vector
(`Lexical`: derived from the tokens by a Milvus BM25 function when the index scores BM25 with
bm25s, whose Lucene IDF Milvus shares; rank-bm25's own Okapi weights, computed at publish, when
the index scores with rank-bm25), and doc_type and year for filters. BM25 search, vector search
and reciprocal rank fusion (`hybrid_search` with `RRFRanker`) then all run inside Milvus.

Publishing a build writes new collections beside the served ones, switches the aliases to them,
and only then drops the old collections. Two ways of switching, chosen by the URI:

- a Milvus server (standalone or cluster, `http://host:19530`): Milvus aliases (`alter_alias`);
  queries name the alias and the server resolves it.
- the embedded engine (milvus-lite 2.5.1, a local file): its server answers every alias call
  with UNIMPLEMENTED, so the alias is a row of a small `<prefix>_aliases` collection naming the
  target; readers cache it for `POINTER_TTL_S` and re-read it when a collection has gone.

    >>> store = MilvusStore.open("indexes/milvus.db", name="default")
    >>> store.publish(index)            # `ragqa index` with RAGQA_BACKEND=milvus
    >>> store.hybrid(Kind.CHUNKS, [["ketamine", "0.5mg/kg"]], vectors, n=50, k=10, rrf_k=60)
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ragqa.errors import IndexFormatError, IndexMissingError
from ragqa.index.bm25 import BM25Scorer, RankBM25Scorer
from ragqa.index.store import FaissKind, HybridIndex
from ragqa.index.tokenize import tokenize

log = logging.getLogger(__name__)

# BM25 parameters of rank-bm25 and bm25s (k1 1.5, b 0.75), so Milvus ranks alike
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
# Milvus's BM25 scores are bm25s's (Lucene's) times k1 + 1: divided out, the two report alike
ENGINE_BM25_SCALE = 1.0 / (BM25_PARAMS["bm25_k1"] + 1.0)
SPARSE_DIMS = 2**32 - 1  # a Milvus sparse vector's dimensions are 0 .. 2^32 - 2
TEXT_BYTES = 65_535  # Milvus's VARCHAR limit
INSERT_BATCH = 2_000
POINTER_TTL_S = 1.0
POINTER_RETRIES = 10
# seconds between switching the aliases and dropping the old collections: queries that resolved
# the old name just before the switch finish first (and one that does not is retried)
DROP_GRACE_S = 2.0 * POINTER_TTL_S
NO_YEAR = 0  # a document without a year; year filters also require year > 0


class Kind(str, Enum):
    """What a collection holds."""

    CHUNKS = "chunks"
    SENTENCES = "sentences"


class Lexical(str, Enum):
    """How a collection's sparse (BM25) side is scored: as the index's own BM25 backend scores.

    ENGINE: a Milvus BM25 function over the tokens field. Its IDF is Lucene's, as bm25s's, so it
    ranks exactly as bm25s does (its scores are bm25s's times k1 + 1).
    WEIGHTS: rank-bm25's Okapi weights (its IDF, floored at a fraction of the mean for terms in
    more than half the rows), computed by ragqa at publish and stored as the sparse vector; a
    query is its term counts, and the inner product is rank-bm25's score.
    """

    ENGINE = "engine"
    WEIGHTS = "weights"

    @classmethod
    def of(cls, scorer: BM25Scorer) -> Lexical:
        """The scoring that reproduces `scorer`'s ranking."""
        return cls.WEIGHTS if isinstance(scorer, RankBM25Scorer) else cls.ENGINE


_METRIC = {Lexical.ENGINE: "BM25", Lexical.WEIGHTS: "IP"}  # the sparse index's metric


class AliasMode(str, Enum):
    """How the served collections are named: Milvus aliases, or a pointer row (embedded engine)."""

    SERVER = "server"
    POINTER = "pointer"


def is_embedded(uri: str) -> bool:
    """True when the URI names a local file, which pymilvus serves with the embedded milvus-lite."""
    return "://" not in uri


def sentence_key(doc_id: str, start: int, end: int) -> str:
    """The key of a sentence row: its document and span."""
    return f"{doc_id}@{start}-{end}"


def query_text(tokens: Sequence[str]) -> str:
    """What the whitespace analyzer reads: ragqa's tokens joined by single spaces."""
    return " ".join(tokens)


def term_dim(token: str) -> int:
    """The sparse-vector dimension of a token (a 32-bit hash: the same on every build, so a
    query needs no vocabulary; two tokens sharing one are counted at publish)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(),
                          "little") % SPARSE_DIMS


def query_weights(tokens: Sequence[str]) -> dict[int, float]:
    """A query as rank-bm25 reads it: each token counted as often as it occurs."""
    return {term_dim(t): float(n) for t, n in Counter(tokens).items()}


def okapi_weights(term_freqs: Sequence[dict[str, int]], doc_len: Sequence[int], avgdl: float,
                  idf: dict[str, float], k1: float, b: float) -> list[dict[int, float]]:
    """rank-bm25's BM25Okapi score of each (row, term): idf * tf (k1 + 1) / (tf + k1 (1 - b +
    b dl / avgdl)), so a query's score is the sum over its tokens, as BM25Okapi.get_scores."""
    rows = []
    for freqs, length in zip(term_freqs, doc_len):
        norm = k1 * (1 - b + b * length / avgdl)
        row: dict[int, float] = {}
        for term, tf in freqs.items():
            dim = term_dim(term)
            row[dim] = row.get(dim, 0.0) + idf[term] * tf * (k1 + 1) / (tf + norm)
        rows.append(row)
    return rows


def version_tag(version: str) -> str:
    """An index version as collection names hold it (a content hash as it is; a synthetic
    corpus's `synthetic-100000-13` with underscores: names allow only letters, digits and _)."""
    return _name_part(version)


def _name_part(name: str) -> str:
    """A collection-name-safe form of an index name (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "default"


_clients: dict[tuple[str, str | None], Any] = {}
_clients_lock = threading.Lock()


def connect(uri: str, token: str | None = None):
    """One MilvusClient per URI and token in this process (pymilvus clients are thread-safe).

    A local path starts the embedded engine on that file; its parent directory is created.
    """
    try:
        from pymilvus import MilvusClient, MilvusException
    except ImportError:
        raise IndexMissingError("the Milvus backend needs pymilvus and milvus-lite: "
                                "pip install 'ragqa[milvus]'") from None
    if is_embedded(uri):
        path = Path(uri).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
    with _clients_lock:
        client = _clients.get((uri, token))
        if client is None:
            try:
                client = MilvusClient(uri=uri, token=token or "")
            except MilvusException as exc:
                raise IndexMissingError(f"cannot connect to Milvus at {uri}: {exc}") from None
            _clients[(uri, token)] = client
        return client


def disconnect(uri: str, token: str | None = None) -> None:
    """Close this process's client of `uri`, and stop the embedded engine serving a local file
    (before the file is removed: a benchmark's temporary engine, say)."""
    key = str(Path(uri).expanduser().resolve()) if is_embedded(uri) else uri
    with _clients_lock:
        client = _clients.pop((key, token), None)
    if client is not None:
        client.close()
    if is_embedded(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(key)


@dataclass(frozen=True)
class PublishReport:
    """What `MilvusStore.publish` did."""

    collections: dict[str, str]
    previous: dict[str, str]
    dropped: tuple[str, ...]
    rows: dict[str, int]
    seconds: float
    switch_ms: float


T = TypeVar("T")


class MilvusStore:
    """The Milvus collections of one named index (`default`, `pubmedqa`, ...)."""

    def __init__(self, client, name: str, mode: AliasMode, prefix: str = "ragqa",
                 drop_grace_s: float = DROP_GRACE_S) -> None:
        self.client = client
        self.name = name
        self.mode = mode
        self.base = f"{_name_part(prefix)}_{_name_part(name)}"
        self.drop_grace_s = drop_grace_s
        self._pointer_table = f"{_name_part(prefix)}_aliases"
        self._cache: dict[str, tuple[float, str]] = {}
        self._lexical: dict[str, Lexical] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, uri: str, name: str, token: str | None = None,
             prefix: str = "ragqa") -> MilvusStore:
        """The store of index `name` at `uri` (a local file for the embedded engine, or a server)."""
        mode = AliasMode.POINTER if is_embedded(uri) else AliasMode.SERVER
        return cls(connect(uri, token), name, mode, prefix)

    def alias(self, kind: Kind) -> str:
        """The stable name queries use for this index's collection of `kind`."""
        return f"{self.base}_{kind.value}"

    # -- resolving aliases -------------------------------------------------------------------

    def served(self) -> dict[str, str]:
        """The collection each alias points to now ({} when nothing is published)."""
        out = {}
        for kind in Kind:
            target = self._read_alias(self.alias(kind))
            if target:
                out[kind.value] = target
        return out

    def served_version(self) -> str | None:
        """The index version of the served chunk collection as its name holds it (`version_tag`),
        or None."""
        target = self.served().get(Kind.CHUNKS.value)
        if not target:
            return None
        return self._version_of(target)

    def _version_of(self, collection: str) -> str | None:
        match = re.fullmatch(rf"{re.escape(self.base)}_(?:chunks|sentences)_(\w+)_\d+", collection)
        return match.group(1) if match else None

    def _read_alias(self, alias: str) -> str | None:
        if self.mode is AliasMode.SERVER:
            from pymilvus import MilvusException

            try:
                return self.client.describe_alias(alias).get("collection_name")
            except MilvusException:  # the alias does not exist
                return None
        if not self.client.has_collection(self._pointer_table):
            return None
        rows = self.client.query(self._pointer_table, ids=[alias], output_fields=["target"])
        return rows[0]["target"] if rows else None

    def _resolve(self, kind: Kind, fresh: bool = False) -> str:
        """The collection name to query: the alias itself on a server, the pointer's target here."""
        alias = self.alias(kind)
        if self.mode is AliasMode.SERVER:
            return alias
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(alias)
            if cached and not fresh and now - cached[0] < POINTER_TTL_S:
                return cached[1]
        target = self._read_alias(alias)
        for _ in range(POINTER_RETRIES):
            if target is not None:
                break
            # the pointer's upsert deletes the row, then inserts it: a read may fall between
            time.sleep(0.05)
            target = self._read_alias(alias)
        if target is None:
            raise IndexMissingError(f"no Milvus collections for index {self.name!r} "
                                    f"(run `ragqa index` with RAGQA_BACKEND=milvus)")
        with self._lock:
            self._cache[alias] = (now, target)
        return target

    def _with_collection(self, kind: Kind, call: Callable[[str], T]) -> T:
        """Run `call` on the served collection; once more on a fresh resolution if it has gone
        (dropped by a re-index between resolving and searching)."""
        from pymilvus import MilvusException

        try:
            return call(self._resolve(kind))
        except MilvusException as exc:
            log.info("Milvus %s search failed (%s): resolving the alias again", kind.value, exc)
            return call(self._resolve(kind, fresh=True))

    # -- searching ----------------------------------------------------------------------------

    def lexical(self, kind: Kind, tokens: Sequence[Sequence[str]], n: int,
                expr: str | None = None) -> list[list[tuple[str, float]]]:
        """BM25's top-n (key, score) per query's tokens, best first (scores as the index's own
        BM25 backend gives them)."""
        if not any(tokens):
            return [[] for _ in tokens]

        def search(name: str) -> list[list[tuple[str, float]]]:
            lexical = self.lexical_of(name)
            found = _pairs(self.client.search(
                name, data=[self._sparse_query(lexical, t) for t in tokens], anns_field="sparse",
                limit=n, filter=expr or "", search_params={"metric_type": _METRIC[lexical]},
                output_fields=[]))
            scale = ENGINE_BM25_SCALE if lexical is Lexical.ENGINE else 1.0
            return [[(key, score * scale) for key, score in pairs] if t else []
                    for t, pairs in zip(tokens, found)]

        return self._with_collection(kind, search)

    def dense(self, kind: Kind, vectors: np.ndarray, n: int,
              expr: str | None = None) -> list[list[tuple[str, float]]]:
        """The top-n (key, inner product) per query vector, best first."""
        data = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        return self._with_collection(kind, lambda name: _pairs(self.client.search(
            name, data=data, anns_field="dense", limit=n, filter=expr or "",
            search_params={"metric_type": "IP"}, output_fields=[])))

    def hybrid(self, kind: Kind, tokens: Sequence[Sequence[str]], vectors: np.ndarray, n: int,
               k: int, rrf_k: int = 60, expr: str | None = None
               ) -> list[list[tuple[str, float]]]:
        """BM25 and dense top-n fused by Milvus's RRFRanker(rrf_k): the top-k (key, score)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        def search(name: str, query: Sequence[str], vector: np.ndarray
                   ) -> list[list[tuple[str, float]]]:
            requests = [AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()],
                                         anns_field="dense", param={"metric_type": "IP"},
                                         limit=n, expr=expr or "")]
            if query:  # a query without BM25 tokens fuses its dense ranking alone, as ragqa does
                lexical = self.lexical_of(name)
                requests.insert(0, AnnSearchRequest(
                    data=[self._sparse_query(lexical, query)], anns_field="sparse",
                    param={"metric_type": _METRIC[lexical]}, limit=n, expr=expr or ""))
            return _pairs(self.client.hybrid_search(name, reqs=requests,
                                                    ranker=RRFRanker(rrf_k), limit=k,
                                                    output_fields=[]))

        # one request per query: milvus-lite 2.5.1 mis-ranks a batched (nq > 1) hybrid_search,
        # fusing the ranks of all queries together
        results = []
        for query, vector in zip(tokens, vectors):
            [pairs] = self._with_collection(
                kind, lambda name, q=query, v=vector: search(name, q, v))
            results.append(pairs)
        return results

    def lexical_of(self, collection: str) -> Lexical:
        """How a collection's sparse side is scored: derived by its BM25 function, else stored
        weights (read once per collection: a published collection never changes)."""
        with self._lock:
            known = self._lexical.get(collection)
        if known is None:
            info = self.client.describe_collection(collection)
            derived = any(f.get("is_function_output") for f in info.get("fields", ())
                          if f.get("name") == "sparse")
            known = Lexical.ENGINE if derived or info.get("functions") else Lexical.WEIGHTS
            with self._lock:
                self._lexical[collection] = known
        return known

    @staticmethod
    def _sparse_query(lexical: Lexical, tokens: Sequence[str]) -> str | dict[int, float]:
        """The query of the sparse side: text for the BM25 function, term counts for weights (a
        query without tokens gets a placeholder, and its hits are discarded)."""
        tokens = tokens or ["\u2205"]
        if lexical is Lexical.ENGINE:
            return query_text(tokens)
        return query_weights(tokens)

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, index: HybridIndex, progress: Callable[[str], None] | None = None,
                on_switch: Callable[[], None] | None = None) -> PublishReport:
        """Write `index` into new collections, switch the aliases to them, drop the old ones.

        `on_switch` runs right after the switch, before the old collections are dropped (a
        server swaps in its engine for the new build there)."""
        started = time.perf_counter()
        say = progress or (lambda message: log.info("%s", message))
        stamp = time.time_ns()
        version = index.version
        previous = self.served()
        dim = int(index.manifest["model"]["dim"])
        flat = FaissKind(index.manifest["params"]["faiss"]) is FaissKind.FLAT
        created: dict[str, str] = {}
        rows: dict[str, int] = {}
        try:
            for kind, records, scorer in ((Kind.CHUNKS, _chunk_rows(index), index.bm25),
                                          (Kind.SENTENCES, _sentence_rows(index),
                                           index.sentence_bm25)):
                name = f"{self.alias(kind)}_{version_tag(version)}_{stamp}"
                lexical = Lexical.of(scorer)
                say(f"milvus: writing {len(records[0]):,} {kind.value} into {name} "
                    f"(BM25: {lexical.value})")
                if lexical is Lexical.WEIGHTS:
                    _add_weights(records[0], scorer, name)
                self._create(name, dim, flat, lexical)
                created[kind.value] = name
                with self._lock:
                    self._lexical[name] = lexical
                rows[kind.value] = self._insert(name, records)
                self.client.load_collection(name)
        except BaseException:
            for name in created.values():  # a failed build never replaces the served one
                self.client.drop_collection(name)
            raise
        t0 = time.perf_counter()
        self._switch(created)
        switch_ms = (time.perf_counter() - t0) * 1000
        if on_switch is not None:
            on_switch()
        say(f"milvus: aliases of {self.base} now point to version {version}")
        keep = set(created.values())
        old = [c for c in self.client.list_collections()
               if c.startswith(f"{self.base}_") and c not in keep and self._version_of(c)]
        if old:
            time.sleep(self.drop_grace_s)
            for name in old:
                self.client.drop_collection(name)
        return PublishReport(created, previous, tuple(sorted(old)), rows,
                             round(time.perf_counter() - started, 3), round(switch_ms, 3))

    def _create(self, name: str, dim: int, flat: bool, lexical: Lexical) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=1024)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("section", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("tokens", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "whitespace"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("doc_type", DataType.VARCHAR, max_length=64)
        schema.add_field("year", DataType.INT64)
        if lexical is Lexical.ENGINE:
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=["tokens"],
                                         output_field_names=["sparse"]))
        params = self.client.prepare_index_params()
        if flat or self.mode is AliasMode.POINTER:  # the embedded engine builds FLAT indexes only
            params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        else:
            params.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                             params={"M": 32, "efConstruction": 80})
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                         metric_type=_METRIC[lexical],
                         params=BM25_PARAMS if lexical is Lexical.ENGINE else {})
        self.client.create_collection(name, schema=schema, index_params=params)

    def _insert(self, name: str, records: tuple[list[dict[str, Any]], np.ndarray]) -> int:
        rows, vectors = records
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start:start + INSERT_BATCH]
            for row, vector in zip(batch, vectors[start:start + INSERT_BATCH]):
                row["dense"] = vector
            self.client.insert(name, batch)
            for row in batch:
                del row["dense"]
        self.client.flush(name)
        return len(rows)

    def _switch(self, targets: dict[str, str]) -> None:
        """Point every alias at its new collection."""
        if self.mode is AliasMode.SERVER:
            for kind, target in targets.items():
                alias = self.alias(Kind(kind))
                if self._read_alias(alias) is None:
                    self.client.create_alias(target, alias)
                else:
                    self.client.alter_alias(target, alias)
            return
        self._ensure_pointer_table()
        self.client.upsert(self._pointer_table, [
            {"alias": self.alias(Kind(kind)), "target": target, "v": [0.0, 0.0]}
            for kind, target in targets.items()])
        self.client.flush(self._pointer_table)
        with self._lock:
            now = time.monotonic()
            for kind, target in targets.items():
                self._cache[self.alias(Kind(kind))] = (now, target)

    def _ensure_pointer_table(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self._pointer_table):
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("alias", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("target", DataType.VARCHAR, max_length=512)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one vector field
        params = self.client.prepare_index_params()
        params.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self._pointer_table, schema=schema, index_params=params)

    def drop_all(self) -> list[str]:
        """Drop this index's collections and aliases (tests, and `ragqa index --force` recovery)."""
        dropped = []
        for kind in Kind:
            alias = self.alias(kind)
            if self.mode is AliasMode.SERVER and self._read_alias(alias):
                self.client.drop_alias(alias)
            elif self.mode is AliasMode.POINTER and self.client.has_collection(self._pointer_table):
                self.client.delete(self._pointer_table, ids=[alias])
        for name in self.client.list_collections():
            if name.startswith(f"{self.base}_") and self._version_of(name):
                self.client.drop_collection(name)
                dropped.append(name)
        with self._lock:
            self._cache.clear()
        return dropped


def _pairs(result) -> list[list[tuple[str, float]]]:
    """pymilvus hits -> (key, score) lists, best first."""
    return [[(str(hit["id"]), float(hit["distance"])) for hit in hits] for hits in result]


def _clip(text: str) -> str:
    data = text.encode()
    if len(data) <= TEXT_BYTES:
        return text
    return data[:TEXT_BYTES].decode(errors="ignore").rsplit(" ", 1)[0]


def _add_weights(rows: list[dict[str, Any]], scorer: BM25Scorer, name: str) -> None:
    """Give each row rank-bm25's Okapi weights of its terms (the rows in the scorer's order)."""
    if not isinstance(scorer, RankBM25Scorer):
        raise TypeError(f"{name}: stored BM25 weights are rank-bm25's, not {type(scorer).__name__}")
    model = scorer.model  # rank_bm25.BM25Okapi
    weights = okapi_weights(model.doc_freqs, model.doc_len, model.avgdl, model.idf,
                            model.k1, model.b)
    if len(weights) != len(rows):
        raise IndexFormatError(f"{name}: {len(rows)} rows but BM25 scores {len(weights)}")
    shared = len(model.idf) - len({term_dim(t) for t in model.idf})
    if shared:
        log.warning("%s: %d of %d BM25 terms share a sparse dimension with another term",
                    name, shared, len(model.idf))
    for row, weight in zip(rows, weights):
        row["sparse"] = weight


def _doc_fields(index: HybridIndex, doc_id: str) -> dict[str, Any]:
    doc = index.documents[doc_id]
    return {"doc_id": doc_id, "doc_type": doc.doc_type.value,
            "year": NO_YEAR if doc.year is None else int(doc.year)}


def _chunk_rows(index: HybridIndex) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One row per chunk, tokenised as the in-process BM25 tokenises it (title included)."""
    rows = []
    for chunk in index.chunks:
        text = chunk.embed_text(index.documents[chunk.doc_id].title)
        rows.append({"key": chunk.id, "section": _clip(" > ".join(chunk.section)),
                     "tokens": _clip(query_text(tokenize(text))),
                     **_doc_fields(index, chunk.doc_id)})
    return rows, index.chunk_vectors


def _sentence_rows(index: HybridIndex) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One row per sentence."""
    rows = []
    for s in index.sentences:
        rows.append({"key": sentence_key(s.doc_id, s.char_start, s.char_end),
                     "section": _clip(" > ".join(s.section)),
                     "tokens": _clip(query_text(tokenize(s.text))),
                     **_doc_fields(index, s.doc_id)})
    return rows, index.sentence_vectors


def serves(store: MilvusStore, index: HybridIndex) -> bool:
    """True when the store's aliases point to collections of `index`'s version."""
    return (store.served_version() == version_tag(index.version)
            and len(store.served()) == len(Kind))


def ensure_published(store: MilvusStore, index: HybridIndex,
                     progress: Callable[[str], None] | None = None) -> PublishReport | None:
    """Publish `index` unless the store already serves its version; the report, or None."""
    if serves(store, index):
        return None
    return store.publish(index, progress)
