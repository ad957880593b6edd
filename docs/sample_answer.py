"""Rewrite the README's generated blocks: what the default corpus covers, and a sample answer.

    .venv/bin/python docs/sample_answer.py     # after `make index`; rewrites README.md in place

Both blocks sit between `<!-- generated:NAME:begin -->` and `<!-- generated:NAME:end -->` markers
and are never edited by hand: the corpus block is read from the index, the answer is the Markdown
that `ragqa ask --local` prints for SAMPLE_QUESTION.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_QUESTION = "What dose of ketamine is used for suicidal ideation?"


def replace_block(text: str, name: str, body: str) -> str:
    """The text with the named generated block's body replaced."""
    pattern = re.compile(rf"(<!-- generated:{name}:begin -->\n).*?(<!-- generated:{name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no generated:{name} markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def corpus_block() -> str:
    """What the default index holds, from its documents."""
    from ragqa.answer.overview import corpus_overview
    from ragqa.config import get_settings
    from ragqa.index.store import load_index

    overview = corpus_overview(load_index(get_settings().index_dir))
    kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in
                      sorted(overview.by_type.items(), key=lambda kv: -kv[1]))
    return (f"{overview.covers()} By whose text: {overview.forms()}. By design: {kinds}. "
            f"Evidence current to {overview.newest_year}.\n")


def answer_block() -> str:
    """The Markdown answer of `ragqa ask --local` to the sample question."""
    command = [sys.executable, "-m", "ragqa.cli", "ask", "--local", SAMPLE_QUESTION]
    shown = " ".join(["ragqa", "ask", f'"{SAMPLE_QUESTION}"'])
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return f"```\n$ {shown}\n```\n\n````markdown\n{output.rstrip()}\n````\n"


def main() -> None:
    readme = ROOT / "README.md"
    text = replace_block(readme.read_text(), "corpus", corpus_block())
    readme.write_text(replace_block(text, "sample", answer_block()))


if __name__ == "__main__":
    main()
