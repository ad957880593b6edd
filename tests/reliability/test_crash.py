"""kill -9 at every file-system step of a build: the index left behind loads whole, unembedded."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ragqa.api.state import ServiceState
from ragqa.config import PROJECT_ROOT, Settings
from ragqa.index.store import load_index, update_index
from tests.conftest import FakeEmbedder

NEW_DOC = """---
id: crash-lithium-review
title: "Fixture: lithium"
publisher: "Test Journal"
year: 2013
doc_type: meta_analysis
---

# Findings

Lithium reduced the risk of suicide in people with mood disorders compared with placebo.
"""


def build_killed_at(corpus: Path, index_dir: Path, step: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.reliability.crash_build", str(corpus), str(index_dir),
         str(step)], check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)


def test_a_kill_at_any_step_of_a_build_leaves_a_complete_index(tmp_path, fixture_corpus):
    corpus = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, corpus)
    seed = tmp_path / "seed" / "idx"
    seeded = update_index(corpus, seed, FakeEmbedder()).manifest
    old = seeded["index_version"]
    (corpus / "new.md").write_text(NEW_DOC)
    new = update_index(corpus, tmp_path / "reference" / "idx", FakeEmbedder()).manifest
    step, killed = 0, 0
    while True:
        index_dir = tmp_path / f"run-{step}" / "idx"
        shutil.copytree(seed.parent, index_dir.parent, symlinks=True)
        result = build_killed_at(corpus, index_dir, step)
        if result.returncode == 0:
            assert int(result.stdout) < step, "the build finished without reaching this step"
            break
        assert result.returncode == -signal.SIGKILL, result.stderr
        killed += 1

        embedder = FakeEmbedder()
        index = load_index(index_dir, embedder)
        assert index.version in {old, new["index_version"]}
        assert len(index.chunks) == (new if index.version != old else seeded)["counts"]["chunks"]
        assert embedder.calls == []
        state = ServiceState(Settings(corpus=corpus, index_dir=index_dir), embedder=embedder)
        state.load()
        assert state.engine is not None, (step, state.not_ready_reason)
        # the next build finds the old vectors: it embeds the new document only
        report = update_index(corpus, index_dir, embedder)
        assert report.manifest["index_version"] == new["index_version"]
        assert sum(embedder.calls) <= sum(new["embedded"].values()) - sum(seeded["embedded"].values())

        assert not [p for p in index_dir.parent.iterdir() if "building" in p.name]
        step += 1
    assert killed >= 12  # every write, fsync, rename and the pointer's move were interrupted


def test_a_first_build_killed_while_embedding_resumes_from_its_checkpoint(tmp_path,
                                                                           fixture_corpus):
    """kill -9 during the 3rd batch of a first build: the next build embeds only what the two
    checkpointed batches (4 texts each) do not hold."""
    from ragqa.index.store import EmbeddingCheckpoint

    index_dir = tmp_path / "first" / "idx"
    result = build_killed_at(fixture_corpus, index_dir, -3)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not index_dir.exists()
    checkpoint = EmbeddingCheckpoint(EmbeddingCheckpoint.folder_for(index_dir, FakeEmbedder()),
                                     FakeEmbedder())
    assert len(checkpoint.load()) == 8

    embedder = FakeEmbedder()
    report = update_index(fixture_corpus, index_dir, embedder)
    whole = update_index(fixture_corpus, tmp_path / "whole" / "idx", FakeEmbedder()).manifest
    embedded, total = sum(report.manifest["embedded"].values()), sum(whole["embedded"].values())
    assert embedded == sum(embedder.calls) == total - 8
    assert report.manifest["index_version"] == whole["index_version"]
    assert not checkpoint.folder.exists()
