"""The answer engine: question -> retrieval -> evidence selection -> regimen check -> Answer."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from ragqa.answer.contract import (
    AbstentionRecord,
    Answer,
    Reference,
    RegimenCheck,
    RegimenEvidence,
    RejectedPassage,
    Section,
    Statement,
)
from ragqa.answer.regimen import Regimen, RegimenHit, RegimenTable
from ragqa.answer.select import (
    EVIDENCE_LEVEL,
    Candidate,
    Topic,
    Weights,
    assign_topic,
    combine,
    content_terms,
    default_topics,
    lexical_overlap,
    mmr,
    specificity,
)
from ragqa.errors import InvalidQueryError
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.retrieve import Filters, Mode, Retriever, SearchResult

MAX_QUESTION_CHARS = 2000

# Endings of drug names (INN stems). A question naming such a word that the corpus never
# mentions is about a drug ragqa has no evidence on, however close the rest of the words are.
_DRUG_STEMS = re.compile(
    r"(?:azepam|azolam|barbital|caine|cillin|cycline|dipine|floxacin|formin|gliflozin|gliptin|"
    r"glitazone|mab|mycin|olol|oxetine|parin|pramine|prazole|pril|profen|sartan|setron|statin|"
    r"tidine|triptan|triptyline|vir|zepam|zodone|zolam|ine|ide|one|ate|ol|am|il|an|in)$"
)


@dataclass(frozen=True)
class AnswerParams:
    """Tunable parameters of the engine; thresholds calibrated as documented in the README."""

    top_k: int = 8
    max_statements: int = 10
    bottom_line_extracts: int = 2
    min_relevance: float = 0.42
    min_sentence_similarity: float = 0.25
    diversity: float = 0.3
    facet_k: int = 4
    per_topic: int = 2
    per_regimen: int = 2
    facet_rank_offset: int = 4
    facet_similarity_scale: float = 0.9
    facet_relative_floor: float = 0.5
    weights: Weights = field(default_factory=Weights)

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= 50:
            raise InvalidQueryError(f"top_k must be between 1 and 50, got {self.top_k}")


@dataclass(frozen=True)
class _SentenceFacts:
    """Per-sentence derivations reused across questions."""

    terms: frozenset[str]
    specificity: float
    regimens: tuple[RegimenHit, ...]
    topic: Topic
    touches: frozenset[str]


@dataclass
class _Draft:
    """A statement before reference numbers are assigned."""

    text: str
    kind: str
    doc_ids: list[str]
    candidate: Candidate | None = None
    regimen: str | None = None
    topic: Topic | None = None
    segments: list[tuple[str, list[str]]] = field(default_factory=list)


class AnswerEngine:
    """Answers questions from one loaded index.

    >>> engine = AnswerEngine(index, embedder)
    >>> answer = engine.ask("Is microdosing ketamine effective for depression?")
    >>> answer.regimen_check.supported
    False
    """

    def __init__(
        self, index: HybridIndex, embedder: Embedder, mode: Mode = Mode.HYBRID,
        params: AnswerParams | None = None, table: RegimenTable | None = None,
        topics: tuple[Topic, ...] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self.params = params or AnswerParams()
        self.table = table or RegimenTable.default()
        self.topics = topics or default_topics()
        self.retriever = Retriever(index, embedder)
        self.vocabulary = index.bm25.vocabulary()
        self._facts: dict[int, _SentenceFacts] = {}
        self._facet_vectors: dict[str, np.ndarray] = {}

    def ask(self, question: str, top_k: int | None = None, filters: Filters | None = None) -> Answer:
        """Answer a question with quoted, cited sentences, or abstain with the reasons."""
        started = time.perf_counter()
        question = _validate(question)
        k = top_k if top_k is not None else self.params.top_k
        if not 1 <= k <= 50:
            raise InvalidQueryError(f"top_k must be between 1 and 50, got {k}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        query_vector = self.embedder.embed([question])[0]
        timings["embed"] = _ms(t0)
        result = self.retriever.search(question, k=k, mode=self.mode, filters=filters,
                                       query_vector=query_vector)
        timings.update({f"retrieve_{name}": v for name, v in result.timings_ms.items()})
        t0 = time.perf_counter()
        asked, asked_drug = self._asked_regimen(question)
        refusal = self._relevance_problem(question, result, query_vector)
        if refusal is not None:
            answer = self._abstain(question, result, query_vector, refusal, asked, asked_drug)
        else:
            pools = [(result, query_vector, 0, 1.0, None)]
            facets = self._facet_queries(question, asked, asked_drug)
            if facets:
                t1 = time.perf_counter()
                texts = [text for _, text, _ in facets]
                embedded = self._vectors([embed for _, _, embed in facets])
                vectors = []
                for (_, text, embed), vector in zip(facets, embedded):
                    if embed != text:  # facet words alone: add the question's own meaning
                        vector = query_vector + vector
                        vector = vector / (np.linalg.norm(vector) or 1.0)
                    vectors.append(vector)
                found = self.retriever.search_many(texts, vectors, k=self.params.facet_k,
                                                   mode=self.mode, filters=filters)
                for (topic, text, _), vector, result_f in zip(facets, vectors, found):
                    pools.append((result_f, vector, self.params.facet_rank_offset,
                                  self.params.facet_similarity_scale, (topic, text)))
                timings["facets"] = _ms(t1)
            candidates, by_topic = self._candidates(question, query_vector, pools)
            answer = self._compose(question, result, candidates, by_topic, asked, asked_drug)
        timings["select"] = _ms(t0)
        timings["total"] = _ms(started)
        answer.timings_ms = timings
        return answer

    # -- evidence -------------------------------------------------------------------------------

    def _vectors(self, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of facet queries; they repeat across questions, so they are cached."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._facet_vectors]
        if missing:
            if len(self._facet_vectors) > 4096:
                self._facet_vectors.clear()
            self._facet_vectors.update(zip(missing, self.embedder.embed(missing)))
        return [self._facet_vectors[t] for t in texts]

    def _facet_queries(self, question: str, asked: Regimen | None,
                       drug: str | None) -> list[tuple[Topic, str, str]]:
        """Extra queries so the answer reaches every topic: (topic, query text, text to embed).

        The query is the question's subject (the drugs it names, else its content words) plus
        each topic's facet words. A drug-named query repeats across questions, so its own
        embedding is cached; otherwise only the facet words are embedded (cached) and added to
        the question's vector (the text to embed is then the facet words alone), so no question
        costs more than one model call. When a regimen is
        asked, the regimen topic also searches for what the literature on that regimen studied.
        """
        named = [d for _, d in self.table.drugs_in(question)]
        if named:
            subject = " ".join(dict.fromkeys(named))
            queries = [(t, f"{subject} {f}", f"{subject} {f}") for t in self.topics for f in t.facets]
        else:
            subject = " ".join(sorted(content_terms(question)))
            queries = [(t, f"{subject} {f}", f) for t in self.topics for f in t.facets]
        regimen_topic = next((t for t in self.topics if t.id == "regimen"), None)
        if asked is not None and regimen_topic is not None:
            text = f"{_asked_phrase(asked, drug)} studied"
            queries.append((regimen_topic, text, text))
            if drug is not None and asked.drug == "*":
                # what the regimen's own literature studied: the drugs the table has it for
                studied = sorted({r.drug for r in self.table.regimens if r.group == asked.group})
                names = " and ".join(n.upper() if len(n) <= 3 else n for n in studied)
                text = f"{asked.label} studies of {names}".strip()
                queries.append((regimen_topic, text, text))
        return queries

    def _candidates(
        self, question: str, qv: np.ndarray,
        pools: list[tuple[SearchResult, np.ndarray, int, float, tuple[Topic, str] | None]],
    ) -> tuple[list[Candidate], dict[tuple[str, str], list[Candidate]]]:
        """Every sentence of the retrieved chunks scored against the question, plus per facet
        (topic id, query) the sentences its search found that touch its topic, scored against
        the facet query.

        Each pool is (search result, query vector, rank offset, similarity scale, facet key).
        A sentence's own score always uses its similarity to the question, so a facet search
        can add candidates but never makes one look more relevant to the question than it is.
        """
        terms = content_terms(question)
        weights = self.params.weights
        best: dict[int, Candidate] = {}
        by_topic: dict[tuple[str, str], list[Candidate]] = {}
        for result, vector, offset, scale, facet_key in pools:
            topic = facet_key[0] if facet_key else None
            for hit in result.hits:
                chunk = self.index.chunks[hit.chunk_index]
                level = EVIDENCE_LEVEL[self.index.documents[chunk.doc_id].doc_type.value]
                for sid in chunk.sentence_ids:
                    own = float(self.index.sentence_vectors[sid] @ qv)
                    facet = float(self.index.sentence_vectors[sid] @ vector)
                    facts = self._sentence_facts(sid)
                    lexical = lexical_overlap(terms, facts.terms)
                    figures = facts.specificity
                    rank = hit.rank + offset
                    score = combine(weights, own, lexical, rank, level, figures)
                    if sid not in best or score > best[sid].score:
                        best[sid] = Candidate(sid, hit.chunk_index, rank, own, lexical, level, score)
                    if topic is not None and topic.id in facts.touches:
                        topic_score = combine(weights, scale * facet, lexical, hit.rank, level,
                                              figures)
                        by_topic.setdefault((topic.id, facet_key[1]), []).append(Candidate(
                            sid, hit.chunk_index, rank, facet, lexical, level, topic_score))
        return list(best.values()), by_topic

    def _sentence_facts(self, sid: int) -> _SentenceFacts:
        """What the engine derives from a sentence's text, computed once per index.

        The index never changes under an engine (a reindex builds a new engine), so the cache
        only ever gains entries that are true for good.
        """
        facts = self._facts.get(sid)
        if facts is None:
            text = self.index.sentences[sid].text
            facts = _SentenceFacts(
                terms=frozenset(content_terms(text)),
                specificity=specificity(text),
                regimens=tuple(self.table.find(text)),
                topic=assign_topic(text, self.topics),
                touches=frozenset(t.id for t in self.topics if any(p.search(text) for p in t.patterns)),
            )
            self._facts[sid] = facts
        return facts

    def _relevance_problem(self, question: str, result: SearchResult, qv: np.ndarray) -> str | None:
        """Why the retrieved passages cannot answer the question, or None when they can."""
        if not result.hits:
            return "nothing was retrieved"
        best = max(float(self.index.chunk_vectors[h.chunk_index] @ qv) for h in result.hits)
        if best < self.params.min_relevance:
            return (f"the closest passage scores {best:.3f}, below the relevance threshold "
                    f"{self.params.min_relevance}")
        unknown = sorted(
            t for t in content_terms(question)
            if t.isalpha() and len(t) > 4 and t not in self.vocabulary and _DRUG_STEMS.search(t)
            and not self._known_drug(t)
        )
        if unknown:
            return f"the corpus never mentions {', '.join(repr(t) for t in unknown)}"
        return None

    def _known_drug(self, term: str) -> bool:
        return any(p.fullmatch(term) for p in self.table.drug_names.values())

    # -- regimens -------------------------------------------------------------------------------

    def _asked_regimen(self, question: str) -> tuple[Regimen | None, str | None]:
        """The regimen a question asks about (microdosing first, then a dose, then a naming term)."""
        drugs = [d for _, d in self.table.drugs_in(question) if d in _regimen_drugs(self.table)]
        drug = drugs[0] if drugs else None
        hits = self.table.find(question, default_drug=drug)
        for hit in hits:
            if hit.regimen.id == self.table.microdose.id:
                return hit.regimen, drug
        for hit in hits:
            if hit.dose is not None:
                return hit.regimen, hit.regimen.drug
        for hit in hits:
            return hit.regimen, hit.regimen.drug
        return None, drug

    def _supports(self, asked: Regimen, asked_drug: str | None, hit: RegimenHit, text: str) -> bool:
        """Whether one regimen found in an evidence sentence studies the asked regimen."""
        if hit.negated and hit.dose is None:
            return False
        if asked.id == self.table.microdose.id:
            if hit.regimen.group != asked.group:
                return False
            if asked_drug is None:
                return True
            return any(d == asked_drug for _, d in self.table.drugs_in(text))
        if hit.regimen.id == asked.id:
            return True
        # a regimen named only by its group ("subanesthetic ketamine") is met by any of the group
        return asked.unit is None and hit.regimen.group == asked.group and hit.regimen.drug == asked.drug

    # -- composition ----------------------------------------------------------------------------

    def _compose(self, question: str, result: SearchResult, candidates: list[Candidate],
                 by_topic: dict[tuple[str, str], list[Candidate]], asked: Regimen | None,
                 asked_drug: str | None) -> Answer:
        keep = [c for c in candidates if c.similarity >= self.params.min_sentence_similarity]
        if not keep:
            keep = sorted(candidates, key=lambda c: -c.score)[:3]
        vectors = self.index.sentence_vectors[[c.sentence_id for c in keep]]
        picks = mmr(vectors, np.array([c.score for c in keep]), self.params.max_statements,
                    self.params.diversity)
        chosen = [keep[i] for i in picks]
        # what facets and regimen coverage may add must still be near the question itself
        floor = max(self.params.min_sentence_similarity,
                    self.params.facet_relative_floor * max(c.similarity for c in candidates))
        own = {c.sentence_id: c.similarity for c in candidates}
        chosen_ids = {c.sentence_id for c in chosen}
        # each facet search contributes its best sentences, so no topic is crowded out
        by_id = {c.sentence_id: c for c in candidates}
        slots = {t.id: t.slots or self.params.per_topic for t in self.topics}
        for (topic_id, _), found in by_topic.items():
            unique = {}
            for c in found:
                if own[c.sentence_id] >= floor and (
                        c.sentence_id not in unique or c.score > unique[c.sentence_id].score):
                    unique[c.sentence_id] = c
            pool = list(unique.values())
            if not pool:
                continue
            vectors = self.index.sentence_vectors[[c.sentence_id for c in pool]]
            for i in mmr(vectors, np.array([c.score for c in pool]), slots[topic_id],
                         diversity=0.5, duplicate_threshold=0.9):
                c = pool[i]
                if c.sentence_id in chosen_ids:
                    continue
                vector = self.index.sentence_vectors[c.sentence_id]
                if any(float(vector @ self.index.sentence_vectors[o.sentence_id]) >= 0.9 for o in chosen):
                    continue
                chosen.append(by_id[c.sentence_id])
                chosen_ids.add(c.sentence_id)

        # regimens: every dose-bearing regimen in the retrieved evidence gets its best sentence shown
        regimen_hits: dict[int, list[RegimenHit]] = {
            c.sentence_id: list(self._sentence_facts(c.sentence_id).regimens)
            for c in candidates
        }
        by_regimen: dict[str, list[Candidate]] = {}
        # a question that asks about a regimen sees every regimen the retrieved evidence covers
        # (its best sentences); other questions only those near enough to the question itself
        regimen_floor = self.params.min_sentence_similarity if asked is not None else floor
        per_regimen = self.params.per_regimen if asked is not None else 1
        for c in sorted(keep, key=lambda c: -c.score):
            if c.similarity < regimen_floor:
                continue
            for hit in regimen_hits[c.sentence_id]:
                found = by_regimen.setdefault(hit.regimen.id, []) if hit.dose is not None else None
                if found is not None and len(found) < per_regimen and c not in found:
                    found.append(c)
        for c in (c for found in by_regimen.values() for c in found):
            if c.sentence_id not in chosen_ids:
                chosen.append(c)
                chosen_ids.add(c.sentence_id)
        supported = None
        supporting: list[Candidate] = []
        if asked is not None:
            supporting = [
                c for c in sorted(keep, key=lambda c: -c.score)
                if any(self._supports(asked, asked_drug, hit, self.index.sentences[c.sentence_id].text)
                       for hit in regimen_hits[c.sentence_id])
            ]
            supported = bool(supporting)
            for c in supporting[:2]:  # the answer quotes what supports the asked regimen
                if c.sentence_id not in chosen_ids:
                    chosen.append(c)
                    chosen_ids.add(c.sentence_id)
        chosen.sort(key=lambda c: -c.score)
        drafts = [self._draft(c, regimen_hits[c.sentence_id]) for c in chosen]
        evidence = self._evidence(drafts, regimen_hits)
        bottom: list[_Draft] = []
        support_ids = {c.sentence_id for c in supporting}
        support_docs = list(dict.fromkeys(
            d.doc_ids[0] for d in drafts if d.candidate.sentence_id in support_ids))
        segments = self._note(asked, asked_drug, supported, evidence, support_docs)
        if segments:
            bottom.append(_Draft("", "system", [d for _, docs in segments for d in docs],
                                 segments=segments))
        lead = self._lead(drafts, asked, supported, supporting)
        bottom.extend(lead)
        rest = [d for d in drafts if d not in lead]
        sections = self._sections(rest)
        return self._finish(question, result, bottom, sections, asked, asked_drug, supported,
                            evidence)

    def _draft(self, c: Candidate, hits: list[RegimenHit]) -> _Draft:
        sentence = self.index.sentences[c.sentence_id]
        regimen = next((h.regimen.id for h in hits if h.dose is not None), None)
        return _Draft(sentence.text, "extract", [sentence.doc_id], c, regimen,
                      self._sentence_facts(c.sentence_id).topic)

    def _lead(self, drafts: list[_Draft], asked: Regimen | None, supported: bool | None,
              supporting: list[Candidate]) -> list[_Draft]:
        """The verdict's quoted sentences: the best ones, from different documents.

        When the asked regimen is unsupported, a sentence that itself speaks of that regimen
        (for example one saying microdoses were never studied) leads.
        """
        # the verdict quotes what answers the question most directly: similarity to it first
        ordered = sorted(drafts, key=lambda d: (-round(d.candidate.similarity, 2), -d.candidate.score))
        if asked is not None and supported is False:
            about = [d for d in ordered if any(t.search(d.text) for t in asked.terms)]
            ordered = about + [d for d in ordered if d not in about]
        elif asked is not None and supported:
            about = [d for d in ordered if d.candidate in supporting]
            ordered = about + [d for d in ordered if d not in about]
        lead: list[_Draft] = []
        for draft in ordered:
            if len(lead) >= self.params.bottom_line_extracts:
                break
            if all(draft.doc_ids != d.doc_ids for d in lead):
                lead.append(draft)
        return lead

    def _sections(self, drafts: list[_Draft]) -> list[tuple[str, str, list[_Draft]]]:
        """Group statements by topic (topics in data order); dosing is split by regimen."""
        sections: list[tuple[str, str, list[_Draft]]] = []
        for topic in self.topics:
            members = [d for d in drafts if d.topic is topic]
            if not members:
                continue
            if topic.id == "dosing":
                by_regimen: dict[str | None, list[_Draft]] = {}
                for d in members:
                    by_regimen.setdefault(d.regimen, []).append(d)
                for regimen_id, group in by_regimen.items():
                    label = self.table.by_id[regimen_id].label if regimen_id else "no dose stated"
                    sections.append((f"{topic.heading}: {label}", topic.id, group))
            else:
                sections.append((topic.heading, topic.id, members))
        return sections

    def _evidence(self, drafts: list[_Draft], hits: dict[int, list[RegimenHit]]
                  ) -> list[tuple[str, str, list[str], list[str], list[str]]]:
        """(regimen id, label, doses, routes, doc ids) for each dose-bearing regimen in the answer."""
        table: dict[str, tuple[str, str, list[str], list[str], list[str]]] = {}
        for draft in drafts:
            for hit in hits[draft.candidate.sentence_id]:
                if hit.dose is None:
                    continue
                rid = hit.regimen.id
                entry = table.setdefault(rid, (rid, hit.regimen.label, [], [], []))
                _add(entry[2], hit.dose.describe())
                if hit.dose.route:
                    _add(entry[3], hit.dose.route)
                _add(entry[4], draft.doc_ids[0])
        order = [r.id for r in self.table.regimens]
        return sorted(table.values(), key=lambda e: order.index(e[0]) if e[0] in order else 99)

    def _note(self, asked: Regimen | None, asked_drug: str | None, supported: bool | None,
              evidence: list, support_docs: list[str]) -> list[tuple[str, list[str]]]:
        """The regimen verdict as (text, doc ids cited right after it) segments."""
        if asked is None:
            return []
        what = _asked_phrase(asked, asked_drug)
        if supported:
            return [(f"The retrieved sources include evidence on {what}", support_docs)]
        if not evidence:
            text = (f"None of the retrieved sources studied {what}, and they report no dose "
                    f"regimen that could stand in for it")
            return [(text, [])]
        segments = [(f"None of the retrieved sources studied {what}; the evidence concerns", [])]
        for i, (_, label, doses, _, docs) in enumerate(evidence):
            joiner = "" if i == 0 else (" and" if i == len(evidence) - 1 else ",")
            segments.append((f"{joiner} {label}: {'; '.join(_distinct_doses(doses)[:3])}", docs))
        return segments

    def _finish(self, question: str, result: SearchResult, bottom: list[_Draft],
                sections: list[tuple[str, str, list[_Draft]]], asked: Regimen | None,
                asked_drug: str | None, supported: bool | None, evidence: list) -> Answer:
        numbers: dict[str, int] = {}
        for draft in [*bottom, *(d for _, _, group in sections for d in group)]:
            for doc_id in draft.doc_ids:
                numbers.setdefault(doc_id, len(numbers) + 1)
        references = [self._reference(doc_id, n) for doc_id, n in numbers.items()]
        verdict = [self._statement(d, numbers) for d in bottom]
        note = verdict[0].text if verdict and verdict[0].kind == "system" else ""
        check = RegimenCheck(
            asked=asked.id if asked else None,
            asked_label=_asked_phrase(asked, asked_drug) if asked else None,
            supported=supported,
            evidence=[RegimenEvidence(regimen=rid, label=label, doses=_distinct_doses(doses), routes=routes,
                                      citations=sorted(numbers[d] for d in docs))
                      for rid, label, doses, routes, docs in evidence],
            note=note or "The question names no dose regimen.",
        )
        return Answer(
            question=question, abstained=False,
            bottom_line=verdict,
            sections=[Section(heading=h, topic=t, statements=[self._statement(d, numbers) for d in g])
                      for h, t, g in sections],
            regimen_check=check, references=references,
            retrieved_doc_ids=_doc_order(result), index_version=self.index.version,
            index_built_at=self.index.manifest.get("built_at"), timings_ms={},
        )

    def _statement(self, draft: _Draft, numbers: dict[str, int]) -> Statement:
        citations = [numbers[d] for d in draft.doc_ids]
        if draft.kind == "system" or draft.candidate is None:
            text = "".join(
                f"{part} [{', '.join(str(numbers[d]) for d in dict.fromkeys(docs))}]" if docs else part
                for part, docs in draft.segments
            ) + "."
            return Statement(text=text, kind="system", citations=sorted(set(citations)))
        sentence = self.index.sentences[draft.candidate.sentence_id]
        return Statement(
            text=sentence.text, kind="extract", citations=citations, doc_id=sentence.doc_id,
            chunk_id=self.index.chunks[draft.candidate.chunk_index].id,
            char_start=sentence.char_start, char_end=sentence.char_end, regimen=draft.regimen,
            score=round(draft.candidate.score, 4),
        )

    def _reference(self, doc_id: str, n: int) -> Reference:
        doc = self.index.documents[doc_id]
        return Reference(n=n, doc_id=doc.id, title=doc.title, publisher=doc.publisher, year=doc.year,
                         doc_type=doc.doc_type.value, authors=list(doc.authors), url=doc.url,
                         doi=doc.doi, pmid=doc.pmid)

    def _abstain(self, question: str, result: SearchResult, qv: np.ndarray, reason: str,
                 asked: Regimen | None, asked_drug: str | None) -> Answer:
        closest = []
        for hit in result.hits[:5]:
            chunk = self.index.chunks[hit.chunk_index]
            closest.append(RejectedPassage(
                chunk_id=chunk.id, doc_id=chunk.doc_id, title=self.index.documents[chunk.doc_id].title,
                score=round(float(self.index.chunk_vectors[hit.chunk_index] @ qv), 4),
                text=chunk.text[:400],
            ))
        best = max((p.score for p in closest), default=0.0)
        return Answer(
            question=question, abstained=True,
            message="The corpus does not cover this question, so ragqa gives no clinical answer.",
            bottom_line=[], sections=[], references=[],
            regimen_check=RegimenCheck(
                asked=asked.id if asked else None,
                asked_label=_asked_phrase(asked, asked_drug) if asked else None,
                supported=None, evidence=[], note="No evidence was selected (the answer abstained).",
            ),
            abstention=AbstentionRecord(
                reason=reason, searched=f"{self.mode.value} retrieval of the top {len(result.hits)} "
                f"chunks of index {self.index.version}", query_terms=result.query_tokens,
                threshold=self.params.min_relevance, best_score=best, closest=closest,
            ),
            retrieved_doc_ids=_doc_order(result), index_version=self.index.version,
            index_built_at=self.index.manifest.get("built_at"), timings_ms={},
        )


def _validate(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidQueryError("question must not be empty")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQueryError(
            f"question must be at most {MAX_QUESTION_CHARS} characters, got {len(question)}"
        )
    return question


def _regimen_drugs(table: RegimenTable) -> set[str]:
    return {r.drug for r in table.regimens}


def _asked_phrase(asked: Regimen, drug: str | None) -> str:
    if asked.drug == "*":
        return f"{asked.label} of {drug}" if drug else asked.label
    return asked.label


def _doc_order(result: SearchResult) -> list[str]:
    return list(dict.fromkeys(h.doc_id for h in result.hits))


def _distinct_doses(doses: list[str]) -> list[str]:
    """Drop a dose description that a longer one in the list already contains."""
    return [d for d in doses if not any(d != o and o.startswith(d) for o in doses)]


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
