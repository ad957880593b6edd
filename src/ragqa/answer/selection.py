"""Selection: which candidate sentences the answer quotes, and in what order.

QuestionAnalysis + Evidence + RegimenVerdict -> Selection. Every candidate is scored by its
relevance to the question (similarity, rare subject words it holds, whether it speaks to the asked
aspect); statements enter relative to the best candidate (an adaptive cut, not a fixed count).
A narrow question gets its most direct sentences as the bottom line and a few supporting ones on
the same aspect; a broad one gets the sectioned overview by topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragqa.answer.analysis import QuestionAnalysis, QuestionAnalyzer
from ragqa.answer.evidence import Candidate, Evidence, FactBook
from ragqa.answer.scoring import Topic, mmr
from ragqa.answer.verdict import RegimenVerdict
from ragqa.index.store import HybridIndex
from ragqa.ingest.layout import BlockKind


@dataclass(frozen=True)
class SelectionParams:
    """Weights of the relevance score and the bounds of the adaptive cut."""

    similarity: float = 0.55
    rank: float = 0.1
    subject: float = 0.2
    aspect: float = 0.12
    level: float = 0.04
    specificity: float = 0.04
    framing: float = 0.2
    min_similarity: float = 0.25
    narrow_margin: float = 0.08
    off_aspect_margin: float = 0.03
    lead_margin: float = 0.1
    lead_size: int = 2
    narrow_max: int = 6
    narrow_min: int = 3
    duplicate: float = 0.95
    broad_max: int = 10
    broad_floor: float = 0.5
    diversity: float = 0.3
    per_topic: int = 2
    per_regimen: int = 2


@dataclass(frozen=True)
class Scored:
    """A candidate with its relevance score and whether it speaks to the asked aspect."""

    candidate: Candidate
    score: float
    on_aspect: bool


@dataclass(frozen=True)
class Selection:
    """The quoted statements: the bottom line's, then titled groups."""

    lead: tuple[Scored, ...]
    groups: tuple[tuple[str, str, tuple[Scored, ...]], ...]
    image_tables: tuple[Scored, ...] = ()

    def all(self) -> list[Scored]:
        """Every selected statement, bottom line first."""
        return [*self.lead, *(s for _, _, group in self.groups for s in group)]


def best_source(analysis: QuestionAnalysis, evidence: Evidence, pool: list[Scored]) -> list[Scored]:
    """For a statement, the candidates of the document the retriever ranks first; else the pool.

    The evidence on a statement ("Ketamine works within a day for depression.") is what the source
    that bears on it most directly found, its sentences quoted together, rather than the one
    sentence most similar in wording from each of several sources. The retriever's document
    ranking, which weighs every passage of a source, picks that source better than the single
    best sentence does. A question, an overview, or a pool without that document keeps the pool.
    """
    if not analysis.statement or analysis.broad or not evidence.chunks.hits:
        return pool
    top = evidence.chunks.hits[0].doc_id
    return [s for s in pool if s.candidate.doc_id == top] or pool


def rank_score(rank: int) -> float:
    """The retrieval rank as a score: 1 for the top sentence, decaying with rank."""
    return 1.0 / (1.0 + 0.25 * (rank - 1))


class Selector:
    """Scores candidates and cuts them to an answer's statements."""

    def __init__(self, index: HybridIndex, analyzer: QuestionAnalyzer, facts: FactBook,
                 topics: tuple[Topic, ...], params: SelectionParams | None = None) -> None:
        self.index = index
        self.analyzer = analyzer
        self.facts = facts
        self.topics = topics
        self.params = params or SelectionParams()

    def select(self, analysis: QuestionAnalysis, evidence: Evidence,
               verdict: RegimenVerdict) -> Selection:
        """The statements to quote for this question."""
        everything = sorted(self.score(analysis, evidence), key=lambda s: -s.score)
        image = [s for s in everything if self._is_image_table(s)]
        scored = [s for s in everything if not self._is_image_table(s)]
        pool = [s for s in scored if s.candidate.similarity >= self.params.min_similarity] or scored[:3]
        # a table that exists only as an image, ranked with the best quotable evidence, is named
        best = pool[0].score if pool else 0.0
        images = tuple(s for s in image if s.score >= best - self.params.lead_margin)[:1]
        if analysis.broad:
            chosen = self._overview(pool, verdict)
        else:
            chosen = self._narrow(analysis, best_source(analysis, evidence, pool), verdict, pool)
        lead = self._lead(chosen, analysis, verdict)
        rest = [s for s in chosen if s not in lead]
        if analysis.broad:
            groups = self._sections(rest)
        else:
            heading = analysis.aspects[0].heading if analysis.aspects else "Supporting evidence"
            groups = ((heading, analysis.aspects[0].id if analysis.aspects else "other", tuple(rest)),) \
                if rest else ()
        return Selection(tuple(lead), groups, images)

    # -- scoring --------------------------------------------------------------------------------

    def score(self, analysis: QuestionAnalysis, evidence: Evidence) -> list[Scored]:
        """Each candidate's relevance to the question."""
        p = self.params
        weights = {t.term: t.weight for t in analysis.subject}
        families = {t: set(self.analyzer.family(t) or [t]) for t in weights}
        total = sum(weights.values())
        out = []
        for c in evidence.candidates:
            facts = self.facts[c.sentence_id]
            subject = (sum(w for t, w in weights.items() if facts.terms & families[t]) / total) \
                if total else 0.0
            on_aspect = self.facts.speaks_to(c.sentence_id, analysis.aspects)
            score = (p.similarity * c.similarity + p.rank * rank_score(c.rank) + p.subject * subject
                     + p.aspect * on_aspect + p.level * c.level + p.specificity * facts.specificity
                     - p.framing * facts.framing)
            out.append(Scored(c, score, on_aspect))
        return out

    # -- narrow answers -------------------------------------------------------------------------

    def _narrow(self, analysis: QuestionAnalysis, pool: list[Scored],
                verdict: RegimenVerdict, regimen_pool: list[Scored] | None = None) -> list[Scored]:
        """The best candidates and those close to them; off-aspect ones only when very close;
        the regimen verdict's evidence from `regimen_pool` (default: the same pool)."""
        p = self.params
        best = pool[0].score
        chosen: list[Scored] = []
        for s in pool:
            margin = p.narrow_margin if s.on_aspect else p.off_aspect_margin
            if s.score < best - margin:
                continue
            self._add(chosen, s, p.narrow_max)
        # the bottom line and a few supporting statements: fill up from the next ones on the aspect
        for s in pool:
            if len(chosen) >= p.narrow_min or s.score < best - 2 * p.narrow_margin:
                break
            if s.on_aspect:
                self._add(chosen, s, p.narrow_max)
        if verdict.asked is not None:
            self._add_regimen_evidence(chosen, regimen_pool if regimen_pool is not None else pool,
                                       verdict, per_regimen=1, limit=p.narrow_max + 2)
        return sorted(chosen, key=lambda s: -s.score)

    # -- broad answers --------------------------------------------------------------------------

    def _overview(self, pool: list[Scored], verdict: RegimenVerdict) -> list[Scored]:
        """Today's sectioned overview: the best statements by MMR, then each topic's best."""
        p = self.params
        vectors = self.index.sentence_vectors[[s.candidate.sentence_id for s in pool]]
        picks = mmr(vectors, np.array([s.score for s in pool]), p.broad_max, p.diversity, p.duplicate)
        chosen = [pool[i] for i in picks]
        floor = max(p.min_similarity, p.broad_floor * max(s.candidate.similarity for s in pool))
        slots = {t.id: t.slots or p.per_topic for t in self.topics}
        keys = sorted({key for s in pool for key, _ in s.candidate.facets})
        for key in keys:  # each facet search contributes its best sentences, so no topic is crowded out
            found = sorted((rank, i) for i, s in enumerate(pool) if s.candidate.similarity >= floor
                           for k, rank in s.candidate.facets if k == key)
            for _, i in found[:slots[key.split(":", 1)[0]]]:
                self._add(chosen, pool[i], limit=None)
        if verdict.asked is not None:
            self._add_regimen_evidence(chosen, pool, verdict, p.per_regimen, limit=None)
        else:
            self._add_regimen_evidence(chosen, [s for s in pool if s.candidate.similarity >= floor],
                                       verdict, 1, limit=None)
        return sorted(chosen, key=lambda s: -s.score)

    def _sections(self, statements: list[Scored]) -> tuple[tuple[str, str, tuple[Scored, ...]], ...]:
        """Group statements by topic (topics in data order); dosing is split by regimen."""
        sections: list[tuple[str, str, tuple[Scored, ...]]] = []
        for topic in self.topics:
            members = [s for s in statements if self.facts[s.candidate.sentence_id].topic is topic]
            if not members:
                continue
            if topic.id == "dosing":
                by_regimen: dict[str | None, list[Scored]] = {}
                for s in members:
                    by_regimen.setdefault(self.regimen_of(s), []).append(s)
                for regimen_id, group in by_regimen.items():
                    label = self.facts.table.by_id[regimen_id].label if regimen_id else "no dose stated"
                    sections.append((f"{topic.heading}: {label}", topic.id, tuple(group)))
            else:
                sections.append((topic.heading, topic.id, tuple(members)))
        return tuple(sections)

    # -- shared ---------------------------------------------------------------------------------

    def _is_image_table(self, s: Scored) -> bool:
        return self.index.sentences[s.candidate.sentence_id].kind is BlockKind.IMAGE_TABLE

    def regimen_of(self, s: Scored) -> str | None:
        """The dose-bearing regimen a statement names, if any."""
        return next((h.regimen.id for h in self.facts[s.candidate.sentence_id].regimens
                     if h.dose is not None), None)

    def _add(self, chosen: list[Scored], s: Scored, limit: int | None) -> bool:
        """Add a statement unless the answer is full or it repeats a chosen one almost word for word."""
        if s in chosen or (limit is not None and len(chosen) >= limit):
            return False
        vector = self.index.sentence_vectors[s.candidate.sentence_id]
        if any(float(vector @ self.index.sentence_vectors[o.candidate.sentence_id]) >= self.params.duplicate
               for o in chosen):
            return False
        chosen.append(s)
        return True

    def _add_regimen_evidence(self, chosen: list[Scored], pool: list[Scored], verdict: RegimenVerdict,
                              per_regimen: int, limit: int | None) -> None:
        """What a regimen verdict rests on: the sentences supporting the asked regimen, and the
        best sentences of each dose-bearing regimen the evidence covers instead."""
        by_id = {s.candidate.sentence_id: s for s in pool}
        for c in verdict.supporting[:2]:
            if c.sentence_id in by_id:
                self._add(chosen, by_id[c.sentence_id], limit)
        if verdict.supported is False:
            # what the evidence says of the asked regimen itself (that it was never studied, say)
            for s in self._about_regimen(pool, verdict)[:2]:
                self._add(chosen, s, limit)
        counts: dict[str, int] = {}
        for s in chosen:
            regimen = self.regimen_of(s)
            if regimen is not None:
                counts[regimen] = counts.get(regimen, 0) + 1
        for s in pool:
            regimen = self.regimen_of(s)
            if regimen is None or counts.get(regimen, 0) >= per_regimen:
                continue
            if self._add(chosen, s, limit):
                counts[regimen] = counts.get(regimen, 0) + 1

    def _about_regimen(self, statements: list[Scored], verdict: RegimenVerdict) -> list[Scored]:
        """The statements that name the asked regimen, those naming the asked drug first."""
        assert verdict.asked is not None
        regimen, drug = verdict.asked.regimen, verdict.asked.drug
        table = self.facts.table
        texts = {s.candidate.sentence_id: self.index.sentences[s.candidate.sentence_id].text
                 for s in statements}
        if regimen.id == table.microdose.id:
            about = [s for s in statements if table.speaks_of_microdosing(texts[s.candidate.sentence_id])]
        else:
            about = [s for s in statements
                     if any(t.search(texts[s.candidate.sentence_id]) for t in regimen.terms)]
        # a sentence saying the regimen was not studied answers the question best, then one on the drug
        names = table.drug_names[drug] if drug is not None else None
        negated = {s.candidate.sentence_id for s in about
                   if table.negation.search(texts[s.candidate.sentence_id])}
        about.sort(key=lambda s: (s.candidate.sentence_id not in negated,
                                  names is not None and not names.search(texts[s.candidate.sentence_id])))
        return about

    def _lead(self, chosen: list[Scored], analysis: QuestionAnalysis,
              verdict: RegimenVerdict) -> list[Scored]:
        """The bottom line's quotes: the most direct sentences (from different documents if broad).

        When the asked regimen is unsupported, a sentence that itself speaks of that regimen (one
        saying microdoses were never studied, say) leads.
        """
        if not chosen:
            return []
        p = self.params
        ordered = sorted(chosen, key=lambda s: -s.score)
        if verdict.supported is False:
            about = self._about_regimen(ordered, verdict)
            ordered = about + [s for s in ordered if s not in about]
        lead = [ordered[0]]
        for s in ordered[1:]:
            if len(lead) >= p.lead_size or s.score < lead[0].score - p.lead_margin:
                break
            # an overview's bottom line draws on different sources; a narrow answer's on the best
            if analysis.narrow or all(s.candidate.doc_id != o.candidate.doc_id for o in lead):
                lead.append(s)
        return lead
