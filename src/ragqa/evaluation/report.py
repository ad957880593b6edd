"""Write an eval run as report.json, report.md and PNG charts, and as a section of RESULTS.md."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ragqa.evaluation.runner import RANKING_CHUNKS, Aggregate, EvalReport
from ragqa.evaluation.suites import BASELINE, OVERALL, SuitesReport

# (label, Aggregate field, kind) in the order the summary table shows them
SUMMARY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("case pass rate", "pass_rate", "rate"),
    ("fact recall", "fact_recall", "rate"),
    ("lead hit rate (bottom line states the direct answer)", "lead_hit_rate", "rate"),
    ("lead first (the bottom line's first statement states it)", "lead_first_rate", "rate"),
    ("statement precision (cases labelled `relevant`)", "statement_precision", "rate"),
    ("statements per answer, mean", "statements_mean", "num"),
    ("statements in the bottom line, mean", "bottom_line_mean", "num"),
    ("statements per answer, p90", "statements_p90", "num"),
    ("words per answer, mean", "words_mean", "num"),
    ("words per answer, p90", "words_p90", "num"),
    ("median rank of the first lead sentence: chunk order", "lead_rank_chunks_median", "num"),
    ("median rank of the first lead sentence: sentence-first", "lead_rank_sentences_median", "num"),
    ("abstention precision", "abstention_precision", "rate"),
    ("abstention recall", "abstention_recall", "rate"),
    ("answers that abstained", "abstained", "count"),
    ("regimen-check accuracy", "regimen_accuracy", "rate"),
    ("faithfulness (extract = document span)", "faithfulness", "rate"),
    ("citation validity", "citation_validity", "rate"),
    ("follow-up rate (offered follow-ups that answer, no abstention)", "followup_rate", "rate"),
    ("follow-ups per answer, mean", "followups_per_answer", "num"),
    ("follow-ups repeating the asked question", "followups_repeating", "count"),
    ("document Recall@1", "recall_at_1", "rate"),
    ("document Recall@5", "recall_at_5", "rate"),
    ("document Recall@10", "recall_at_10", "rate"),
    ("MRR@10", "mrr_at_10", "rate"),
    ("nDCG@10", "ndcg_at_10", "rate"),
    ("latency p50 (ms)", "latency_p50_ms", "ms"),
    ("latency p95 (ms)", "latency_p95_ms", "ms"),
    ("latency max (ms)", "latency_max_ms", "ms"),
)
CHART_METRICS: tuple[tuple[str, str], ...] = (
    ("pass rate", "pass_rate"), ("fact recall", "fact_recall"),
    ("abstention recall", "abstention_recall"), ("regimen acc.", "regimen_accuracy"),
    ("Recall@1", "recall_at_1"), ("Recall@5", "recall_at_5"), ("MRR@10", "mrr_at_10"),
    ("nDCG@10", "ndcg_at_10"),
)
RESULTS_HEADER = (
    "# ragqa results\n\n"
    "Written by `ragqa eval --results` and `ragqa bench --results`, never by hand: each\n"
    "section between `ragqa:begin` and `ragqa:end` markers is replaced whole by the next run\n"
    "that writes it.\n"
    "How to run them: [eval/README.md](README.md).\n"
)


def fmt(value: float | None, kind: str = "rate") -> str:
    """A metric for a table: 3 decimals for rates, 1 for milliseconds and counts, — for n/a."""
    if value is None:
        return "—"
    if value == float("inf"):
        return "not ranked"
    return f"{value:.1f}" if kind in ("ms", "num") else f"{value:.3f}"


def report_json(report: EvalReport) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    return asdict(report)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(report: EvalReport) -> str:
    """Metrics (rows) by retrieval mode (columns)."""
    overall = {m: report.aggregates[m].overall for m in report.modes}
    rows = []
    for label, name, kind in SUMMARY_ROWS:
        values = [getattr(overall[m], name) for m in report.modes]
        if all(v is None for v in values):
            continue
        cells = [fmt(v, kind) for v in values]
        if kind == "count":
            cells = [f"{v} of {overall[m].cases}" for v, m in zip(values, report.modes)]
        if name == "pass_rate":
            cells = [f"{c} ({overall[m].passed}/{overall[m].cases})"
                     for c, m in zip(cells, report.modes)]
        rows.append([label, *cells])
    return _table(["metric", *report.modes], rows)


def tag_table(report: EvalReport) -> str:
    """Pass rate and fact recall per tag, one column per mode; Recall@1 where the tag has docs."""
    first = report.aggregates[report.modes[0]]
    tags = sorted(first.by_tag)
    retrieval = any(first.by_tag[t].retrieval_cases for t in tags)
    header = ["tag", "cases", *(f"pass {m}" for m in report.modes),
              *(f"fact recall {m}" for m in report.modes),
              *(f"lead {m}" for m in report.modes), *(f"precision {m}" for m in report.modes),
              *(f"statements {m}" for m in report.modes)]
    if retrieval:
        header += [f"Recall@1 {m}" for m in report.modes]
    rows = []
    for tag in tags:
        per_mode: list[Aggregate] = [report.aggregates[m].by_tag[tag] for m in report.modes]
        row = [tag, str(per_mode[0].cases)]
        row += [fmt(a.pass_rate) for a in per_mode]
        row += [fmt(a.fact_recall) for a in per_mode]
        row += [fmt(a.lead_hit_rate) for a in per_mode]
        row += [fmt(a.statement_precision) for a in per_mode]
        row += [fmt(a.statements_mean, "num") for a in per_mode]
        if retrieval:
            row += [fmt(a.recall_at_1) for a in per_mode]
        rows.append(row)
    return _table(header, rows)


def stage_table(report: EvalReport) -> str:
    """The engine's own mean stage timings (ms) per mode, from answer.timings_ms."""
    stages = sorted({s for m in report.modes for s in report.aggregates[m].stage_ms})
    rows = [[stage, *(fmt(report.aggregates[m].stage_ms.get(stage), "ms") for m in report.modes)]
            for stage in stages]
    return _table(["stage (mean ms)", *report.modes], rows)


# (label, EvidenceAggregate field, kind) for the sentence-level evidence table
EVIDENCE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("claims with gold rationale sentences", "cases", "int"),
    ("abstract nDCG@10 (retriever ranking)", "ndcg_at_10", "rate"),
    ("abstract Recall@10 (retriever ranking)", "recall_at_10", "rate"),
    ("quote precision (all extract statements)", "quote_precision", "rate"),
    ("quote recall", "quote_recall", "rate"),
    ("quote F1", "quote_f1", "rate"),
    ("bottom-line quote precision", "lead_precision", "rate"),
    ("bottom-line quote recall", "lead_recall", "rate"),
    ("bottom-line quote F1", "lead_f1", "rate"),
    ("claims without evidence", "no_evidence_cases", "int"),
    ("… answered without quoting the cited abstract", "no_evidence_avoided", "rate"),
    ("… abstained", "no_evidence_abstained", "rate"),
)


def has_evidence(report: EvalReport) -> bool:
    """Whether any mode scored sentence-level evidence (the suite has `evidence_spans`)."""
    return any(report.aggregates[m].overall.evidence is not None for m in report.modes)


def evidence_table(report: EvalReport) -> str:
    """Sentence-level evidence metrics by mode, with published figures in their own columns."""
    evidence = {m: report.aggregates[m].overall.evidence for m in report.modes}
    published = list(report.reference_points)
    header = ["metric", *report.modes, *(f"{p['label']} (published, not re-run)" for p in published)]
    rows = []
    for label, name, kind in EVIDENCE_ROWS:
        values = [getattr(evidence[m], name) if evidence[m] else None for m in report.modes]
        if all(v is None for v in values):
            continue
        cells = [str(v) if kind == "int" and v is not None else fmt(v) for v in values]
        cells += [fmt(p[name]) if isinstance(p.get(name), (int, float)) else "" for p in published]
        rows.append([label, *cells])
    table = _table(header, rows)
    depth = [e.ranking_depth_min for e in evidence.values() if e and e.ranking_depth_min is not None]
    notes = []
    if depth:
        notes.append(f"Ranking metrics over the retriever's own ranking of {RANKING_CHUNKS} "
                     f"chunks (at least {min(depth)} documents deep), not the engine's answer.")
    notes += [f"{p['label']}: {p.get('source', '')}" for p in published]
    return table + ("\n\n" + "  \n".join(notes) if notes else "")


def evidence_misses(report: EvalReport, mode: str, limit: int = 5) -> str:
    """Claims whose gold rationale was not quoted: the gold sentence and what the bottom line quoted."""
    missed = [r for r in report.results_for(mode)
              if r.evidence is not None and r.evidence.gold_missed]
    if not missed:
        return "_none_"
    lines = []
    for r in missed[:limit]:
        quoted = r.evidence.lead_quoted[0] if r.evidence.lead_quoted else (
            "(abstained)" if r.abstained else "(no quote)")
        lines.append(f"- `{r.case_id}` {r.question}  \n  gold: “{_clip(r.evidence.gold_missed[0])}”"
                     f"  \n  quoted first: “{_clip(quoted)}”")
    return "\n".join(lines)


def _clip(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failures_list(report: EvalReport, mode: str, limit: int | None = None) -> str:
    """One bullet per failing case of a mode, with what failed."""
    failed = [r for r in report.results_for(mode) if not r.passed]
    if not failed:
        return "_none_"
    shown = failed if limit is None else failed[:limit]
    lines = [f"- `{r.case_id}`: {'; '.join(r.failures[:4])}" for r in shown]
    if len(failed) > len(shown):
        lines.append(f"- … and {len(failed) - len(shown)} more (see report.md)")
    return "\n".join(lines)


def _build_rate(index: dict[str, Any]) -> str:
    """How long the index's last build took and, when it embedded everything, its rate end to end
    in sentences per second (a build that reused vectors says so instead)."""
    seconds, counts, embedded = (index.get("build_seconds"), index.get("counts") or {},
                                 index.get("embedded") or {})
    if not seconds:
        return ""
    sentences = counts.get("sentences") or 0
    done = (f" in {seconds:,.1f} s, embedding {embedded.get('chunks', 0):,} chunks and "
            f"{embedded.get('sentences', 0):,} sentences")
    # a full build embeds every distinct text (a sentence repeated in the corpus is embedded once)
    if sentences and embedded.get("sentences", 0) >= 0.9 * sentences:
        return done + f": {sentences / seconds:,.1f} sentences/s end to end"
    return done + " (the rest reused from the previous build)"


def _index_line(report: EvalReport) -> str:
    return _index_line_of(report.index)


def _index_line_of(index: dict[str, Any]) -> str:
    counts = index.get("counts") or {}
    params = index.get("params") or {}
    line = (f"index `{index.get('version')}` ({counts.get('documents')} documents, "
            f"{counts.get('chunks')} chunks, BM25 {params.get('bm25')}, "
            f"FAISS {params.get('faiss')}, "
            f"model {index.get('model')}, built {index.get('built_at')}{_build_rate(index)})")
    runs = index.get("by_embedder")
    if runs:  # one run per embedder: which index each queried
        line += "; embedders: " + ", ".join(
            f"{label} on index `{run.get('version')}`" for label, run in runs.items())
    return line


METRIC_NOTES = """\
- **pass**: every `facts` regex matches some statement, no `forbid` regex does, `abstained` and
  `regimen_check.supported` equal `abstain` / `regimen_supported` where given, every extract
  statement equals its document span and every citation is valid.
- **faithfulness**: share of `extract` statements whose text equals
  `document.text[char_start:char_end]` of the index's document (checked, not trusted).
- **citation validity**: share of citing items (statements, regimen evidence) whose citation
  numbers exist in the references; an extract must cite its own document.
- **Recall@k / MRR@10 / nDCG@10**: over `answer.retrieved_doc_ids`, the documents of the engine's
  retrieved chunks in order (as many as its `top_k` chunks hold), for cases with `docs`.
- **latency**: wall-clock time of `engine.ask` per case, after one warm-up question per mode.
- **evidence** (cases with `evidence_spans`): quote precision = share of the answer's distinct
  extract spans that overlap a gold rationale sentence, quote recall = share of gold sentences
  overlapped by some quote, F1 of the two, pooled over claims (micro, as SciFact scores
  rationales); the same for the bottom line alone. Abstract nDCG@10 / Recall@10 use the retriever's
  own document ranking, not the answer's. Claims without evidence: share whose answer quotes none
  of the abstracts the claim cites.
"""


def render_markdown(report: EvalReport) -> str:
    """The human-readable report."""
    parts = [
        f"# ragqa eval: {report.suite}",
        "",
        (f"{report.cases} cases × modes {', '.join(report.modes)}; started {report.started_at}, "
         f"took {report.seconds:.1f} s; {_index_line(report)}."),
        "",
        "## Summary",
        "",
        summary_table(report),
        "",
        *(["## Sentence-level evidence", "", evidence_table(report), "",
            *(x for m in report.modes for x in (f"Missed gold sentences ({m}):", "",
                                                evidence_misses(report, m), ""))]
          if has_evidence(report) else []),
        "## By tag",
        "",
        tag_table(report),
        "",
        "## Engine stage timings",
        "",
        stage_table(report),
        "",
    ]
    for mode in report.modes:
        parts += [f"## Failing cases ({mode})", "", failures_list(report, mode), ""]
    parts += ["## How the metrics are computed", "", METRIC_NOTES]
    return "\n".join(parts)


def plot_latency(report: EvalReport, path: Path) -> Path:
    """Histogram of per-question latency, one outline per mode, with p50 and p95 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    everything = [r.latency_ms for r in report.results]
    low, high = min(everything, default=0.0), max(everything, default=1.0)
    bins = [low + (high - low) * i / 30 for i in range(31)] if high > low else 30
    for mode in report.modes:
        latencies = [r.latency_ms for r in report.results_for(mode)]
        overall = report.aggregates[mode].overall
        ax.hist(latencies, bins=bins, histtype="step", linewidth=1.5,
                label=f"{mode} (p50 {overall.latency_p50_ms:.0f} ms, "
                      f"p95 {overall.latency_p95_ms:.0f} ms)")
    ax.set_xlabel("ask latency (ms)")
    ax.set_ylabel("questions")
    ax.set_title(f"Latency per question: {Path(report.suite).name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_modes(report: EvalReport, path: Path) -> Path:
    """Grouped bars: the main metrics side by side for each retrieval mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    overall = {m: report.aggregates[m].overall for m in report.modes}
    metrics = [(label, name) for label, name in CHART_METRICS
               if any(getattr(overall[m], name) is not None for m in report.modes)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(metrics) + 2), 4))
    width = 0.8 / len(report.modes)
    for i, mode in enumerate(report.modes):
        values = [getattr(overall[mode], name) or 0.0 for _, name in metrics]
        xs = [j + (i - (len(report.modes) - 1) / 2) * width for j in range(len(metrics))]
        bars = ax.bar(xs, values, width, label=mode)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(metrics)), [label for label, _ in metrics], rotation=20)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("score")
    ax.set_title(f"Metrics per retrieval mode: {Path(report.suite).name}")
    ax.legend(loc="upper center", ncols=len(report.modes), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: EvalReport, out: Path) -> list[Path]:
    """Write report.json, report.md, latency.png and modes.png into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report_json(report), indent=2) + "\n", encoding="utf-8")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return [json_path, md_path, plot_latency(report, out / "latency.png"),
            plot_modes(report, out / "modes.png")]


def results_section(report: EvalReport, command: str, name: str | None = None) -> str:
    """The RESULTS.md section of an eval run: command, date, summary, tags and failing cases;
    `name` (its section's, "guidelines held out") heads it, so two runs of one suite differ."""
    first = report.modes[0]
    return "\n".join([
        f"## Eval: {name} (`{report.suite}`)" if name else f"## Eval: `{report.suite}`",
        "",
        f"Command: `{command}`  ",
        (f"Run: {report.started_at} ({report.seconds:.0f} s), {report.cases} cases; "
         f"{_index_line(report)}."),
        "",
        summary_table(report),
        "",
        *([evidence_table(report), "", f"Missed gold sentences ({first}, first five):", "",
           evidence_misses(report, first), ""] if has_evidence(report) else []),
        tag_table(report),
        "",
        f"Failing cases ({first}):",
        "",
        failures_list(report, first, limit=25),
    ])


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- ragqa:begin {key} -->", f"<!-- ragqa:end {key} -->"


def replace_section(text: str, key: str, body: str) -> str:
    """`text` with the marked section `key` replaced by `body` (appended when absent)."""
    begin, end = _markers(key)
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    text = text if text.strip() else RESULTS_HEADER
    return text.rstrip("\n") + "\n\n" + block + "\n"


def update_results(path: Path, key: str, body: str) -> Path:
    """Rewrite the marked section `key` of a results file (created with a header if missing)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(text, key, body), encoding="utf-8")
    return path


def today() -> str:
    """UTC timestamp for tool-written sections."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


# --- the multi-guideline benchmark (`ragqa eval --suites`) ------------------------------------

# (heading, SuiteScores field, kind, (numerator or None, denominator) fields shown beside a
# value), one table each: a row per suite and overall, a column per variant
SUITE_METRICS: tuple[tuple[str, str, str, tuple[str | None, str] | None], ...] = (
    ("Case pass rate", "pass_rate", "rate", ("passed", "cases")),
    ("Lead hit rate (the bottom line states the direct answer; answered cases with `lead`)",
     "lead_hit_rate", "rate", (None, "lead_cases")),
    ("Lead first (the bottom line's first statement alone states the direct answer; same cases)",
     "lead_first_rate", "rate", (None, "lead_cases")),
    ("Statement precision (answered cases labelled `relevant`)", "statement_precision", "rate",
     (None, "precision_cases")),
    ("Extract statements per answer, mean (answered cases)", "statements_mean", "num", None),
    ("Statements in the bottom line, mean (answered cases)", "bottom_line_mean", "num", None),
    ("False abstention (answerable cases that abstained; lower is better)", "false_abstention",
     "rate", ("false_abstentions", "answerable")),
    ("Trap abstention (cases labelled `abstain: true` that abstained)", "trap_abstention", "rate",
     ("trap_abstentions", "traps")),
)


def _signed(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f}" if kind == "num" else f"{value:+.3f}"


def suite_metric_table(report: SuitesReport, field: str, kind: str,
                       counts: tuple[str | None, str] | None) -> str:
    """One metric: a row per suite and overall, a column per variant, then each variant minus
    the naive baseline (when the run has it)."""
    others = [v for v in report.variants if v != BASELINE] if BASELINE in report.variants else []
    header = ["suite", "cases", *report.variants, *(f"{v} − {BASELINE}" for v in others)]
    rows = []
    for suite in (*report.suites, OVERALL):
        scores = report.scores[suite]
        first = scores[report.variants[0]]
        cells = []
        for variant in report.variants:
            value = getattr(scores[variant], field)
            cell = fmt(value, kind)
            if counts is not None and value is not None:
                part, whole = counts
                whole_n = getattr(scores[variant], whole)
                cell += (f" (n={whole_n})" if part is None else
                         f" ({getattr(scores[variant], part)}/{whole_n})")
            cells.append(cell)
        for variant in others:
            mine, base = getattr(scores[variant], field), getattr(scores[BASELINE], field)
            cells.append(_signed(None if mine is None or base is None else mine - base, kind))
        name = f"**{suite}**" if suite == OVERALL else suite
        rows.append([name, str(first.cases), *cells])
    return _table(header, rows)


def suites_failures(report: SuitesReport, variant: str, limit: int = 40) -> str:
    """One bullet per failing case of a variant, suite by suite."""
    lines = [f"- `{suite}/{r.case_id}`: {'; '.join(r.failures[:3])}"
             for suite in report.suites for r in report.results[suite][variant] if not r.passed]
    if not lines:
        return "_none_"
    more = [f"- … and {len(lines) - limit} more (eval/out/suites/)"] if len(lines) > limit else []
    return "\n".join(lines[:limit] + more)


def suites_section(report: SuitesReport, command: str, name: str = "guideline suites",
                   pattern: str = "eval/suites/*.jsonl") -> str:
    """The RESULTS.md section of a benchmark run: command, run, variants, one table per metric."""
    before, after = report.load_average
    parts = [
        f"## Eval: {name} (`{pattern}`)",
        "",
        f"Command: `{command}`  ",
        (f"Run: {report.started_at} ({report.seconds:.0f} s), suites "
         f"{', '.join(report.suites)}, hybrid retrieval; 1-minute load average {before:.2f} "
         f"before, {after:.2f} after; {_index_line_of(report.index)}."),
        "",
        "Variants (columns):",
        "",
        *(f"- **{name}**: {report.notes.get(name) or '—'}" for name in report.variants),
        "",
        ("Every suite is asked of every variant over the same index (the default corpus plus "
         "each suite's guideline, `eval/suites/documents.json`); **overall** pools the cases of "
         "all suites. A variant marked *held out* is fitted without the suite it is scored on; "
         "the in-sample figure beside it shows the overfit."),
        "",
    ]
    for heading, field, kind, counts in SUITE_METRICS:
        parts += [f"### {heading}", "", suite_metric_table(report, field, kind, counts), ""]
    first = report.variants[0]
    parts += [f"Failing cases ({first}):", "", suites_failures(report, first)]
    return "\n".join(parts)


def suites_json(report: SuitesReport) -> dict[str, Any]:
    """The run's figures without the case results, as JSON-ready data."""
    data = asdict(report)
    data.pop("results")
    return data


def write_suites_report(report: SuitesReport, out: Path, command: str) -> list[Path]:
    """Write summary.json, report.md and one `<suite>.json` of case results per suite to `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for suite in report.suites:
        path = out / f"{suite}.json"
        cases = {variant: [asdict(r) for r in results]
                 for variant, results in report.results[suite].items()}
        path.write_text(json.dumps({"suite": suite, "variants": cases}, indent=2) + "\n",
                        encoding="utf-8")
        written.append(path)
    summary = out / "summary.json"
    summary.write_text(json.dumps(suites_json(report), indent=2) + "\n", encoding="utf-8")
    markdown = out / "report.md"
    markdown.write_text(suites_section(report, command) + "\n", encoding="utf-8")
    return [*written, summary, markdown]
