"""A large synthetic index for the benchmark, generated from a real (PubMedQA) index.

Embedding 100,000 chunks with the real model takes about 45 minutes on the 2-core benchmark
machine, so the large corpus reuses the real embeddings instead:

- text: each synthetic document copies the section layout of a real document; each of its
  sentences is the real sentence in that place or (with probability `swap`) a random real sentence
  from anywhere in the source corpus, and sentences are shuffled within their section. BM25
  indexes this real text.
- vectors: a synthetic chunk's vector is the mean of the real chunk vectors its sentences came
  from, plus Gaussian noise, renormalised; a sentence's vector is its real sentence vector plus
  noise, renormalised. They are perturbed copies of real embeddings, not model outputs, so they
  time search faithfully but say nothing about retrieval quality.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import faiss
import numpy as np

from ragqa.answer.facts import AnswerData, FactTable
from ragqa.index.bm25 import BM25Backend, build_scorer
from ragqa.index.store import (
    SENTENCE_BM25_BACKEND,
    HybridIndex,
    IndexParams,
    sentence_tokens,
    term_frequencies,
)
from ragqa.index.tokenize import tokenize
from ragqa.ingest.chunker import Chunk, Chunker
from ragqa.ingest.documents import DocType, Document

VECTORS_NOTE = (
    "synthetic corpus: real PubMedQA sentences recombined into new documents; vectors are "
    "perturbed, renormalised copies of the real PubMedQA embeddings (not model outputs), so "
    "its figures time search, not retrieval quality"
)


@dataclass(frozen=True)
class SyntheticParams:
    """How the synthetic corpus is made."""

    chunks: int = 100_000
    swap: float = 0.3
    noise: float = 0.3
    seed: int = 13

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError(f"chunks must be > 0, got {self.chunks}")
        if not 0 <= self.swap <= 1:
            raise ValueError(f"swap must be between 0 and 1, got {self.swap}")


@dataclass(frozen=True)
class _Source:
    """One real sentence: its text, section, and where its vectors are."""

    text: str
    sentence: int
    chunk: int


def perturb(vectors: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Rows plus Gaussian noise of expected norm `noise`, renormalised to unit length."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a 2-d array, got shape {vectors.shape}")
    jitter = rng.standard_normal(vectors.shape).astype(np.float32)
    jitter *= noise / np.sqrt(vectors.shape[1])
    out = vectors + jitter
    out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
    return out


def _sources(index: HybridIndex) -> tuple[dict[str, list[tuple[tuple[str, ...], list[_Source]]]],
                                            list[_Source]]:
    """Per real document its sections with their sentences, and the pool of all sentences."""
    owner = index.sentence_chunk()
    by_doc: dict[str, list[tuple[tuple[str, ...], list[_Source]]]] = {}
    pool: list[_Source] = []
    for sid, sentence in enumerate(index.sentences):
        if owner[sid] < 0:
            continue
        source = _Source(sentence.text, sid, int(owner[sid]))
        sections = by_doc.setdefault(sentence.doc_id, [])
        if not sections or sections[-1][0] != sentence.section:
            sections.append((sentence.section, []))
        sections[-1][1].append(source)
        pool.append(source)
    return by_doc, pool


def synthetic_documents(
    index: HybridIndex, count: int, params: SyntheticParams, start: int = 0,
) -> tuple[list[Document], dict[str, _Source]]:
    """`count` synthetic documents and, for each sentence text used, the real sentence behind it."""
    by_doc, pool = _sources(index)
    if not pool:
        raise ValueError("the source index holds no sentences")
    base_ids = sorted(by_doc)
    rng = random.Random(params.seed + start)
    documents: list[Document] = []
    used: dict[str, _Source] = {}
    for k in range(start, start + count):
        base = index.documents[base_ids[k % len(base_ids)]]
        parts = []
        for section, sources in by_doc[base.id]:
            picked = [rng.choice(pool) if rng.random() < params.swap else s for s in sources]
            rng.shuffle(picked)
            for s in picked:
                used.setdefault(s.text, s)
            body = " ".join(s.text for s in picked)
            heading = " > ".join(section)
            parts.append(f"# {heading}\n\n{body}" if heading else body)
        documents.append(Document(
            id=f"synthetic-{k:06d}", title=f"{base.title} (synthetic copy {k})",
            text="\n\n".join(parts), publisher=base.publisher, year=base.year,
            doc_type=DocType.OTHER, pmid=base.pmid,
        ))
    return documents, used


def synthetic_index(source: HybridIndex, params: SyntheticParams,
                    index_params: IndexParams | None = None) -> HybridIndex:
    """An in-memory index of exactly `params.chunks` chunks derived from `source` (see module)."""
    index_params = index_params or IndexParams()
    started = time.perf_counter()
    chunker = Chunker(index_params.chunking)
    per_doc = max(len(source.chunks) / max(len(source.documents), 1), 0.5)
    documents: list[Document] = []
    used: dict[str, _Source] = {}
    sentences, chunks = [], []
    while len(chunks) < params.chunks:
        missing = params.chunks - len(chunks)
        more, more_used = synthetic_documents(source, int(missing / per_doc * 1.05) + 1, params,
                                              start=len(documents))
        documents += more
        used.update(more_used)
        sentences, chunks = chunker.run(documents)
    chunks = chunks[:params.chunks]
    last_sentence = max(max(c.sentence_ids) for c in chunks)
    sentences = sentences[:last_sentence + 1]
    kept = {c.doc_id for c in chunks}
    documents = [d for d in documents if d.id in kept]
    by_id = {d.id: d for d in documents}

    rng = np.random.default_rng(params.seed)
    # a sentence the splitter cut differently from the source takes its document's first source
    first_known: dict[str, _Source] = {}
    for sentence in sentences:
        if sentence.text in used:
            first_known.setdefault(sentence.doc_id, used[sentence.text])
    anywhere = next(iter(used.values()))
    sentence_rows = np.empty(len(sentences), dtype=np.int64)
    sentence_chunks: list[int] = []
    for i, sentence in enumerate(sentences):
        src = used.get(sentence.text) or first_known.get(sentence.doc_id, anywhere)
        sentence_rows[i] = src.sentence
        sentence_chunks.append(src.chunk)
    sentence_vectors = perturb(source.sentence_vectors[sentence_rows], params.noise, rng)
    chunk_means = np.stack([
        source.chunk_vectors[[sentence_chunks[s] for s in c.sentence_ids]].mean(axis=0)
        for c in chunks
    ])
    chunk_vectors = perturb(chunk_means, params.noise, rng)

    faiss_index = faiss.IndexFlatIP(chunk_vectors.shape[1])
    faiss_index.add(chunk_vectors)
    bm25 = build_scorer(index_params.bm25, chunk_tokens(chunks, by_id))
    sentence_faiss = faiss.IndexFlatIP(sentence_vectors.shape[1])
    sentence_faiss.add(np.ascontiguousarray(sentence_vectors, dtype=np.float32))
    sentence_token_lists = sentence_tokens(sentences)
    sentence_bm25 = build_scorer(SENTENCE_BM25_BACKEND, sentence_token_lists)
    # real sentences recur across synthetic documents: each distinct text is read once
    facts = FactTable.build([s.text for s in sentences], AnswerData.default())
    manifest = {
        "format_version": source.manifest.get("format_version"),
        "index_version": f"synthetic-{params.chunks}-{params.seed}",
        "corpus_fingerprint": None,
        "model": dict(source.manifest["model"]),
        "params": index_params.to_json(),
        "facts": {"fingerprint": facts.fingerprint},
        "counts": {"documents": len(documents), "chunks": len(chunks),
                   "sentences": len(sentences)},
        "embedded": {"chunks": 0, "sentences": 0},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 3),
        "synthetic": {"source_index": source.version, "swap": params.swap,
                      "noise": params.noise, "seed": params.seed, "note": VECTORS_NOTE},
    }
    return HybridIndex(None, manifest, by_id, chunks, sentences, chunk_vectors, sentence_vectors,
                       faiss_index, bm25, [""] * len(chunks), [""] * len(sentences),
                       sentence_faiss, sentence_bm25, term_frequencies(sentence_token_lists),
                       facts)


def chunk_tokens(chunks: list[Chunk], documents: dict[str, Document]) -> list[list[str]]:
    """BM25 tokens of each chunk, as build_index makes them (title, section and text)."""
    return [tokenize(c.embed_text(documents[c.doc_id].title)) for c in chunks]


def with_bm25(index: HybridIndex, backend: BM25Backend,
              tokens: list[list[str]] | None = None) -> HybridIndex:
    """The same index with its chunks scored by another BM25 backend (sentences stay on bm25s)."""
    from dataclasses import replace

    if tokens is None:
        tokens = chunk_tokens(index.chunks, index.documents)
    manifest = {**index.manifest, "params": {**index.manifest["params"], "bm25": backend.value}}
    return replace(index, manifest=manifest, bm25=build_scorer(backend, tokens))
