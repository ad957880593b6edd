"""The index in Milvus: one collection of chunks and one of sentences per build, behind aliases.

Each row holds what retrieval needs: a key (the chunk id, or `doc_id@start-end` for a sentence),
the document id and section, the dense vector, ragqa's own tokens of the text joined by spaces in
a field with a whitespace analyzer (so `0.5mg/kg` and `caps-5` stay whole) from which a Milvus
BM25 function derives a sparse vector, and doc_type and year for filters. BM25 search, vector
search and reciprocal rank fusion (`hybrid_search` with `RRFRanker`) then all run inside Milvus.

Publishing a build writes new collections beside the served ones, switches the aliases to them,
and only then drops the old collections. Two ways of switching, chosen by the URI:

- a Milvus server (standalone or cluster, `http://host:19530`): Milvus aliases (`alter_alias`);
  queries name the alias and the server resolves it.
- the embedded engine (milvus-lite 2.5.1, a local file): its server answers every alias call
  with UNIMPLEMENTED, so the alias is a row of a small `<prefix>_aliases` collection naming the
  target; readers cache it for `POINTER_TTL_S` and re-read it when a collection has gone.

    >>> store = MilvusStore.open("indexes/milvus.db", name="default")
    >>> store.publish(index)            # `ragqa index` with RAGQA_BACKEND=milvus
    >>> store.hybrid(Kind.CHUNKS, ["ketamine 0.5mg/kg"], vectors, n=50, k=10, rrf_k=60)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ragqa.errors import IndexMissingError
from ragqa.index.store import FaissKind, HybridIndex
from ragqa.index.tokenize import tokenize

log = logging.getLogger(__name__)

# BM25 parameters of rank-bm25 and bm25s (k1 1.5, b 0.75), so Milvus ranks alike
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
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
        """The index version of the served chunk collection, or None."""
        target = self.served().get(Kind.CHUNKS.value)
        if not target:
            return None
        return self._version_of(target)

    def _version_of(self, collection: str) -> str | None:
        match = re.fullmatch(rf"{re.escape(self.base)}_(?:chunks|sentences)_([0-9a-f]+)_\d+",
                             collection)
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

    def lexical(self, kind: Kind, texts: Sequence[str], n: int,
                expr: str | None = None) -> list[list[tuple[str, float]]]:
        """BM25's top-n (key, score) per query text, best first."""
        if not any(texts):
            return [[] for _ in texts]
        return self._with_collection(kind, lambda name: _pairs(self.client.search(
            name, data=[t or "\u2205" for t in texts], anns_field="sparse", limit=n,
            filter=expr or "", search_params={"metric_type": "BM25"}, output_fields=[])))

    def dense(self, kind: Kind, vectors: np.ndarray, n: int,
              expr: str | None = None) -> list[list[tuple[str, float]]]:
        """The top-n (key, inner product) per query vector, best first."""
        data = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        return self._with_collection(kind, lambda name: _pairs(self.client.search(
            name, data=data, anns_field="dense", limit=n, filter=expr or "",
            search_params={"metric_type": "IP"}, output_fields=[])))

    def hybrid(self, kind: Kind, texts: Sequence[str], vectors: np.ndarray, n: int, k: int,
               rrf_k: int = 60, expr: str | None = None) -> list[list[tuple[str, float]]]:
        """BM25 and dense top-n fused by Milvus's RRFRanker(rrf_k): the top-k (key, score)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        # one request per query: milvus-lite 2.5.1 mis-ranks a batched (nq > 1) hybrid_search,
        # fusing the ranks of all queries together
        results = []
        for text, vector in zip(texts, vectors):
            requests = [AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()],
                                         anns_field="dense", param={"metric_type": "IP"},
                                         limit=n, expr=expr or "")]
            if text:  # a query without BM25 tokens fuses its dense ranking alone, as ragqa does
                requests.insert(0, AnnSearchRequest(data=[text], anns_field="sparse",
                                                    param={"metric_type": "BM25"}, limit=n,
                                                    expr=expr or ""))
            [pairs] = self._with_collection(kind, lambda name, reqs=requests: _pairs(
                self.client.hybrid_search(name, reqs=reqs, ranker=RRFRanker(rrf_k), limit=k,
                                          output_fields=[])))
            results.append(pairs)
        return results

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, index: HybridIndex, progress: Callable[[str], None] | None = None
                ) -> PublishReport:
        """Write `index` into new collections, switch the aliases to them, drop the old ones."""
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
            for kind, records in ((Kind.CHUNKS, _chunk_rows(index)),
                                  (Kind.SENTENCES, _sentence_rows(index))):
                name = f"{self.alias(kind)}_{version}_{stamp}"
                say(f"milvus: writing {len(records[0]):,} {kind.value} into {name}")
                self._create(name, dim, flat)
                created[kind.value] = name
                rows[kind.value] = self._insert(name, records)
                self.client.load_collection(name)
        except BaseException:
            for name in created.values():  # a failed build never replaces the served one
                self.client.drop_collection(name)
            raise
        t0 = time.perf_counter()
        self._switch(created)
        switch_ms = (time.perf_counter() - t0) * 1000
        say(f"milvus: aliases of {self.base} now point to version {version}")
        keep = set(created.values())
        old = [c for c in self.client.list_collections()
               if c.startswith(f"{self.base}_") and c not in keep
               and re.fullmatch(rf"{re.escape(self.base)}_(?:chunks|sentences)_[0-9a-f]+_\d+", c)]
        if old:
            time.sleep(self.drop_grace_s)
            for name in old:
                self.client.drop_collection(name)
        return PublishReport(created, previous, tuple(sorted(old)), rows,
                             round(time.perf_counter() - started, 3), round(switch_ms, 3))

    def _create(self, name: str, dim: int, flat: bool) -> None:
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
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["sparse"]))
        params = self.client.prepare_index_params()
        if flat or self.mode is AliasMode.POINTER:  # the embedded engine builds FLAT indexes only
            params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        else:
            params.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                             params={"M": 32, "efConstruction": 80})
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                         metric_type="BM25", params=BM25_PARAMS)
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


def ensure_published(store: MilvusStore, index: HybridIndex,
                     progress: Callable[[str], None] | None = None) -> PublishReport | None:
    """Publish `index` unless the store already serves its version; the report, or None."""
    if store.served_version() == index.version and len(store.served()) == len(Kind):
        return None
    return store.publish(index, progress)
