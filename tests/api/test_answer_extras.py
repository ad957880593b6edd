"""The page's extras over the API: provenance on documents, follow-ups, the corpus overview and
feedback (fixture index, fake model; fast)."""

from __future__ import annotations

import json

from tests.api.test_routes import DOSE_QUESTION, assert_error


def test_a_document_shows_whose_text_it_is(client):
    doc = client.get("/v1/documents/low-dose-ketamine-trial").json()
    assert set(doc["provenance"]) >= {"form", "label", "checked_against", "checked_words"}
    listed = client.get("/v1/documents").json()["items"]
    assert all("provenance" in item for item in listed)


def test_follow_ups_only_when_asked_for_and_never_the_question(client):
    plain = client.post("/v1/ask", json={"question": DOSE_QUESTION}).json()
    assert plain["followups"] == []
    answer = client.post("/v1/ask", json={"question": DOSE_QUESTION, "followups": True}).json()
    for question in answer["followups"]:
        assert question.lower().rstrip("?") != DOSE_QUESTION.lower().rstrip("?")
        again = client.post("/v1/ask", json={"question": question}).json()
        assert again["abstained"] is False, question
    assert_error(client.post("/v1/ask", json={"question": DOSE_QUESTION, "followups": "yes"}),
                 422, "followups")


def test_corpus_overview_counts_the_index(client):
    corpus = client.get("/v1/corpus").json()
    assert corpus["documents"] == len(client.get("/v1/documents").json()["items"])
    assert corpus["newest_year"] >= 2000
    assert corpus["covers"].startswith(f"The corpus holds {corpus['documents']} documents")
    for question in corpus["examples"]:
        assert client.post("/v1/ask", json={"question": question}).json()["abstained"] is False


def test_feedback_is_recorded_without_personal_data_and_capped(make_client, tmp_path):
    path = tmp_path / "feedback.jsonl"
    client = make_client(feedback_file=path, feedback_max_bytes=400)
    sent = {"question": DOSE_QUESTION, "rating": "helpful", "comment": "write to a@b.org"}
    assert client.post("/v1/feedback", json=sent).status_code == 201
    record = json.loads(path.read_text())
    assert record["rating"] == "helpful" and "a@b.org" not in record["comment"]
    assert_error(client.post("/v1/feedback", json={**sent, "rating": "great"}), 422, "rating")
    statuses = {client.post("/v1/feedback", json=sent).status_code for _ in range(5)}
    assert 507 in statuses
    assert path.stat().st_size <= 400
