"""Measure the answer engine before sentence-first evidence (commit 2822c1c) and now, on the same
documents and cases, with today's metrics; both sections go into RESULTS.md through `ragqa eval`.

    python eval/before_after.py --before ../before --work /tmp/ragqa-before-after \
        --results eval/RESULTS.md [--ask-rounds 5]

It then times `ask` with both engines in the same run: in each round, one process per engine
(alternating, so both see the same machine) loads its index and model and answers every case's
question once after three warm-up questions; the section "ask latency, before and after" gives
each engine's median over all rounds and the median of its per-round medians.

`--before` is a checkout of 2822c1c whose `src/ragqa/evaluation/` is that of commit 5e168a4 (the
metrics of issue 9 on the old engine), with `lead_ranks` in its runner.py returning no
sentence-first rank when the retriever has no `search_sentences` (the old one has none). The old engine reads only Markdown with the front matter of
its day, so both runs use a copy of the Markdown documents of `corpus/` without the `provenance`
block, with `secondary_summary` read as `guideline` (the type those documents had then), and the
cases of the suite whose gold documents are all in that copy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from ragqa.evaluation.report import update_results

ROOT = Path(__file__).resolve().parents[1]
NAME = "guidelines (58 Markdown documents): {}"


def markdown_copy(corpus: Path, target: Path) -> set[str]:
    """Copy the Markdown documents in the old front-matter format; returns their ids."""
    target.mkdir(parents=True, exist_ok=True)
    ids = set()
    for path in sorted(corpus.glob("*.md")):
        if path.name == "README.md":
            continue
        head, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
        kept, skipping = [], False
        for line in head.split("\n"):
            if line.startswith("provenance:"):
                skipping = True
                continue
            if skipping and (line.startswith("  ") or not line.strip()):
                continue
            skipping = False
            kept.append(line)
        head = "\n".join(kept).replace("doc_type: secondary_summary", "doc_type: guideline")
        (target / path.name).write_text(f"{head}\n---\n{body}", encoding="utf-8")
        ids.add(re.search(r"^id: (\S+)", head, re.MULTILINE).group(1))
    return ids


def suite_copy(suite: Path, ids: set[str], target: Path) -> int:
    """The cases whose gold documents are all in the copy."""
    kept = [line for line in suite.read_text(encoding="utf-8").splitlines()
            if line.strip() and set(json.loads(line).get("docs", [])) <= ids]
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


def ragqa(src: Path, *args: str) -> None:
    """Run `ragqa` with the package found in `src` (the old checkout or this one)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import sys; from ragqa.cli import main; sys.exit(main())"
    subprocess.run([sys.executable, "-c", code, *args], check=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, type=Path, help="checkout of 2822c1c (see above)")
    parser.add_argument("--work", required=True, type=Path, help="scratch directory")
    parser.add_argument("--results", default=str(ROOT / "eval" / "RESULTS.md"))
    parser.add_argument("--modes", default="hybrid,bm25,dense")
    parser.add_argument("--ask-rounds", type=int, default=5,
                        help="rounds of the same-run ask timing (0: skip it)")
    args = parser.parse_args()
    corpus = args.work / "corpus"
    ids = markdown_copy(ROOT / "corpus", corpus)
    suite = args.work / "suite.jsonl"
    cases = suite_copy(ROOT / "eval" / "guidelines.jsonl", ids, suite)
    print(f"{len(ids)} documents, {cases} cases", file=sys.stderr)
    for label, src in (("before, engine of 2822c1c", args.before / "src"), ("after", ROOT / "src")):
        index = args.work / ("index-" + label.split(",")[0])
        ragqa(src, "index", "--corpus", str(corpus), "--index-dir", str(index))
        ragqa(src, "eval", "--suite", str(suite), "--index-dir", str(index), "--modes", args.modes,
              "--name", NAME.format(label), "--out", str(args.work / ("out-" + label.split(",")[0])),
              "--results", args.results)
    if args.ask_rounds:
        timings = time_ask(args, suite)
        update_results(Path(args.results), "ask latency, before and after",
                       ask_section(timings, len(ids), cases, args.ask_rounds))
    return 0


# Loads one engine's index and model the way that checkout's CLI does (the old one had only the
# torch embedder), answers each question once and prints the milliseconds as JSON.
TIMER = """
import json, sys, time
from pathlib import Path
from ragqa.config import Settings
from ragqa.index.store import load_index
from ragqa.answer.engine import AnswerEngine
settings = Settings()
try:
    from ragqa.index.embed import load_embedder
    embedder = load_embedder(settings)
except ImportError:
    from ragqa.index.embed import SentenceTransformerEmbedder
    embedder = SentenceTransformerEmbedder.from_settings(settings)
engine = AnswerEngine(load_index(Path(sys.argv[1]), embedder), embedder)
questions = [json.loads(line)["question"] for line in open(sys.argv[2])]
for q in questions[:3]:
    engine.ask(q)
times = []
for q in questions:
    t0 = time.perf_counter()
    engine.ask(q)
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps(times))
"""


def time_ask(args: argparse.Namespace, suite: Path) -> dict[str, list[list[float]]]:
    """Per engine, the per-question ask times (ms) of each round, rounds alternating engines."""
    engines = {"before": args.before / "src", "after": ROOT / "src"}
    timings: dict[str, list[list[float]]] = {name: [] for name in engines}
    for _ in range(args.ask_rounds):
        for name, src in engines.items():
            index = args.work / f"index-{name}"
            env = {**os.environ, "PYTHONPATH": str(src)}
            done = subprocess.run([sys.executable, "-c", TIMER, str(index), str(suite)], check=True,
                                  env=env, capture_output=True, text=True)
            timings[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return timings


def ask_section(timings: dict[str, list[list[float]]], documents: int, cases: int, rounds: int) -> str:
    """The RESULTS.md section: each engine's ask p50 over all rounds and per round."""
    rows = []
    for name, runs in timings.items():
        everything = [t for run in runs for t in run]
        per_round = [statistics.median(run) for run in runs]
        rows.append(f"| {name} | {statistics.median(everything):.1f} | "
                    f"{statistics.quantiles(everything, n=20)[-1]:.1f} | "
                    f"{', '.join(f'{v:.1f}' for v in per_round)} |")
    load = os.getloadavg()[0]
    return "\n".join([
        "## ask latency, before and after",
        "",
        (f"Command: `python eval/before_after.py --before ../before --work <dir> --ask-rounds {rounds}`. "
         f"{documents} Markdown documents, the {cases} questions of the suite answered once per round "
         f"by each engine in its own process, rounds alternating engines; 1-minute load average "
         f"{load:.2f} at the end. Before: the engine of 2822c1c with its torch embedder; after: "
         f"today's engine with its default embedder."),
        "",
        "| engine | ask p50 ms | ask p95 ms | p50 per round |",
        "|---|---|---|---|",
        *rows,
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
