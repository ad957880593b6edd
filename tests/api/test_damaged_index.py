"""A damaged index never crashes start-up: the previous build serves, or /readyz says why."""

from __future__ import annotations

from ragqa.index.store import read_manifest, update_index
from tests.api.test_routes import DOSE_QUESTION, assert_error


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
