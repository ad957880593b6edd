"""A real uvicorn process with the real model answers over HTTP (slow)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_real_server_answers_over_http(fixture_server):
    with httpx.Client(base_url=fixture_server.url, timeout=60) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
        assert ready["index_version"] == fixture_server.manifest["index_version"]
        assert ready["model"] == "sentence-transformers/all-MiniLM-L6-v2"

        response = http.post("/v1/ask", json={
            "question": "What dose of ketamine is given for treatment-resistant depression?"})
        assert response.status_code == 200
        answer = response.json()
        assert answer["abstained"] is False
        assert answer["index_version"] == fixture_server.manifest["index_version"]
        assert any("0.5 mg/kg" in s["text"] for s in answer["bottom_line"] +
                   [s for section in answer["sections"] for s in section["statements"]])
        for statement in answer["bottom_line"]:
            if statement["kind"] == "extract":
                text = http.get(f"/v1/documents/{statement['doc_id']}").json()["text"]
                assert text[statement["char_start"]:statement["char_end"]] == statement["text"]

        assert http.get("/v1/index").json()["counts"] == fixture_server.manifest["counts"]
        hits = http.get("/v1/search", params={"q": "esketamine nasal spray", "k": 3}).json()["hits"]
        assert hits[0]["doc_id"] == "esketamine-label"


def test_real_server_refuses_bad_input_as_json(fixture_server):
    with httpx.Client(base_url=fixture_server.url, timeout=60) as http:
        blank = http.post("/v1/ask", json={"question": " "})
        assert blank.status_code == 422
        assert blank.json()["fields"][0]["field"] == "question"
        huge = http.post("/v1/ask", content=b"{" + b" " * 70_000 + b"}",
                         headers={"Content-Type": "application/json"})
        assert huge.status_code == 413
        assert huge.json()["status"] == 413

        def chunked():  # no Content-Length: the server must count the bytes it reads
            yield b'{"question": "'
            yield from (b"x" * 4096 for _ in range(20))
            yield b'"}'

        streamed = http.post("/v1/ask", content=chunked(),
                             headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert http.get("/healthz").status_code == 200  # and keeps serving on the connection
        assert http.post("/v1/admin/reindex").status_code == 401
