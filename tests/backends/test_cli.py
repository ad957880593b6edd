"""`ragqa index --backend milvus` publishes the build; `ragqa search --backend milvus` reads it."""

from __future__ import annotations

import json

from ragqa import cli
from tests.conftest import FIXTURE_CORPUS, FakeEmbedder


def test_index_publishes_and_search_reads_milvus(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_load_embedder", lambda args, all_cores=False: FakeEmbedder())
    monkeypatch.setenv("RAGQA_MILVUS_URI", str(tmp_path / "cli.db"))
    index_dir = tmp_path / "fixture"
    argv = ["index", "--corpus", str(FIXTURE_CORPUS), "--index-dir", str(index_dir),
            "--backend", "milvus"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "published version" in out and "dropped nothing" in out
    assert cli.main(argv) == 0  # up to date on disk and in Milvus: nothing to publish
    assert "already serves version" in capsys.readouterr().out
    assert cli.main(["search", "esketamine 56 mg intranasal", "--index-dir", str(index_dir),
                     "--backend", "milvus", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["doc_id"] == "esketamine-label"
