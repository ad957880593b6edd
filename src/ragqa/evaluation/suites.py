"""The multi-guideline benchmark: several suites over one index, through several answer variants.

Each suite `eval/suites/<name>.jsonl` is written over one guideline; `eval/suites/documents.json`
names that guideline's file and document id. The default corpus plus every such file is indexed
once (as a maintainer would add them), then every suite's cases are asked of every variant in
hybrid mode and scored by the runner's scorer.

>>> entries = load_suite_documents(Path("eval/suites/documents.json"))
>>> documents = read_suite_documents(settings.corpus, entries)
>>> suite_index(documents, Path("indexes/suites"), embedder)
>>> report = run_suites({"coeliac": load_suite(path)}, index, embedder, VARIANTS)
>>> report.scores["coeliac"]["engine"].pass_rate

A variant is a named factory `(suite name, index, embedder) -> Engine`; register one with a line
in VARIANTS (a held-out variant fits without the suite it is given).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragqa.config import PROJECT_ROOT
from ragqa.errors import CorpusError, RagqaError, SuiteError
from ragqa.evaluation.runner import CaseResult, Engine, aggregate, index_summary, run_eval
from ragqa.evaluation.suite import Case
from ragqa.index.embed import Embedder
from ragqa.index.store import (
    REUSABLE_FORMATS,
    BuildReport,
    HybridIndex,
    IndexParams,
    build_index,
    load_intact_index,
    read_manifest,
    save_index,
    staleness,
)
from ragqa.ingest.documents import Document, read_corpus, read_file
from ragqa.retrieve import Mode

log = logging.getLogger(__name__)

DOCUMENTS_FILE = PROJECT_ROOT / "eval" / "suites" / "documents.json"
SUITES_INDEX = PROJECT_ROOT / "indexes" / "suites"
OVERALL = "overall"

VariantFactory = Callable[[str, HybridIndex, Embedder], Engine]


def engine_variant(suite: str, index: HybridIndex, embedder: Embedder) -> Engine:
    """The answer engine as it ships (hybrid): its weights were fitted on every suite of the fit
    set, this one included (in sample)."""
    from ragqa.answer.engine import AnswerEngine

    return AnswerEngine(index, embedder, mode=Mode.HYBRID)


_HELD_OUT: dict[int, Any] = {}


def _held_out_weights(suite: str, embedder: Embedder) -> Any:
    """The weights fitted without `suite` (fitted once per run)."""
    from ragqa.evaluation.fit import HeldOut

    held = _HELD_OUT.get(id(embedder))
    if held is None:
        held = _HELD_OUT[id(embedder)] = HeldOut.default(embedder)
    return held.without(suite)


def held_out_variant(suite: str, index: HybridIndex, embedder: Embedder) -> Engine:
    """The answer engine with weights fitted without this suite (`ragqa fit --exclude <suite>`):
    the figure that tells how the engine does on a guideline it never saw."""
    from ragqa.answer.engine import AnswerEngine

    return AnswerEngine(index, embedder, mode=Mode.HYBRID).with_weights(_held_out_weights(suite, embedder))


def hand_variant(suite: str, index: HybridIndex, embedder: Embedder) -> Engine:
    """The answer engine with the previous stage's hand-set weights (eval/hand_weights.json):
    the before of the fitted weights."""
    from ragqa.answer.engine import AnswerEngine
    from ragqa.answer.learned import load_weights

    weights = load_weights(PROJECT_ROOT / "eval" / "hand_weights.json")
    return AnswerEngine(index, embedder, mode=Mode.HYBRID).with_weights(weights)


def similarity_variant(suite: str, index: HybridIndex, embedder: Embedder) -> Engine:
    """The held-out engine (fitted without this suite), but scoring candidates by their similarity
    alone (its fitted weight of similarity and its query adapter, no other relevance feature): what
    the other features add."""
    from ragqa.answer.engine import AnswerEngine
    from ragqa.answer.learned import FEATURES

    engine = AnswerEngine(index, embedder, mode=Mode.HYBRID)
    weights = _held_out_weights(suite, embedder)
    relevance = tuple(w if name == "similarity" else 0.0 for name, w in zip(FEATURES, weights.relevance))
    return engine.with_weights(replace(weights, relevance=relevance))


def naive_variant(suite: str, index: HybridIndex, embedder: Embedder) -> Engine:
    """The two quotable sentences hybrid sentence retrieval ranks first, quoted as the bottom line;
    never abstains."""
    from ragqa.evaluation.baseline import TopSentences

    return TopSentences(index, embedder, n=2, mode=Mode.HYBRID)


BASELINE = "naive top-2"
# every variant a run compares, in report order; a factory gets the name of the suite it answers
VARIANTS: dict[str, VariantFactory] = {
    "engine (held out)": held_out_variant,
    "engine (in sample)": engine_variant,
    "hand weights": hand_variant,
    "similarity only": similarity_variant,
    BASELINE: naive_variant,
}


def parse_variants(value: str | None,
                   known: Mapping[str, VariantFactory] = VARIANTS) -> dict[str, VariantFactory]:
    """'engine,naive top-2' -> those registered variants, in that order; None -> all of them."""
    if value is None:
        return dict(known)
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise SuiteError(f"--variants: unknown variant {unknown[0] if unknown else value!r} "
                         f"(known: {', '.join(known)})")
    return {name: known[name] for name in dict.fromkeys(names)}


# --- which guideline each suite is written over ----------------------------------------------

@dataclass(frozen=True)
class SuiteDocument:
    """The guideline a suite is written over: its file (None: already in the corpus) and id."""

    suite: str
    path: Path | None
    doc_id: str


def parse_suite_documents(data: Any, where: str,
                          root: Path = PROJECT_ROOT) -> dict[str, SuiteDocument]:
    """Validate documents.json's content: {suite: {"path": file or null, "id": doc id}}; paths
    are relative to `root` (the project root)."""
    if not isinstance(data, dict) or not data:
        raise SuiteError(f"{where}: expected an object mapping each suite name to "
                         "{\"path\", \"id\"}")
    entries = {}
    for suite, entry in data.items():
        def fail(field: str, problem: str, suite: str = suite) -> SuiteError:
            return SuiteError(f"{where}: suite '{suite}': field '{field}': {problem}")

        if not isinstance(entry, dict):
            raise fail("", f"expected an object with 'path' and 'id', got {entry!r}")
        unknown = sorted(set(entry) - {"path", "id"})
        if unknown:
            raise fail(unknown[0], "unknown field (known: path, id)")
        if "path" not in entry:
            raise fail("path", "missing (null when the guideline is already in the corpus)")
        path, doc_id = entry["path"], entry.get("id")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise fail("path", f"must be a file path or null, got {path!r}")
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise fail("id", f"must be a non-empty document id, got {doc_id!r}")
        entries[suite] = SuiteDocument(suite, None if path is None else root / path, doc_id)
    return entries


def load_suite_documents(path: Path = DOCUMENTS_FILE,
                         root: Path = PROJECT_ROOT) -> dict[str, SuiteDocument]:
    """Read eval/suites/documents.json (see parse_suite_documents)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuiteError(f"{path}: field 'file': cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise SuiteError(f"{path}: field 'json': invalid JSON ({exc})") from None
    return parse_suite_documents(data, str(path), root)


def read_suite_documents(corpus: Path | list[Path],
                         entries: Mapping[str, SuiteDocument]) -> list[Document]:
    """The corpus's documents plus every suite's guideline file, read where it lies (nothing is
    copied); a guideline already in the corpus (path null) must be found there by its id."""
    documents = read_corpus(corpus)
    ids = {doc.id for doc in documents}
    for entry in entries.values():
        if entry.path is None:
            if entry.doc_id not in ids:
                raise SuiteError(f"suite '{entry.suite}': field 'id': {entry.doc_id!r} is not in "
                                 f"the corpus (give its 'path' if it is not)")
            continue
        if not entry.path.is_file():
            raise SuiteError(f"suite '{entry.suite}': field 'path': no such file {entry.path}")
        doc = read_guideline(entry)
        if doc.id in ids:
            raise SuiteError(f"suite '{entry.suite}': field 'id': {doc.id!r} is already a "
                             "document of the corpus (set 'path' to null)")
        ids.add(doc.id)
        documents.append(doc)
    return documents


def read_guideline(entry: SuiteDocument) -> Document:
    """A suite's guideline file read as `ragqa index` reads a corpus file, under the suite's id."""
    assert entry.path is not None
    try:
        [doc] = read_file(entry.path)
    except CorpusError as exc:
        if "missing" not in str(exc) or entry.path.suffix.lower() != ".pdf":
            raise
        doc = _pdf_without_sidecar(entry)
    return doc if doc.id == entry.doc_id else replace(doc, id=entry.doc_id)


# SHIM, to remove once the PDF reader needs no sidecar: the `id`, `doc_type` and `title` a sidecar
# would give, made in memory so that nothing is written beside the shared guideline files.
def _pdf_without_sidecar(entry: SuiteDocument) -> Document:
    from ragqa.ingest.documents import document_from_record
    from ragqa.ingest.pdf import read_pdf_file

    assert entry.path is not None
    parsed = read_pdf_file(entry.path)
    title = (parsed.metadata.get("title") or "").strip()
    if " " not in title:  # PDF titles are often "untitled" or a typesetter's code
        title = entry.path.stem
    record = {"id": entry.doc_id, "doc_type": "guideline", "title": title, "text": parsed.text}
    doc = document_from_record(record, str(entry.path), {"": 1})
    if doc.text != parsed.text:
        raise CorpusError(f"{entry.path}:1: field 'text': canonical text has surrounding whitespace")
    return replace(doc, layout=parsed.layout, report=parsed.report)


def suite_index(documents: list[Document], directory: Path, embedder: Embedder,
                params: IndexParams | None = None, seed: Path | None = None,
                progress: bool = False) -> BuildReport:
    """Build the index at `directory` from `documents` unless it is up to date, as `ragqa index`
    does (update_index) for a corpus folder; unchanged text reuses the vectors of the previous
    build there, or on a first build those of `seed` (the default index)."""
    params = params or IndexParams()
    reason = staleness(directory, documents, params, embedder.name, embedder.record)
    if reason is None:
        return BuildReport(False, "up to date", read_manifest(directory))
    previous = None
    for source in (directory, seed):
        if source is None or previous is not None:
            continue
        try:
            previous = load_intact_index(source, formats=REUSABLE_FORMATS)
        except (OSError, ValueError, KeyError, RagqaError) as exc:
            log.info("no vectors to reuse at %s: %s", source, exc)
    index = build_index(documents, embedder, params, previous, progress=progress)
    index.manifest["reason"] = reason
    save_index(index, directory)
    return BuildReport(True, reason, index.manifest)


# --- scoring a run ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SuiteScores:
    """The benchmark's figures over a group of case results (one suite, or all) of one variant.

    False abstention: answerable cases (not labelled `abstain: true`) that abstained, over those
    cases; trap abstention: cases labelled `abstain: true` that abstained, over those cases.
    """

    cases: int
    passed: int
    pass_rate: float | None
    lead_cases: int
    lead_hit_rate: float | None
    lead_first_rate: float | None
    precision_cases: int
    statement_precision: float | None
    statements_mean: float | None
    bottom_line_mean: float | None
    answerable: int
    false_abstentions: int
    false_abstention: float | None
    traps: int
    trap_abstentions: int
    trap_abstention: float | None


def share(part: int, whole: int) -> float | None:
    """part / whole, or None for an empty whole."""
    return part / whole if whole else None


def suite_scores(results: Sequence[CaseResult]) -> SuiteScores:
    """Pool a group of case results into the benchmark's figures."""
    if not results:
        raise SuiteError("suite_scores needs at least one case result")
    pooled = aggregate(results)
    answerable = [r for r in results if r.abstain_expected is not True]
    traps = [r for r in results if r.abstain_expected is True]
    false_abstentions = sum(r.abstained is True for r in answerable)
    trap_abstentions = sum(r.abstained is True for r in traps)
    return SuiteScores(
        cases=len(results), passed=pooled.passed, pass_rate=pooled.pass_rate,
        lead_cases=pooled.lead_cases, lead_hit_rate=pooled.lead_hit_rate,
        lead_first_rate=pooled.lead_first_rate,
        precision_cases=pooled.precision_cases, statement_precision=pooled.statement_precision,
        statements_mean=pooled.statements_mean, bottom_line_mean=pooled.bottom_line_mean,
        answerable=len(answerable), false_abstentions=false_abstentions,
        false_abstention=share(false_abstentions, len(answerable)),
        traps=len(traps), trap_abstentions=trap_abstentions,
        trap_abstention=share(trap_abstentions, len(traps)),
    )


@dataclass(frozen=True)
class SuitesReport:
    """Everything one `ragqa eval --suites` run measured."""

    suites: tuple[str, ...]
    variants: tuple[str, ...]
    # each variant's one-line description (its factory's docstring)
    notes: dict[str, str]
    index: dict[str, Any]
    started_at: str
    seconds: float
    # the 1-minute load average before and after the run (the machine is shared)
    load_average: tuple[float, float]
    # suite -> variant -> case results, in suite order
    results: dict[str, dict[str, tuple[CaseResult, ...]]]
    # suite name or OVERALL -> variant -> figures
    scores: dict[str, dict[str, SuiteScores]]


def variant_note(factory: VariantFactory) -> str:
    """The first paragraph of a factory's docstring, on one line."""
    doc = (factory.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def run_suites(suites: Mapping[str, Sequence[Case]], index: HybridIndex, embedder: Embedder,
               variants: Mapping[str, VariantFactory] = VARIANTS, top_k: int | None = None,
               min_precision: float = 0.6,
               progress: Callable[[str], None] | None = None) -> SuitesReport:
    """Ask every suite's cases of every variant (hybrid retrieval) and score them; the overall
    figures pool every suite's cases."""
    if not suites:
        raise SuiteError("run_suites needs at least one suite")
    if not variants:
        raise SuiteError("run_suites needs at least one variant")
    load_before = os.getloadavg()[0]
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.perf_counter()
    results: dict[str, dict[str, tuple[CaseResult, ...]]] = {}
    for suite, cases in suites.items():
        results[suite] = {}
        for name, factory in variants.items():
            t0 = time.perf_counter()
            report = run_eval(
                cases, index, embedder=embedder, modes=(Mode.HYBRID,), top_k=top_k,
                engine_factory=lambda mode, f=factory, s=suite: f(s, index, embedder),
                suite_name=suite, min_precision=min_precision)
            results[suite][name] = tuple(replace(r, mode=name) for r in report.results)
            if progress is not None:
                passed = sum(r.passed for r in results[suite][name])
                progress(f"{suite} / {name}: {passed} of {len(cases)} pass "
                         f"({time.perf_counter() - t0:.0f} s)")
    scores = {suite: {name: suite_scores(rs) for name, rs in by_variant.items()}
              for suite, by_variant in results.items()}
    scores[OVERALL] = {name: suite_scores([r for by_variant in results.values()
                                           for r in by_variant[name]])
                       for name in variants}
    return SuitesReport(
        suites=tuple(suites), variants=tuple(variants),
        notes={name: variant_note(factory) for name, factory in variants.items()},
        index=index_summary(index), started_at=started_at,
        seconds=round(time.perf_counter() - started, 3),
        load_average=(round(load_before, 2), round(os.getloadavg()[0], 2)),
        results=results, scores=scores,
    )
