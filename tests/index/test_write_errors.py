"""A full disk or an unwritable folder: one clear message naming the folder and what was needed,
no traceback, the old index intact (issue 23)."""

from __future__ import annotations

import errno
import time

import faiss
import numpy as np
import pytest

from ragqa import cli
from ragqa.errors import IndexWriteError
from ragqa.index.store import load_index, read_manifest, update_index
from tests.conftest import FakeEmbedder


@pytest.fixture
def index_dir(tmp_path, corpus):
    directory = tmp_path / "indexes" / "idx"
    update_index(corpus, directory, FakeEmbedder())
    return directory


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def faiss_no_space(index, path):
    # what FAISS raises when its fwrite comes up short on a full disk
    raise RuntimeError(f"Error in void faiss::write_index(const Index*, IOWriter*, int): "
                       f"write error in {path}: 126931 != 512000 (No space left on device)")


@pytest.mark.parametrize(("module", "name", "failure"), [
    (np, "save", no_space), (faiss, "write_index", faiss_no_space)])
def test_a_full_disk_is_one_clear_message_and_the_old_index_serves(
        index_dir, corpus, monkeypatch, module, name, failure):
    before = read_manifest(index_dir)["index_version"]
    monkeypatch.setattr(module, name, failure)
    with pytest.raises(IndexWriteError) as caught:
        update_index(corpus, index_dir, FakeEmbedder(), force=True)
    message = str(caught.value)
    assert f"cannot write the index in {index_dir.parent}: no space is left" in message
    assert "needs about" in message and "MB are free" in message and "\n" not in message
    assert "requested" not in message and "126931" not in message
    monkeypatch.undo()
    assert load_index(index_dir).version == before
    assert not [p for p in index_dir.parent.iterdir() if "building" in p.name]


def test_an_unwritable_folder_is_one_clear_message(index_dir, corpus, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("ragqa.index.store.tempfile.mkdtemp", denied)
    with pytest.raises(IndexWriteError, match=r"permission denied; make the folder writable"):
        update_index(corpus, index_dir, FakeEmbedder(), force=True)


def test_ragqa_index_prints_one_line_and_no_traceback(index_dir, corpus, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_load_embedder", lambda args, all_cores=False: FakeEmbedder())
    monkeypatch.setattr(np, "save", no_space)
    code = cli.main(["index", "--force", "--corpus", str(corpus), "--index-dir", str(index_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ragqa: error: cannot write the index in ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_reindex_job_reports_a_full_disk_in_one_line(tmp_path, corpus, index_dir, monkeypatch):
    from ragqa.api.state import ServiceState
    from ragqa.config import Settings

    state = ServiceState(Settings(corpus=corpus, index_dir=index_dir), embedder=FakeEmbedder())
    state.load()
    served = state.engine.index.version
    monkeypatch.setattr(faiss, "write_index", faiss_no_space)
    job = state.start_reindex(force=True)
    for _ in range(500):
        if state.job(job.id).status.value != "running":
            break
        time.sleep(0.02)
    done = state.job(job.id)
    assert done.status.value == "failed"
    assert done.error.startswith(f"cannot write the index in {index_dir.parent}: no space")
    assert state.engine.index.version == served
