"""`ragqa eval` and `ragqa bench`: the command-line edges over the evaluation library.

ragqa.cli wires them as subcommands (add_*_arguments keeps every option in one place):

    p = sub.add_parser("eval", help="...")
    add_eval_arguments(p)
    p.set_defaults(func=eval_command)
    (the same for "bench" with add_bench_arguments and bench_command)

Options missing from a parser fall back to their defaults.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from ragqa.config import PROJECT_ROOT, get_settings
from ragqa.errors import InvalidQueryError

EVAL_OUT = PROJECT_ROOT / "eval" / "out"


def load_embedder(kind: str | None = None, all_cores: bool = False):
    """The settings' embedder, or the one `kind` names (tests replace this with a fake)."""
    from ragqa.index.embed import load_embedder as load

    return load(get_settings(), kind, all_cores=all_cores)


def parse_embedders(value: str | None) -> list[str]:
    """'torch,onnx,onnx-int8' -> the embedder names, checked, in order, duplicates dropped."""
    from ragqa.index.embed import EmbedderKind

    kinds: list[str] = []
    for name in (part.strip() for part in (value or "").split(",")):
        if name and EmbedderKind.parse(name).value not in kinds:
            kinds.append(EmbedderKind.parse(name).value)
    return kinds


def index_for(embedder, index_dir: Path, kind: str):
    """The index at `index_dir` if `embedder` may query it, else a sibling built by `embedder`.

    An int8 embedder only queries an index it built: `<index_dir>+onnx-int8` is built from the
    same documents and parameters (once; kept up to date like any index) and used instead.
    """
    from ragqa.index.embed import incompatibility
    from ragqa.index.store import (
        IndexParams,
        build_index,
        embedder_record,
        load_index,
        read_documents,
        read_manifest,
        save_index,
        staleness,
    )

    manifest = read_manifest(index_dir)
    if incompatibility(embedder_record(manifest), embedder.record) is None:
        return load_index(index_dir, embedder)
    sibling = index_dir.with_name(f"{index_dir.name}+{kind}")
    documents = list(read_documents(index_dir).values())
    params = IndexParams.from_json(manifest["params"])
    reason = staleness(sibling, documents, params, embedder.name, embedder.record)
    if reason is not None:
        print(f"eval: building {sibling} with the {kind} embedder ({reason})", file=sys.stderr)
        save_index(build_index(documents, load_embedder(kind, all_cores=True), params,
                               progress=True), sibling)
    return load_index(sibling, embedder)


def command_line() -> str:
    """The command as the user typed it, for tool-written results."""
    return shlex.join(["ragqa", *sys.argv[1:]])


def suite_name(path: Path) -> str:
    """A report name for a suite file: its stem, or its folder's name for `suite.jsonl`."""
    return path.parent.name if path.stem == "suite" and path.parent.name else path.stem


def parse_modes(value: str):
    """'hybrid,bm25,dense' -> [Mode.HYBRID, Mode.BM25, Mode.DENSE] (duplicates dropped)."""
    from ragqa.retrieve import Mode

    modes = []
    for name in (part.strip() for part in value.split(",")):
        if not name:
            continue
        mode = Mode.parse(name)
        if mode not in modes:
            modes.append(mode)
    if not modes:
        raise InvalidQueryError(
            f"--modes must name at least one of hybrid, bm25, dense, got {value!r}")
    return modes


def parse_backends(value: str | None):
    """'inprocess,milvus' -> [Backend.INPROCESS, Backend.MILVUS] (duplicates dropped); [] for None."""
    from ragqa.retrieve import Backend

    backends: list = []
    for name in (part.strip() for part in (value or "").split(",")):
        if name and Backend.parse(name) not in backends:
            backends.append(Backend.parse(name))
    if value is not None and not backends:
        raise InvalidQueryError(f"--backends must name inprocess and/or milvus, got {value!r}")
    return backends


def open_backends(names, index, progress=None):
    """A search backend per name over `index`; Milvus gets this index published first when it
    serves another version (RAGQA_MILVUS_URI)."""
    from ragqa.index.milvus import ensure_published
    from ragqa.retrieve import Backend, index_name, milvus_store, open_backend

    settings = get_settings()
    backends = []
    for name in names:
        store = None
        if name is Backend.MILVUS:
            store = milvus_store(settings, index_name(index))
            ensure_published(store, index, progress)
        backends.append(open_backend(index, name, settings, store))
    return backends


def load_reference_points(path: Path) -> tuple[dict, ...]:
    """The published figures of a file: {"figures": [{"label", "source", metric: value}, ...]}."""
    try:
        figures = json.loads(path.read_text(encoding="utf-8"))["figures"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidQueryError(f"--published {path}: not a figures file ({exc})") from None
    if not isinstance(figures, list) or not all(isinstance(f, dict) and f.get("label")
                                                for f in figures):
        raise InvalidQueryError(f"--published {path}: 'figures' must be a list of objects "
                                "with a 'label'")
    return tuple(figures)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `ragqa eval`."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", help="suite file (JSONL, see eval/README.md)")
    which.add_argument("--suites",
                       help="the guideline benchmark: a glob of suite files, quoted "
                            "('eval/suites/*.jsonl'), each over the guideline that "
                            "--documents names; indexed with the corpus into --suites-index and "
                            "run through every --variants, hybrid (see eval/suites/README.md)")
    parser.add_argument("--documents", default=str(PROJECT_ROOT / "eval" / "suites" /
                                                   "documents.json"),
                        help="--suites: which guideline file and document id each suite is "
                             "written over")
    parser.add_argument("--suites-index", default=str(PROJECT_ROOT / "indexes" / "suites"),
                        help="--suites: the index of the corpus plus the suites' guidelines "
                             "(built or refreshed first)")
    parser.add_argument("--variants", help="--suites: comma-separated variants to compare "
                                           "(default: every registered one, "
                                           "ragqa.evaluation.suites.VARIANTS)")
    parser.add_argument("--index-dir", default=str(get_settings().index_dir),
                        help="index directory (default: RAGQA_INDEX_DIR, else indexes/default)")
    parser.add_argument("--modes", default="hybrid",
                        help="comma-separated retrieval modes to compare: hybrid,bm25,dense")
    parser.add_argument("--backends",
                        help="comma-separated search backends to compare: inprocess,milvus "
                             "(default: RAGQA_BACKEND alone); Milvus modes are labelled "
                             "`<mode>@milvus`")
    parser.add_argument("--out", help="report directory (default eval/out/<name>)")
    parser.add_argument("--name", help="report and results-section name (default: the suite "
                                       "file's stem, or its folder's name for suite.jsonl)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--min-pass-rate", type=float,
                        help="exit 1 when the first mode's case pass rate is below this (0-1)")
    parser.add_argument("--results", help="rewrite this run's section of a results file "
                                          "(eval/RESULTS.md)")
    parser.add_argument("--top-k", type=int, help="chunks the engine retrieves (engine default)")
    parser.add_argument("--min-precision", type=float, default=0.6,
                        help="a case labelled `relevant` fails below this statement precision")
    parser.add_argument("--published", help="JSON file of published figures on the same corpus, "
                                            "shown beside the modes (eval/datasets/*.json)")
    parser.add_argument("--held-out", action="store_true",
                        help="answer with weights fitted without this suite (ragqa fit --exclude "
                             "<suite name>): the held-out figure; the engine's shipped weights "
                             "otherwise")
    parser.add_argument("--embedders", help="comma-separated embedders to compare: torch,onnx,"
                                            "onnx-int8 (default: the RAGQA_EMBEDDER setting "
                                            "alone); onnx-int8 runs on its own index, built "
                                            "beside --index-dir from the same documents")


def eval_command(args: argparse.Namespace) -> int:
    """Run a suite, write the report, optionally the results section; non-zero below the bar."""
    from ragqa.evaluation.report import (
        fmt,
        report_json,
        results_section,
        summary_table,
        update_results,
        write_report,
    )
    from ragqa.evaluation.runner import merge_reports, run_eval
    from ragqa.evaluation.suite import load_suite
    from ragqa.index.store import load_index

    if getattr(args, "suites", None):
        return suites_command(args)
    min_pass_rate = getattr(args, "min_pass_rate", None)
    if min_pass_rate is not None and not 0 <= min_pass_rate <= 1:
        raise InvalidQueryError(f"--min-pass-rate must be between 0 and 1, got {min_pass_rate}")
    suite_path = Path(args.suite)
    cases = load_suite(suite_path)
    modes = parse_modes(getattr(args, "modes", None) or "hybrid")
    name = getattr(args, "name", None) or suite_name(suite_path)
    kinds = parse_embedders(getattr(args, "embedders", None))
    min_precision = getattr(args, "min_precision", 0.6)
    if not kinds:
        embedder = load_embedder()
        index = load_index(Path(args.index_dir), embedder)
        backends = open_backends(parse_backends(getattr(args, "backends", None)), index,
                                 lambda message: print(message, file=sys.stderr))
        factory = None
        if getattr(args, "held_out", False):
            from ragqa.answer.engine import AnswerEngine
            from ragqa.evaluation.fit import HeldOut

            weights = HeldOut.default(embedder, default_index=Path(args.index_dir)).without(name)
            print(f"eval: held out: weights fitted without {name!r} "
                  f"(on {', '.join(weights.provenance['suites'])})", file=sys.stderr)

            def factory(mode):
                return AnswerEngine(index, embedder, mode=mode).with_weights(weights)
        report = run_eval(cases, index, embedder=embedder, modes=modes,
                          top_k=getattr(args, "top_k", None), suite_name=str(args.suite),
                          min_precision=min_precision, backends=backends, engine_factory=factory)
    else:  # one run per embedder, side by side as "<mode> <embedder>" columns
        if getattr(args, "backends", None):
            raise InvalidQueryError("--backends and --embedders are one dimension at a time")
        reports = {}
        for kind in kinds:
            embedder = load_embedder(kind)
            index = index_for(embedder, Path(args.index_dir), kind)
            reports[kind] = run_eval(cases, index, embedder=embedder, modes=modes,
                                     top_k=getattr(args, "top_k", None),
                                     suite_name=str(args.suite), min_precision=min_precision)
            del embedder, index
        report = merge_reports(reports)
    if getattr(args, "published", None):
        report = replace(report, reference_points=load_reference_points(Path(args.published)))
    out = Path(args.out) if getattr(args, "out", None) else EVAL_OUT / name
    written = write_report(report, out)
    results = getattr(args, "results", None)
    section = f"eval {name}" + (" held out" if getattr(args, "held_out", False) else "")
    if results:
        update_results(Path(results), section,
                       results_section(report, command_line(), section.removeprefix("eval ")))
    if getattr(args, "json", False):
        print(json.dumps(report_json(report), indent=2))
    else:
        print(summary_table(report))
        print(f"\nwrote {', '.join(str(p) for p in written)}")
        if results:
            print(f"updated section '{section}' of {results}")
    first = report.aggregates[report.modes[0]].overall
    if min_pass_rate is not None and (first.pass_rate or 0.0) < min_pass_rate:
        print(f"ragqa eval: case pass rate {fmt(first.pass_rate)} ({report.modes[0]}) is below "
              f"--min-pass-rate {min_pass_rate}", file=sys.stderr)
        return 1
    return 0


def suite_files(pattern: str) -> dict[str, Path]:
    """The suite files a glob matches, by suite name (the file's stem), in name order."""
    import glob

    from ragqa.errors import SuiteError

    files = {Path(p).stem: Path(p) for p in sorted(glob.glob(pattern)) if p.endswith(".jsonl")}
    if not files:
        raise SuiteError(f"--suites: no .jsonl file matches {pattern!r}")
    return files


def suites_command(args: argparse.Namespace) -> int:
    """The guideline benchmark: index the corpus plus each suite's guideline, run every suite
    through every variant, write eval/out/suites/ and optionally the RESULTS.md section."""
    from ragqa.errors import SuiteError
    from ragqa.evaluation.report import suites_section, update_results, write_suites_report
    from ragqa.evaluation.suite import load_suite
    from ragqa.evaluation.suites import (
        load_suite_documents,
        parse_variants,
        read_suite_documents,
        run_suites,
        suite_index,
    )
    from ragqa.index.store import load_index

    for option in ("embedders", "backends", "published", "min_pass_rate"):
        if getattr(args, option, None) is not None:
            raise InvalidQueryError(f"--{option.replace('_', '-')} is for --suite, not --suites")
    if (getattr(args, "modes", None) or "hybrid") != "hybrid":
        raise InvalidQueryError("--suites runs hybrid retrieval only")
    variants = parse_variants(getattr(args, "variants", None))
    files = suite_files(args.suites)
    entries = load_suite_documents(Path(args.documents))
    missing = [name for name in files if name not in entries]
    if missing:
        raise SuiteError(f"{args.documents}: no entry for suite {missing[0]!r} (has: "
                         f"{', '.join(entries)})")
    suites = {name: load_suite(path) for name, path in files.items()}
    embedder = load_embedder()
    directory = Path(args.suites_index)
    documents = read_suite_documents(get_settings().corpus, entries)
    build = suite_index(documents, directory, embedder, seed=Path(args.index_dir), progress=True)
    print(f"index {directory}: {'built (' + build.reason + ')' if build.rebuilt else 'up to date'}"
          f", {build.manifest['counts']['documents']} documents", file=sys.stderr)
    index = load_index(directory, embedder)
    report = run_suites(suites, index, embedder, variants, top_k=getattr(args, "top_k", None),
                        min_precision=getattr(args, "min_precision", 0.6),
                        progress=lambda line: print(line, file=sys.stderr))
    command = command_line()
    out = Path(args.out) if getattr(args, "out", None) else EVAL_OUT / "suites"
    written = write_suites_report(report, out, command)
    results = getattr(args, "results", None)
    name = getattr(args, "name", None)
    section = f"eval {name}" if name else "eval suites"
    text = suites_section(report, command, name or "guideline suites", args.suites)
    if results:
        update_results(Path(results), section, text)
    if getattr(args, "json", False):
        from ragqa.evaluation.report import suites_json

        print(json.dumps(suites_json(report), indent=2))
    else:
        print(text)
        print(f"\nwrote {', '.join(str(p) for p in written)}")
        if results:
            print(f"updated section '{section}' of {results}")
    return 0


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `ragqa bench`."""
    from ragqa.evaluation.bench import DEFAULT_CACHE, PUBMEDQA_SOURCE

    parser.add_argument("--results", help="rewrite the bench section of a results file "
                                          "(eval/RESULTS.md)")
    parser.add_argument("--skip-large", action="store_true",
                        help="skip the synthetic 100,000-chunk corpus")
    parser.add_argument("--corpus", default=str(get_settings().corpus),
                        help="the default corpus (built fresh into a temporary directory)")
    parser.add_argument("--pubmedqa-source", default=str(PUBMEDQA_SOURCE),
                        help="PubMedQA ori_pqal.json (skipped with a note when missing)")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE),
                        help="where the PubMedQA index is kept between runs (embedding it takes "
                             "minutes)")
    parser.add_argument("--queries", type=int, default=40, help="timed queries per measurement")
    parser.add_argument("--large-chunks", type=int, default=100_000,
                        help="chunks in the synthetic corpus")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--backends", default="inprocess",
                        help="comma-separated search backends to time side by side: "
                             "inprocess,milvus (rows labelled by BM25 backend, or `milvus`)")


def bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark and print (and optionally record) its figures."""
    from ragqa.evaluation.bench import BenchConfig, render_bench, run_bench
    from ragqa.evaluation.report import update_results

    defaults = BenchConfig()
    queries = getattr(args, "queries", defaults.queries)
    if queries < 5:
        raise InvalidQueryError(f"--queries must be >= 5, got {queries}")
    config = BenchConfig(
        corpus=Path(getattr(args, "corpus", defaults.corpus)),
        pubmedqa_source=Path(getattr(args, "pubmedqa_source", defaults.pubmedqa_source)),
        cache_dir=Path(getattr(args, "cache_dir", defaults.cache_dir)), queries=queries,
        skip_large=getattr(args, "skip_large", False),
        large_chunks=getattr(args, "large_chunks", defaults.large_chunks),
        backends=tuple(b.value for b in parse_backends(getattr(args, "backends", None)
                                                       or "inprocess")),
    )
    result = run_bench(config, progress=lambda message: print(f"bench: {message}", file=sys.stderr,
                                                              flush=True))
    text = render_bench(result, command_line())
    as_json = getattr(args, "json", False)
    print(json.dumps(result, indent=2) if as_json else text)
    results = getattr(args, "results", None)
    if results:
        update_results(Path(results), "bench", text)
        print(f"updated section 'bench' of {results}", file=sys.stderr if as_json else sys.stdout)
    return 0
