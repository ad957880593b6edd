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
from ragqa.evaluation.suite import Case, check_evidence_spans, check_gold_docs
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.retrieve import Backend, Mode, SearchBackend

log = logging.getLogger(__name__)

RANKS = (1, 5, 10)
# chunks the retriever ranks for the evidence cases' document ranking: deep enough to hold at
# least 10 documents (the engine's own top_k chunks often hold fewer)
RANKING_CHUNKS = 100


class Engine(Protocol):
    """What the evaluation needs of an answer engine."""

    def ask(self, question: str, top_k: int | None = None, filters: Any = None) -> Answer:
        """Answer one question."""


EngineFactory = Callable[[Mode], Engine]
# the retriever's own document ranking for a question in a mode, best first
Ranker = Callable[[str, Mode], Sequence[str]]


@dataclass(frozen=True)
class EvidenceScore:
    """Sentence-level evidence of one answer against its case's gold spans (SciFact-style)."""

    gold_spans: int
    quotes: metrics.QuoteMatch
    lead_quotes: metrics.QuoteMatch
    ranking: tuple[str, ...]
    ranking_depth: int
    recall_at_10: float | None
    ndcg_at_10: float | None
    avoided_cited: bool | None
    gold_missed: tuple[str, ...]
    lead_quoted: tuple[str, ...]


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
    lead_hit: bool | None = None
    # the bottom line's first quoted statement alone states the lead: what a clinician reads first
    lead_first: bool | None = None
    bottom_line_statements: int = 0
    precision: float | None = None
    words: int = 0
    lead_rank_chunks: int | None = None
    lead_rank_sentences: int | None = None
    evidence: EvidenceScore | None = None
    followups: tuple[str, ...] = ()  # the follow-up questions offered under the answer
    followups_answered: int = 0  # of them, answered without abstaining when asked again
    followups_repeating: int = 0  # of them, the asked question again


@dataclass(frozen=True)
class EvidenceAggregate:
    """Sentence-level evidence metrics over the cases with `evidence_spans`."""

    cases: int
    ranking_cases: int
    ranking_depth_min: int | None
    recall_at_10: float | None
    ndcg_at_10: float | None
    quote_precision: float | None
    quote_recall: float | None
    quote_f1: float | None
    lead_precision: float | None
    lead_recall: float | None
    lead_f1: float | None
    no_evidence_cases: int
    no_evidence_avoided: float | None
    no_evidence_abstained: float | None


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
    lead_cases: int = 0
    lead_hit_rate: float | None = None
    lead_first_rate: float | None = None
    precision_cases: int = 0
    statement_precision: float | None = None
    statements_mean: float | None = None
    bottom_line_mean: float | None = None
    statements_p90: float | None = None
    words_mean: float | None = None
    words_p90: float | None = None
    lead_rank_chunks_median: float | None = None
    lead_rank_sentences_median: float | None = None
    evidence: EvidenceAggregate | None = None
    followups_offered: int = 0
    followup_rate: float | None = None  # follow-ups that answer (no abstention) / offered
    followups_repeating: int = 0
    followups_per_answer: float | None = None


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
    # published figures on the same corpus shown beside the modes: {"label", "source", metric: value}
    reference_points: tuple[dict[str, Any], ...] = ()

    def results_for(self, mode: str) -> list[CaseResult]:
        """The case results of one mode, in suite order."""
        return [r for r in self.results if r.mode == mode]


def score_case(case: Case, mode: str, answer: Answer, latency_ms: float,
               documents: dict[str, str], min_precision: float = 0.6,
               lead_ranks: tuple[int | None, int | None] = (None, None)) -> CaseResult:
    """Score one answer against its case; the statement spans are checked against `documents`."""
    statements = answer.statements()
    texts = [s.text for s in statements]
    extract_texts = [s.text for s in statements if s.kind == "extract"]
    lead_texts = [s.text for s in answer.bottom_line if s.kind == "extract"]
    lead = metrics.lead_hit(case.lead, lead_texts) if not answer.abstained else None
    first = metrics.lead_hit(case.lead, lead_texts[:1]) if not answer.abstained else None
    precision = metrics.statement_precision(case.relevant, extract_texts)
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
    if lead is False:
        failures.append(f"bottom line does not state the lead: /{'/, /'.join(case.lead)}/")
    if precision is not None and precision < min_precision:
        failures.append(f"statement precision {precision:.2f} below {min_precision}")
    if case.max_statements is not None and len(extract_texts) > case.max_statements:
        failures.append(f"{len(extract_texts)} statements, more than {case.max_statements}")

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
        statements=tuple(texts), lead_hit=lead, lead_first=first,
        bottom_line_statements=len(lead_texts), precision=precision,
        words=metrics.word_count(extract_texts),
        lead_rank_chunks=lead_ranks[0], lead_rank_sentences=lead_ranks[1],
    )


def score_evidence(case: Case, answer: Answer | None, ranking: Sequence[str] | None,
                   documents: dict[str, str]) -> EvidenceScore | None:
    """Quote precision/recall against the gold rationale spans, the retriever's document ranking
    against the gold documents, and for a claim without evidence whether its cited abstracts were
    left unquoted; None for a case without `evidence_spans`."""
    if case.evidence_spans is None:
        return None
    statements = answer.statements() if answer is not None else []
    lead = list(getattr(answer, "bottom_line", None) or []) if answer is not None else []
    gold = [tuple(span) for span in case.evidence_spans]
    quoted = metrics.quoted_spans(statements)
    quotes = metrics.match_quotes(quoted, gold)
    lead_quotes = metrics.match_quotes(metrics.quoted_spans(lead), gold)
    recall = ndcg = None
    if ranking is not None and case.docs:
        recall = metrics.recall_at(ranking, set(case.docs), 10)
        ndcg = metrics.ndcg_at(ranking, set(case.docs), 10)
    avoided = None
    if not case.evidence_spans and case.cited_docs:
        avoided = metrics.avoids_documents(quoted, case.cited_docs)
    missed = tuple(documents[d][s:e] for d, s, e in gold
                   if not any(metrics.spans_overlap((d, s, e), q) for q in quoted))
    return EvidenceScore(
        gold_spans=len(set(gold)), quotes=quotes, lead_quotes=lead_quotes,
        ranking=tuple(ranking[:10]) if ranking is not None else (),
        ranking_depth=len(ranking) if ranking is not None else 0,
        recall_at_10=recall, ndcg_at_10=ndcg, avoided_cited=avoided, gold_missed=missed,
        lead_quoted=tuple(s.text for s in lead if s.kind == "extract"),
    )


def aggregate_evidence(results: Sequence[CaseResult]) -> EvidenceAggregate | None:
    """Pool the evidence scores of a group of case results; None when none has gold spans."""
    scored = [r for r in results if r.evidence is not None]
    if not scored:
        return None
    with_gold = [r for r in scored if r.evidence.gold_spans]
    ranked = [r for r in with_gold if r.evidence.recall_at_10 is not None]
    no_evidence = [r for r in scored if r.evidence.avoided_cited is not None]
    precision, recall, f1 = metrics.pooled_quote_scores(r.evidence.quotes for r in with_gold)
    lead_p, lead_r, lead_f1 = metrics.pooled_quote_scores(
        r.evidence.lead_quotes for r in with_gold)
    return EvidenceAggregate(
        cases=len(with_gold), ranking_cases=len(ranked),
        ranking_depth_min=min((r.evidence.ranking_depth for r in ranked), default=None),
        recall_at_10=metrics.mean(r.evidence.recall_at_10 for r in ranked),
        ndcg_at_10=metrics.mean(r.evidence.ndcg_at_10 for r in ranked),
        quote_precision=precision, quote_recall=recall, quote_f1=f1,
        lead_precision=lead_p, lead_recall=lead_r, lead_f1=lead_f1,
        no_evidence_cases=len(no_evidence),
        no_evidence_avoided=metrics.share(sum(bool(r.evidence.avoided_cited)
                                              for r in no_evidence), len(no_evidence)),
        no_evidence_abstained=metrics.share(sum(bool(r.abstained) for r in no_evidence),
                                            len(no_evidence)),
    )


def retriever_ranker(index: HybridIndex, embedder: Embedder,
                     chunks: int = RANKING_CHUNKS, backend: SearchBackend | None = None) -> Ranker:
    """The retriever's document ranking from its top `chunks` chunks, one query embedding per
    question shared by the modes."""
    from ragqa.retrieve import Retriever

    retriever = Retriever(index, embedder, candidates=chunks, backend=backend)
    vectors: dict[str, Any] = {}

    def rank(question: str, mode: Mode) -> list[str]:
        if question not in vectors:
            vectors[question] = embedder.embed([question])[0]
        result = retriever.search(question, k=chunks, mode=mode, query_vector=vectors[question])
        return metrics.doc_ranking(hit.doc_id for hit in result.hits)

    return rank


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

    answered = [r for r in results if r.abstained is False]
    led = [r for r in results if r.lead_hit is not None]
    precise = [r for r in results if r.precision is not None]
    counts = [float(r.extract_statements) for r in answered]
    words = [float(r.words) for r in answered]

    def median_rank(ranks: list[int | None]) -> float | None:
        # a lead sentence not found in the ranking counts as ranked past its end
        if not any(r is not None for r in ranks):
            return None
        known = sorted(float(r) if r is not None else float("inf") for r in ranks)
        return known[(len(known) - 1) // 2]  # the lower median: no interpolation with "not ranked"

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
        lead_cases=len(led),
        lead_hit_rate=metrics.share(sum(bool(r.lead_hit) for r in led), len(led)),
        lead_first_rate=metrics.share(sum(bool(r.lead_first) for r in led), len(led)),
        precision_cases=len(precise),
        statement_precision=metrics.mean(r.precision for r in precise),
        statements_mean=metrics.mean(counts),
        bottom_line_mean=metrics.mean(float(r.bottom_line_statements) for r in answered),
        statements_p90=metrics.percentile(counts, 90) if counts else None,
        words_mean=metrics.mean(words),
        words_p90=metrics.percentile(words, 90) if words else None,
        lead_rank_chunks_median=median_rank([r.lead_rank_chunks for r in results if r.lead_hit is not None]),
        lead_rank_sentences_median=median_rank(
            [r.lead_rank_sentences for r in results if r.lead_hit is not None]),
        evidence=aggregate_evidence(results),
        followups_offered=sum(len(r.followups) for r in results),
        followup_rate=metrics.share(sum(r.followups_answered for r in results),
                                    sum(len(r.followups) for r in results)),
        followups_repeating=sum(r.followups_repeating for r in results),
        followups_per_answer=metrics.mean(float(len(r.followups)) for r in answered),
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


def lead_ranks(engine: Engine, index: HybridIndex, case: Case,
               mode: Mode, depth: int = 50) -> tuple[int | None, int | None]:
    """Rank of the first sentence matching the case's lead: in the sentences of the retrieved
    chunks, in chunk order (what answers were built from before sentence-first retrieval), and in
    the sentence-first ranking. (None, None) when the case has no lead or the engine no retriever."""
    retriever = getattr(engine, "retriever", None)
    if not case.lead or retriever is None:
        return None, None
    vector = retriever.embedder.embed([case.question])[0]
    chunks = retriever.search(case.question, k=depth, mode=mode, query_vector=vector)
    seen: dict[int, None] = {}
    for hit in chunks.hits:
        seen.update(dict.fromkeys(index.chunks[hit.chunk_index].sentence_ids))
    by_chunks = [index.sentences[sid].text for sid in seen]
    sentences = retriever.search_sentences(case.question, vector, depth, mode)
    by_sentences = [index.sentences[h.sentence_id].text for h in sentences.hits]
    return (metrics.first_match_rank(case.lead, by_chunks),
            metrics.first_match_rank(case.lead, by_sentences))
def with_evidence(result: CaseResult, case: Case, answer: Answer | None, mode: Mode,
                  ranker: Ranker | None, documents: dict[str, str]) -> CaseResult:
    """`result` with its evidence score, for a case with `evidence_spans` (else unchanged)."""
    if case.evidence_spans is None:
        return result
    ranking = list(ranker(case.question, mode)) if ranker is not None and case.docs else None
    return replace(result, evidence=score_evidence(case, answer, ranking, documents))


def with_followups(result: CaseResult, answer: Answer, finder: Any, engine: Engine) -> CaseResult:
    """The result with the follow-ups offered under the answer, each asked again to see that it
    answers without abstaining, and counted when it repeats the question."""
    from ragqa.answer.followups import same_question

    offered = tuple(finder.suggest(answer))
    answered = sum(not engine.ask(q).abstained for q in offered)
    repeating = sum(same_question(q, answer.question) for q in offered)
    return replace(result, followups=offered, followups_answered=answered,
                   followups_repeating=repeating)


def answer_engine_factory(index: HybridIndex, embedder: Embedder) -> EngineFactory:
    """Engines of every mode over one loaded index (the retrieval ablation)."""
    from ragqa.answer.engine import AnswerEngine

    return lambda mode: AnswerEngine(index, embedder, mode=mode)


def mode_label(mode: Mode, backend: SearchBackend | None) -> str:
    """The report's name for a mode on a backend: `hybrid` in process, `hybrid@milvus` else."""
    if backend is None or backend.backend is Backend.INPROCESS:
        return mode.value
    return f"{mode.value}@{backend.backend.value}"


def on_backend(engine: Engine, backend: SearchBackend | None) -> Engine:
    """`engine` with its retriever searching on `backend` (the answer engine builds its own
    Retriever on the settings' backend); unchanged when None."""
    retriever = getattr(engine, "retriever", None)
    if backend is not None and retriever is not None:
        retriever.backend = backend
    return engine


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
        "build_seconds": manifest.get("build_seconds"),
        "embedded": manifest.get("embedded"),
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
    min_precision: float = 0.6,
    ranker: Ranker | None = None,
    backends: Sequence[SearchBackend] = (),
) -> EvalReport:
    """Ask every case in every mode (on every backend given, else the settings') and score the
    answers against the index's documents.

    Cases with `evidence_spans` are also scored on sentence-level evidence, and on the document
    ranking of `ranker` (by default the retriever's own, RANKING_CHUNKS chunks deep).
    """
    rankers: dict[int, Ranker | None] = {}
    for backend in backends or [None]:
        rankers[id(backend)] = ranker
        if ranker is None and embedder is not None:
            rankers[id(backend)] = retriever_ranker(index, embedder, backend=backend)
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
    check_evidence_spans(list(cases), documents, suite_name)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.perf_counter()
    results: list[CaseResult] = []
    labels: list[str] = []
    for mode, backend in ((m, b) for m in modes for b in (backends or [None])):
        label = mode_label(mode, backend)
        labels.append(label)
        ranker = rankers[id(backend)]
        engine = on_backend(engine_factory(mode), backend)
        finder = None
        if getattr(engine, "index", None) is not None:  # an AnswerEngine: follow-ups measured too
            from ragqa.answer.followups import FollowUps

            finder = FollowUps(engine)  # type: ignore[arg-type]
        for case in cases[:warmup]:  # the first question pays for caches and lazy set-up
            try:
                engine.ask(case.question, top_k=top_k)
            except RagqaError:
                pass
        for number, case in enumerate(cases, start=1):
            if number % 100 == 0:
                log.info("mode %s: case %d of %d", label, number, len(cases))
            t0 = time.perf_counter()
            try:
                answer = engine.ask(case.question, top_k=top_k)
            except RagqaError as exc:
                latency = (time.perf_counter() - t0) * 1000
                results.append(with_evidence(error_result(case, label, exc, latency),
                                             case, None, mode, ranker, documents))
                log.warning("case %s (%s): %s", case.id, label, exc)
                continue
            latency = (time.perf_counter() - t0) * 1000
            ranks = lead_ranks(engine, index, case, mode)
            scored = score_case(case, label, answer, latency, documents, min_precision, ranks)
            if finder is not None:
                scored = with_followups(scored, answer, finder, engine)
            results.append(with_evidence(scored, case, answer, mode, ranker, documents))
        log.info("evaluated %d cases in mode %s", len(cases), label)
    mode_names = tuple(labels)
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
