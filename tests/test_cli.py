"""The `ragqa` command's edges: documents, --fail-on-abstain, asking a running server (fast)."""

from __future__ import annotations

import io
import json

import pytest

from ragqa import cli
from ragqa.index.progress import LogProgress
from ragqa.index.store import update_index


@pytest.fixture
def index_dir(tmp_path, fixture_corpus, fake_embedder, monkeypatch):
    directory = tmp_path / "index"
    update_index(fixture_corpus, directory, fake_embedder)
    monkeypatch.setattr(cli, "_load_embedder", lambda args, all_cores=False: fake_embedder)
    return directory


def test_every_argument_has_help():
    parser = cli.build_parser("eval")
    missing = []
    for action in parser._subparsers._group_actions[0].choices.items():
        name, sub = action
        for argument in sub._actions:
            if argument.help is None and argument.dest != "help" and not argument.choices:
                missing.append(f"{name} {argument.dest}")
    assert not missing, missing


def test_documents_lists_ids_types_and_provenance(index_dir, capsys):
    assert cli.main(["documents", "--json", "--index-dir", str(index_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} >= {"low-dose-ketamine-trial", "esketamine-label"}
    assert all({"doc_type", "form", "checked_against"} <= set(r) for r in rows)


def test_an_abstention_exits_non_zero_only_with_the_flag(index_dir, capsys):
    question = "What is the capital of France?"
    base = ["ask", question, "--index-dir", str(index_dir), "--local"]
    assert cli.main(base) == 0
    assert cli.main([*base, "--fail-on-abstain"]) == cli.ABSTAINED_EXIT
    assert "does not answer" in capsys.readouterr().out


def test_ask_answers_in_process_when_no_server_answers(index_dir, capsys):
    argv = ["ask", "What dose of ketamine is used for depression?", "--index-dir", str(index_dir),
            "--server", "http://127.0.0.1:9", "--json"]  # port 9: nothing listens
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["question"].startswith("What dose")


def test_progress_in_a_log_is_one_line_every_few_seconds():
    out = io.StringIO()
    bar = LogProgress(1000, "embedding", "sentences", out=out, every=3600)
    for _ in range(100):
        bar.update(10)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embedding: 1000/1000 sentences (")
