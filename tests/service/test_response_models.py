"""Every JSON route of the API declares its answer in ``/openapi.json``, and real answers hold to it.

FastAPI validates and serializes each answer with the type its route declares. These tests
hold the declarations to the answers of a small real study (validated with jsonschema_rs
against the document, closed: an answer may hold no key its schema does not name) and to
the dicts the builders make (nothing dropped, changed or reordered on the way out).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from sweepdoctor.service import create_app
from sweepdoctor.service._views import TrialQuery, diagnosis_dict, study_dict, trial_page, trial_view
from sweepdoctor.studies import jsonable, list_sweeps
from tests.service.conftest import AUTH, TOKEN
from tests.studies._build import build_all

# The JSON routes of the API (the events stream, text/event-stream, is the one other route under /api).
JSON_ROUTES = {
    ("get", "/api/studies"), ("get", "/api/studies/{name}"), ("get", "/api/studies/{name}/trials"),
    ("get", "/api/studies/{name}/trials/{number}"), ("get", "/api/studies/{name}/diagnosis"),
    ("get", "/api/studies/{name}/export"), ("get", "/api/sweeps"), ("post", "/api/sweeps"),
    ("post", "/api/sweeps/{name}/stop"), ("delete", "/api/studies/{name}"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """digits-mlp (curves, findings), plain (Optuna only), doomed (curves; written to), evil."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('models')) / 'study.db'}"
    build_all(url)
    c = TestClient(create_app(url, token=TOKEN), raise_server_exceptions=False)
    yield c
    c.app.state.sweepdoctor.close()  # type: ignore[attr-defined]
    c.close()


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _resolved(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _names_fields(schema: dict[str, Any], doc: dict[str, Any]) -> bool:
    """The schema says what the answer holds: an object with named properties, a list of them, or a choice
    between such (null aside). ``{}`` and FastAPI's ``dict[str, Any]`` (any object) say nothing."""
    schema = _resolved(schema, doc)
    if schema.get("type") == "array":
        return _names_fields(schema.get("items", {}), doc)
    choices = [s for s in schema.get("anyOf", schema.get("oneOf", [])) if s.get("type") != "null"]
    if choices:
        return all(_names_fields(s, doc) for s in choices)
    return bool(schema.get("properties"))


def _json_answers(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """``(method, path, status, schema)`` of every 2xx JSON answer of the routes under /api."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not path.startswith("/api/") or method not in ("get", "post", "delete"):
                continue
            for status, answer in op["responses"].items():
                if status.startswith("2") and "application/json" in answer.get("content", {}):
                    yield method, path, status, answer["content"]["application/json"].get("schema", {})


def test_every_json_route_declares_the_fields_of_its_answer(doc: dict[str, Any]) -> None:
    """A route that returns a plain dict (or a Response with no declared content) fails here."""
    answers = list(_json_answers(doc))
    assert {(m, p) for m, p, _, _ in answers} >= JSON_ROUTES
    assert not [(m, p, s) for m, p, s, schema in answers if not _names_fields(schema, doc)]
    every = {(m, p) for p, item in doc["paths"].items() if p.startswith("/api/") for m in item}
    streams = every - {(m, p) for m, p, _, _ in answers}
    assert streams == {("get", "/api/studies/{name}/events")}  # the one route that answers no JSON


def _closed(schema: Any) -> Any:
    """A copy in which every object that names its properties admits no other key."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def _held_to_its_schema(doc: dict[str, Any], method: str, path: str, answer: Any, status: int = 200) -> None:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    assert _names_fields(schema, doc), f"{method} {path}: the schema names no field"
    validator = jsonschema_rs.validator_for({**_closed(schema), "components": _closed(doc["components"])})
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(answer)]
    assert not errors, f"{method} {path}: {errors[:5]}"
    if isinstance(answer, dict):  # the validation bites: an unnamed key, a missing required one
        assert not validator.is_valid({**answer, "unnamed": 1})
        assert not validator.is_valid({})


READS = [
    ("/api/studies", "/api/studies"),
    ("/api/studies/{name}", "/api/studies/digits-mlp"),
    ("/api/studies/{name}", "/api/studies/plain"),
    ("/api/studies/{name}/trials", "/api/studies/digits-mlp/trials?limit=1000"),
    ("/api/studies/{name}/trials", "/api/studies/plain/trials?sort=value&limit=2"),
    ("/api/studies/{name}/trials/{number}", "/api/studies/digits-mlp/trials/1"),  # overfits
    ("/api/studies/{name}/trials/{number}", "/api/studies/digits-mlp/trials/6"),  # diverged, failed
    ("/api/studies/{name}/trials/{number}", "/api/studies/plain/trials/0"),  # no curves
    ("/api/studies/{name}/diagnosis", "/api/studies/digits-mlp/diagnosis?runs=1000"),
    ("/api/studies/{name}/diagnosis", "/api/studies/plain/diagnosis"),  # no curves: the stored counts only
    ("/api/studies/{name}/export", "/api/studies/digits-mlp/export?format=json"),
    ("/api/studies/{name}/export", "/api/studies/digits-mlp/export?format=history"),
    ("/api/sweeps", "/api/sweeps"),
]


@pytest.mark.parametrize(("path", "url"), READS)
def test_each_read_answers_what_its_schema_says(client: TestClient, doc: dict[str, Any], path: str, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 200, r.text
    _held_to_its_schema(doc, "get", path, r.json())


def _in_order(x: Any) -> Any:
    """JSON with each object as its list of (key, value) pairs: equal only in the same order."""
    return json.loads(x if isinstance(x, str) else json.dumps(x), object_pairs_hook=lambda kv: [list(p) for p in kv])


def test_the_declared_types_keep_every_key_value_and_order_of_the_builders(client: TestClient) -> None:
    """What the routes' builders make is what goes out: the types drop no key and change no value."""
    state = client.app.state.sweepdoctor  # type: ignore[attr-defined]
    built: dict[str, Any] = {f"/api/studies/{n}": study_dict(state.db.show(n, top=5, importance=False), None)
                             for n in ("digits-mlp", "plain")}
    built |= {f"/api/studies/{n}/trials/{t}": trial_view(state, n, t).to_dict()
              for n, t in (("digits-mlp", 1), ("digits-mlp", 6), ("plain", 0))}
    built |= {f"/api/studies/{n}/diagnosis?runs=1000": diagnosis_dict(n, state.diagnosis(state.db.summary(n)),
                                                                       runs=1000) for n in ("digits-mlp", "plain")}
    page = trial_page(state, "digits-mlp", TrialQuery(limit=1000))
    built["/api/studies/digits-mlp/trials?limit=1000"] = jsonable(
        {**page.to_dict(), "offset": 0, "limit": 1000, "after": None, "next_after": None})
    assert built["/api/studies/plain/trials/0"]["curves"] is None
    assert "worst_runs" in built["/api/studies/digits-mlp/diagnosis?runs=1000"]
    assert "worst_runs" not in built["/api/studies/plain/diagnosis?runs=1000"]  # absent, not null
    for url, expected in built.items():
        r = client.get(url)
        assert r.status_code == 200 and _in_order(r.text) == _in_order(expected), url


def test_the_writes_answer_what_their_schemas_say(client: TestClient, doc: dict[str, Any]) -> None:
    """Submit, the sweep in the lists, stop, delete: a study with its sweep, then a sweep with no study yet."""
    sweep = {"data": {"dataset": "iris"}, "train": {"folds": 2, "epochs": 1, "baselines": False},
             "study": {"name": "doomed", "trials": 1, "pruner": "none"}}
    r = client.post("/api/sweeps", json=sweep, headers=AUTH)
    assert r.status_code == 201, r.text
    _held_to_its_schema(doc, "post", "/api/sweeps", r.json(), status=201)
    [stored] = [s.to_dict() for s in list_sweeps(client.app.state.sweepdoctor.engine)]  # type: ignore[attr-defined]
    assert _in_order(r.text) == _in_order({"study": "doomed", "sweep": {k: v for k, v in stored.items()
                                                                        if k != "config"}})
    assert _in_order(client.get("/api/sweeps").text) == _in_order([stored])
    for method, path, url in (("get", "/api/sweeps", "/api/sweeps"), ("get", "/api/studies", "/api/studies"),
                              ("get", "/api/studies/{name}", "/api/studies/doomed"),
                              ("post", "/api/sweeps/{name}/stop", "/api/sweeps/doomed/stop"),
                              ("delete", "/api/studies/{name}", "/api/studies/doomed")):
        r = client.request(method, url, headers=AUTH)
        assert r.status_code == 200, r.text
        _held_to_its_schema(doc, method, path, r.json())
    assert r.json() == {"study": "doomed", "n_trials": 7, "n_runs": 8, "n_findings": 4, "sweep_deleted": True}
    sweep["study"]["name"] = "never-started"  # type: ignore[index]
    assert client.post("/api/sweeps", json=sweep, headers=AUTH).status_code == 201
    r = client.delete("/api/studies/never-started", headers=AUTH)
    assert r.status_code == 200 and _in_order(r.text) == [["study", "never-started"], ["sweep_deleted", True]]
    _held_to_its_schema(doc, "delete", "/api/studies/{name}", r.json())
