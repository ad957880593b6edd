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
