"""Abstention by coverage: can the gathered evidence answer what the question asks?

QuestionAnalysis + Evidence -> Coverage. The question is answerable when the passages are near
enough to it, and when the evidence that speaks to the asked aspect covers the question's specific
subject words (names and technical terms, not everyday English), each weighted by how rare it is in
the corpus (a drug named once weighs far more than "ketamine"). A subject the corpus mentions only
in passing is reported with where it was found. Everyday words are left to the dense similarity:
one the corpus lacks ("vitamin", "caffeine") never triggers abstention by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from ragqa.answer.analysis import (
    FAMILY_PREFIX,
    QuestionAnalysis,
    QuestionAnalyzer,
    SubjectTerm,
    as_written,
    is_everyday,
)
from ragqa.answer.evidence import Candidate, Evidence, FactBook
from ragqa.answer.scope import OutOfScope
from ragqa.answer.scoring import content_terms
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex


@dataclass(frozen=True)
class CoverageParams:
    """Thresholds of the coverage check (calibration in the README)."""

    min_relevance: float = 0.42
    min_sentence_relevance: float = 0.6
    relative_floor: float = 0.75
    min_coverage: float = 0.6
    strong_match: float = 0.68
    nearby: int = 60
    mentions_shown: int = 3
    # a word of the evidence whose own embedding is this close to an uncovered subject word says
    # it in other words ("telemedicine" for "telehealth" 0.83); distinct drugs stay far apart
    # (sertraline ~ escitalopram 0.31, lorazepam ~ midazolam 0.53)
    synonym: float = 0.8


@dataclass(frozen=True)
class Mention:
    """Where the corpus mentions an uncovered subject word."""

    term: str
    sentences: int
    doc_ids: tuple[str, ...]
    sentence_ids: tuple[int, ...]
    # what the corpus calls it, for an everyday wording or a brand name ("amlodipine" for "istin")
    clinical: tuple[str, ...] = ()


@dataclass(frozen=True)
class Coverage:
    """The verdict of the coverage check: answerable or not, why, and what was found instead."""

    answerable: bool
    reason: str
    coverage: float
    uncovered: tuple[Mention, ...] = ()
    # share of it that near evidence on the asked aspect names, anywhere in the sentence
    on_aspect: float = 0.0
    # answered whatever the answerability model says: the regimen check answers a question on a
    # dose regimen of a drug the regimen table knows (studied or not, it says which), and a
    # question naming a source is answered from it
    settled: bool = False
    # the question falls outside the stated scope of the documents its evidence comes from
    outside: OutOfScope | None = None


def relevant(evidence: Evidence, analysis: QuestionAnalysis, facts: FactBook,
             relative_floor: float) -> list[Candidate]:
    """The candidates near the best one that speak to the asked aspects (all near ones if none do,
    or if the question is broad: an overview is not about one aspect)."""
    best = evidence.best_similarity()
    near = [c for c in evidence.candidates if c.similarity >= relative_floor * best]
    if not analysis.aspects or analysis.broad:
        return near
    on_aspect = [c for c in near if facts.speaks_to(c.sentence_id, analysis.aspects)]
    return on_aspect or near


class CoverageCheck:
    """Decides whether an analysed question can be answered from its evidence."""

    def __init__(self, index: HybridIndex, analyzer: QuestionAnalyzer, facts: FactBook,
                 params: CoverageParams | None = None, embedder: Embedder | None = None) -> None:
        self.index = index
        self.analyzer = analyzer
        self.facts = facts
        self.params = params or CoverageParams()
        self.embedder = embedder  # None: no synonyms looked for
        self._titles: dict[str, frozenset[str]] = {}
        self._word_vectors: dict[str, np.ndarray] = {}
        self._masked: dict[int, str] = {}

    def check(self, analysis: QuestionAnalysis, evidence: Evidence) -> Coverage:
        """Answerable, or the reason not with the places the uncovered subject is mentioned."""
        coverage = self._check(analysis, evidence)
        if analysis.sources and coverage.answerable:
            # a question naming a source the corpus holds ("What did the Goodwin trial find?") is
            # answered from it when the check finds its subject there
            coverage = replace(coverage, settled=True)
        return replace(coverage, on_aspect=self._named_share(analysis, evidence))

    def _named_share(self, analysis: QuestionAnalysis, evidence: Evidence) -> float:
        """The weighted share of the specific subject words that a near candidate on the asked
        aspect names, anywhere in it."""
        subject = [t for t in analysis.subject if t.specific and t.weight > 0]
        total = sum(t.weight for t in subject)
        if total == 0 or not evidence.candidates:
            return 1.0 if evidence.candidates else 0.0
        near = relevant(evidence, analysis, self.facts, self.params.relative_floor)
        named = [t for t in subject if any(self.facts[c.sentence_id].terms
                                           & self.analyzer.subject_family(t) for c in near)]
        return sum(t.weight for t in named) / total

    def _check(self, analysis: QuestionAnalysis, evidence: Evidence) -> Coverage:
        p = self.params
        if not evidence.candidates:
            return Coverage(False, "nothing was retrieved", 0.0)
        # a question naming a source ("What did the Goodwin trial find?") is answered from it
        if not analysis.sources and evidence.best_chunk_similarity < p.min_relevance \
                and evidence.best_similarity() < p.min_sentence_relevance:
            # one sentence this close answers even when its passage, about more, scores lower
            return Coverage(False, f"the closest passage scores {evidence.best_chunk_similarity:.3f}, "
                                   f"below the relevance threshold {p.min_relevance}, and the closest "
                                   f"sentence {evidence.best_similarity():.3f}, below "
                                   f"{p.min_sentence_relevance}", 0.0)
        subject = [t for t in analysis.subject if t.specific and t.weight > 0]
        total = sum(t.weight for t in subject)
        if total == 0:
            return Coverage(True, "the question names no specific subject word", 1.0)
        if analysis.regimen is not None and analysis.regimen.drug is not None:
            return Coverage(True, "the question asks about a dose regimen of a drug the regimen "
                                  "table knows: the regimen check answers it", 1.0, settled=True)
        pool = relevant(evidence, analysis, self.facts, p.relative_floor)
        covered = [t for t in subject if any(self._speaks_of(t, c, analysis) for c in pool)
                   or self._statement_topic(t, evidence, analysis)]
        covered += self._said_otherwise([t for t in subject if t not in covered], pool, analysis)
        share = sum(t.weight for t in covered) / total
        if share >= p.min_coverage:
            return Coverage(True, f"the evidence covers {share:.2f} of the question's subject", share)
        missing = sorted((t for t in subject if t not in covered), key=lambda t: -t.weight)
        if all(t.sentences == 0 for t in missing) and evidence.best_similarity() >= p.strong_match:
            # a word the corpus never uses may be said in other words ("IM" for
            # "intramuscular"): a sentence this close to the question says it; a subject the
            # corpus does name, but only in passing, is never let through this way
            return Coverage(True, f"a sentence matches the question at "
                                  f"{evidence.best_similarity():.3f}", share)
        mentions = tuple(self._mention(t) for t in missing)
        return Coverage(False, self._reason(analysis, mentions, share), share, mentions)

    @staticmethod
    def overruled(coverage: Coverage, answerable: bool, probability: float) -> Coverage:
        """The coverage verdict after the fitted answerability model decided otherwise."""
        if answerable:
            return Coverage(True, f"the evidence answers it (answerability {probability:.2f}; "
                                  f"the subject check alone said: {coverage.reason})", coverage.coverage,
                            (), coverage.on_aspect)
        return Coverage(False, f"the closest evidence does not answer the question (answerability "
                               f"{probability:.2f})", coverage.coverage, coverage.uncovered,
                        coverage.on_aspect)

    def out_of_scope(self, coverage: Coverage, outside: OutOfScope) -> Coverage:
        """The verdict when the question falls outside the stated scope of its evidence's documents."""
        titles = "; ".join(self.index.documents[d].title or d for d in outside.doc_ids[:2])
        quoted = self.index.sentences[outside.sentence_ids[0]].text
        return Coverage(False, f"the question asks about {outside.what}, which the scope of {titles} "
                               f"leaves out (\"{quoted}\")", coverage.coverage, (),
                        coverage.on_aspect, outside=outside)

    def _speaks_of(self, term: SubjectTerm, candidate: Candidate, analysis: QuestionAnalysis) -> bool:
        """Whether a sentence names the term and, when an aspect is asked, speaks to it near the
        term (within `p.nearby` characters): "lithium or valproate" beside a ketamine dose does not
        speak of valproate's dose."""
        # the term's word family, and the clinical words of an everyday wording or a brand name
        # ("Remeron" is mirtazapine)
        family = self.analyzer.subject_family(term)
        if not self.facts[candidate.sentence_id].terms & family:
            return False
        if not analysis.aspects or analysis.broad:
            return True
        text = self._without_populations(candidate.sentence_id)
        lowered = text.lower()
        stems = {f[:FAMILY_PREFIX] if len(f) >= FAMILY_PREFIX else f for f in family}
        # and the short forms its document defines for the term ("CD" for coeliac disease)
        shorts = [short for short, words in self.facts.defined.by_document.get(candidate.doc_id, {}).items()
                  if not words.isdisjoint(family)]
        places = [m.start() for stem in stems for m in re.finditer(re.escape(stem), lowered)]
        places += [m.start() for short in shorts for m in re.finditer(rf"\b{re.escape(short)}", lowered)]
        near = self.params.nearby
        return any(pattern.search(text[max(0, at - near):at + near])
                   for at in places for aspect in analysis.aspects for pattern in aspect.speaks)

    def _without_populations(self, sid: int) -> str:
        """A sentence's text with its phrases on who was studied blanked (cached per sentence)."""
        text = self._masked.get(sid)
        if text is None:
            text = self._masked[sid] = self.facts.book.without_populations(self.index.sentences[sid].text)
        return text

    def _said_otherwise(self, missing: list[SubjectTerm], pool: list[Candidate],
                        analysis: QuestionAnalysis) -> list[SubjectTerm]:
        """The uncovered subject words that the evidence says in other words: an abbreviation
        spelled out in a pool sentence (near the best, on the asked aspect: "complex regional pain
        syndrome" for "CRPS"), or a specific word of a pool sentence whose embedding is within
        `synonym` of the subject word's ("telemedicine platforms" for "telehealth"). A near-synonym
        of a specific word is itself specific, so the sentence speaking to the aspect is enough."""
        found = [t for t in missing if (words := self.facts.spelled_out(t.term))
                 and any(words <= self.facts[c.sentence_id].terms for c in pool)]
        missing = [t for t in missing if t not in found]
        if not missing or self.embedder is None:
            return found
        words = sorted({w for c in pool for w in self.facts[c.sentence_id].terms
                        if w.isalpha() and len(w) > 3 and not is_everyday(w)}
                       - {t.term for t in analysis.subject})
        if not words:
            return found
        vectors = self._vectors([t.term for t in missing] + words)
        found += [t for t in missing
                  if any(float(vectors[t.term] @ vectors[w]) >= self.params.synonym for w in words)]
        return found

    def _vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        """Each word's own embedding (kept: an index's vocabulary is small)."""
        new = [w for w in dict.fromkeys(words) if w not in self._word_vectors]
        if new:
            assert self.embedder is not None
            self._word_vectors.update(zip(new, self.embedder.embed(new)))
        return {w: self._word_vectors[w] for w in words}

    def _statement_topic(self, term: SubjectTerm, evidence: Evidence, analysis: QuestionAnalysis) -> bool:
        """For a statement, whether a source near it is about the term: a sentence of it near the
        statement names the term, and so does the source's title.

        A question's aspect cue is what it asks of its subject ("Is X addictive?": the evidence on
        X must speak of addiction near X). A statement asserts its own relation, and the cue words
        its verbs happen to match ("is dependent on", "regulates", "in response to") ask nothing
        about harms, regulation or efficacy; its subject word is covered when a source near the
        statement is about that word. A word a source names only in passing (a drug in a list, a
        disease in a closing remark) is not in its title and still needs the aspect check, as in
        a question.
        """
        if not analysis.statement or analysis.broad:
            return False
        family = self._corpus_words(term)
        if not family:
            return False
        floor = self.params.relative_floor * evidence.best_similarity()
        return any(c.similarity >= floor and self.facts[c.sentence_id].terms & family
                   and self._title_terms(c.doc_id) & family for c in evidence.candidates)

    def _title_terms(self, doc_id: str) -> frozenset[str]:
        """The content terms of a document's title (cached: an index never changes)."""
        terms = self._titles.get(doc_id)
        if terms is None:
            terms = self._titles[doc_id] = frozenset(content_terms(self.index.documents[doc_id].title))
        return terms

    def _corpus_words(self, subject: SubjectTerm) -> set[str]:
        """The corpus tokens that count as the subject term or its clinical words (empty when the
        corpus writes none of them; `QuestionAnalyzer.subject_family` keeps the words instead)."""
        return set(self.analyzer.family(subject.term)).union(
            *(self.analyzer.family(c) for c in subject.clinical))

    def _mention(self, subject: SubjectTerm) -> Mention:
        term = subject.term
        family = sorted(self._corpus_words(subject))
        if not family:
            return Mention(term, 0, (), ())
        scores = self.index.sentence_bm25.scores(family)
        ids = [int(i) for i in scores.nonzero()[0]]
        docs = tuple(dict.fromkeys(self.index.sentences[i].doc_id for i in ids))
        return Mention(term, len(ids), docs, tuple(ids[: self.params.mentions_shown]),
                       tuple(sorted(subject.clinical)))

    def _reason(self, analysis: QuestionAnalysis, mentions: tuple[Mention, ...], share: float) -> str:
        aspect = " and ".join(a.heading.lower() for a in analysis.aspects) or "this question"
        cues = sorted(self.facts.book.cue_words(analysis.text))
        if analysis.aspects and cues:  # the question's own words for what it asks ("teenagers")
            aspect += f" ({', '.join(cues)})"
        parts = []
        for m in mentions:
            word = as_written(m.term, analysis.text)
            if m.sentences == 0:
                parts.append(f"the corpus never mentions '{word}'")
            else:
                times = "once" if m.sentences == 1 else f"in {m.sentences} sentences"
                parts.append(f"the corpus mentions '{word}' {times} (in {', '.join(m.doc_ids[:3])}), "
                             f"but none of the evidence on {aspect} is about it")
        return "; ".join(parts) + f" (subject coverage {share:.2f})"
