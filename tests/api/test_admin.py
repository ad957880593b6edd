"""The admin edge (issue 23): a token long enough, checked before the body is read, failures
throttled per client; nosniff on every response; no server path told to an anonymous client."""

from __future__ import annotations

import asyncio

import pytest

from ragqa.api import admin
from ragqa.api.admin import AdminFirst, AdminGuard
from ragqa.api.app import create_app
from ragqa.cli import main
from ragqa.config import Settings
from ragqa.errors import AdminTokenError
from tests.api.conftest import ADMIN_TOKEN
from tests.api.test_routes import DOSE_QUESTION, assert_error


@pytest.mark.parametrize("token", ["x", "fifteen-chars!!"])
def test_a_short_admin_token_is_refused_at_start(token):
    with pytest.raises(AdminTokenError, match=rf"at least 16 characters, got {len(token)}"):
        create_app(Settings(admin_token=token))


def test_ragqa_serve_refuses_a_short_token_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("RAGQA_ADMIN_TOKEN", "short")
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RAGQA_ADMIN_TOKEN must be at least 16 characters" in err


def test_wrong_tokens_are_throttled_per_client(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(admin.time, "monotonic", lambda: clock[0])
    guard = AdminGuard(ADMIN_TOKEN)
    for _ in range(admin.FREE_FAILURES):
        assert guard.check("Bearer wrong-guess", "10.0.0.1").status == 403
    assert guard.check("Bearer wrong-guess", "10.0.0.1").status == 403  # the one that locks
    locked = guard.check(f"Bearer {ADMIN_TOKEN}", "10.0.0.1")  # even the right one waits
    assert locked.status == 429 and locked.headers == {"Retry-After": "1"}
    assert guard.check(f"Bearer {ADMIN_TOKEN}", "10.0.0.2") is None  # another client is not
    clock[0] += 1.0
    assert guard.check("Bearer wrong-again", "10.0.0.1").status == 403
    assert guard.check("Bearer x", "10.0.0.1").headers == {"Retry-After": "2"}  # doubles
    clock[0] += 2.0
    assert guard.check(f"Bearer {ADMIN_TOKEN}", "10.0.0.1") is None
    clock[0] += 1.0  # the right token forgets the failures
    assert guard.check("Bearer wrong", "10.0.0.1").status == 403


def test_guessing_over_http_meets_429_after_a_few_tries(client, auth):
    statuses = [client.post("/v1/admin/reindex", headers={"Authorization": f"Bearer guess{i}"},
                            json={"force": True}).status_code for i in range(20)]
    assert statuses[:admin.FREE_FAILURES] == [403] * admin.FREE_FAILURES
    assert statuses[-1] == 429 and statuses.count(403) <= admin.FREE_FAILURES + 1
    response = client.get("/v1/admin/reindex/abc", headers=auth)
    assert_error(response, 429)
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(("headers", "status"), [({"Authorization": "Bearer wrong"}, 403),
                                                 ({}, 401)])
def test_the_token_is_checked_before_the_body_is_read(headers, status):
    """A refused admin request is answered without reading its body at all."""
    sent = []

    async def app(scope, receive, send):
        raise AssertionError("the app must not run")

    async def receive():
        raise AssertionError("the body must not be read")

    async def send(message):
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in
           {**headers, "Content-Type": "application/json", "Content-Length": "999999999"}.items()]
    scope = {"type": "http", "method": "POST", "path": "/v1/admin/reindex", "headers": raw,
             "client": ("10.0.0.9", 5000), "query_string": b""}
    asyncio.run(AdminFirst(app, AdminGuard(ADMIN_TOKEN))(scope, receive, send))
    assert sent[0]["status"] == status
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_refused_admin_body_gets_no_413_or_422(client):
    wrong = {"Authorization": "Bearer wrong", "Content-Type": "application/json"}
    assert_error(client.post("/v1/admin/reindex", content=b"{" * 100, headers=wrong), 403)
    assert_error(client.post("/v1/admin/reindex", content=b"x" * 200_000, headers=wrong), 403)


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("get", "/healthz", {}), ("get", "/readyz", {}), ("get", "/", {}),
    ("get", "/static/app.js", {}), ("get", "/openapi.json", {}), ("get", "/nowhere", {}),
    ("post", "/v1/ask", {"json": {"question": ""}}), ("post", "/v1/ask", {"content": b"\xff"}),
    ("get", "/v1/documents/missing", {}), ("post", "/v1/admin/reindex", {}),
    ("post", "/v1/ask", {"json": {"question": DOSE_QUESTION}}),
])
def test_every_response_says_nosniff(client, method, path, kwargs):
    response = client.request(method, path, **kwargs)
    assert response.headers["x-content-type-options"] == "nosniff", (response.status_code, path)


def test_a_crash_500_says_nosniff_too(make_client, built_index, fake_embedder):
    from ragqa.answer.engine import AnswerEngine
    from ragqa.index.store import load_index

    class BrokenEngine(AnswerEngine):
        def ask(self, question, top_k=None, filters=None):
            raise RuntimeError("boom")

    engine = BrokenEngine(load_index(built_index, fake_embedder), fake_embedder)
    response = make_client(engine=engine).post("/v1/ask", json={"question": "hi"})
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_index_is_503_without_the_servers_path(make_client, tmp_path):
    missing = tmp_path / "srv" / "indexes" / "nothing-here"
    client = make_client(index_dir=missing)
    for response in (client.get("/readyz"), client.post("/v1/ask", json={"question": "q"}),
                     client.get("/v1/search", params={"q": "ketamine"}),
                     client.get("/v1/documents"), client.get("/v1/index")):
        assert response.status_code == 503
        assert str(tmp_path) not in response.text and "/srv/" not in response.text
        assert "nothing-here" in response.json()["message"]


def test_the_served_manifest_names_no_server_path_after_a_repair(client, auth, wait_job,
                                                                  built_index, tmp_path):
    from tests.index.test_integrity import flip_one_byte

    flip_one_byte(built_index / "chunks.jsonl")
    done = wait_job(client, client.post("/v1/admin/reindex", headers=auth).json()["job_id"])
    assert done["status"] == "succeeded" and "chunks.jsonl" in done["reason"], done
    manifest = client.get("/v1/index")
    assert manifest.json()["reason"].startswith("index file chunks.jsonl")
    assert str(tmp_path) not in manifest.text
