"""Every route and every error of the HTTP API, over an index of the fixture corpus (fake model)."""

from __future__ import annotations

import pytest

from ragqa.answer.contract import Answer
from ragqa.answer.engine import AnswerEngine
from ragqa.errors import InvalidQueryError
from ragqa.index.store import load_index, read_manifest

DOSE_QUESTION = "What dose of ketamine is used for depression?"
FIXTURE_IDS = ["esketamine-label", "ketamine-anesthesia-label", "low-dose-ketamine-trial",
               "psilocybin-microdosing-review"]


def assert_error(response, status: int, field: str | None = None) -> dict:
    """The response is a JSON error of `status`; when `field` is given, one error names it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status
    assert body["message"]
    if field is not None:
        assert field in [f["field"] for f in body["fields"]], body
    return body


# -- health ---------------------------------------------------------------------------------------

def test_healthz_and_readyz_when_loaded(client, built_index):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["index_version"] == read_manifest(built_index)["index_version"]
    assert ready.json()["model"] == "fake-hash-embedder"


def test_without_an_index_the_process_is_up_but_not_ready(make_client, tmp_path):
    client = make_client(index_dir=tmp_path / "no-index-here")
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "no index" in ready.json()["message"]
    body = assert_error(client.post("/v1/ask", json={"question": DOSE_QUESTION}), 503)
    assert "no index" in body["message"]
    assert_error(client.get("/v1/search", params={"q": "ketamine"}), 503)
    assert_error(client.get("/v1/index"), 503)
    assert_error(client.get("/v1/documents"), 503)


def test_an_index_built_by_another_model_is_not_served(make_client, fake_embedder):
    other_model = type(fake_embedder)(dim=32, name="another-model")
    client = make_client(embedder=other_model)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "another-model" in ready.json()["message"]
    assert_error(client.post("/v1/ask", json={"question": DOSE_QUESTION}), 503)


# -- ask ------------------------------------------------------------------------------------------

def test_ask_returns_the_answer_contract_with_offsets_into_served_documents(client, built_index):
    response = client.post("/v1/ask", json={"question": DOSE_QUESTION})
    assert response.status_code == 200
    answer = Answer.model_validate(response.json())
    assert not answer.abstained
    assert answer.index_version == read_manifest(built_index)["index_version"]
    assert answer.disclaimer
    numbers = {ref.n: ref.doc_id for ref in answer.references}
    extracts = [s for s in answer.statements() if s.kind == "extract"]
    assert extracts
    for statement in extracts:
        document = client.get(f"/v1/documents/{statement.doc_id}").json()
        assert document["text"][statement.char_start:statement.char_end] == statement.text
        assert [numbers[n] for n in statement.citations] == [statement.doc_id]


def test_ask_strips_the_question_and_abstains_off_topic(client):
    answer = client.post("/v1/ask", json={"question": "  What is the capital of France?  "}).json()
    assert answer["question"] == "What is the capital of France?"
    assert answer["abstained"] is True
    assert answer["message"]
    assert answer["abstention"]["reason"]
    assert answer["references"] == []


@pytest.mark.parametrize(("filters", "check"), [
    ({"doc_type": ["label"]}, lambda ref: ref["doc_type"] == "label"),
    ({"doc_type": "rct"}, lambda ref: ref["doc_type"] == "rct"),
    ({"year_min": 2020}, lambda ref: ref["year"] >= 2020),
    ({"year_max": 2019}, lambda ref: ref["year"] <= 2019),
])
def test_ask_filters_restrict_the_cited_documents(client, filters, check):
    response = client.post("/v1/ask", json={"question": "ketamine dose", "top_k": 5,
                                            "filters": filters})
    assert response.status_code == 200
    answer = response.json()
    assert answer["references"] or answer["abstained"]
    assert all(check(ref) for ref in answer["references"]), answer["references"]


@pytest.mark.parametrize(("body", "field"), [
    ({"question": ""}, "question"),
    ({"question": "   \n\t"}, "question"),
    ({"question": "x" * 2001}, "question"),
    ({"question": 42}, "question"),
    ({"question": ["ketamine"]}, "question"),
    ({}, "question"),
    ({"question": "ketamine", "colour": "red"}, "colour"),
    ({"question": "ketamine", "top_k": 0}, "top_k"),
    ({"question": "ketamine", "top_k": 51}, "top_k"),
    ({"question": "ketamine", "top_k": "5"}, "top_k"),
    ({"question": "ketamine", "top_k": True}, "top_k"),
    ({"question": "ketamine", "filters": {"doc_type": ["poem"]}}, "filters.doc_type[0]"),
    ({"question": "ketamine", "filters": {"year_min": "2020"}}, "filters.year_min"),
    ({"question": "ketamine", "filters": {"year_min": 1500}}, "filters.year_min"),
    ({"question": "ketamine", "filters": {"year_min": 2020, "year_max": 2010}}, "filters"),
    ({"question": "ketamine", "filters": {"journal": "x"}}, "filters.journal"),
    (["ketamine"], "body"),
])
def test_ask_rejects_bad_input_naming_the_field(client, body, field):
    assert_error(client.post("/v1/ask", json=body), 422, field)


@pytest.mark.parametrize("raw", [b"{\"question\": ", b"question=ketamine", b"", b"{'question': 1}"])
def test_ask_rejects_malformed_json(client, raw):
    response = client.post("/v1/ask", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "body")


def test_ask_body_over_64_kb_is_413_by_content_length(client):
    body = assert_error(client.post("/v1/ask", json={"question": "x" * 70_000}), 413, "body")
    assert "65536" in body["message"]


def test_ask_body_over_64_kb_is_413_without_content_length(client):
    def chunks():  # a generator body is sent chunked, with no Content-Length to trust
        yield b'{"question": "'
        for _ in range(40):
            yield b"x" * 2048
        yield b'"}'

    response = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body")


def test_a_body_just_under_the_limit_reaches_validation(client):
    assert_error(client.post("/v1/ask", json={"question": "x" * 65_000}), 422, "question")


# -- search ---------------------------------------------------------------------------------------

def test_search_ranks_chunks_with_both_retrievers(client):
    body = client.get("/v1/search", params={"q": "ketamine dose depression", "k": 3}).json()
    hits = body["hits"]
    assert 1 <= len(hits) <= 3
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert body["mode"] == "hybrid"
    assert any(h["bm25_rank"] is not None and h["dense_rank"] is not None for h in hits)
    for hit in hits:
        document = client.get(f"/v1/documents/{hit['doc_id']}").json()
        assert hit["title"] == document["title"]
        assert document["text"][hit["char_start"]:hit["char_end"]] == hit["text"]


def test_search_in_one_mode_reports_only_that_retriever(client):
    hits = client.get("/v1/search", params={"q": "ketamine", "k": 5, "mode": "bm25"}).json()["hits"]
    assert hits
    assert all(h["dense_rank"] is None and h["bm25_rank"] is not None for h in hits)


@pytest.mark.parametrize(("params", "field"), [
    ({"q": "ketamine", "k": 0}, "k"),
    ({"q": "ketamine", "k": 51}, "k"),
    ({"q": "ketamine", "k": "many"}, "k"),
    ({"q": "   "}, "q"),
    ({"k": 5}, "q"),
    ({"q": "x" * 2001}, "q"),
    ({"q": "ketamine", "mode": "psychic"}, "mode"),
])
def test_search_rejects_bad_parameters(client, params, field):
    assert_error(client.get("/v1/search", params=params), 422, field)


# -- documents ------------------------------------------------------------------------------------

def test_documents_are_paged_in_id_order(client):
    first = client.get("/v1/documents", params={"limit": 3}).json()
    second = client.get("/v1/documents", params={"offset": 3, "limit": 3}).json()
    assert first["total"] == second["total"] == len(FIXTURE_IDS)
    assert [d["id"] for d in first["items"] + second["items"]] == FIXTURE_IDS
    assert (first["offset"], first["limit"]) == (0, 3)
    assert "source" not in first["items"][0]
    assert client.get("/v1/documents", params={"offset": 10}).json()["items"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"),
])
def test_documents_reject_bad_paging(client, params, field):
    assert_error(client.get("/v1/documents", params=params), 422, field)


def test_document_has_metadata_and_canonical_text(client, built_index):
    document = client.get("/v1/documents/low-dose-ketamine-trial").json()
    stored = load_index(built_index).documents["low-dose-ketamine-trial"]
    assert document["text"] == stored.text
    assert (document["title"], document["year"], document["doc_type"]) == (
        stored.title, 2019, "rct")
    assert document["authors"] == ["Tester A"]
    assert "source" not in document


@pytest.mark.parametrize("doc_id", ["no-such-doc", "..", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd",
                                    "low-dose-ketamine-trial.md"])
def test_unknown_documents_are_404_and_never_paths(client, doc_id):
    assert_error(client.get(f"/v1/documents/{doc_id}"), 404)


def test_unknown_document_error_names_the_id(client):
    body = assert_error(client.get("/v1/documents/no-such-doc"), 404)
    assert "no-such-doc" in body["message"]


# -- index, pages, other errors -------------------------------------------------------------------

def test_index_route_serves_the_manifest(client, built_index):
    manifest = client.get("/v1/index").json()
    on_disk = read_manifest(built_index)
    assert manifest["index_version"] == on_disk["index_version"]
    assert manifest["built_at"] == on_disk["built_at"]
    assert manifest["counts"]["documents"] == len(FIXTURE_IDS)
    assert manifest["diff"] == on_disk["diff"]


def test_unknown_routes_and_methods_answer_json(client):
    assert_error(client.get("/v2/nothing"), 404)
    assert_error(client.get("/v1/ask"), 405)


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {"/v1/ask", "/v1/search", "/v1/documents", "/v1/documents/{doc_id}",
                          "/v1/index", "/healthz", "/readyz", "/v1/admin/reindex",
                          "/v1/admin/reindex/{job_id}"}
    assert client.get("/docs").status_code == 200


def test_web_page_and_its_assets(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for hook in ('id="question"', 'id="ask"', 'id="verdict"', 'id="regimen-table"',
                 'id="regimen-banner"', 'id="passage"', 'id="references"', 'id="disclaimer"',
                 'id="index-version"'):
        assert hook in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert "innerHTML" not in script.text  # document text goes in with textContent only
    assert client.get("/static/style.css").status_code == 200


def test_library_errors_map_to_statuses(make_client, built_index, fake_embedder):
    class RefusingEngine(AnswerEngine):
        def ask(self, question, top_k=None, filters=None):
            raise InvalidQueryError("question names no clinical topic")

    engine = RefusingEngine(load_index(built_index, fake_embedder), fake_embedder)
    body = assert_error(make_client(engine=engine).post("/v1/ask", json={"question": "hi"}), 422)
    assert body["message"] == "question names no clinical topic"


def test_unexpected_errors_are_json_500_without_internals(make_client, built_index, fake_embedder):
    class BrokenEngine(AnswerEngine):
        def ask(self, question, top_k=None, filters=None):
            raise RuntimeError("secret internal detail")

    engine = BrokenEngine(load_index(built_index, fake_embedder), fake_embedder)
    client = make_client(engine=engine, raise_server_exceptions=False)
    body = assert_error(client.post("/v1/ask", json={"question": "hi"}), 500)
    assert "secret" not in body["message"]


def test_an_injected_engine_is_served_without_loading(make_client, built_index, fake_embedder):
    engine = AnswerEngine(load_index(built_index, fake_embedder), fake_embedder)
    client = make_client(engine=engine, index_dir=built_index.parent / "elsewhere")
    assert client.get("/readyz").json()["index_version"] == engine.index.version


# -- admin ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("post", "/v1/admin/reindex"),
                                              ("get", "/v1/admin/reindex/abc")])
def test_admin_needs_the_token(client, method, path):
    missing = assert_error(client.request(method, path), 401)
    assert "Bearer" in missing["message"]
    assert client.request(method, path).headers["www-authenticate"] == "Bearer"
    assert_error(client.request(method, path, headers={"Authorization": "Bearer wrong"}), 403)
    assert_error(client.request(method, path, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)


@pytest.mark.parametrize("token", [None, ""])
def test_admin_is_disabled_without_a_configured_token(make_client, auth, token):
    client = make_client(admin_token=token)
    for response in (client.post("/v1/admin/reindex", headers=auth),
                     client.post("/v1/admin/reindex", headers={"Authorization": "Bearer "}),
                     client.get("/v1/admin/reindex/abc", headers=auth)):
        body = assert_error(response, 403)
        assert "admin disabled" in body["message"]


@pytest.mark.parametrize(("body", "field"), [({"force": "yes"}, "force"), ({"full": True}, "full")])
def test_reindex_rejects_bad_options(client, auth, body, field):
    assert_error(client.post("/v1/admin/reindex", json=body, headers=auth), 422, field)


def test_unknown_reindex_job_is_404(client, auth):
    assert_error(client.get("/v1/admin/reindex/nope", headers=auth), 404)


def test_reindex_serves_the_new_index(client, auth, wait_job, add_document, corpus_copy):
    old = client.get("/v1/index").json()["index_version"]
    add_document(corpus_copy, "new-zolpidem-trial",
                 "Zolpidem 10 mg at bedtime shortened sleep latency in adults with insomnia.")
    started = client.post("/v1/admin/reindex", headers=auth)
    assert started.status_code == 202
    job = started.json()
    assert started.headers["location"] == f"/v1/admin/reindex/{job['job_id']}"
    assert (job["status"], job["previous_version"]) == ("running", old)

    done = wait_job(client, job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["rebuilt"] is True and done["error"] is None
    assert done["index_version"] != old
    assert client.get("/v1/index").json()["index_version"] == done["index_version"]
    assert client.get("/readyz").json()["index_version"] == done["index_version"]
    assert client.get("/v1/documents/new-zolpidem-trial").status_code == 200
    answer = client.post("/v1/ask", json={"question": "zolpidem dose for insomnia"}).json()
    assert answer["index_version"] == done["index_version"]


def test_reindex_of_an_unchanged_corpus_keeps_the_index(client, auth, wait_job):
    old = client.get("/v1/index").json()
    done = wait_job(client, client.post("/v1/admin/reindex", headers=auth).json()["job_id"])
    assert (done["status"], done["rebuilt"], done["reason"]) == ("succeeded", False, "up to date")
    assert client.get("/v1/index").json() == old


def test_forced_reindex_rebuilds(client, auth, wait_job):
    old_built = client.get("/v1/index").json()["built_at"]
    done = wait_job(client, client.post("/v1/admin/reindex", json={"force": True},
                                        headers=auth).json()["job_id"])
    assert (done["status"], done["rebuilt"], done["reason"]) == ("succeeded", True, "forced")
    assert client.get("/v1/index").json()["reason"] == "forced"
    assert client.get("/v1/index").json()["built_at"] >= old_built


def test_failed_reindex_keeps_the_old_index_serving(client, auth, wait_job, add_document,
                                                     corpus_copy, built_index):
    old = client.get("/v1/index").json()["index_version"]
    add_document(corpus_copy, "good-new-doc", "Lithium 300 mg twice daily was the starting dose.")
    (corpus_copy / "broken.md").write_text(
        "---\nid: broken\ntitle: Broken\npublisher: P\nyear: last year\ndoc_type: rct\n---\n\nText.\n")

    done = wait_job(client, client.post("/v1/admin/reindex", headers=auth).json()["job_id"])
    assert done["status"] == "failed"
    assert "broken.md" in done["error"] and "year" in done["error"]
    assert done["index_version"] is None
    assert client.get("/v1/index").json()["index_version"] == old
    assert read_manifest(built_index)["index_version"] == old
    assert_error(client.get("/v1/documents/good-new-doc"), 404)
    answer = client.post("/v1/ask", json={"question": DOSE_QUESTION})
    assert answer.status_code == 200
    assert answer.json()["index_version"] == old


def test_reindex_makes_a_server_without_an_index_ready(make_client, auth, wait_job, tmp_path):
    client = make_client(index_dir=tmp_path / "not-built-yet")
    assert client.get("/readyz").status_code == 503
    done = wait_job(client, client.post("/v1/admin/reindex", headers=auth).json()["job_id"])
    assert done["status"] == "succeeded" and done["previous_version"] is None
    assert client.get("/readyz").json()["index_version"] == done["index_version"]
    assert client.post("/v1/ask", json={"question": DOSE_QUESTION}).status_code == 200


def test_one_reindex_at_a_time(make_client, gated_embedder, auth, wait_job, add_document,
                               corpus_copy):
    client = make_client(embedder=gated_embedder)
    add_document(corpus_copy, "zebrafish-study", "Zebrafish larvae were exposed to ketamine.")
    first = client.post("/v1/admin/reindex", headers=auth).json()
    assert gated_embedder.held.wait(timeout=10)
    busy = assert_error(client.post("/v1/admin/reindex", headers=auth), 409)
    assert first["job_id"] in busy["message"]
    gated_embedder.release.set()
    assert wait_job(client, first["job_id"])["status"] == "succeeded"
    again = client.post("/v1/admin/reindex", headers=auth)
    assert again.status_code == 202
    wait_job(client, again.json()["job_id"])
