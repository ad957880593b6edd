"""Build, persist and load the hybrid index: a directory of JSON, .npy and FAISS files.

Layout of `indexes/<name>/`:
    manifest.json          format, corpus fingerprint, model, parameters, counts, build time, diff
    documents.jsonl        every document's metadata and canonical text
    chunks.jsonl           chunk spans, sections, sentence ids, embedding keys
    sentences.jsonl        sentence spans and embedding keys
    chunk_vectors.npy      normalised chunk embeddings (float32), row i = chunk i
    sentence_vectors.npy   normalised sentence embeddings, row i = sentence i
    faiss.index            FAISS inner-product index over chunk_vectors
    bm25_tokens.json | bm25s/   the BM25 side (see ragqa.index.bm25)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ragqa.errors import IndexFormatError, IndexMissingError, RagqaError
from ragqa.index.bm25 import BM25Backend, BM25Scorer, build_scorer, load_scorer
from ragqa.index.embed import Embedder, EmbedderRecord, incompatibility
from ragqa.index.tokenize import TOKENIZER_VERSION, tokenize
from ragqa.ingest.chunker import Chunk, Chunker, ChunkingParams, Sentence
from ragqa.ingest.documents import DocType, Document, corpus_fingerprint

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class FaissKind(str, Enum):
    """The FAISS index type: exact flat search, or HNSW for large corpora."""

    FLAT = "flat"
    HNSW = "hnsw"

    @classmethod
    def parse(cls, value: str) -> FaissKind:
        """Parse a FAISS kind, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            raise IndexFormatError(f"faiss kind must be flat or hnsw, got {value!r}") from None


@dataclass(frozen=True)
class IndexParams:
    """Everything besides the corpus that decides an index's content."""

    chunking: ChunkingParams = field(default_factory=ChunkingParams)
    faiss: FaissKind = FaissKind.FLAT
    bm25: BM25Backend = BM25Backend.RANK_BM25
    tokenizer: str = TOKENIZER_VERSION

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form, as stored in the manifest."""
        return {"chunking": asdict(self.chunking), "faiss": self.faiss.value,
                "bm25": self.bm25.value, "tokenizer": self.tokenizer}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexParams:
        """Inverse of to_json."""
        return cls(
            chunking=ChunkingParams(**data["chunking"]),
            faiss=FaissKind.parse(data["faiss"]),
            bm25=BM25Backend.parse(data["bm25"]),
            tokenizer=data.get("tokenizer", "unknown"),
        )


def _key(text: str) -> str:
    """The embedding cache key of a text: unchanged text keeps its vector across builds."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class HybridIndex:
    """A loaded index: documents, chunks, sentences, their vectors, FAISS and BM25."""

    directory: Path | None
    manifest: dict[str, Any]
    documents: dict[str, Document]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    faiss_index: Any
    bm25: BM25Scorer
    chunk_keys: list[str]
    sentence_keys: list[str]

    @property
    def version(self) -> str:
        """A short id of this build: what answers cite as `index_version`."""
        return str(self.manifest["index_version"])

    def sentence_chunk(self) -> np.ndarray:
        """For each sentence, the first chunk that holds it."""
        owner = np.full(len(self.sentences), -1, dtype=np.int64)
        for i, chunk in enumerate(self.chunks):
            for sid in chunk.sentence_ids:
                if owner[sid] < 0:
                    owner[sid] = i
        return owner


def build_index(
    documents: list[Document],
    embedder: Embedder,
    params: IndexParams | None = None,
    previous: HybridIndex | None = None,
    progress: bool = False,
    count_tokens: Callable[[str], int] | None = None,
) -> HybridIndex:
    """Chunk, embed (reusing `previous`'s vectors for unchanged text) and index the documents."""
    params = params or IndexParams()
    started = time.perf_counter()
    chunker = Chunker(params.chunking, count_tokens) if count_tokens else Chunker(params.chunking)
    sentences, chunks = chunker.run(documents)
    by_id = {doc.id: doc for doc in documents}
    chunk_texts = [chunk.embed_text(by_id[chunk.doc_id].title) for chunk in chunks]
    chunk_keys = [_key(text) for text in chunk_texts]
    sentence_keys = [_key(s.text) for s in sentences]

    cache: dict[str, np.ndarray] = {}
    if (previous is not None and previous.manifest["model"]["name"] == embedder.name
            and incompatibility(embedder_record(previous.manifest), embedder.record) is None):
        cache.update(zip(previous.chunk_keys, previous.chunk_vectors))
        cache.update(zip(previous.sentence_keys, previous.sentence_vectors))
    # chunks and sentences in one pass: a text both are gets embedded once, and the embedder can
    # sort every text by length into full batches
    vectors, chunk_new, sentence_new = _embed_cached(
        embedder, [chunk_texts, [s.text for s in sentences]], [chunk_keys, sentence_keys], cache,
        progress)
    chunk_vectors, sentence_vectors = vectors

    faiss_index = _build_faiss(chunk_vectors, embedder.dim, params.faiss)
    bm25 = build_scorer(params.bm25, [tokenize(t) for t in chunk_texts])
    fingerprint = corpus_fingerprint(documents)
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest = {
        "format_version": FORMAT_VERSION,
        "index_version": hashlib.sha1(
            f"{fingerprint}{json.dumps(params.to_json(), sort_keys=True)}{embedder.name}"
            f"{'' if embedder.record.precision == 'fp32' else embedder.record.precision}".encode()
        ).hexdigest()[:12],
        "corpus_fingerprint": fingerprint,
        "model": {"name": embedder.name, "dim": embedder.dim},
        "embedder": embedder.record.to_json(),
        "params": params.to_json(),
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "embedded": {"chunks": chunk_new, "sentences": sentence_new},
        "built_at": built_at,
        "build_seconds": round(time.perf_counter() - started, 3),
        "diff": diff_against(previous, documents, chunks),
    }
    return HybridIndex(None, manifest, by_id, chunks, sentences, chunk_vectors, sentence_vectors,
                       faiss_index, bm25, chunk_keys, sentence_keys)


def _embed_cached(
    embedder: Embedder, texts: list[list[str]], keys: list[list[str]],
    cache: dict[str, np.ndarray], progress: bool,
) -> tuple[list[np.ndarray], int, int]:
    """Vectors for each list of texts, embedding only keys missing from the cache, all in one call.

    Returns (one array per list, texts embedded for the first list, for the second).
    """
    missing: dict[str, str] = {}
    counts = []
    for group_texts, group_keys in zip(texts, keys):
        before = len(missing)
        for key, text in zip(group_keys, group_texts):
            if key not in cache and key not in missing:
                missing[key] = text
        counts.append(len(missing) - before)
    if missing:
        fresh = embedder.embed(list(missing.values()), show_progress=progress)
        cache.update(zip(missing, fresh))
    arrays = []
    for group_keys in keys:
        vectors = np.zeros((len(group_keys), embedder.dim), dtype=np.float32)
        for i, key in enumerate(group_keys):
            vectors[i] = cache[key]
        arrays.append(vectors)
    return arrays, *counts


def _build_faiss(vectors: np.ndarray, dim: int, kind: FaissKind):
    if kind is FaissKind.HNSW:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


def diff_against(
    previous: HybridIndex | None, documents: list[Document], chunks: list[Chunk]
) -> dict[str, Any]:
    """Documents and chunks added, removed and changed relative to the index being replaced."""
    old_docs = {d.id: d.content_hash for d in previous.documents.values()} if previous else {}
    new_docs = {d.id: d.content_hash for d in documents}
    old_chunks = {c.id for c in previous.chunks} if previous else set()
    new_chunks = {c.id for c in chunks}
    return {
        "documents": {
            "added": sorted(set(new_docs) - set(old_docs)),
            "removed": sorted(set(old_docs) - set(new_docs)),
            "changed": sorted(d for d in set(new_docs) & set(old_docs) if new_docs[d] != old_docs[d]),
        },
        "chunks": {
            "added": len(new_chunks - old_chunks),
            "removed": len(old_chunks - new_chunks),
            "unchanged": len(new_chunks & old_chunks),
        },
    }


def save_index(index: HybridIndex, directory: Path) -> Path:
    """Write the index into a temporary sibling directory, then swap it into `directory` whole."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-", dir=directory.parent))
    try:
        _write_files(index, tmp)
        _swap_in(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index.directory = directory
    return directory


def _write_files(index: HybridIndex, target: Path) -> None:
    with open(target / "documents.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(doc.to_json(), ensure_ascii=False) + "\n" for doc in index.documents.values())
    with open(target / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk, key in zip(index.chunks, index.chunk_keys):
            record = {**asdict(chunk), "key": key}
            record.pop("text")
            fh.write(json.dumps(record) + "\n")
    with open(target / "sentences.jsonl", "w", encoding="utf-8") as fh:
        for sentence, key in zip(index.sentences, index.sentence_keys):
            record = {**asdict(sentence), "key": key}
            record.pop("text")
            fh.write(json.dumps(record) + "\n")
    np.save(target / "chunk_vectors.npy", index.chunk_vectors, allow_pickle=False)
    np.save(target / "sentence_vectors.npy", index.sentence_vectors, allow_pickle=False)
    faiss.write_index(index.faiss_index, str(target / "faiss.index"))
    index.bm25.save(target)
    # the manifest goes last: a directory without one is never taken for an index
    (target / MANIFEST).write_text(json.dumps(index.manifest, indent=2))


def _swap_in(new: Path, directory: Path) -> None:
    """Replace `directory` by `new`; the old one is moved aside first and removed after."""
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(directory, old)
    os.rename(new, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the index at `directory`, or IndexMissingError."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index at {directory} (run `ragqa index`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise IndexFormatError(f"{path}: manifest is not valid JSON ({exc.msg})") from None


def read_documents(directory: Path) -> dict[str, Document]:
    """The documents of the index at `directory`, by id, without loading anything else."""
    documents = {}
    for line in (Path(directory) / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        record["doc_type"] = DocType(record["doc_type"])
        record["authors"] = tuple(record["authors"])
        documents[record["id"]] = Document(**record)
    return documents


def load_index(directory: Path, embedder: Embedder | None = None) -> HybridIndex:
    """Load an index, checking its format, model and dimension against this code and `embedder`."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format {manifest.get('format_version')!r}, this ragqa reads "
            f"{FORMAT_VERSION}; rebuild with `ragqa index --force`"
        )
    model = manifest["model"]
    if embedder is not None and (model["name"] != embedder.name or model["dim"] != embedder.dim):
        raise IndexFormatError(
            f"{directory}: built with model {model['name']} (dim {model['dim']}), but the loaded "
            f"model is {embedder.name} (dim {embedder.dim}); rebuild with `ragqa index --force`"
        )
    if embedder is not None:
        check_embedder(manifest, embedder.record, directory)
    params = IndexParams.from_json(manifest["params"])
    documents = read_documents(directory)
    chunks, chunk_keys = [], []
    for line in (directory / "chunks.jsonl").read_text().splitlines():
        r = json.loads(line)
        text = documents[r["doc_id"]].text[r["char_start"]:r["char_end"]]
        chunks.append(Chunk(r["id"], r["doc_id"], r["char_start"], r["char_end"], text,
                            tuple(r["section"]), tuple(r["sentence_ids"])))
        chunk_keys.append(r["key"])
    sentences, sentence_keys = [], []
    for line in (directory / "sentences.jsonl").read_text().splitlines():
        r = json.loads(line)
        text = documents[r["doc_id"]].text[r["char_start"]:r["char_end"]]
        sentences.append(Sentence(r["doc_id"], r["char_start"], r["char_end"], text,
                                  tuple(r["section"])))
        sentence_keys.append(r["key"])
    chunk_vectors = np.load(directory / "chunk_vectors.npy", allow_pickle=False)
    sentence_vectors = np.load(directory / "sentence_vectors.npy", allow_pickle=False)
    faiss_index = faiss.read_index(str(directory / "faiss.index"))
    if params.faiss is FaissKind.HNSW:
        faiss_index.hnsw.efSearch = 128
    if faiss_index.ntotal != len(chunks) or faiss_index.d != model["dim"]:
        raise IndexFormatError(
            f"{directory}: faiss.index holds {faiss_index.ntotal} vectors of dim {faiss_index.d}, "
            f"expected {len(chunks)} of dim {model['dim']}; rebuild with `ragqa index --force`"
        )
    bm25 = load_scorer(params.bm25, directory, len(chunks))
    return HybridIndex(directory, manifest, documents, chunks, sentences, chunk_vectors,
                       sentence_vectors, faiss_index, bm25, chunk_keys, sentence_keys)


def embedder_record(manifest: dict[str, Any]) -> EmbedderRecord:
    """The embedder an index was built by (torch for indexes from before it was recorded)."""
    return EmbedderRecord.from_json(manifest.get("embedder"))


def check_embedder(manifest: dict[str, Any], querying: EmbedderRecord, directory: Path) -> None:
    """Refuse, naming both, an embedder whose query vectors do not fit the index's vectors."""
    built = embedder_record(manifest)
    reason = incompatibility(built, querying)
    if reason is not None:
        raise IndexFormatError(
            f"{directory}: built by the {built.label()} embedder, which {querying.label()} cannot "
            f"query ({reason}); use --embedder {built.option()} (RAGQA_EMBEDDER) or rebuild with "
            f"`ragqa index --force --embedder {querying.option()}`")


def staleness(directory: Path, documents: list[Document], params: IndexParams,
              model_name: str, embedder: EmbedderRecord | None = None) -> str | None:
    """Why the index at `directory` must be rebuilt for these inputs, or None when it is fresh."""
    try:
        manifest = read_manifest(directory)
    except IndexMissingError:
        return "no index yet"
    except IndexFormatError as exc:
        return str(exc)
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} != {FORMAT_VERSION}"
    if manifest.get("model", {}).get("name") != model_name:
        return f"model changed ({manifest.get('model', {}).get('name')} -> {model_name})"
    if embedder is not None and incompatibility(embedder_record(manifest), embedder) is not None:
        return f"embedder changed ({embedder_record(manifest).label()} -> {embedder.label()})"
    if manifest.get("params") != params.to_json():
        return "index parameters changed"
    if manifest.get("corpus_fingerprint") != corpus_fingerprint(documents):
        return "corpus changed"
    return None


@dataclass(frozen=True)
class BuildReport:
    """What `update_index` did: rebuilt or not, why, and the new manifest."""

    rebuilt: bool
    reason: str
    manifest: dict[str, Any]


def update_index(
    corpus: Path | list[Path], directory: Path, embedder: Embedder,
    params: IndexParams | None = None, force: bool = False, progress: bool = False,
) -> BuildReport:
    """Rebuild the index at `directory` if the corpus or parameters changed (or `force`).

    The corpus is read and validated first, the new index is built in memory and written beside
    the old one, and only then swapped in: any failure leaves the old index in place.
    """
    from ragqa.ingest.documents import read_corpus

    params = params or IndexParams()
    documents = read_corpus(corpus)
    reason = "forced" if force else staleness(directory, documents, params, embedder.name,
                                              embedder.record)
    if reason is None:
        return BuildReport(False, "up to date", read_manifest(directory))
    previous = None
    try:
        previous = load_index(directory)
    except (OSError, ValueError, KeyError, RagqaError) as exc:
        # an unreadable old index only costs the embedding cache
        log.info("no previous index to reuse at %s: %s", directory, exc)
    index = build_index(documents, embedder, params, previous, progress=progress)
    index.manifest["reason"] = reason
    save_index(index, directory)
    return BuildReport(True, reason, index.manifest)
