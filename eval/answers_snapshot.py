"""Dump what the answer engine says to a fixed set of questions, as JSON, to prove a change
leaves answers unchanged: run it before and after, then diff the two files.

    PYTHONPATH=src python eval/answers_snapshot.py --out /tmp/before.json
    ... change the code ...
    PYTHONPATH=src python eval/answers_snapshot.py --out /tmp/after.json
    diff /tmp/before.json /tmp/after.json && echo identical

The questions are every question of eval/guidelines.jsonl plus those of
tests/answer/test_reference_question.py (its module-level question lists, its parametrized
`question` arguments, and the subject x aspect variants its property test generates), each asked
in every retrieval mode (hybrid, bm25, dense) of one engine over the index at --index-dir
(indexes/default; build it with `ragqa index`). Per answer the snapshot keeps the whole answer
contract (statements with text, kind, citations, offsets, sections, regimen check, abstention
record, references, retrieved documents) except what varies between runs of the same code: the
timings and the build time. Each question is embedded once and the vector reused across modes.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "eval" / "guidelines.jsonl"
REFERENCE_TESTS = ROOT / "tests" / "answer" / "test_reference_question.py"
VARYING = {"timings_ms", "index_built_at"}


def suite_questions(path: Path = SUITE) -> list[str]:
    """The questions of a JSONL suite, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def reference_test_questions(path: Path = REFERENCE_TESTS) -> list[str]:
    """The questions written in the reference-question tests, read from the source (not run).

    Module-level strings and lists of strings in UPPER_CASE names holding questions, every list
    given to `pytest.mark.parametrize("question", [...])`, and the f"What about {s} {a}?"
    variants built from the `subjects` and `aspects` lists of the property test.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def strings(node: ast.AST) -> list[str]:
        try:
            value = ast.literal_eval(node)
        except ValueError:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        return []

    lists: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            values = strings(node.value)
            lists[name] = values
            if name.isupper() and any(v.rstrip().endswith("?") or ":" in v for v in values):
                found += values
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize" \
                and node.args and strings(node.args[0]) == ["question"] and len(node.args) > 1:
            found += strings(node.args[1])
    found += [f"What about {s} {a}?" for s in lists.get("subjects", [])
              for a in lists.get("aspects", [])]
    return list(dict.fromkeys(found))


class CachingEmbedder:
    """Wraps an embedder so a text asked in several modes is embedded once (vectors unchanged)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.dim, self.record = inner.name, inner.dim, inner.record
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing)))
        return np.stack([self._cache[t] for t in texts]) if texts else \
            np.zeros((0, self.dim), dtype=np.float32)


def snapshot(index_dir: Path, embedder_kind: str | None = None) -> dict[str, dict[str, dict]]:
    """{mode: {question: answer without its varying fields}} over all the questions."""
    from ragqa.answer.engine import AnswerEngine
    from ragqa.config import get_settings
    from ragqa.index.embed import load_embedder
    from ragqa.index.store import load_index
    from ragqa.retrieve import Mode

    embedder = CachingEmbedder(load_embedder(get_settings(), embedder_kind))
    index = load_index(index_dir, embedder.inner)
    questions = list(dict.fromkeys(suite_questions() + reference_test_questions()))
    out: dict[str, dict[str, dict]] = {}
    for mode in (Mode.HYBRID, Mode.BM25, Mode.DENSE):
        engine = AnswerEngine(index, embedder, mode=mode)
        out[mode.value] = {q: engine.ask(q).model_dump(exclude=VARYING) for q in questions}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON snapshot")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "indexes" / "default")
    parser.add_argument("--embedder", default=None, help="embedder kind (default: the settings')")
    args = parser.parse_args(argv)
    data = snapshot(args.index_dir, args.embedder)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    count = sum(len(v) for v in data.values())
    print(f"wrote {count} answers ({len(data)} modes) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
