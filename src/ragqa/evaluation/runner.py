"""Run a suite through the answer engine, once per retrieval mode, and score every case.

>>> report = run_eval(load_suite(Path("eval/guidelines.jsonl")), index, embedder=embedder,
...                   modes=[Mode.HYBRID, Mode.BM25, Mode.DENSE])
>>> report.aggregates["hybrid"].overall.pass_rate
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ragqa.answer.contract import Answer
from ragqa.errors import RagqaError
from ragqa.evaluation import metrics
from ragqa.evaluation.suite import Case, check_gold_docs
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.retrieve import Mode

log = logging.getLogger(__name__)

RANKS = (1, 5, 10)


class Engine(Protocol):
    """What the evaluation needs of an answer engine."""

    def ask(self, question: str, top_k: int | None = None, filters: Any = None) -> Answer:
        """Answer one question."""


EngineFactory = Callable[[Mode], Engine]


@dataclass(frozen=True)
class CaseResult:
    """How one case fared in one retrieval mode."""

    case_id: str
    mode: str
    question: str
    tags: tuple[str, ...]
    passed: bool
    failures: tuple[str, ...]
    error: str | None
    fact_hits: tuple[bool, ...]
    fact_recall: float | None
    forbidden_hits: tuple[str, ...]
    abstained: bool | None
    abstain_expected: bool | None
    regimen_supported: bool | None
    regimen_expected: bool | None
    regimen_asked: str | None
    extract_statements: int
    faithful_statements: int
    citation_items: int
    valid_citation_items: int
    gold_docs: tuple[str, ...]
    ranking: tuple[str, ...]
    recall_at_1: float | None
    recall_at_5: float | None
    recall_at_10: float | None
    mrr_at_10: float | None
    ndcg_at_10: float | None
    latency_ms: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    statements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Aggregate:
    """Metrics over a group of case results (one mode, all cases or one tag)."""

    cases: int
    passed: int
    pass_rate: float | None
    fact_recall: float | None
    abstention_precision: float | None
    abstention_recall: float | None
    abstained: int
    regimen_cases: int
    regimen_accuracy: float | None
    faithfulness: float | None
    citation_validity: float | None
    retrieval_cases: int
    recall_at_1: float | None
    recall_at_5: float | None
    recall_at_10: float | None
    mrr_at_10: float | None
    ndcg_at_10: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    errors: int


@dataclass(frozen=True)
class ModeAggregates:
    """One mode's metrics over all cases and per tag, and the engine's mean stage timings."""

    overall: Aggregate
    by_tag: dict[str, Aggregate]
    stage_ms: dict[str, float]


@dataclass(frozen=True)
class EvalReport:
    """Everything one `ragqa eval` run measured."""

    suite: str
    cases: int
    modes: tuple[str, ...]
    index: dict[str, Any]
    started_at: str
    seconds: float
    results: tuple[CaseResult, ...]
    aggregates: dict[str, ModeAggregates]

    def results_for(self, mode: str) -> list[CaseResult]:
        """The case results of one mode, in suite order."""
        return [r for r in self.results if r.mode == mode]


def score_case(case: Case, mode: str, answer: Answer, latency_ms: float,
               documents: dict[str, str]) -> CaseResult:
    """Score one answer against its case; the statement spans are checked against `documents`."""
    statements = answer.statements()
    texts = [s.text for s in statements]
    hits = tuple(metrics.fact_hits(case.facts, texts))
    forbid_hits = metrics.fact_hits(case.forbid, texts)
    forbidden = tuple(p for p, hit in zip(case.forbid, forbid_hits) if hit)
    faithful, extracts = metrics.faithfulness(statements, documents)
    citations = metrics.check_citations(answer)
    supported = answer.regimen_check.supported
    failures: list[str] = []
    failures += [f"fact not found: /{p}/" for p, hit in zip(case.facts, hits) if not hit]
    failures += [f"forbidden text found: /{p}/" for p in forbidden]
    if case.abstain is not None and answer.abstained != case.abstain:
        failures.append(f"abstained={answer.abstained}, expected {case.abstain}")
    if case.regimen_supported is not None and supported != case.regimen_supported:
        failures.append(
            f"regimen_check.supported={supported} (asked {answer.regimen_check.asked!r}), "
            f"expected {case.regimen_supported}"
        )
    if faithful < extracts:
        failures.append(f"{extracts - faithful} of {extracts} extract statements differ from "
                        "their document span")
    failures += list(citations.problems)

    ranking = tuple(metrics.doc_ranking(getattr(answer, "retrieved_doc_ids", None) or []))
    recall: dict[int, float | None] = {k: None for k in RANKS}
    mrr = ndcg = None
    if case.docs:
        gold = set(case.docs)
        recall = {k: metrics.recall_at(ranking, gold, k) for k in RANKS}
        mrr = metrics.mrr_at(ranking, gold, 10)
        ndcg = metrics.ndcg_at(ranking, gold, 10)
    return CaseResult(
        case_id=case.id, mode=mode, question=case.question, tags=case.tags,
        passed=not failures, failures=tuple(failures), error=None,
        fact_hits=hits, fact_recall=metrics.fact_recall(hits), forbidden_hits=forbidden,
        abstained=answer.abstained, abstain_expected=case.abstain,
        regimen_supported=supported, regimen_expected=case.regimen_supported,
        regimen_asked=answer.regimen_check.asked,
        extract_statements=extracts, faithful_statements=faithful,
        citation_items=citations.items, valid_citation_items=citations.valid,
        gold_docs=case.docs, ranking=ranking[:10], recall_at_1=recall[1], recall_at_5=recall[5],
        recall_at_10=recall[10], mrr_at_10=mrr, ndcg_at_10=ndcg,
        latency_ms=round(latency_ms, 3),
        timings_ms={k: float(v) for k, v in answer.timings_ms.items()},
        statements=tuple(texts),
    )


def error_result(case: Case, mode: str, error: Exception, latency_ms: float) -> CaseResult:
    """A case whose question the engine refused with a RagqaError: it fails every check."""
    zero = 0.0 if case.docs else None
    return CaseResult(
        case_id=case.id, mode=mode, question=case.question, tags=case.tags, passed=False,
        failures=(f"error: {error}",), error=f"{type(error).__name__}: {error}",
        fact_hits=tuple(False for _ in case.facts),
        fact_recall=metrics.fact_recall([False] * len(case.facts)), forbidden_hits=(),
        abstained=None, abstain_expected=case.abstain, regimen_supported=None,
        regimen_expected=case.regimen_supported, regimen_asked=None, extract_statements=0,
        faithful_statements=0, citation_items=0, valid_citation_items=0, gold_docs=case.docs,
        ranking=(), recall_at_1=zero, recall_at_5=zero, recall_at_10=zero, mrr_at_10=zero,
        ndcg_at_10=zero,
        latency_ms=round(latency_ms, 3),
    )


def aggregate(results: Sequence[CaseResult]) -> Aggregate:
    """Pool the metrics of a group of case results."""
    with_abstain = [r for r in results if r.abstain_expected is not None]
    precision = recall = None
    if with_abstain:
        precision, recall = metrics.precision_recall(
            [bool(r.abstained) for r in with_abstain],
            [bool(r.abstain_expected) for r in with_abstain],
        )
    regimen = [r for r in results if r.regimen_expected is not None]
    retrieval = [r for r in results if r.gold_docs]
    latencies = [r.latency_ms for r in results]
    passed = sum(r.passed for r in results)

    def retrieval_mean(value: Callable[[CaseResult], float | None]) -> float | None:
        return metrics.mean(value(r) for r in retrieval)

    return Aggregate(
        cases=len(results),
        passed=passed,
        pass_rate=metrics.share(passed, len(results)),
        fact_recall=metrics.mean(r.fact_recall for r in results),
        abstention_precision=precision,
        abstention_recall=recall,
        abstained=sum(bool(r.abstained) for r in results),
        regimen_cases=len(regimen),
        regimen_accuracy=metrics.share(
            sum(r.regimen_supported == r.regimen_expected for r in regimen), len(regimen)
        ),
        faithfulness=metrics.share(
            sum(r.faithful_statements for r in results), sum(r.extract_statements for r in results)
        ),
        citation_validity=metrics.share(
            sum(r.valid_citation_items for r in results), sum(r.citation_items for r in results)
        ),
        retrieval_cases=len(retrieval),
        recall_at_1=retrieval_mean(lambda r: r.recall_at_1),
        recall_at_5=retrieval_mean(lambda r: r.recall_at_5),
        recall_at_10=retrieval_mean(lambda r: r.recall_at_10),
        mrr_at_10=retrieval_mean(lambda r: r.mrr_at_10),
        ndcg_at_10=retrieval_mean(lambda r: r.ndcg_at_10),
        latency_p50_ms=round(metrics.percentile(latencies, 50), 3),
        latency_p95_ms=round(metrics.percentile(latencies, 95), 3),
        latency_max_ms=round(max(latencies, default=0.0), 3),
        errors=sum(r.error is not None for r in results),
    )


def aggregate_mode(results: Sequence[CaseResult]) -> ModeAggregates:
    """All-case and per-tag aggregates of one mode, with the engine's mean stage timings."""
    tags = sorted({tag for r in results for tag in r.tags})
    stages = sorted({stage for r in results for stage in r.timings_ms})
    stage_ms = {
        stage: round(metrics.mean(r.timings_ms.get(stage) for r in results) or 0.0, 3)
        for stage in stages
    }
    return ModeAggregates(
        overall=aggregate(results),
        by_tag={tag: aggregate([r for r in results if tag in r.tags]) for tag in tags},
        stage_ms=stage_ms,
    )


def answer_engine_factory(index: HybridIndex, embedder: Embedder) -> EngineFactory:
    """Engines of every mode over one loaded index (the retrieval ablation)."""
    from ragqa.answer.engine import AnswerEngine

    return lambda mode: AnswerEngine(index, embedder, mode=mode)


def index_summary(index: HybridIndex) -> dict[str, Any]:
    """What the report says about the index it ran on."""
    manifest = index.manifest
    return {
        "directory": str(index.directory) if index.directory else None,
        "version": index.version,
        "built_at": manifest.get("built_at"),
        "model": manifest.get("model", {}).get("name"),
        "embedder": manifest.get("embedder"),
        "params": manifest.get("params"),
        "counts": manifest.get("counts"),
    }


def run_eval(
    cases: Sequence[Case],
    index: HybridIndex,
    embedder: Embedder | None = None,
    engine_factory: EngineFactory | None = None,
    modes: Sequence[Mode] = (Mode.HYBRID,),
    top_k: int | None = None,
    suite_name: str = "<suite>",
    warmup: int = 1,
) -> EvalReport:
    """Ask every case in every mode and score the answers against the index's documents."""
    if engine_factory is None:
        if embedder is None:
            raise RagqaError("run_eval needs an embedder or an engine_factory")
        engine_factory = answer_engine_factory(index, embedder)
    if not cases:
        raise RagqaError("run_eval needs at least one case")
    if not modes:
        raise RagqaError("run_eval needs at least one retrieval mode")
    check_gold_docs(list(cases), frozenset(index.documents), suite_name)
    documents = {doc_id: doc.text for doc_id, doc in index.documents.items()}
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.perf_counter()
    results: list[CaseResult] = []
    for mode in modes:
        engine = engine_factory(mode)
        for case in cases[:warmup]:  # the first question pays for caches and lazy set-up
            try:
                engine.ask(case.question, top_k=top_k)
            except RagqaError:
                pass
        for number, case in enumerate(cases, start=1):
            if number % 100 == 0:
                log.info("mode %s: case %d of %d", mode.value, number, len(cases))
            t0 = time.perf_counter()
            try:
                answer = engine.ask(case.question, top_k=top_k)
            except RagqaError as exc:
                latency = (time.perf_counter() - t0) * 1000
                results.append(error_result(case, mode.value, exc, latency))
                log.warning("case %s (%s): %s", case.id, mode.value, exc)
                continue
            latency = (time.perf_counter() - t0) * 1000
            results.append(score_case(case, mode.value, answer, latency, documents))
        log.info("evaluated %d cases in mode %s", len(cases), mode.value)
    mode_names = tuple(m.value for m in modes)
    return EvalReport(
        suite=suite_name, cases=len(cases), modes=mode_names, index=index_summary(index),
        started_at=started_at, seconds=round(time.perf_counter() - started, 3),
        results=tuple(results),
        aggregates={m: aggregate_mode([r for r in results if r.mode == m]) for m in mode_names},
    )


def merge_reports(reports: dict[str, EvalReport]) -> EvalReport:
    """Reports of the same suite under several embedders as one, modes named "<mode> <embedder>".

    The index summary is the first report's, with every run's index version and embedder listed.
    """
    if not reports:
        raise RagqaError("merge_reports needs at least one report")
    first = next(iter(reports.values()))
    results: list[CaseResult] = []
    aggregates: dict[str, ModeAggregates] = {}
    modes: list[str] = []
    for label, report in reports.items():
        for mode in report.modes:
            modes.append(f"{mode} {label}")
            aggregates[f"{mode} {label}"] = report.aggregates[mode]
        results += [replace(r, mode=f"{r.mode} {label}") for r in report.results]
    index = {**first.index, "by_embedder": {
        label: {"version": r.index.get("version"), "directory": r.index.get("directory"),
                "embedder": r.index.get("embedder")} for label, r in reports.items()}}
    return EvalReport(
        suite=first.suite, cases=first.cases, modes=tuple(modes), index=index,
        started_at=first.started_at, seconds=round(sum(r.seconds for r in reports.values()), 3),
        results=tuple(results), aggregates=aggregates,
    )
