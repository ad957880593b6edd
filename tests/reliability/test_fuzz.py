"""Schema-driven fuzz of the OpenAPI (Schemathesis), over loopback against a real, bounded uvicorn.

Every operation gets up to EXAMPLES generated cases, valid and invalid; any 5xx, any response
that breaks the schema (status, content type, headers, body) and any invalid input that is
accepted fails the test. The number of cases run is written to test-artifacts/fuzz-cases.txt.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ragqa.api.app import create_app
from ragqa.config import PROJECT_ROOT, Settings
from tests.reliability.conftest import bounded_server

pytestmark = pytest.mark.slow

EXAMPLES = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]
cases_run = 0


@pytest.fixture(scope="module")
def fuzz_url(fake_index, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    with bounded_server(fake_index, log, queue_length=64) as url:
        yield url
    artifacts = PROJECT_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "fuzz-cases.txt").write_text(f"{cases_run}\n")
    print(f"\nschemathesis: {cases_run} cases")


# The schema the server publishes, read from the app without starting it, to list the operations.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = [(op.path, op.method) for op in (r.ok() for r in SCHEMA.get_all_operations())]


@pytest.mark.parametrize("mode", list(GenerationMode))
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_its_schema_under_fuzz(fuzz_url, path, method, mode):
    operation = SCHEMA[path][method.upper()]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:
        global cases_run
        cases_run += 1
        case.call_and_validate(base_url=fuzz_url, checks=CHECKS, timeout=30)

    try:
        fuzz()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE
        pytest.skip(f"{method.upper()} {path} takes no input to make invalid")


def _raw_request(url: str, target: bytes, body: bytes | None = None) -> int:
    """Send one request as raw bytes (a target no HTTP client would send); its status, or 0
    when the server closed without answering."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = (b"POST " if body is not None else b"GET ") + target + b" HTTP/1.1\r\nHost: x\r\n"
    head += AUTH_HEADER + b"Connection: close\r\n"
    if body is not None:
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + b"\r\n" + (body or b""))
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


AUTH_HEADER = b"Authorization: Bearer test-admin-token-0123456789\r\n"


def test_hostile_strings_in_every_field_never_get_a_5xx_nor_fill_the_log(fake_index, tmp_path):
    """Lone surrogates, NULs, overlong and malformed UTF-8 in every string field and path
    parameter, escaped, percent-encoded and raw: no status >= 500, and the log (besides its
    access lines) grows by at most one line per kind of error."""
    from tests.api.test_input_edges import BODIES, HOSTILE, QUERIES, _percent

    log = tmp_path / "server.log"
    statuses = []
    with bounded_server(fake_index, log, queue_length=64,
                        admin_token="test-admin-token-0123456789") as url:
        before = _log_lines(log)
        for _ in range(3):  # the same errors again: counted, not logged again
            for hostile in HOSTILE + ["\ud800".encode("utf-8", "surrogatepass")]:
                for path, template, _field in BODIES:
                    statuses.append(_raw_request(url, path.encode(),
                                                 template.replace(b"{}", hostile)))
                for query in QUERIES:
                    encoded, raw = query.replace("{}", _percent(hostile)), query.encode()
                    statuses.append(_raw_request(url, encoded.encode()))
                    statuses.append(_raw_request(url, raw.replace(b"{}", hostile)))
        grown = _log_lines(log)[len(before):]
    assert statuses and max(statuses) < 500, sorted(set(statuses))
    assert len(grown) <= 3, grown  # at most one line per kind of error


def _log_lines(log) -> list[str]:
    """The server log's lines but uvicorn's access lines (one per request, by design)."""
    return [line for line in log.read_text(errors="replace").splitlines()
            if line.strip() and '" ' not in line and "HTTP/1.1" not in line]
