"""``/openapi.json`` fuzzed with schemathesis: no 500s, and every response matches the document.

Bounded: a few examples per operation (the whole module runs in seconds), derandomized
so a failure repeats. Writes go with the token, so the submission checks are fuzzed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sweepdoctor.service import create_app
from tests.service.conftest import AUTH, TOKEN
from tests.studies._build import build_all


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'study.db'}"
    build_all(url)
    app = create_app(url, token=TOKEN)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.sweepdoctor.close()


def test_api_never_fails_and_matches_its_document(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9  # every route of the API is in the document
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )
            case.validate_response(
                response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
            )

        check()
