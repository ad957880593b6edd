"""Hostile and careless input: what the body is made of, its Content-Type, and a schema that
says exactly what validation accepts (finding 7 of issue 15)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragqa.api.schemas import QUESTION_PATTERN, AskRequest
from tests.api.test_routes import assert_error

QUESTION = "What dose of ketamine is used for depression?"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("raw", "words"), [
    ('{"question": "caf\xe9"}'.encode("latin-1"), "not UTF-8: byte 0xe9 at position 17"),
    (b'{"question": "q", "top_k": 1' + b"0" * 5000 + b"}", "has 5001 digits"),
    (b'{"question": "q", "top_k": 1.' + b"5" * 200 + b"}", "has 201 digits"),
    (b'{"question": "q", "filters": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests 5001 levels"),
    (b'{"question": "q", "top_k": NaN}', "NaN is not a JSON value"),
    (b'{"question": "q", "top_k": -Infinity}', "-Infinity is not a JSON value"),
])
def test_unreadable_bodies_get_400_naming_the_problem(client, raw, words):
    body = assert_error(client.post("/v1/ask", content=raw, headers=JSON), 400, "body")
    assert words in body["message"]


def test_brackets_inside_strings_are_not_nesting(client):
    response = client.post("/v1/ask", json={"question": "[" * 100 + " ketamine dose"})
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])
def test_a_body_not_sent_as_json_gets_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/ask", content=json.dumps({"question": QUESTION}), headers=headers)
    body = assert_error(response, 415, "body")
    assert "application/json" in body["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "application/problem+json", "Application/JSON"])
def test_json_content_types_are_accepted(client, content_type):
    response = client.post("/v1/ask", content=json.dumps({"question": QUESTION}),
                           headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_a_reindex_without_a_body_needs_no_content_type(client, auth, wait_job):
    response = client.post("/v1/admin/reindex", headers=auth)
    assert response.status_code == 202
    wait_job(client, response.json()["job_id"])
    assert_error(client.post("/v1/admin/reindex", content=b'{"force": true}',
                             headers={**auth, "Content-Type": "text/plain"}), 415)


def test_thousands_of_unknown_keys_get_a_short_error(client):
    body = {"question": QUESTION, **{f"k{i}": 0 for i in range(5000)}}
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) < 60_000
    response = client.post("/v1/ask", content=raw, headers=JSON)
    error = assert_error(response, 422, "k0")
    assert len(response.content) < 5000
    assert len(error["fields"]) == 20
    assert "and 4980 more errors" in error["message"]


@pytest.mark.parametrize("path", ["/v1/documents/", "/healthz/", "/v1/ask/"])
def test_a_trailing_slash_is_not_redirected_to_the_host_header(client, path):
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert "location" not in response.headers
    assert response.status_code in (404, 405)


def test_the_question_limit_counts_the_stripped_question(client):
    padded = " " * 50 + "ketamine " * 222 + "xy" + "\n" * 50  # 2,000 characters once stripped
    assert len(padded.strip()) == 2000
    assert client.post("/v1/ask", json={"question": padded}).status_code == 200
    body = assert_error(client.post("/v1/ask", json={"question": padded.strip() + "y"}), 422,
                        "question")
    assert "2001" in body["message"]
    assert client.get("/v1/search", params={"q": padded}).status_code == 200


@pytest.mark.parametrize(("body_value", "query_value", "status"), [
    (37.0, "37.0", 200), (8, "8", 200), (8.5, "8.5", 422), (1e300, "1e300", 422),
])
def test_top_k_takes_the_same_numbers_in_the_body_and_the_query(client, body_value,
                                                                 query_value, status):
    in_body = client.post("/v1/ask", json={"question": QUESTION, "top_k": min(body_value, 50)
                                           if status == 200 else body_value})
    in_query = client.get("/v1/search", params={"q": "ketamine", "k": query_value})
    assert (in_body.status_code, in_query.status_code) == (status, status), (in_body.text,
                                                                             in_query.text)


def test_the_schema_says_doc_type_may_be_one_type_or_a_list(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    branches = schemas["AskFilters"]["properties"]["doc_type"]["anyOf"]
    assert {"$ref": "#/components/schemas/DocType"} in branches
    assert any(b.get("type") == "array" for b in branches)
    question = schemas["AskRequest"]["properties"]["question"]
    assert question["pattern"] == QUESTION_PATTERN
    top_k = schemas["AskRequest"]["properties"]["top_k"]["anyOf"][0]
    assert (top_k["minimum"], top_k["maximum"]) == (1, 50)


def _accepted(question: str) -> bool:
    try:
        AskRequest.model_validate({"question": question})
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(alphabet=st.sampled_from(" \t\n\x0b\x0c\r\x1c\x1f\x85\xa0\u2003\u3000\ufeffa"),
            max_size=12),
    st.builds(lambda pad, n, end: pad + "x" * n + end,
              st.text(alphabet=" \n\u3000", max_size=3), st.integers(1998, 2002),
              st.text(alphabet=" \n\u3000", max_size=3)),
))
def test_the_question_pattern_accepts_exactly_what_validation_accepts(question):
    assert bool(re.search(QUESTION_PATTERN, question)) == _accepted(question)


# -- any string, in any field: 2xx or 4xx naming the field, never 5xx (issue 23) --------------------

# Inside a JSON string: \u escapes (lone surrogates, a reversed pair, NUL) and raw bytes that are
# not UTF-8 (overlong forms, a UTF-8-encoded surrogate, a truncated sequence, 0xff) or not JSON
# (a raw NUL).
HOSTILE = [rb"\ud800", rb"\udc00", rb"\udc00\ud800", rb"ketamine \udbff dose", rb"\u0000",
           rb"a\u0000b", b"\x00", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xe2\x82",
           b"\xff", rb"\ud83d\ude00 ketamine"]
# Where a string can go in each JSON body, {} marking the spot.
BODIES = [("/v1/ask", b'{"question": "{}"}', "question"),
          ("/v1/ask", b'{"question": "q", "top_k": "{}"}', "top_k"),
          ("/v1/ask", b'{"question": "q", "filters": {"doc_type": "{}"}}', "filters.doc_type"),
          ("/v1/ask", b'{"question": "q", "filters": {"doc_type": ["rct", "{}"]}}',
           "filters.doc_type"),
          ("/v1/ask", b'{"question": "q", "filters": {"year_min": "{}"}}', "filters.year_min"),
          ("/v1/ask", b'{"question": "q", "{}": 1}', None),
          ("/v1/admin/reindex", b'{"force": "{}"}', "force")]
QUERIES = ["/v1/search?q={}", "/v1/search?q=ketamine&mode={}", "/v1/search?q=ketamine&k={}",
           "/v1/documents?offset={}", "/v1/documents/{}", "/v1/admin/reindex/{}"]


def _percent(raw: bytes) -> str:
    return "".join(f"%{b:02X}" for b in raw)


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
@pytest.mark.parametrize(("path", "template", "field"), BODIES, ids=lambda v: str(v)[:30])
def test_any_string_in_a_body_field_is_never_a_5xx(client, auth, hostile, path, template, field):
    body = template.replace(b"{}", hostile)
    response = client.post(path, content=body, headers={**JSON, **auth})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        names = [f["field"] for f in response.json()["fields"]]
        assert names and all(names), response.text
        if b"\\ud" in hostile and b"\\ud83d\\ude00" not in hostile:  # a lone surrogate: 422
            assert response.status_code == 422, response.text
            if field is not None:
                assert any(name.startswith(field) for name in names), names


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if not h.startswith(b"\\")] +
                         ["\ud800".encode("utf-8", "surrogatepass"), b"\x00"], ids=repr)
@pytest.mark.parametrize("url", QUERIES)
def test_any_bytes_in_a_query_or_path_parameter_are_never_a_5xx(client, auth, hostile, url):
    response = client.get(url.replace("{}", _percent(hostile)), headers=auth)
    assert response.status_code < 500, response.text
    response.json()  # a JSON body, encodable whatever was asked


def test_a_crash_is_logged_once_a_minute_in_one_line_with_a_count(make_client, built_index,
                                                                    fake_embedder, caplog):
    from ragqa.answer.engine import AnswerEngine
    from ragqa.index.store import load_index

    class BrokenEngine(AnswerEngine):
        def ask(self, question, top_k=None, filters=None):
            raise TypeError("unhashable thing")

    engine = BrokenEngine(load_index(built_index, fake_embedder), fake_embedder)
    client = make_client(engine=engine, raise_server_exceptions=False)
    with caplog.at_level("INFO"):
        for _ in range(30):
            assert client.post("/v1/ask", json={"question": "hi"}).status_code == 500
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    line = errors[0].getMessage()
    assert "TypeError at" in line and "in ask" in line and "\n" not in line
    assert errors[0].exc_info is None  # no traceback
