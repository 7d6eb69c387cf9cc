"""``/openapi.json`` fuzzed with schemathesis: no 500s, and every response matches the document.

Bounded: a few examples per operation (the whole module runs in seconds), derandomized
so a failure repeats. Writes go with the token, so the submission checks are fuzzed too.
The fuzzer's own study names reach no study, so one pass gives the reads the built
studies' names: their 2xx answers are held to the declared answer types too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


STUDIES = ("digits-mlp", "plain", "doomed", "evil")  # tests/studies/_build.py's build_all


def test_answers_about_real_studies_match_the_document(api_schema: schemathesis.BaseSchema) -> None:
    """Each read of a study, fuzzed but for the study's name (and trial number, 0-6 are stored): answers
    conform to their declared schemas (the events stream, which never ends, aside)."""
    reads = [op for op in (result.ok() for result in api_schema.get_all_operations())
             if op.method.upper() == "GET" and "{name}" in op.path and not op.path.endswith("/events")]
    assert len(reads) == 5  # study, trials, trial, diagnosis, export
    answered: set[tuple[str, int]] = set()
    for operation in reads:

        @given(case=operation.as_strategy(), name=st.sampled_from(STUDIES), number=st.integers(0, 6))
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case, name: str, number: int) -> None:
            case.path_parameters = {**(case.path_parameters or {}), "name": name}
            if "{number}" in case.operation.path:
                case.path_parameters["number"] = number
            response = case.call(headers=AUTH)
            answered.add((case.operation.path, response.status_code))
            assert response.status_code < 500, f"{case.formatted_path}: {response.status_code} {response.text}"
            case.validate_response(
                response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
            )

        check()
    assert {path for path, status in answered if status == 200} == {op.path for op in reads}


WRITES = ("submitSweep", "stopSweep", "deleteStudy")


def _valid_sweep(n: int) -> dict[str, object]:
    return {"data": {"dataset": "iris"}, "train": {"folds": 2, "epochs": 1, "baselines": False},
            "study": {"name": f"fuzzed-{n}", "trials": 1, "pruner": "none"}}


def test_the_write_api_chains_submit_stop_delete_by_its_links(tmp_path: Path) -> None:
    """Stateful: the OpenAPI links take a submitted sweep's name to its stop and its delete.

    Submissions are made valid (a fuzzed body is refused with a 422 before it could chain);
    the names, the order and the repeats of stop and delete are the state machine's.
    """
    app = create_app(f"sqlite:///{tmp_path / 'writes.db'}", token=TOKEN)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(operation_id=list(WRITES))
    seen: list[tuple[str, str, int]] = []

    class Writes(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            if case.operation.definition.raw.get("operationId") == "submitSweep":
                case.body, case.media_type = _valid_sweep(len(seen)), "application/json"

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": AUTH}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            seen.append((case.method, case.operation.path, response.status_code))
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

    try:
        Writes.run(settings=settings(max_examples=12, stateful_step_count=5, deadline=None, derandomize=True,
                                     database=None, suppress_health_check=list(HealthCheck)))
    finally:
        app.state.sweepdoctor.close()
    assert ("POST", "/api/sweeps", 201) in seen
    assert ("POST", "/api/sweeps/{name}/stop", 200) in seen  # reached through the link from the submission
    assert ("DELETE", "/api/studies/{name}", 200) in seen
