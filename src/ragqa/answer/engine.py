"""The answer engine: one question through the answer stages, in order.

    question -> QuestionAnalysis      (analysis.py: subject, aspects, regimen, breadth)
             -> Evidence              (evidence.py: sentences retrieved first, chunks for context)
             -> scores                (learned.py: each candidate's fitted relevance score)
             -> Coverage              (coverage.py: what of the question the evidence speaks of)
             -> Answerability         (learned.py: the fitted verdict: answer, or abstain)
             -> scope                 (scope.py: outside what its documents say they cover?)
             -> RegimenVerdict        (verdict.py: was the asked dose regimen studied?)
             -> Selection             (selection.py: what to quote, by the fitted scores)
             -> Answer                (compose.py: statements, regimen check, references)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from ragqa.answer.analysis import MAX_QUESTION_CHARS, QuestionAnalyzer, validate_question
from ragqa.answer.aspects import AspectBook
from ragqa.answer.compose import Composer
from ragqa.answer.contract import Answer
from ragqa.answer.coverage import CoverageCheck, CoverageParams
from ragqa.answer.evidence import EvidenceGatherer, FactBook, GatherParams
from ragqa.answer.learned import CandidateFeatures, Ranker, Weights
from ragqa.answer.regimen import RegimenTable
from ragqa.answer.scope import ScopeCheck
from ragqa.answer.scoring import Topic, default_topics
from ragqa.answer.selection import SelectionParams, Selector
from ragqa.answer.verdict import RegimenJudge
from ragqa.errors import InvalidQueryError
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.retrieve import Filters, Mode, Retriever, SearchBackend

__all__ = ["MAX_QUESTION_CHARS", "AnswerEngine", "AnswerParams"]


@dataclass(frozen=True)
class AnswerParams:
    """Tunable parameters of the stages; thresholds calibrated as documented in the README."""

    top_k: int = 8
    gather: GatherParams = field(default_factory=GatherParams)
    coverage: CoverageParams = field(default_factory=CoverageParams)
    selection: SelectionParams = field(default_factory=SelectionParams)

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= 50:
            raise InvalidQueryError(f"top_k must be between 1 and 50, got {self.top_k}")


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
        topics: tuple[Topic, ...] | None = None, aspects: AspectBook | None = None,
        backend: SearchBackend | None = None, weights: Weights | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self.params = params or AnswerParams()
        table = table or RegimenTable.default()
        topics = topics or default_topics()
        aspects = aspects or AspectBook.default()
        self.retriever = Retriever(index, embedder, backend=backend)  # None: the settings'
        facts = FactBook(index, table, topics, aspects)
        names = {d.id: (d.id.replace("-", " "), d.title or "", d.publisher or "")
                 for d in index.documents.values()}
        self.analyzer = QuestionAnalyzer(index.sentence_df, len(index.sentences), table, aspects, names)
        self.gatherer = EvidenceGatherer(index, self.retriever, facts, topics, embedder,
                                         self.params.gather)
        self.coverage = CoverageCheck(index, self.analyzer, facts, self.params.coverage, embedder)
        self.scope = ScopeCheck(index, self.analyzer, facts)
        self.judge = RegimenJudge(index, table, facts, self.params.selection.min_similarity)
        self.ranker = Ranker(CandidateFeatures(index, self.analyzer, facts), weights)
        self.selector = Selector(index, self.analyzer, facts, topics, self.ranker,
                                 self.params.selection)
        self.composer = Composer(index, self.selector, self.judge)

    def with_weights(self, weights: Weights) -> AnswerEngine:
        """The same engine (index, caches) scoring with other weights (for fitting and held-out
        evaluation)."""
        other = copy.copy(self)
        other.ranker = Ranker(self.ranker.features, weights)
        other.selector = copy.copy(self.selector)
        other.selector.ranker = other.ranker
        return other

    def ask(self, question: str, top_k: int | None = None, filters: Filters | None = None) -> Answer:
        """Answer a question with quoted, cited sentences, or abstain with the reasons."""
        started = time.perf_counter()
        question = validate_question(question)
        k = top_k if top_k is not None else self.params.top_k
        if not 1 <= k <= 50:
            raise InvalidQueryError(f"top_k must be between 1 and 50, got {k}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        search_text = self.analyzer.search_text(question)
        vector = self.embedder.embed([search_text])[0]
        timings["embed"] = _ms(t0)
        t0 = time.perf_counter()
        analysis = self.analyzer.analyze(question, vector, search_text)
        evidence = self.gatherer.gather(analysis, self.mode, k, filters)
        timings.update(evidence.timings_ms)
        timings["gather"] = _ms(t0)
        t0 = time.perf_counter()
        rows = self.ranker.rows(analysis, evidence)
        scores = self.ranker.scores(analysis, evidence, rows)
        coverage = self.coverage.check(analysis, evidence)
        quotable = self.selector.quotable(evidence.candidates)
        judged = self.ranker.answerability(analysis, evidence, coverage, rows, scores, quotable)
        if judged.answerable != coverage.answerable and not coverage.settled:
            coverage = self.coverage.overruled(coverage, judged.answerable, judged.probability)
        ranked = [evidence.candidates[i] for i in sorted(range(len(scores)), key=lambda i: -scores[i])
                  if quotable[i]]
        if coverage.answerable and analysis.regimen is None:
            outside = self.scope.check(analysis, ranked, evidence.candidates)
            if outside is not None:
                coverage = self.coverage.out_of_scope(coverage, outside)
        if not coverage.answerable:
            searched = (f"{self.mode.value} retrieval of the top {len(evidence.chunks.hits)} chunks and "
                        f"{len(evidence.candidates)} sentences of index {self.index.version}")
            answer = self.composer.abstain(analysis, evidence, coverage, searched,
                                           self.params.coverage.min_relevance, ranked)
        else:
            verdict = self.judge.judge(analysis, evidence.candidates)
            selection = self.selector.select(analysis, evidence, verdict, scores)
            answer = self.composer.answer(analysis, evidence, selection, verdict)
        timings["select"] = _ms(t0)
        timings["total"] = _ms(started)
        answer.timings_ms = timings
        return answer


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
