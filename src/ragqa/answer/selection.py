"""Selection: which candidate sentences the answer quotes, and in what order.

QuestionAnalysis + Evidence + RegimenVerdict -> Selection. Every candidate is scored by its
relevance to the question (similarity, rare subject words it holds, whether it speaks to the asked
aspect); statements enter relative to the best candidate (an adaptive cut, not a fixed count).
A narrow question gets its most direct sentences as the bottom line and a few supporting ones on
the same aspect; a broad one gets the sectioned overview by topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ragqa.answer.analysis import QuestionAnalysis, QuestionAnalyzer
from ragqa.answer.aspects import Aspect
from ragqa.answer.evidence import Candidate, Evidence, FactBook
from ragqa.answer.learned import Ranker
from ragqa.answer.scoring import Topic, mmr
from ragqa.answer.verdict import RegimenVerdict
from ragqa.index.store import HybridIndex
from ragqa.ingest.context import dangles, quote_span
from ragqa.ingest.layout import BlockKind


@dataclass(frozen=True)
class SelectionParams:
    """The bounds of the adaptive cut (the relevance score itself is the fitted ranker's)."""

    min_similarity: float = 0.25
    # a narrow answer: the statements within narrow_margin of the best score, at most narrow_max.
    # Chosen leave-one-guideline-out over narrow_max 3, 4, 6 x narrow_margin 0.04, 0.08, 0.12 x
    # lead_size 2, 3 (each guideline suite scored with the values best on the other suites): every
    # fold chose 3 and 0.12. Refitted per fold, the four suites then passed 81 of 120 held out
    # where 6 and 0.08 passed 79, with 2.9 statements a narrow answer instead of 3.5 (docs/answer-stage.md)
    narrow_margin: float = 0.12
    off_aspect_margin: float = 0.03
    support_similarity: float = 0.15
    fill_similarity: float = 0.2
    lead_similarity: float = 0.25
    lead_size: int = 3
    narrow_max: int = 3
    narrow_min: int = 3
    duplicate: float = 0.95
    broad_max: int = 10
    broad_floor: float = 0.5
    diversity: float = 0.3
    per_topic: int = 2
    per_regimen: int = 2
    about_regimen: int = 3


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


_FIGURE = re.compile(r"\d+(?:\.\d+)?")
# a recommendation's own number, "10.11" or "10.10(L)", which opens it and states no figure
_ITEM_NUMBER = re.compile(r"^\s*\d{1,2}(?:\.\d{1,2}){1,3}(?:\s?\([A-Z]\))?\s+(?=[A-Z])")


# a table row that spells out an abbreviation, "BP | blood pressure" or "Abbreviation: TMS |
# Definition: Transcranial magnetic stimulation": a cell's own label is optional
_CELL_LABEL = re.compile(r"^[^|:]{1,40}:\s*")
_SHORT_FORM = re.compile(r"^[A-Za-z][\w/&+-]{0,9}$")


def spells_out(text: str) -> bool:
    """Whether a table row is a glossary entry: a short form of two or more capitals in one cell
    and, in the other, the words it stands for (no figure). It defines a term and states nothing."""
    cells = [_CELL_LABEL.sub("", cell.strip(), count=1) for cell in text.split(" | ")]
    if len(cells) != 2 or not _SHORT_FORM.match(cells[0]) or sum(c.isupper() for c in cells[0]) < 2:
        return False
    return not _FIGURE.search(cells[1]) and len(cells[1].split()) <= 10


def stated_figures(text: str) -> list[str]:
    """The figures a statement states, in order; its recommendation number is not one of them
    (two recommendations worded alike, "10.10" and "10.11", state the same figures)."""
    return _FIGURE.findall(_ITEM_NUMBER.sub("", text, count=1))


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


class Selector:
    """Scores candidates and cuts them to an answer's statements."""

    def __init__(self, index: HybridIndex, analyzer: QuestionAnalyzer, facts: FactBook,
                 topics: tuple[Topic, ...], ranker: Ranker,
                 params: SelectionParams | None = None) -> None:
        self.index = index
        self.ranker = ranker
        self.analyzer = analyzer
        self.facts = facts
        self.topics = topics
        self.params = params or SelectionParams()
        self._alone: dict[int, bool] = {}
        self._spans: dict[int, tuple[int, int]] = {}
        self._figure_cache: dict[int, list[str]] = {}

    def select(self, analysis: QuestionAnalysis, evidence: Evidence,
               verdict: RegimenVerdict, scores: np.ndarray | None = None) -> Selection:
        """The statements to quote for this question (`scores`: the ranker's, if already computed)."""
        # a sentence that leans on one its quote cannot include (a box or table between them)
        # would open without its antecedent: it is never quoted
        everything = sorted((s for s in self.score(analysis, evidence, scores) if self._quotable_alone(s)),
                            key=lambda s: -s.score)
        image, scored = [], []
        for s in everything:
            (image if self._is_image_table(s) else scored).append(s)
        pool = [s for s in scored if s.candidate.similarity >= self.params.min_similarity] or scored[:3]
        # a table that exists only as an image, ranked with the best quotable evidence, is named
        best = pool[0].score if pool else 0.0
        images = tuple(s for s in image if s.score >= best - self.ranker.weights.lead_margin)[:1]
        if analysis.broad:
            chosen = self._overview(analysis, pool, verdict)
        else:
            chosen = self._narrow(analysis, best_source(analysis, evidence, pool), verdict, pool)
        lead = self._lead(chosen, analysis, verdict)
        rest = [s for s in chosen if s not in lead]
        if analysis.broad:
            groups = self._sections(rest) if self.facts.on_topics(analysis.drugs) \
                else self._source_sections(rest)
        else:
            heading = analysis.aspects[0].heading if analysis.aspects else "Supporting evidence"
            groups = ((heading, analysis.aspects[0].id if analysis.aspects else "other", tuple(rest)),) \
                if rest else ()
        return Selection(tuple(lead), groups, images)

    # -- scoring --------------------------------------------------------------------------------

    def score(self, analysis: QuestionAnalysis, evidence: Evidence,
              scores: np.ndarray | None = None) -> list[Scored]:
        """Each candidate with its relevance score (the fitted ranker's, computed here unless given)
        and whether it speaks to the asked aspect."""
        if scores is None:
            scores = self.ranker.scores(analysis, evidence)
        aspect_ids = {a.id for a in analysis.aspects}
        return [Scored(c, float(score), not aspect_ids or not self.facts[c.sentence_id].aspects.isdisjoint(aspect_ids))
                for c, score in zip(evidence.candidates, scores)]

    # -- narrow answers -------------------------------------------------------------------------

    def _narrow(self, analysis: QuestionAnalysis, pool: list[Scored],
                verdict: RegimenVerdict, regimen_pool: list[Scored] | None = None) -> list[Scored]:
        """The best candidates and those close to them; off-aspect ones only when very close;
        the regimen verdict's evidence from `regimen_pool` (default: the same pool)."""
        p = self.params
        # a sentence stating a study's aim repeats the question's words: it sets no bar for the others
        closest = max((s.candidate.similarity for s in pool
                       if not self.facts[s.candidate.sentence_id].framing),
                      default=max(s.candidate.similarity for s in pool))
        # the bottom line is not a sentence far less similar to the question than the closest one,
        # however many of its words and cues it shares
        pool = [s for s in pool if s.candidate.similarity >= closest - p.lead_similarity]
        best = pool[0].score
        # a statement far less similar to the question than the closest one is about something else
        near = closest - p.support_similarity
        # microdosing that the evidence studied is answered from the sentences on microdosing, not
        # from the same drug's full doses (psilocybin 25 mg says nothing of microdosing psilocybin)
        if self._studied_microdosing(verdict):
            pool = [s for s in pool if self.facts[s.candidate.sentence_id].microdosing] or pool
            best = pool[0].score
        chosen: list[Scored] = [pool[0]]
        for s in pool[1:]:
            margin = p.narrow_margin if s.on_aspect else p.off_aspect_margin
            # a statement in the asked form answers the question however it is worded: it only
            # needs to be as near as a bottom line may be
            floor = closest - p.lead_similarity if self._in_form(s, analysis) else near
            if (s.score < best - margin or s.candidate.similarity < floor or self._other_drug(s, analysis)
                    or self._one_side(s, analysis)):
                continue
            self._add(chosen, s, p.narrow_max)
        # the bottom line and a few supporting statements: fill up from the next ones that hold what
        # makes the best statement specific to the question (its rarest subject word), on the asked
        # aspect, or, when no aspect is asked, from the bottom line's own source
        source = pool[0].candidate.doc_id
        anchor = self._anchor(analysis, pool[0])
        # support on the asked aspect is judged against the bottom line's statement
        near_aspect = pool[0].candidate.similarity - p.fill_similarity if analysis.aspects else near
        for s in pool:
            if len(chosen) >= p.narrow_min:
                break
            holds_anchor = not anchor or bool(self.facts[s.candidate.sentence_id].terms & anchor)
            fits = holds_anchor and (s.on_aspect if analysis.aspects else s.candidate.doc_id == source)
            if (fits and s.candidate.similarity >= near_aspect and not self._other_drug(s, analysis)
                    and not self._one_side(s, analysis)):
                self._add(chosen, s, p.narrow_max)
        if verdict.asked is not None and (verdict.supported is False or self._asks_dose(analysis)):
            # a narrow answer on a studied regimen stays with the drug(s) asked about; other drugs'
            # regimens are named only when the asked one was not studied (a question that only
            # names a product, "Can I eat before my Spravato appointment?", gets no regimen picks)
            regimen_pool = regimen_pool if regimen_pool is not None else pool
            others = [s for s in regimen_pool if not self._other_drug(s, analysis)] \
                if verdict.supported else regimen_pool
            self._add_regimen_evidence(chosen, others, verdict, per_regimen=1, limit=p.narrow_max + 2)
        return sorted(chosen, key=lambda s: -s.score)

    # -- broad answers --------------------------------------------------------------------------

    def _overview(self, analysis: QuestionAnalysis, pool: list[Scored],
                  verdict: RegimenVerdict) -> list[Scored]:
        """Today's sectioned overview: the best statements by MMR, then each topic's best. An
        overview of a drug stays on it: a statement naming only other drugs is left out (the
        regimen verdict's evidence on an asked regimen aside)."""
        p = self.params
        everything = pool
        pool = [s for s in pool if not self._other_drug(s, analysis)] or pool
        vectors = self.index.sentence_vectors[[s.candidate.sentence_id for s in pool]]
        picks = mmr(vectors, np.array([s.score for s in pool]), p.broad_max, p.diversity, p.duplicate)
        chosen: list[Scored] = []
        for i in picks:  # two sentences quoted with the same neighbour would quote one text twice
            self._add(chosen, pool[i], limit=None)
        floor = max(p.min_similarity, p.broad_floor * max(s.candidate.similarity for s in pool))
        slots = {t.id: t.slots or p.per_topic for t in self.topics}
        keys = sorted({key for s in pool for key, _ in s.candidate.facets})
        for key in keys:  # each facet search contributes its best sentences, so no topic is crowded out
            found = sorted((rank, i) for i, s in enumerate(pool) if s.candidate.similarity >= floor
                           for k, rank in s.candidate.facets if k == key)
            for _, i in found[:slots[key.split(":", 1)[0]]]:
                self._add(chosen, pool[i], limit=None)
        if verdict.asked is not None:
            self._add_regimen_evidence(chosen, everything, verdict, p.per_regimen, limit=None,
                                       about=p.about_regimen)
            self._add_regimen_uses(chosen, [s for s in pool if s.candidate.similarity >= floor])
        else:
            self._add_regimen_evidence(chosen, [s for s in pool if s.candidate.similarity >= floor],
                                       verdict, 1, limit=None)
        return sorted(chosen, key=lambda s: -s.score)

    def _sections(self, statements: list[Scored]) -> tuple[tuple[str, str, tuple[Scored, ...]], ...]:
        """Group an overview's statements under the generic clinical aspects (dose, onset, harms,
        monitoring, populations, limits of the evidence ..., in the aspect data's order), each
        statement under the one it speaks to that it is nearest in meaning (`_aspect_of`); the dose
        section is split by regimen. A statement that speaks to none goes under its corpus topic
        (topics.json), and else under "Other evidence". Used for an overview on the drugs the
        corpus's topics are about (`FactBook.on_topics`); any other follows its sources' own
        chapters (`_source_sections`)."""
        groups: dict[tuple[str, str], list[Scored]] = {}
        order = [(a.heading, f"aspect:{a.id}") for a in self.facts.book.aspects]
        order += [(t.heading, t.id) for t in self.topics]
        by_aspect = {a.id: (a.heading, f"aspect:{a.id}") for a in self.facts.book.aspects}
        for s in statements:
            facts = self.facts[s.candidate.sentence_id]
            aspect = self._aspect_of(s.candidate.sentence_id, facts.aspects)
            key = by_aspect[aspect.id] if aspect is not None else (facts.topic.heading, facts.topic.id)
            groups.setdefault(key, []).append(s)
        sections: list[tuple[str, str, tuple[Scored, ...]]] = []
        for heading, key in order:
            members = groups.get((heading, key))
            if not members:
                continue
            if key == "aspect:dose":
                by_regimen: dict[str | None, list[Scored]] = {}
                for s in members:
                    by_regimen.setdefault(self.regimen_of(s), []).append(s)
                for regimen_id, group in by_regimen.items():
                    label = self.facts.table.by_id[regimen_id].label if regimen_id else None
                    sections.append((f"{heading}: {label}" if label else heading, key, tuple(group)))
            else:
                sections.append((heading, key, tuple(members)))
        return tuple(sections)

    def _source_sections(self, statements: list[Scored]) -> tuple[tuple[str, str, tuple[Scored, ...]], ...]:
        """Group an overview's statements under their sources' own headings: the shallowest level
        of their section paths (below each document's title) that parts them, so a guideline's
        overview reads "DIAGNOSTICS", "FOLLOW-UP" (or, when all sit in one chapter, its numbered
        recommendations); groups in the order of their best statements, a statement without a
        heading under "Other evidence"."""
        paths = [self._path_below_title(s.candidate) for s in statements]
        depth = 1
        deepest = max((len(path) for path in paths), default=0)
        while depth < deepest and len({(s.candidate.doc_id, path[:depth])
                                       for s, path in zip(statements, paths)}) < 2:
            depth += 1
        groups: dict[tuple[str, tuple[str, ...]], list[Scored]] = {}
        for s, path in zip(statements, paths):
            groups.setdefault((s.candidate.doc_id, path[:depth]), []).append(s)
        other = self.topics[-1]
        return tuple((path[-1] if path else other.heading,
                      f"source:{doc_id}:{' > '.join(path)}" if path else other.id, tuple(group))
                     for (doc_id, path), group in groups.items())

    def _path_below_title(self, candidate: Candidate) -> tuple[str, ...]:
        """A candidate's section path without its document's title (and without any heading
        above the title, such as a journal's running head)."""
        title = self.index.documents[candidate.doc_id].title.strip().lower()
        path = candidate.section
        for i, heading in enumerate(path):
            # the title as a heading, whole or cut at a line's end (most of it)
            text = heading.strip().lower()
            if title and title.startswith(text) and len(text) >= 0.5 * len(title):
                return path[i + 1:]
        return path

    @cached_property
    def _prototypes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The index's mean sentence vector, and per aspect (in the aspect book's order) the mean
        direction of the sentences that speak to it alone (`aspect_prototypes`), read on the first
        overview that needs them, not at start-up: an overview files a statement under the aspect
        it speaks to that it is nearest in meaning (None: under the first)."""
        return aspect_prototypes(self.index, self.facts)

    def _aspect_of(self, sid: int, spoken: frozenset[str] | set[str]) -> Aspect | None:
        """The aspect an overview files a statement under: of those whose cues it matches, the one
        nearest to it in meaning (its sentence vector against the mean direction of the index's
        sentences on that aspect alone), or the first in the book's order without them."""
        matched = [(i, a) for i, a in enumerate(self.facts.book.aspects) if a.id in spoken]
        if len(matched) <= 1:
            return matched[0][1] if matched else None
        if self._prototypes is None:
            return matched[0][1]
        centre, prototypes = self._prototypes
        near = prototypes[[i for i, _ in matched]] @ (self.index.sentence_vectors[sid] - centre)
        return matched[int(np.argmax(near))][1]

    # -- shared ---------------------------------------------------------------------------------

    def _quotable_alone(self, s: Scored) -> bool:
        return self.quotable_alone(s.candidate.sentence_id)

    def quotable(self, candidates: tuple[Candidate, ...]) -> np.ndarray:
        """Per candidate, whether an answer may quote it (`quotable_alone`)."""
        return np.array([self.quotable_alone(c.sentence_id) for c in candidates], dtype=bool)

    def quotable_alone(self, sid: int) -> bool:
        """Whether the sentence may be quoted: it states something (a question, such as a
        guideline's "Q1: At what BP level should pharmacological therapy be initiated?", or a
        glossary's "BP | blood pressure", states nothing) and does not lean on one its quote
        cannot include."""
        alone = self._alone.get(sid)
        if alone is None:  # an index never changes: each sentence is checked once
            sentence = self.index.sentences[sid]
            alone = self._alone[sid] = not (
                dangles(self.index.sentences[self._span(sid)[0]].text)
                or sentence.text.rstrip().endswith("?")
                or sentence.kind is BlockKind.TABLE_ROW and spells_out(sentence.text))
        return alone

    def _span(self, sid: int) -> tuple[int, int]:
        """The first and last sentence its quote spans (a dangling opener reaches back)."""
        span = self._spans.get(sid)
        if span is None:
            quote = quote_span(self.index.sentences, sid)
            span = self._spans[sid] = (quote.first, quote.last)
        return span

    def _is_image_table(self, s: Scored) -> bool:
        return self.index.sentences[s.candidate.sentence_id].kind is BlockKind.IMAGE_TABLE

    def regimen_of(self, s: Scored) -> str | None:
        """The dose-bearing regimen a statement names, if any."""
        return next((h.regimen.id for h in self.facts[s.candidate.sentence_id].regimens
                     if h.dose is not None), None)

    def _add(self, chosen: list[Scored], s: Scored, limit: int | None) -> bool:
        """Add a statement unless the answer is full, its quote shares a sentence with a chosen one's,
        or it repeats a chosen one almost word for word (near-identical in meaning and stating the
        same figures: an IV and an IM dose range, worded alike, are two facts)."""
        if s in chosen or (limit is not None and len(chosen) >= limit):
            return False
        first, last = self._span(s.candidate.sentence_id)
        if any(first <= b and a <= last for a, b in (self._span(o.candidate.sentence_id) for o in chosen)):
            return False
        vector = self.index.sentence_vectors[s.candidate.sentence_id]
        figures = self._figures_of(s.candidate.sentence_id)
        if any(float(vector @ self.index.sentence_vectors[o.candidate.sentence_id]) >= self.params.duplicate
               and self._figures_of(o.candidate.sentence_id) == figures for o in chosen):
            return False
        chosen.append(s)
        return True

    def _anchor(self, analysis: QuestionAnalysis, best: Scored) -> set[str]:
        """The corpus words of the question's rarest subject word that the best statement holds
        ('ECT' in "Is ketamine as good as ECT ...?"); empty when it holds none."""
        held = self.facts[best.candidate.sentence_id].terms
        # a word in no other sentence of the corpus cannot be shared by a supporting statement
        present = [(t.sentences, family) for t in analysis.subject
                   if t.sentences > 1 and (family := self.analyzer.subject_family(t)) & held]
        return min(present, key=lambda p: p[0])[1] if present else set()

    def _studied_microdosing(self, verdict: RegimenVerdict) -> bool:
        return (verdict.supported is True and verdict.asked is not None
                and verdict.asked.regimen.id == self.facts.table.microdose.id)

    @staticmethod
    def _asks_dose(analysis: QuestionAnalysis) -> bool:
        return any(a.id == "dose" for a in analysis.aspects)

    def _other_drug(self, s: Scored, analysis: QuestionAnalysis) -> bool:
        """Whether a sentence is about another drug than the one(s) the question names (it names a
        drug, and none of the question's)."""
        if not analysis.drugs:
            return False
        named = self.facts[s.candidate.sentence_id].drugs
        return bool(named) and not named & set(analysis.drugs)

    def _in_form(self, s: Scored, analysis: QuestionAnalysis) -> bool:
        return s.on_aspect and self.facts.answers_in(s.candidate.sentence_id, analysis.forms)

    def _one_side(self, s: Scored, analysis: QuestionAnalysis) -> bool:
        """Whether a sentence names only one of the drugs a comparison question weighs against each
        other (TRANSFORM-1 on esketamine alone says nothing of IV ketamine versus esketamine)."""
        if len(analysis.drugs) < 2 or [a.id for a in analysis.aspects] != ["comparisons"]:
            return False  # a comparison is what is asked, not a trial named by its arms
        return len(self.facts[s.candidate.sentence_id].drugs & set(analysis.drugs)) < 2

    def _figures_of(self, sid: int) -> list[str]:
        if sid not in self._figure_cache:
            self._figure_cache[sid] = stated_figures(self.index.sentences[sid].text)
        return self._figure_cache[sid]

    def _add_regimen_evidence(self, chosen: list[Scored], pool: list[Scored], verdict: RegimenVerdict,
                              per_regimen: int, limit: int | None, about: int = 2) -> None:
        """What a regimen verdict rests on: the sentences supporting the asked regimen, and the
        best sentences of each dose-bearing regimen the evidence covers instead."""
        by_id = {s.candidate.sentence_id: s for s in pool}
        for c in verdict.supporting[:2]:
            if c.sentence_id in by_id:
                self._add(chosen, by_id[c.sentence_id], limit)
        if verdict.supported is False:
            # what the evidence says of the asked regimen itself (that it was never studied, say)
            named = [s for s in self._about_regimen(pool, verdict) if s not in chosen]
            added = 0
            for s in named:
                if added >= about:
                    break
                added += self._add(chosen, s, limit)
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

    def _add_regimen_uses(self, chosen: list[Scored], pool: list[Scored]) -> None:
        """An overview of a regimen question shows each dose regimen's different uses: for each
        regimen quoted, its best sentence on an overview topic none of its quotes touches yet (a
        low dose for suicidal ideation beside low doses for depression)."""
        covered: dict[str, set[str]] = {}
        for s in chosen:
            regimen = self.regimen_of(s)
            if regimen is not None:
                covered.setdefault(regimen, set()).update(self.facts[s.candidate.sentence_id].touches)
        for s in pool:
            regimen = self.regimen_of(s)
            if regimen not in covered:
                continue
            touches = self.facts[s.candidate.sentence_id].touches
            if not touches <= covered[regimen] and self._add(chosen, s, limit=None):
                covered[regimen] |= touches

    def _about_regimen(self, statements: list[Scored], verdict: RegimenVerdict) -> list[Scored]:
        """The statements that name the asked regimen, those naming the asked drug first."""
        assert verdict.asked is not None
        regimen, drug = verdict.asked.regimen, verdict.asked.drug
        facts = {s.candidate.sentence_id: self.facts[s.candidate.sentence_id] for s in statements}
        if regimen.id == self.facts.table.microdose.id:
            about = [s for s in statements if facts[s.candidate.sentence_id].microdosing]
        else:
            about = [s for s in statements if regimen.id in facts[s.candidate.sentence_id].named]
        # a sentence saying the regimen was not studied answers the question best, then one on the drug
        about.sort(key=lambda s: (not facts[s.candidate.sentence_id].negated,
                                  drug is not None and drug not in facts[s.candidate.sentence_id].drugs))
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
        if verdict.supported is False or self._studied_microdosing(verdict):
            about = self._about_regimen(ordered, verdict)
            ordered = about + [s for s in ordered if s not in about]
        lead = [ordered[0]]
        for s in ordered[1:]:
            if len(lead) >= p.lead_size or s.score < lead[0].score - self.ranker.weights.lead_margin:
                break
            # an overview's bottom line draws on different sources; a narrow answer's on the best
            if analysis.narrow or all(s.candidate.doc_id != o.candidate.doc_id for o in lead):
                lead.append(s)
        return lead


def aspect_prototypes(index: HybridIndex, facts: FactBook) -> tuple[np.ndarray, np.ndarray] | None:
    """The index's mean sentence vector, and per aspect of the book the unit mean direction, from
    that centre, of the quotable sentences speaking to that aspect alone (zeros for an aspect no
    sentence speaks to alone). Read from the index itself, so it holds for any corpus."""
    vectors = index.sentence_vectors
    if not len(vectors):
        return None
    centre = vectors.mean(axis=0)
    aspects = facts.book.aspects
    position = {a.id: i for i, a in enumerate(aspects)}
    sums = np.zeros((len(aspects), vectors.shape[1]), dtype=np.float64)
    for sid, sentence in enumerate(index.sentences):
        spoken = facts[sid].aspects
        if sentence.quotable and len(spoken) == 1:
            sums[position[next(iter(spoken))]] += vectors[sid] - centre
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return centre, (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
