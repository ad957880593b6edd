"""The admin reindex on the Milvus backend: the new build's collections are written beside the
served ones while questions keep being answered from the old, then the alias switches."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from ragqa.api.app import create_app
from ragqa.config import Settings
from ragqa.index.milvus import Kind, MilvusStore
from ragqa.index.store import update_index
from tests.api.conftest import ADMIN_TOKEN, AUTH, GatedEmbedder, poll_job, write_document

QUESTIONS = [
    "What dose of ketamine is used for depression?",
    "What are the adverse effects of esketamine nasal spray?",
    "Is microdosing of ketamine effective for treating psychological disorders?",
]
NEW_DOC = "zebrafish-ketamine-study"


@pytest.fixture
def milvus_app(tmp_path, tmp_path_factory, fixture_corpus, fake_embedder):
    """An app on the Milvus backend (a fresh embedded engine) over an index of a corpus copy."""
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, corpus)
    update_index(corpus, tmp_path / "index", fake_embedder)
    uri = str(tmp_path_factory.mktemp("reindex") / "r.db")  # milvus-lite wants a short name
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", admin_token=ADMIN_TOKEN,
                        backend="milvus", milvus_uri=uri)
    embedder = GatedEmbedder(fake_embedder)
    yield create_app(settings, embedder=embedder), corpus, MilvusStore.open(uri, "index"), embedder
    embedder.release.set()


def test_reindex_on_milvus_under_a_loop_of_questions(milvus_app):
    app, corpus, store, gated = milvus_app
    with TestClient(app) as client:
        old = client.get("/v1/index").json()["index_version"]
        first = store.served()  # start-up published the loaded build into the empty engine
        assert store.served_version() == old and set(first) == {k.value for k in Kind}
        write_document(corpus, NEW_DOC,
                       "Zebrafish larvae exposed to ketamine 0.2 mg/kg swam less in the light.")
        stop = threading.Event()
        seen: list[list[tuple[int, str | None]]] = [[] for _ in range(3)]

        def ask_in_a_loop(asker: int) -> None:
            n = asker
            while not stop.is_set():
                response = client.post("/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
                body = response.json()
                seen[asker].append((response.status_code, body.get("index_version")))
                n += 1

        askers = [threading.Thread(target=ask_in_a_loop, args=(i,)) for i in range(len(seen))]
        for asker in askers:
            asker.start()
        try:
            job = client.post("/v1/admin/reindex", headers=AUTH).json()
            assert gated.held.wait(timeout=20), "the build never reached the new document"
            time.sleep(0.3)
            during_build = [answer for answers in seen for answer in list(answers)]
            assert store.served() == first  # the alias still names the old collections
            gated.release.set()
            done = poll_job(client, job["job_id"], timeout=60)
            time.sleep(0.3)
        finally:
            stop.set()
            for asker in askers:
                asker.join(timeout=30)

        assert done["status"] == "succeeded", done
        new = done["index_version"]
        assert new != old
        assert during_build and all(answer == (200, old) for answer in during_build)
        for answers in seen:  # no request lost; once on the new build, never back on the old
            assert all(status == 200 for status, _ in answers), answers
            versions = [version for _, version in answers]
            assert versions[-1] == new
            assert set(versions[versions.index(new):]) == {new}
        # the alias switched to the new build's collections; the old ones are gone
        served = store.served()
        assert store.served_version() == new and set(served.values()).isdisjoint(first.values())
        left = {c for c in store.client.list_collections() if c.startswith(f"{store.base}_")}
        assert left == set(served.values())
        # and the new document is found by Milvus's own search
        hits = client.get("/v1/search", params={"q": "zebrafish larvae ketamine", "k": 1}).json()
        assert hits["hits"][0]["doc_id"] == NEW_DOC
