"""Build, persist and load the hybrid index: a directory of JSON, .npy and FAISS files.

Layout of `indexes/<name>/`:
    manifest.json          format, corpus fingerprint, model, parameters, counts, build time, diff,
                           every other file's size and SHA-256, and its own checksum
    documents.jsonl        every document's metadata, canonical text and content hash (taken
                           with the reader's layout, which the index does not keep)
    chunks.jsonl           chunk spans, sections, sentence ids, embedding keys
    sentences.jsonl        sentence spans, sections, kinds (prose, table row, reference, ...),
                           pages (PDF) and embedding keys
    chunk_vectors.npy      normalised chunk embeddings (float32), row i = chunk i
    sentence_vectors.npy   normalised sentence embeddings, row i = sentence i
    faiss.index            FAISS inner-product index over chunk_vectors
    bm25_tokens.json | bm25s/   the BM25 side over chunks (see ragqa.index.bm25)
    sentence_faiss.index   FAISS inner-product index over sentence_vectors
    sentence_bm25/         the BM25 side over sentences (answers retrieve sentences first); always
                           bm25s: an answer scores every sentence, and rank-bm25 does it in Python
    sentence_terms.json    per token, how many sentences hold it (how rare a question's words are)
    embedding_keys.json    the embedding keys of chunks.jsonl and sentences.jsonl again: when one
                           of those is damaged, a repair still knows whose vector each row is
    sentence_facts/        what the answer stage reads from each sentence's text (content terms,
                           topics, aspects, regimens...), derived once here so a question looks
                           them up (see ragqa.answer.facts)

`indexes/<name>` itself is a symlink, the one pointer to the build being served: each build is
written and fsynced in `.<name>.building-*`, renamed to `.<name>.v<time_ns>-<pid>` (complete), and
only then does the pointer move, with `os.replace`. A crash at any moment leaves either the old or
the new pointer, and if the pointer itself is gone, readers take the newest complete build. The
build before the served one is kept for one rollback; older ones and leftovers of killed builds
are removed when the next build is written.

Every load verifies every file against the SHA-256 the manifest records, and the manifest against
its own checksum (about 10 ms on the default index), as a store people trust with data verifies
what it reads: a damaged index is never served (`load_intact_index` falls back to the build kept
beside it) and never called up to date. A rebuild takes its embeddings from every file of the old
build that still verifies (a damaged vector file is restored from its intact FAISS twin) and from
`.<name>.embedding-*/`, the batches a killed build had already embedded, so that it embeds only
what is damaged or was never embedded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ragqa.answer.facts import FACTS_DIR, AnswerData, FactTable
from ragqa.errors import (
    IndexDamagedError,
    IndexFormatError,
    IndexMissingError,
    IndexWriteError,
    RagqaError,
)
from ragqa.index.bm25 import BM25Backend, BM25Scorer, build_scorer, load_scorer
from ragqa.index.embed import Embedder, EmbedderRecord, incompatibility
from ragqa.index.tokenize import TOKENIZER_VERSION, tokenize
from ragqa.ingest.abbreviations import document_abbreviations, spelled_out
from ragqa.ingest.chunker import Chunk, Chunker, ChunkingParams, Sentence
from ragqa.ingest.documents import DocType, Document, corpus_fingerprint
from ragqa.ingest.layout import BlockKind

log = logging.getLogger(__name__)

# 4: sentence_facts/ (per-sentence facts of the answer stage, derived at build time)
FORMAT_VERSION = 4
# what the embedder reads (IndexParams.embedding_text): a change re-embeds what it changes
EMBEDDING_TEXT = "defined abbreviations spelled out"
# formats a rebuild may take unchanged texts' vectors from (3 lacks only sentence_facts/)
REUSABLE_FORMATS = (3, FORMAT_VERSION)
MANIFEST = "manifest.json"
SENTENCE_BM25 = "sentence_bm25"
SENTENCE_BM25_BACKEND = BM25Backend.BM25S
SENTENCE_TERMS = "sentence_terms.json"
# texts embedded between two checkpoints of a build (20-40 s of the real model on 2 busy cores)
CHECKPOINT_BATCH = 512
# (keys, group in EMBEDDING_KEYS, vectors, FAISS twin): where a build's embeddings are, by text
# key; damaged keys are read from EMBEDDING_KEYS instead, and a damaged vector file is restored
# from its twin, which holds the same vectors (flat or HNSW-flat storage)
EMBEDDING_KEYS = "embedding_keys.json"
VECTOR_FILES = (("chunks.jsonl", "chunks", "chunk_vectors.npy", "faiss.index"),
                ("sentences.jsonl", "sentences", "sentence_vectors.npy", "sentence_faiss.index"))


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
    # what the embedder reads of a sentence or passage (`embedding_texts`)
    embedding_text: str = EMBEDDING_TEXT

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form, as stored in the manifest."""
        return {"chunking": asdict(self.chunking), "faiss": self.faiss.value,
                "bm25": self.bm25.value, "tokenizer": self.tokenizer,
                "embedding_text": self.embedding_text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexParams:
        """Inverse of to_json."""
        return cls(
            chunking=ChunkingParams(**data["chunking"]),
            faiss=FaissKind.parse(data["faiss"]),
            bm25=BM25Backend.parse(data["bm25"]),
            tokenizer=data.get("tokenizer", "unknown"),
            embedding_text=data.get("embedding_text", "as written"),
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
    sentence_faiss: Any
    sentence_bm25: BM25Scorer
    sentence_df: dict[str, int]
    sentence_facts: FactTable | None = None  # None: the answer stage derives facts from the text
    # each document's content hash as read from its source (with the HTML or PDF reader's layout,
    # which a loaded document no longer has): what the next build's diff compares with
    document_hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _sentence_chunk: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def version(self) -> str:
        """A short id of this build: what answers cite as `index_version`."""
        return str(self.manifest["index_version"])

    def sentence_chunk(self) -> np.ndarray:
        """For each sentence, the first chunk that holds it (computed once per loaded index)."""
        if self._sentence_chunk is None:
            owner = np.full(len(self.sentences), -1, dtype=np.int64)
            for i, chunk in enumerate(self.chunks):
                for sid in chunk.sentence_ids:
                    if owner[sid] < 0:
                        owner[sid] = i
            self._sentence_chunk = owner
        return self._sentence_chunk


def build_index(
    documents: list[Document],
    embedder: Embedder,
    params: IndexParams | None = None,
    previous: HybridIndex | None = None,
    progress: bool = False,
    count_tokens: Callable[[str], int] | None = None,
    cache: dict[str, np.ndarray] | None = None,
    checkpoint: Path | None = None,
) -> HybridIndex:
    """Chunk, embed (reusing `previous`'s vectors and `cache`'s for unchanged text) and index the
    documents; new vectors are saved batch by batch into `checkpoint` (see EmbeddingCheckpoint)."""
    params = params or IndexParams()
    started = time.perf_counter()
    chunker = Chunker(params.chunking, count_tokens) if count_tokens else Chunker(params.chunking)
    sentences, chunks = chunker.run(documents)
    by_id = {doc.id: doc for doc in documents}
    chunk_texts = [chunk.embed_text(by_id[chunk.doc_id].title) for chunk in chunks]
    chunk_reads, sentence_reads = embedding_texts(by_id, chunks, chunk_texts, sentences)
    chunk_keys = [_key(text) for text in chunk_reads]
    sentence_keys = [_key(text) for text in sentence_reads]

    cache = dict(cache or {})
    if (previous is not None and previous.manifest["model"]["name"] == embedder.name
            and incompatibility(embedder_record(previous.manifest), embedder.record) is None):
        cache.update(zip(previous.chunk_keys, previous.chunk_vectors))
        cache.update(zip(previous.sentence_keys, previous.sentence_vectors))
    # chunks and sentences in one pass: a text both are gets embedded once, and the embedder can
    # sort every text by length into full batches
    vectors, chunk_new, sentence_new = _embed_cached(
        embedder, [chunk_reads, sentence_reads], [chunk_keys, sentence_keys], cache,
        progress, EmbeddingCheckpoint(checkpoint, embedder) if checkpoint else None)
    chunk_vectors, sentence_vectors = vectors

    faiss_index = _build_faiss(chunk_vectors, embedder.dim, params.faiss)
    bm25 = build_scorer(params.bm25, [tokenize(t) for t in chunk_texts])
    sentence_faiss = _build_faiss(sentence_vectors, embedder.dim, params.faiss)
    token_lists = sentence_tokens(sentences)
    sentence_bm25 = build_scorer(SENTENCE_BM25_BACKEND, token_lists)
    sentence_df = term_frequencies(token_lists)
    facts = FactTable.build([s.text for s in sentences], AnswerData.default())
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
        "facts": {"fingerprint": facts.fingerprint},
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "embedded": {"chunks": chunk_new, "sentences": sentence_new},
        "built_at": built_at,
        "build_seconds": round(time.perf_counter() - started, 3),
        "diff": diff_against(previous, documents, chunks),
    }
    return HybridIndex(None, manifest, by_id, chunks, sentences, chunk_vectors, sentence_vectors,
                       faiss_index, bm25, chunk_keys, sentence_keys, sentence_faiss, sentence_bm25,
                       sentence_df, facts, document_hashes={d.id: d.content_hash for d in documents})


def embedding_texts(documents: dict[str, Document], chunks: list[Chunk], chunk_texts: list[str],
                    sentences: list[Sentence]) -> tuple[list[str], list[str]]:
    """What the embedder reads of each passage (its title, section and text) and each sentence:
    the text with the short forms its document defines spelled out ("A diagnosis of CD ..." is
    read as "A diagnosis of coeliac disease ..."), since the model cannot know what this document
    means by "CD". BM25 and every quote keep the source's own words."""
    defined = {doc_id: document_abbreviations(doc.text) for doc_id, doc in documents.items()}
    return ([spelled_out(text, defined[chunk.doc_id]) for chunk, text in zip(chunks, chunk_texts)],
            [spelled_out(s.text, defined[s.doc_id]) for s in sentences])


def sentence_tokens(sentences: list[Sentence]) -> list[list[str]]:
    """BM25 tokens of each sentence (the sentence BM25 and the term counts are built from them)."""
    return [tokenize(s.text) for s in sentences]


def term_frequencies(token_lists: list[list[str]]) -> dict[str, int]:
    """For each token, how many of the token lists (sentences) hold it."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(set(tokens))
    return dict(counts)


def _embed_cached(
    embedder: Embedder, texts: list[list[str]], keys: list[list[str]],
    cache: dict[str, np.ndarray], progress: bool, checkpoint: EmbeddingCheckpoint | None = None,
) -> tuple[list[np.ndarray], int, int]:
    """Vectors for each list of texts, embedding only keys missing from the cache (and saving
    each batch into `checkpoint`, when given).

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
    if missing and checkpoint is None:
        fresh = embedder.embed(list(missing.values()), show_progress=progress)
        cache.update(zip(missing, fresh))
    elif missing:
        # by length, so that each batch still fills the embedder's own batches evenly
        order = sorted(missing, key=lambda k: len(missing[k]))
        for start in range(0, len(order), CHECKPOINT_BATCH):
            batch = order[start:start + CHECKPOINT_BATCH]
            fresh = embedder.embed([missing[k] for k in batch], show_progress=progress)
            checkpoint.save(batch, fresh)
            cache.update(zip(batch, fresh))
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
    """Documents and chunks added, removed and changed relative to the index being replaced.

    A document is compared by the content hash recorded when it was read from its source: a
    document loaded from an index has lost its reader's layout, so hashing it again would call
    every HTML and PDF document changed on every build.
    """
    old_docs = ({d.id: previous.document_hashes.get(d.id, d.content_hash)
                 for d in previous.documents.values()} if previous else {})
    return diff_contents(old_docs, {c.id for c in previous.chunks} if previous else set(),
                         documents, chunks)


def diff_contents(old_docs: dict[str, str], old_chunks: set[str], documents: list[Document],
                  chunks: list[Chunk]) -> dict[str, Any]:
    """The diff of diff_against, from the old build's document hashes and chunk ids."""
    new_docs = {d.id: d.content_hash for d in documents}
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
    """Write the index as a new complete build beside `directory`, then point `directory` at it.

    Leftovers of killed builds and builds older than the served one are removed first, so the
    one served before this build stays on disk for a rollback.
    """
    directory = Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with _write_lock(directory):
            remove_leftovers(directory)
            tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-",
                                        dir=directory.parent))
            try:
                _write_files(index, tmp)
                index.manifest["files"] = file_records(tmp)
                index.manifest["checksum"] = manifest_checksum(index.manifest)
                # the manifest goes last: a directory without one is never taken for an index
                (tmp / MANIFEST).write_text(json.dumps(index.manifest, indent=2))
                _fsync_tree(tmp)
                build = directory.with_name(f".{directory.name}.v{time.time_ns()}-{os.getpid()}")
                os.rename(tmp, build)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _fsync_dir(directory.parent)
            _point(directory, build)
    except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as a RuntimeError
        error = write_error(exc, directory, index)
        if error is exc:
            raise
        raise error from None
    index.directory = directory
    return directory


# errno values that mean the index's folder cannot take the build (as opposed to a bug)
_NO_SPACE = {28: "no space is left on the device", 122: "the disk quota is exceeded"}
_NO_WRITE = {13: "permission denied", 1: "operation not permitted", 30: "read-only file system"}


def write_error(exc: Exception, directory: Path, index: HybridIndex) -> Exception:
    """One clear IndexWriteError for a full disk or an unwritable folder (naming the folder and
    what the build needed), or `exc` itself for any other failure."""
    folder = directory.parent
    errno = exc.errno if isinstance(exc, OSError) else next(
        (code for code in (*_NO_SPACE, *_NO_WRITE) if f"({os.strerror(code)})" in str(exc)),
        None)
    if errno in _NO_SPACE:
        free = shutil.disk_usage(folder).free if folder.is_dir() else 0
        return IndexWriteError(
            f"cannot write the index in {folder}: {_NO_SPACE[errno]} (the new build needs "
            f"about {_megabytes(estimated_size(index, directory))}, {_megabytes(free)} are free); "
            f"free some space and run `ragqa index` again. The index being served is unchanged.")
    if errno in _NO_WRITE:
        return IndexWriteError(
            f"cannot write the index in {folder}: {_NO_WRITE[errno]}; make the folder "
            f"writable by this user (or set RAGQA_INDEX_DIR) and run `ragqa index` again. The "
            f"index being served is unchanged.")
    return exc


def estimated_size(index: HybridIndex, directory: Path) -> int:
    """About how many bytes a build of `index` takes: the served build's size when there is
    one, else its vectors twice (the .npy files and their FAISS twins) and its texts."""
    served = resolve_index(directory)
    if (served / MANIFEST).is_file():
        return sum(p.stat().st_size for p in served.rglob("*") if p.is_file())
    texts = sum(len(d.text) for d in index.documents.values())
    return 2 * (index.chunk_vectors.nbytes + index.sentence_vectors.nbytes) + 3 * texts


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _write_files(index: HybridIndex, target: Path) -> None:
    with open(target / "documents.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({**doc.to_json(), "content_hash": _content_hash(index, doc)},
                                 ensure_ascii=False) + "\n" for doc in index.documents.values())
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
    faiss.write_index(index.sentence_faiss, str(target / "sentence_faiss.index"))
    (target / SENTENCE_BM25).mkdir()
    index.sentence_bm25.save(target / SENTENCE_BM25)
    (target / SENTENCE_TERMS).write_text(json.dumps(index.sentence_df, sort_keys=True))
    (target / EMBEDDING_KEYS).write_text(json.dumps({"chunks": index.chunk_keys,
                                                     "sentences": index.sentence_keys}))
    if index.sentence_facts is not None:
        index.sentence_facts.save(target / FACTS_DIR)


# -- the pointer, the builds beside it, and what the manifest records of their files -----------

_BUILD = re.compile(r"v(?P<ns>\d+)-\w+|old-\d+-(?P<old_ns>\d+)")  # .old-*: before the pointer


def complete_builds(directory: Path) -> list[Path]:
    """The complete builds beside the pointer `directory`, newest first (kept ones and leftovers)."""
    directory = Path(directory)
    prefix = f".{directory.name}."
    builds = []
    if directory.parent.is_dir():
        for path in directory.parent.iterdir():
            match = _BUILD.fullmatch(path.name[len(prefix):]) if path.name.startswith(prefix) else None
            if match and (path / MANIFEST).is_file():
                builds.append((int(match["ns"] or match["old_ns"]), path))
    return [path for _, path in sorted(builds, reverse=True)]


def resolve_index(directory: Path) -> Path:
    """The directory holding the index `directory` names: itself (through the pointer) or, when
    a crash left no pointer, the newest complete build beside it."""
    directory = Path(directory)
    if directory.exists():
        return directory
    builds = complete_builds(directory)
    if builds:
        log.warning("%s is missing: using the newest complete build %s", directory, builds[0].name)
        return builds[0]
    return directory


def remove_leftovers(directory: Path) -> list[str]:
    """Remove killed builds' directories and every complete build but the served one; their names."""
    directory = Path(directory)
    served = resolve_index(directory).resolve()
    prefix = f".{directory.name}."
    removed = []
    for path in sorted(directory.parent.iterdir()):
        rest = path.name[len(prefix):] if path.name.startswith(prefix) else ""
        leftover = rest.startswith(("building-", "link-"))
        superseded = bool(_BUILD.fullmatch(rest)) and path.resolve() != served
        if leftover or superseded:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
    if removed:
        log.info("removed %s beside %s", ", ".join(removed), directory)
    return removed


def _point(directory: Path, build: Path) -> None:
    """Make the symlink `directory` name `build`, atomically, and make that durable."""
    if directory.is_dir() and not directory.is_symlink():
        # an index written before the pointer existed becomes the build kept for rollback
        mtime = (directory / MANIFEST).stat().st_mtime_ns if (directory / MANIFEST).exists() else 0
        os.rename(directory, directory.with_name(f".{directory.name}.v{mtime}-legacy"))
        _fsync_dir(directory.parent)
    link = directory.with_name(f".{directory.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(build.name, link)
    os.replace(link, directory)
    _fsync_dir(directory.parent)


@contextmanager
def _write_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on writing `directory`: builds in other processes wait their turn."""
    with open(directory.with_name(f".{directory.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file, then every directory, under `root` (itself included)."""
    for parent, _, names in os.walk(root, topdown=False):
        for name in names:
            fd = os.open(os.path.join(parent, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(parent))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(directory: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file of an index but its manifest, by path relative to it."""
    directory = Path(directory)
    records = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name != MANIFEST:
            records[name] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return records


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """The SHA-256 of a manifest's content without its own `checksum` field."""
    content = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def check_files(directory: Path, manifest: dict[str, Any],
                names: tuple[str, ...] | None = None) -> None:
    """Check the manifest against its checksum, then each file it records (or only `names`)
    against its size and SHA-256; IndexDamagedError naming the first that differs."""
    directory = Path(directory)
    if "checksum" not in manifest:
        raise IndexDamagedError(f"{directory}: the manifest has no checksum (an index from an "
                                f"older ragqa, or a damaged manifest); rebuild with `ragqa index`")
    if manifest["checksum"] != manifest_checksum(manifest):
        raise IndexDamagedError(f"{directory}: index file {MANIFEST} does not match its own "
                                f"checksum; rebuild with `ragqa index`")
    records = manifest.get("files")
    if not isinstance(records, dict):
        raise IndexDamagedError(f"{directory}: the manifest records no file sizes and hashes "
                                f"(an index from an older ragqa); rebuild with `ragqa index`")
    for name, record in records.items():
        if names is not None and name not in names:
            continue
        problem = _file_problem(directory / name, record)
        if problem is not None:
            raise IndexDamagedError(f"{directory}: index file {name} {problem}; "
                                    f"rebuild with `ragqa index`")


def _file_problem(path: Path, record: dict[str, Any]) -> str | None:
    """How the file at `path` differs from its manifest record, or None when it matches."""
    if not path.is_file():
        return "is missing"
    if path.stat().st_size != record["size"]:
        return f"has {path.stat().st_size} bytes, the manifest records {record['size']}"
    try:
        if _sha256(path) != record["sha256"]:
            return "does not match the SHA-256 the manifest records"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the index at `directory`, or IndexMissingError."""
    path = resolve_index(Path(directory)) / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index at {directory} (run `ragqa index`)")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise IndexFormatError(f"{path}: manifest is not valid JSON ({problem})") from None
    except OSError as exc:
        raise IndexMissingError(f"cannot read the index at {directory}: {exc.strerror}") from None


def read_documents(directory: Path) -> dict[str, Document]:
    """The documents of the index at `directory`, by id, verified against the manifest, without
    loading anything else."""
    directory = resolve_index(Path(directory))
    check_files(directory, read_manifest(directory), names=("documents.jsonl",))
    return _parse_documents(directory)


def _content_hash(index: HybridIndex, document: Document) -> str:
    return index.document_hashes.get(document.id) or document.content_hash


def _parse_documents(directory: Path, hashes: dict[str, str] | None = None
                     ) -> dict[str, Document]:
    """The documents of documents.jsonl; their recorded content hashes go into `hashes`."""
    documents = {}
    for line in (directory / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        recorded = record.pop("content_hash", None)
        if recorded is not None and hashes is not None:
            hashes[record["id"]] = recorded
        record["doc_type"] = DocType(record["doc_type"])
        record["authors"] = tuple(record["authors"])
        documents[record["id"]] = Document(**record)
    return documents


def load_index(directory: Path, embedder: Embedder | None = None,
               formats: tuple[int, ...] = (FORMAT_VERSION,)) -> HybridIndex:
    """Load an index, checking the manifest against its checksum and every file against the
    SHA-256 the manifest records, and its format (one of `formats`), model and dimension against
    this code and `embedder`.

    A damaged index is refused with IndexDamagedError naming the file, never a parser's traceback
    and never read: a changed dose in documents.jsonl or a flipped bit in a vector is caught here.
    """
    directory = resolve_index(Path(directory))
    try:
        manifest = read_manifest(directory)
    except IndexFormatError as exc:  # not even JSON: damaged, so a rollback copy may serve
        raise IndexDamagedError(str(exc)) from None
    if manifest.get("format_version") in formats:
        check_files(directory, manifest)
    built_with = (manifest.get("params") or {}).get("tokenizer")
    if built_with != TOKENIZER_VERSION:
        # its BM25 terms were made by another tokenizer: questions' words may not match them
        log.warning("%s: built with tokenizer %s, this code tokenizes as %s: BM25 may miss words "
                    "until it is rebuilt with `ragqa index`", directory, built_with, TOKENIZER_VERSION)
    try:
        return _read_index(directory, embedder, formats)
    except (OSError, ValueError, KeyError, IndexError, TypeError, RuntimeError) as exc:
        raise IndexDamagedError(f"{directory}: the index cannot be read ({type(exc).__name__}: "
                                f"{exc}); rebuild with `ragqa index`") from None


def load_intact_index(directory: Path, embedder: Embedder | None = None,
                      formats: tuple[int, ...] = (FORMAT_VERSION,)) -> HybridIndex:
    """The index `directory` names or, when its files are damaged, the newest intact build kept
    beside it (the rollback copy), with a warning; the first damage found when none is intact."""
    try:
        return load_index(directory, embedder, formats)
    except IndexDamagedError as damaged:
        served = resolve_index(Path(directory)).resolve()
        for build in complete_builds(directory):
            if build.resolve() == served:
                continue
            try:
                index = load_index(build, embedder, formats)
            except RagqaError:
                continue
            log.warning("%s; using the previous build %s", damaged, build.name)
            return index
        raise


def _read_index(directory: Path, embedder: Embedder | None,
                formats: tuple[int, ...] = (FORMAT_VERSION,)) -> HybridIndex:
    """Parse the files of the index at `directory` (see load_index)."""
    manifest = read_manifest(directory)
    if manifest.get("format_version") not in formats:
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
    document_hashes: dict[str, str] = {}
    documents = _parse_documents(directory, document_hashes)
    chunks, chunk_keys = [], []
    for line in (directory / "chunks.jsonl").read_text().splitlines():
        r = json.loads(line)
        text = documents[r["doc_id"]].text[r["char_start"]:r["char_end"]]
        chunks.append(Chunk(r["id"], r["doc_id"], r["char_start"], r["char_end"], text,
                            tuple(r["section"]), tuple(r["sentence_ids"]),
                            tuple(r.get("pages", ()))))
        chunk_keys.append(r["key"])
    sentences, sentence_keys = [], []
    for line in (directory / "sentences.jsonl").read_text().splitlines():
        r = json.loads(line)
        text = documents[r["doc_id"]].text[r["char_start"]:r["char_end"]]
        sentences.append(Sentence(r["doc_id"], r["char_start"], r["char_end"], text,
                                  tuple(r["section"]), r.get("page"),
                                  BlockKind.parse(r.get("kind", "prose"))))
        sentence_keys.append(r["key"])
    chunk_vectors = np.load(directory / "chunk_vectors.npy", allow_pickle=False)
    sentence_vectors = np.load(directory / "sentence_vectors.npy", allow_pickle=False)
    faiss_index = _read_faiss(directory / "faiss.index", params.faiss, len(chunks), model["dim"])
    sentence_faiss = _read_faiss(directory / "sentence_faiss.index", params.faiss, len(sentences),
                                 model["dim"])
    bm25 = load_scorer(params.bm25, directory, len(chunks))
    sentence_bm25 = load_scorer(SENTENCE_BM25_BACKEND, directory / SENTENCE_BM25, len(sentences))
    sentence_df = json.loads((directory / SENTENCE_TERMS).read_text())
    facts = FactTable.load(directory / FACTS_DIR) if (directory / FACTS_DIR).is_dir() else None
    if facts is not None and len(facts) != len(sentences):
        raise IndexFormatError(f"{directory}: {FACTS_DIR} holds {len(facts)} sentences, the index "
                               f"{len(sentences)}; rebuild with `ragqa index --force`")
    return HybridIndex(directory, manifest, documents, chunks, sentences, chunk_vectors,
                       sentence_vectors, faiss_index, bm25, chunk_keys, sentence_keys,
                       sentence_faiss, sentence_bm25, sentence_df, facts,
                       document_hashes=document_hashes)


def _read_faiss(path: Path, kind: FaissKind, expected: int, dim: int):
    """A FAISS file of the index, checked to hold one vector of the model's dimension per row."""
    index = faiss.read_index(str(path))
    if kind is FaissKind.HNSW:
        index.hnsw.efSearch = 128
    if index.ntotal != expected or index.d != dim:
        raise IndexFormatError(
            f"{path.parent}: {path.name} holds {index.ntotal} vectors of dim {index.d}, "
            f"expected {expected} of dim {dim}; rebuild with `ragqa index --force`"
        )
    return index


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
    """Why the index at `directory` must be rebuilt for these inputs, or None when it is fresh.

    A manifest that fails its checksum, or a file that differs from the manifest's record in size
    or SHA-256, is a reason: a damaged index is repaired, never called up to date.
    """
    try:
        manifest = read_manifest(directory)
    except IndexMissingError:
        return "no index yet"
    except IndexFormatError:
        return f"{MANIFEST} is not valid JSON"
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} != {FORMAT_VERSION}"
    if manifest.get("model", {}).get("name") != model_name:
        return f"model changed ({manifest.get('model', {}).get('name')} -> {model_name})"
    if embedder is not None and incompatibility(embedder_record(manifest), embedder) is not None:
        return f"embedder changed ({embedder_record(manifest).label()} -> {embedder.label()})"
    if manifest.get("params") != params.to_json():
        return "index parameters changed"
    if manifest.get("facts", {}).get("fingerprint") != AnswerData.default().fingerprint():
        return "the answer data or the code deriving sentence facts changed"
    served = resolve_index(Path(directory))
    try:
        check_files(served, manifest)
    except IndexDamagedError as exc:
        # the reason is kept in the manifest, which /v1/index shows to anyone: no server path
        return str(exc).removeprefix(f"{served}: ")
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
    """Rebuild the index at `directory` if the corpus or parameters changed, a file is damaged
    (its SHA-256 differs from the manifest's), or `force`.

    The corpus is read and validated first, the new index is built in memory and written beside
    the old one, and only then swapped in: any failure leaves the old index in place. Texts
    whose vectors an intact file of an old build or a killed build's checkpoint holds are not
    embedded again.
    """
    from ragqa.ingest.documents import read_corpus

    params = params or IndexParams()
    documents = read_corpus(corpus)
    reason = "forced" if force else staleness(directory, documents, params, embedder.name,
                                              embedder.record)
    directory = Path(directory)
    checkpoint = EmbeddingCheckpoint.folder_for(directory, embedder)
    if reason is None:
        EmbeddingCheckpoint(checkpoint, embedder).remove()
        return BuildReport(False, "up to date", read_manifest(directory))
    previous = None
    try:
        # the diff is against the build served before (or its intact rollback copy); an index
        # of an older format still counts
        previous = load_intact_index(directory, formats=REUSABLE_FORMATS)
    except (OSError, ValueError, KeyError, RagqaError) as exc:
        log.info("no previous index to compare with at %s: %s", directory, exc)
    # verified file by file, so that a damaged file never lends its vectors to the new build
    # while every intact one does
    cache = reusable_vectors(directory, embedder)
    cache.update(EmbeddingCheckpoint(checkpoint, embedder).load())
    index = build_index(documents, embedder, params, previous, progress=progress, cache=cache,
                        checkpoint=checkpoint)
    if previous is None:  # the old build is damaged: its intact files still say what changed
        contents = _recorded_contents(directory)
        if contents is not None:
            index.manifest["diff"] = diff_contents(*contents, documents, index.chunks)
    index.manifest["reason"] = reason
    save_index(index, directory)
    EmbeddingCheckpoint(checkpoint, embedder).remove()
    return BuildReport(True, reason, index.manifest)


# -- what a new build may take from old ones: verified vectors and checkpointed batches ----------

_RECORD = re.compile(r'"([^"\\]+)":\s*\{\s*"size":\s*(\d+),\s*"sha256":\s*"([0-9a-f]{64})"\s*\}')
_OBJECT = r'"{}":\s*(\{{[^{{}}]*\}})'


def reusable_vectors(directory: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """The vectors, by text key, of every build beside `directory` (the served one first) that
    `embedder` made, taken only from files that match the SHA-256 their manifest records.

    A damaged manifest still lends its records: a file that matches one is the file written
    (damage cannot make a file match a hash), and a record that was itself damaged matches no
    file. A damaged vector file is replaced by its FAISS twin when that is intact.
    """
    directory = Path(directory)
    builds = [resolve_index(directory)] + complete_builds(directory)
    cache: dict[str, np.ndarray] = {}
    seen: set[Path] = set()
    for build in builds:
        if build.resolve() in seen or not (build / MANIFEST).is_file():
            continue
        seen.add(build.resolve())
        try:
            records, identity = _salvage_manifest((build / MANIFEST).read_text(errors="replace"))
            if not _made_by(identity, embedder):
                continue
            for keys_file, group, vectors_file, twin in VECTOR_FILES:
                vectors = _intact_vectors(build, records, (keys_file, group), vectors_file, twin)
                if vectors is not None:
                    for key, vector in vectors.items():
                        cache.setdefault(key, vector)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.info("no vectors to reuse from %s: %s", build, exc)
    return cache


def _recorded_contents(directory: Path) -> tuple[dict[str, str], set[str]] | None:
    """(document hashes, chunk ids) of the served build when its documents.jsonl and
    chunks.jsonl still verify, else None."""
    build = resolve_index(Path(directory))
    try:
        records, _ = _salvage_manifest((build / MANIFEST).read_text(errors="replace"))
        if any(name not in records or _file_problem(build / name, records[name]) is not None
               for name in ("documents.jsonl", "chunks.jsonl")):
            return None
        hashes: dict[str, str] = {}
        documents = _parse_documents(build, hashes)
        chunk_ids = {json.loads(line)["id"]
                     for line in (build / "chunks.jsonl").read_text().splitlines()}
    except (OSError, ValueError, KeyError, TypeError, RagqaError):
        return None
    return {d.id: hashes.get(d.id, d.content_hash) for d in documents.values()}, chunk_ids


def _salvage_manifest(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(file records, {"model": ..., "embedder": ...}) of a manifest's text, read field by field
    when the text is no longer JSON."""
    try:
        manifest = json.loads(text)
        return manifest.get("files") or {}, manifest
    except json.JSONDecodeError:
        pass
    records = {m[1]: {"size": int(m[2]), "sha256": m[3]} for m in _RECORD.finditer(text)}
    identity: dict[str, Any] = {}
    for name in ("model", "embedder"):
        match = re.search(_OBJECT.format(name), text)
        if match:
            try:
                identity[name] = json.loads(match[1])
            except json.JSONDecodeError:
                pass
    return records, identity


def _made_by(identity: dict[str, Any], embedder: Embedder) -> bool:
    """Whether a manifest's model and embedder record say `embedder` made its vectors."""
    model = identity.get("model") or {}
    if model.get("name") != embedder.name or model.get("dim") != embedder.dim:
        return False
    return incompatibility(EmbedderRecord.from_json(identity.get("embedder")),
                           embedder.record) is None


def _intact_vectors(build: Path, records: dict[str, dict[str, Any]], keys: tuple[str, str],
                    vectors_file: str, twin: str) -> dict[str, np.ndarray] | None:
    """Key -> vector from intact keys (the .jsonl file, or its group of EMBEDDING_KEYS) and an
    intact vector file (or its intact FAISS twin), or None."""
    def intact(name: str) -> bool:
        return name in records and _file_problem(build / name, records[name]) is None

    keys_file, group = keys
    if intact(keys_file):
        keys_of = [json.loads(line)["key"] for line in (build / keys_file).read_text().splitlines()]
    elif intact(EMBEDDING_KEYS):
        keys_of = json.loads((build / EMBEDDING_KEYS).read_text())[group]
    else:
        return None
    vectors = None
    if intact(vectors_file):
        vectors = np.load(build / vectors_file, allow_pickle=False)
    elif intact(twin):
        index = faiss.read_index(str(build / twin))
        if index.ntotal == len(keys_of):
            vectors = (index.reconstruct_n(0, index.ntotal) if len(keys_of)
                       else np.zeros((0, index.d)))
        log.info("%s: %s is damaged; its vectors are taken from %s", build, vectors_file, twin)
    if vectors is None or len(vectors) != len(keys_of):
        return None
    return dict(zip(keys_of, np.asarray(vectors, dtype=np.float32)))


class EmbeddingCheckpoint:
    """The vectors a build has embedded so far, saved batch by batch in a folder beside the index
    (`.<name>.embedding-<embedder id>/`), so that the build after a killed one embeds only what
    the killed one had not; removed once a build is saved.

    The folder is named after the embedder (model, dimension, record): vectors of another model
    are never taken. A batch is one .npz file, written whole then renamed; one that does not
    read back (its zip CRC or shape) is skipped, so it is embedded again.

    >>> checkpoint = EmbeddingCheckpoint(EmbeddingCheckpoint.folder_for(directory, embedder),
    ...                                  embedder)
    >>> checkpoint.save(keys, vectors); checkpoint.load()[keys[0]]
    """

    def __init__(self, folder: Path, embedder: Embedder) -> None:
        self.folder = Path(folder)
        self.dim = embedder.dim

    @staticmethod
    def folder_for(directory: Path, embedder: Embedder) -> Path:
        """The checkpoint folder of builds of `directory` by `embedder`."""
        identity = json.dumps({"model": embedder.name, "dim": embedder.dim,
                               "embedder": embedder.record.to_json()}, sort_keys=True)
        digest = hashlib.sha1(identity.encode()).hexdigest()[:12]
        return Path(directory).with_name(f".{Path(directory).name}.embedding-{digest}")

    def save(self, keys: list[str], vectors: np.ndarray) -> None:
        """Keep one batch of vectors (a failure to write it only costs the resume: logged)."""
        name = f"{time.time_ns()}-{os.getpid()}"
        tmp = self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.array(keys, dtype="U40"),
                         vectors=np.asarray(vectors, dtype=np.float32))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.folder / f"{name}.npz")
        except OSError as exc:
            log.warning("could not checkpoint %d embeddings in %s: %s", len(keys), self.folder, exc)
            tmp.unlink(missing_ok=True)

    def load(self) -> dict[str, np.ndarray]:
        """Every checkpointed vector by text key (none when there is no checkpoint)."""
        cache: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return cache
        for path in sorted(self.folder.glob("[!.]*.npz")):
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
                    if vectors.shape != (len(keys), self.dim):
                        raise ValueError(f"vectors of shape {vectors.shape} for {len(keys)} keys")
                    cache.update(zip(keys.tolist(), vectors))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                log.warning("skipping the damaged embedding checkpoint %s: %s", path, exc)
        if cache:
            log.info("resuming: %d embeddings checkpointed in %s", len(cache), self.folder)
        return cache

    def remove(self) -> None:
        """Drop the checkpoint (its vectors are in a saved build now)."""
        shutil.rmtree(self.folder, ignore_errors=True)
