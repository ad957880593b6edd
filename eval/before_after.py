"""Measure the answer engine before sentence-first evidence (commit 2822c1c) and now, on the same
documents and cases, with today's metrics; both sections go into RESULTS.md through `ragqa eval`.

    python eval/before_after.py --before ../before --work /tmp/ragqa-before-after \
        --results eval/RESULTS.md

`--before` is a checkout of 2822c1c whose `src/ragqa/evaluation/` is that of commit 5e168a4 (the
metrics of issue 9 on the old engine). The old engine reads only Markdown with the front matter of
its day, so both runs use a copy of the Markdown documents of `corpus/` without the `provenance`
block, with `secondary_summary` read as `guideline` (the type those documents had then), and the
cases of the suite whose gold documents are all in that copy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
