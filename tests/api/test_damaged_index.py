"""A damaged index never crashes start-up: the previous build serves, or /readyz says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.index.store import read_manifest, update_index
from tests.api.test_routes import DOSE_QUESTION, assert_error
from tests.index.test_integrity import KINDS, flip_one_byte


def test_a_damaged_index_alone_is_503_on_readyz_naming_the_file(make_client, built_index):
    chunks = built_index / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes()[:-10])
    client = make_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "chunks.jsonl" in ready.json()["message"]
    assert "Traceback" not in ready.text
    assert_error(client.post("/v1/ask", json={"question": DOSE_QUESTION}), 503)


def test_a_damaged_index_gives_way_to_the_previous_build(make_client, built_index, corpus_copy,
                                                         add_document, fake_embedder):
    first = read_manifest(built_index)["index_version"]
    add_document(corpus_copy, "new-zolpidem-trial", "Zolpidem 10 mg at bedtime.")
    update_index(corpus_copy, built_index, fake_embedder)
    (built_index / "faiss.index").write_bytes(b"\0" * 10)
    client = make_client()
    assert client.get("/readyz").json()["index_version"] == first
    assert client.post("/v1/ask", json={"question": DOSE_QUESTION}).status_code == 200


def test_a_reindex_rebuilds_a_damaged_index(client, auth, wait_job, built_index):
    served = client.get("/v1/index").json()["index_version"]
    (built_index / "sentences.jsonl").write_text("")
    done = wait_job(client, client.post("/v1/admin/reindex", headers=auth).json()["job_id"])
    assert (done["status"], done["rebuilt"]) == ("succeeded", True), done
    assert "sentences.jsonl" in done["reason"]
    assert done["index_version"] == served  # same corpus, same version, files whole again
    assert read_manifest(built_index)["files"]["sentences.jsonl"]["size"] > 0


@pytest.mark.parametrize("bits", [0x01, 0x80])
@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_byte_alone_is_503_naming_the_file_and_no_path(make_client, built_index, kind,
                                                                 bits):
    flip_one_byte(built_index / kind, bits=bits)
    client = make_client()
    for response in (client.get("/readyz"), client.post("/v1/ask", json={"question": DOSE_QUESTION}),
                     client.get("/v1/documents")):
        assert response.status_code == 503, response.text
        message = response.json()["message"]
        assert Path(kind).name in message
        assert str(built_index.parent) not in response.text and "/tmp" not in response.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_byte_gives_way_to_the_previous_build_with_a_warning(
        make_client, built_index, corpus_copy, add_document, fake_embedder, caplog, kind):
    first = read_manifest(built_index)["index_version"]
    add_document(corpus_copy, "new-zolpidem-trial", "Zolpidem 10 mg at bedtime.")
    update_index(corpus_copy, built_index, fake_embedder)
    flip_one_byte(built_index / kind)
    with caplog.at_level("WARNING", logger="ragqa.index.store"):
        client = make_client()
    assert client.get("/readyz").json()["index_version"] == first
    assert client.get("/v1/index").json()["index_version"] == first
    assert "new-zolpidem-trial" not in {d["id"] for d in client.get("/v1/documents").json()["items"]}
    assert Path(kind).name in caplog.text and "previous build" in caplog.text


def test_a_reindex_never_swaps_in_a_build_damaged_before_it_loads(client, auth, wait_job,
                                                                  built_index, monkeypatch):
    """A build whose file is damaged between writing and loading is not served."""
    from ragqa.api import state as state_module

    served = client.get("/v1/index").json()["index_version"]
    real_update = state_module.update_index

    def update_then_damage(*args, **kwargs):
        report = real_update(*args, **kwargs)
        flip_one_byte(built_index / "sentence_vectors.npy")
        return report

    monkeypatch.setattr(state_module, "update_index", update_then_damage)
    done = wait_job(client, client.post("/v1/admin/reindex", json={"force": True},
                                        headers=auth).json()["job_id"])
    assert done["status"] == "failed" and "sentence_vectors.npy" in done["error"]
    assert client.get("/v1/index").json()["index_version"] == served
    assert client.post("/v1/ask", json={"question": DOSE_QUESTION}).status_code == 200
