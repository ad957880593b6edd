"""Questions keep being answered while a reindex builds, then the new index takes over at once."""

from __future__ import annotations

import threading
import time

QUESTIONS = [
    "What dose of ketamine is used for depression?",
    "Is microdosing of ketamine effective for treating psychological disorders?",
    "What are the adverse effects of esketamine nasal spray?",
    "What is the capital of France?",
]


def test_questions_during_a_reindex_never_fail(make_client, gated_embedder, auth, wait_job,
                                               add_document, corpus_copy):
    client = make_client(embedder=gated_embedder)
    old = client.get("/v1/index").json()["index_version"]
    add_document(corpus_copy, "zebrafish-ketamine-study",
                 "Zebrafish larvae exposed to ketamine 0.2 mg/kg swam less in the light phase.")
    stop = threading.Event()
    # per asker, (status, index_version) in the order that asker got its answers
    seen: list[list[tuple[int, str | None]]] = [[] for _ in range(4)]

    def ask_in_a_loop(asker: int) -> None:
        n = asker
        while not stop.is_set():
            response = client.post("/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
            version = response.json().get("index_version") if response.status_code == 200 else None
            seen[asker].append((response.status_code, version))
            n += 1

    askers = [threading.Thread(target=ask_in_a_loop, args=(i,)) for i in range(len(seen))]
    for asker in askers:
        asker.start()
    try:
        job = client.post("/v1/admin/reindex", headers=auth).json()
        assert gated_embedder.held.wait(timeout=10), "the build never reached the new document"
        time.sleep(0.3)  # questions answered while the build is held mid-embedding
        during_build = [answer for answers in seen for answer in list(answers)]
        gated_embedder.release.set()
        done = wait_job(client, job["job_id"])
        time.sleep(0.3)  # and questions answered after the swap
    finally:
        stop.set()
        for asker in askers:
            asker.join(timeout=30)

    assert done["status"] == "succeeded", done
    new = done["index_version"]
    assert new != old
    assert during_build, "no question was answered during the build"
    assert all(status == 200 and version == old for status, version in during_build)
    for answers in seen:
        assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
        versions = [version for _, version in answers]
        assert versions[-1] == new
        # an asker that got an answer from the new index never gets one from the old again
        assert set(versions[versions.index(new):]) == {new}
    assert client.get("/v1/index").json()["index_version"] == new
