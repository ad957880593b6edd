"""Evidence gathering: the sentences that may answer a question, retrieved sentence-first.

QuestionAnalysis -> Evidence. Sentences are retrieved directly (BM25 over sentences and dense over
their vectors, fused); the chunks retrieved for the same question stay the unit of context and of
the retrieved-documents list. A broad question also searches each overview topic's facet words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np

from ragqa.answer.analysis import QuestionAnalysis, spelled_out
from ragqa.answer.aspects import Aspect, AspectBook
from ragqa.answer.defined import DefinedAbbreviations
from ragqa.answer.facts import AnswerData, SentenceFacts
from ragqa.answer.regimen import RegimenTable
from ragqa.answer.scoring import EVIDENCE_LEVEL, Topic
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.ingest.layout import BlockKind
from ragqa.retrieve import Filters, Mode, Retriever, SearchResult

__all__ = ["Candidate", "Evidence", "EvidenceGatherer", "FactBook", "GatherParams", "SentenceFacts"]

log = logging.getLogger(__name__)

# sentence sets kept between questions (an aspect's or a document's sentences): how many, and the
# most rows whose vectors are kept too (larger ones gather them per question, to bound memory)
SUBSET_CACHE_SIZE = 32
SUBSET_CACHE_ROWS = 20_000


class FactBook:
    """Per-sentence facts of one index: looked up in the facts stored with it, or, when those
    were derived with other data or code, derived from the text on first use and kept."""

    def speaks_to(self, sid: int, aspects: tuple[Aspect, ...]) -> bool:
        """Whether the sentence speaks to any of the aspects (True when none is asked)."""
        return not aspects or any(a.id in self[sid].aspects for a in aspects)

    def on_topics(self, drugs: tuple[str, ...]) -> bool:
        """Whether the corpus's topics (topics.json) shape the overview of a question naming
        `drugs`: they are its preference for questions on the drugs its regimen table knows
        (regimens.json); a question on anything else is covered by its own search, and its
        overview follows its sources' own headings."""
        return any(drug in self._regimen_drugs for drug in drugs)

    def answers_in(self, sid: int, forms: tuple[Aspect, ...]) -> bool:
        """Whether the sentence states its answer in one of the asked forms (False when none is asked)."""
        return any(f.id in self[sid].forms for f in forms)

    def __init__(self, index: HybridIndex, table: RegimenTable, topics: tuple[Topic, ...],
                 book: AspectBook) -> None:
        self.index = index
        self.table = table
        self.topics = topics
        self.book = book
        self.data = AnswerData(table, topics, book)
        self._regimen_drugs = frozenset(r.drug for r in table.regimens)
        stored = index.sentence_facts
        if stored is not None and stored.fingerprint != self.data.fingerprint():
            log.warning("the index's sentence facts were derived with other answer data or code: "
                        "deriving them per question instead (rebuild with `ragqa index`)")
            stored = None
        self._table = stored
        self._stored = stored.reader(self.data) if stored is not None else None
        self._facts: dict[int, SentenceFacts] = {}
        # the abbreviations each document defines: a sentence writing "CD" also holds the words
        # of "coeliac disease" when its document says so (answer/defined.py)
        self.defined = DefinedAbbreviations.of((s.doc_id, s.text) for s in index.sentences)

    def spelled_out(self, term: str) -> frozenset[str]:
        """The words a several-word abbreviation stands for ('crp' -> complex regional pain
        syndrome): from abbreviations.json, else as the corpus defines it (empty if neither)."""
        return spelled_out().get(term) or self.defined.anywhere.get(term, frozenset())

    def speaking(self, aspects: tuple[Aspect, ...]) -> np.ndarray | None:
        """The ids of the sentences that speak to any of the aspects, from the stored table
        (None without one: deriving every sentence's facts per question would cost too much)."""
        if self._table is None:
            return None
        return np.unique(np.concatenate([self._table.flagged(f"aspect:{a.id}") for a in aspects]))

    def __getitem__(self, sid: int) -> SentenceFacts:
        facts = self._facts.get(sid)
        if facts is None:
            if self._stored is not None:
                facts = self._stored(sid)
            else:
                facts = self.data.facts(self.index.sentences[sid].text)
            terms = self.defined.expand(self.index.sentences[sid].doc_id, facts.terms)
            if terms is not facts.terms:
                facts = replace(facts, terms=terms)
            self._facts[sid] = facts
        return facts


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer the question, with where it sits and how near it is."""

    sentence_id: int
    chunk_index: int
    doc_id: str
    section: tuple[str, ...]
    previous: int | None
    next: int | None
    similarity: float
    rank: int
    level: float
    facets: tuple[tuple[str, int], ...] = ()  # (facet key "topic:words", rank in that facet search)


@dataclass(frozen=True)
class Evidence:
    """The candidates of one question, the chunk search behind them and its best chunk similarity."""

    chunks: SearchResult
    candidates: tuple[Candidate, ...]
    best_chunk_similarity: float
    timings_ms: dict[str, float] = field(default_factory=dict)

    def best_similarity(self) -> float:
        """The highest similarity of any candidate sentence to the question."""
        return max((c.similarity for c in self.candidates), default=0.0)


@dataclass(frozen=True)
class GatherParams:
    """How much evidence is gathered."""

    sentence_k: int = 40
    broad_sentence_k: int = 200
    facet_k: int = 12
    facet_chunks: int = 4
    aspect_k: int = 5
    source_k: int = 30


class EvidenceGatherer:
    """Gathers candidate sentences for an analysed question from one index.

    >>> evidence = EvidenceGatherer(index, retriever, facts, topics, embedder).gather(analysis)
    """

    def __init__(self, index: HybridIndex, retriever: Retriever, facts: FactBook,
                 topics: tuple[Topic, ...], embedder: Embedder,
                 params: GatherParams | None = None) -> None:
        self.index = index
        self.retriever = retriever
        self.facts = facts
        self.topics = topics
        self.embedder = embedder
        self.params = params or GatherParams()
        levels = {d.id: EVIDENCE_LEVEL.get(d.doc_type.value, 0.5) for d in index.documents.values()}
        sentences = index.sentences
        # per sentence, looked up per candidate: its document's evidence level, whether the
        # sentences before and after it are of the same document, whether it may be evidence
        # (reference-list entries and table header lines never are; an image-only table's caption
        # is, so the answer can say that its best evidence is an image in the source)
        same = [a.doc_id == b.doc_id for a, b in pairwise(sentences)]
        owner = index.sentence_chunk().tolist()
        # per sentence, a Candidate's fields before its similarity: sentence id, owning chunk,
        # document, section, previous and next sentence of the same document (else None)
        self._place = [(i, owner[i], s.doc_id, s.section, i - 1 if before else None,
                        i + 1 if after else None)
                       for i, (s, before, after) in enumerate(zip(sentences, [False, *same],
                                                                  [*same, False]))]
        self._level = [levels[s.doc_id] for s in sentences]
        of_document: dict[str, list[int]] = {}
        for i, s in enumerate(sentences):
            of_document.setdefault(s.doc_id, []).append(i)
        self._of_document = {d: np.asarray(ids, dtype=np.int64) for d, ids in of_document.items()}
        self._usable = [s.quotable or s.kind is BlockKind.IMAGE_TABLE for s in sentences]
        self._usable_mask = np.asarray(self._usable, dtype=bool)
        self._facet_vectors: dict[str, np.ndarray] = {}
        self._subsets: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray | None]] = {}

    def gather(self, analysis: QuestionAnalysis, mode: Mode = Mode.HYBRID, k: int = 8,
               filters: Filters | None = None) -> Evidence:
        """Chunks for context, then sentences: the question's own search, plus topic facets if broad."""
        qv = analysis.vector
        text = analysis.search_text
        chunks = self.retriever.search(text, k=k, mode=mode, filters=filters, query_vector=qv)
        depth = self.params.sentence_k
        found = self.retriever.search_sentences(text, qv, depth, mode, filters)
        ranks: dict[int, int] = {h.sentence_id: h.rank for h in found.hits}
        if analysis.broad and mode is not Mode.BM25:
            # an overview reaches further: the sentences nearest in meaning, beyond the fused top
            near = self.retriever.search_sentences(text, qv, self.params.broad_sentence_k,
                                                   Mode.DENSE, filters)
            for hit in near.hits:
                ranks.setdefault(hit.sentence_id, depth + hit.rank)
        if analysis.aspects and not analysis.broad and mode is not Mode.BM25:
            # a narrow question also reaches the sentences on its aspect nearest in meaning, which
            # the fused search may rank below sentences that share its words on other aspects
            for rank, sid in enumerate(self._nearest_on_aspect(analysis, filters), start=1):
                ranks.setdefault(sid, depth + rank)
        facets: dict[int, list[tuple[str, int]]] = {}
        if analysis.broad or analysis.regimen is not None:
            for topic, key, query, vector in self._facet_queries(analysis):
                # the facet's best sentences, then the sentences of its best chunks
                found_f = self.retriever.search_sentences(query, vector, self.params.facet_k, mode,
                                                          filters)
                hits = [h.sentence_id for h in found_f.hits]
                chunked = self.retriever.search(query, k=self.params.facet_chunks, mode=mode,
                                                filters=filters, query_vector=vector)
                hits += [sid for h in chunked.hits for sid in self.index.chunks[h.chunk_index].sentence_ids]
                for rank, sid in enumerate(dict.fromkeys(hits), start=1):
                    if topic.id in self.facts[sid].touches:
                        ranks.setdefault(sid, depth + rank)
                        facets.setdefault(sid, []).append((key, rank))
        for hit in chunks.hits:  # the retrieved chunks' sentences: context the sentence search may miss
            for sid in self.index.chunks[hit.chunk_index].sentence_ids:
                ranks.setdefault(sid, depth + hit.rank)
        if analysis.sources:
            # a question naming a source is answered from it: its sentences ranked by how near they
            # are to the question, among that source's own
            for rank, sid in enumerate(self._nearest_in(analysis.sources, analysis.vector), start=1):
                ranks[sid] = min(ranks.get(sid, rank), rank)
            ranks = {sid: r for sid, r in ranks.items() if self._place[sid][2] in analysis.sources}
        usable = self._usable
        ranks = {sid: r for sid, r in ranks.items() if usable[sid]}
        ids = np.fromiter(ranks, dtype=np.int64, count=len(ranks))
        similarities = (self.index.sentence_vectors[ids] @ qv).tolist() if len(ids) else []
        candidates = tuple(self._candidate(sid, sim, rank, tuple(facets.get(sid, ())))
                           for (sid, rank), sim in zip(ranks.items(), similarities))
        best_chunk = max((float(self.index.chunk_vectors[h.chunk_index] @ qv) for h in chunks.hits),
                         default=0.0)
        timings = {f"retrieve_{n}": v for n, v in {**chunks.timings_ms, **found.timings_ms}.items()}
        return Evidence(chunks, candidates, best_chunk, timings)

    def _nearest_on_aspect(self, analysis: QuestionAnalysis, filters: Filters | None) -> list[int]:
        """The `aspect_k` sentences speaking to the asked aspects nearest to the question."""
        if filters is not None:
            return []
        return self._nearest(("aspect", *(a.id for a in analysis.aspects)),
                             lambda: self.facts.speaking(analysis.aspects),
                             analysis.vector, self.params.aspect_k)

    def _nearest_in(self, doc_ids: tuple[str, ...], vector: np.ndarray) -> list[int]:
        """The `source_k` sentences of the documents nearest to the question."""
        empty = np.zeros(0, dtype=np.int64)
        return self._nearest(("document", *doc_ids),
                             lambda: np.concatenate([self._of_document.get(d, empty) for d in doc_ids]),
                             vector, self.params.source_k)

    def _nearest(self, key: tuple[str, ...], sentences: Callable[[], np.ndarray | None],
                 vector: np.ndarray, k: int) -> list[int]:
        """The k usable sentences of a set nearest to the question, best first. The set (an aspect's
        or a document's sentences, asked for again and again) is kept by its key with its vectors,
        the vectors only when it is small enough."""
        kept = self._subsets.get(key)
        if kept is None:
            ids = sentences()
            if ids is None:
                return []
            ids = ids[self._usable_mask[ids]]
            vectors = self.index.sentence_vectors[ids] if len(ids) <= SUBSET_CACHE_ROWS else None
            if len(self._subsets) >= SUBSET_CACHE_SIZE:
                self._subsets.pop(next(iter(self._subsets)))
            kept = self._subsets[key] = (ids, vectors)
        ids, vectors = kept
        if not len(ids):
            return []
        sims = (vectors if vectors is not None else self.index.sentence_vectors[ids]) @ vector
        k = min(k, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        return ids[top[np.argsort(-sims[top])]].tolist()

    def _candidate(self, sid: int, similarity: float, rank: int,
                   facets: tuple[tuple[str, int], ...]) -> Candidate:
        return Candidate(*self._place[sid], similarity, rank, self._level[sid], facets)

    def _facet_queries(self, analysis: QuestionAnalysis) -> list[tuple[Topic, str, str, np.ndarray]]:
        """(topic, facet key, query text, query vector) per facet: the question's meaning plus the
        facet's words.

        The facet words are embedded once (cached) and added to the question's vector, so an
        overview costs no model call beyond the question's own.
        """
        subject = " ".join(analysis.drugs) or " ".join(t.term for t in analysis.subject)
        facets = [(t, f) for t in self.topics for f in t.facets] \
            if self.facts.on_topics(analysis.drugs) else []
        if analysis.regimen is not None:
            regimen_topic = next((t for t in self.topics if t.id == "regimen"), None)
            if regimen_topic is not None:
                facets.append((regimen_topic, f"{analysis.regimen.label} studied"))
                # what the regimen's own literature studied: the drugs the table has it for
                regimen = analysis.regimen.regimen
                studied = sorted({r.drug for r in self.facts.table.regimens if r.group == regimen.group})
                if regimen.drug == "*" and studied:
                    names = " and ".join(n.upper() if len(n) <= 3 else n for n in studied)
                    facets.append((regimen_topic, f"{regimen.label} studies of {names}"))
        if not analysis.broad:  # a narrow regimen question only looks for what the regimen studied
            facets = [(t, f) for t, f in facets if t.id == "regimen"]
        missing = [f for _, f in facets if f not in self._facet_vectors]
        if missing:
            self._facet_vectors.update(zip(missing, self.embedder.embed(missing)))
        queries = []
        for topic, words in facets:
            vector = analysis.vector + self._facet_vectors[words]
            vector = vector / (np.linalg.norm(vector) or 1.0)
            queries.append((topic, f"{topic.id}:{words}", f"{subject} {words}".strip(),
                            vector.astype(np.float32)))
        return queries
