"""Agents: a sweep submitted through the API is run by agents, shown by the pages, stopped on request.

The agent itself is the library's (``sweepdoctor.sweep.run_agent``); tests/sweep/test_agent.py runs it
without the web extra."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient

from sweepdoctor.studies import get_sweep, make_engine
from sweepdoctor.sweep import AgentOptions, run_agent
from tests.service._servers import cli
from tests.service.conftest import AUTH, MakeClient


def _sweep(name: str, *, trials: int, epochs: int = 2, dataset: str = "iris") -> dict[str, Any]:
    return {
        "data": {"dataset": dataset},
        "train": {"folds": 2, "epochs": epochs, "baselines": False, "threads": 1},
        "study": {"name": name, "trials": trials, "pruner": "none", "sampler": "random"},
        "space": {"depth": 1, "width": 8, "lr": {"low": 1e-3, "high": 3e-2, "log": True}},
    }


def _states(url: str, name: str) -> list[str]:
    study = optuna.load_study(study_name=name, storage=url)
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def _state(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        return get_sweep(engine, name).state
    finally:
        engine.dispose()


def test_submitted_sweep_is_run_by_an_agent_and_shown(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    assert c.post("/api/sweeps", json=_sweep("e2e", trials=2), headers=AUTH).status_code == 201
    said: list[str] = []
    assert run_agent(AgentOptions(storage=sqlite_url, sweep="e2e", poll_s=0.2), say=said.append) == 1
    assert _states(sqlite_url, "e2e") == ["COMPLETE", "COMPLETE"]
    assert _state(sqlite_url, "e2e") == "done" and any("budget spent" in m for m in said)
    study = c.get("/api/studies/e2e").json()
    assert study["summary"]["states"] == {"complete": 2} and study["sweep"]["state"] == "done"
    page = c.get("/studies/e2e").text
    assert "2/2" in page and 'http-equiv="refresh"' not in page


def test_a_sweep_that_cannot_run_is_marked_failed(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    body = {"config": {"study": {"name": "bad-data", "trials": 2}, "data": {"target": "label"}},
            "csv": "x,label\nnot-a-number,1\n2,0\n"}
    assert c.post("/api/sweeps", json=body, headers=AUTH).status_code == 201
    run_agent(AgentOptions(storage=sqlite_url, sweep="bad-data", poll_s=0.2))
    sweep = c.get("/api/sweeps").json()[0]
    assert sweep["state"] == "failed" and sweep["message"]


def test_an_idle_agent_polls_then_leaves(sqlite_url: str, make_client: MakeClient) -> None:
    make_client(sqlite_url)  # a writable server made the tables
    t = time.monotonic()
    assert run_agent(AgentOptions(storage=sqlite_url, poll_s=0.1, max_idle_s=0.5)) == 0
    assert time.monotonic() - t >= 0.5


def _agent(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cli("agent", "--storage", url, "--poll", "0.3", *args),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(cond: Any, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_two_agent_processes_share_a_sweep_with_its_exact_budget(any_url: str, make_client: MakeClient) -> None:
    c = make_client(any_url)
    assert c.post("/api/sweeps", json=_sweep("shared", trials=8), headers=AUTH).status_code == 201
    agents = [_agent(any_url, "--sweep", "shared") for _ in range(2)]
    for a in agents:
        _, err = a.communicate(timeout=300)
        assert a.returncode == 0, err.decode()
    states = _states(any_url, "shared")
    assert states.count("COMPLETE") == 8 and len(states) == 8
    sweep = c.get("/api/sweeps").json()[0]
    assert sweep["state"] == "done", sweep["message"]
    assert "8/8" in c.get("/studies/shared").text


@pytest.mark.slow
def test_stop_through_the_api_and_sigterm(sqlite_url: str, make_client: MakeClient) -> None:
    c: TestClient = make_client(sqlite_url)
    long = _sweep("long", trials=50, epochs=400)
    assert c.post("/api/sweeps", json=long, headers=AUTH).status_code == 201
    agent = _agent(sqlite_url)
    _wait_for(lambda: "RUNNING" in _states_or_none(sqlite_url, "long"), timeout_s=120, what="a running trial")
    assert c.post("/api/sweeps/long/stop", headers=AUTH).json()["state"] == "stopped"
    _wait_for(lambda: "RUNNING" not in _states_or_none(sqlite_url, "long"), timeout_s=120, what="the trial to stop")
    assert len(_states(sqlite_url, "long")) < 50 and _state(sqlite_url, "long") == "stopped"
    assert agent.poll() is None  # the agent lives on, idle
    assert c.post("/api/sweeps", json=_sweep("long2", trials=50, epochs=400), headers=AUTH).status_code == 201
    _wait_for(lambda: "RUNNING" in _states_or_none(sqlite_url, "long2"), timeout_s=120, what="the next sweep")
    agent.send_signal(signal.SIGTERM)  # stop after the epoch, then leave
    _, err = agent.communicate(timeout=120)
    assert agent.returncode == 0, err.decode()
    states = _states(sqlite_url, "long2")
    assert "RUNNING" not in states and "FAIL" in states and len(states) < 50
    assert _state(sqlite_url, "long2") == "running"  # not failed: another agent may take it up


def _states_or_none(url: str, name: str) -> list[str]:
    try:
        return _states(url, name)
    except KeyError:  # no agent opened the study yet
        return []


def test_a_database_failure_is_retried_then_gives_the_sweep_up(
    sqlite_url: str, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing as mp

    from sweepdoctor.errors import StorageError
    from sweepdoctor.sweep import search
    from sweepdoctor.sweep.agent import _agent

    c = make_client(sqlite_url)
    assert c.post("/api/sweeps", json=_sweep("flaky-db", trials=2), headers=AUTH).status_code == 201

    def database_away(*_a: object, **_k: object) -> None:
        raise StorageError("storage: database error: server closed the connection unexpectedly")

    monkeypatch.setattr(search, "run", database_away)
    recv, send = mp.Pipe(duplex=False)
    _agent._child(sqlite_url, "flaky-db", None, send)  # the child's side, in this process
    assert recv.recv() == ("retry", "StorageError: storage: database error: server closed the connection unexpectedly")

    calls: list[str] = []

    def always_retry(sweep: Any, *_a: object) -> str:
        calls.append(sweep.name)
        return "retry"

    monkeypatch.setattr(_agent, "_work_on", always_retry)
    run_agent(AgentOptions(storage=sqlite_url, sweep="flaky-db", poll_s=0.05))
    assert calls == ["flaky-db"] * _agent.MAX_RETRIES
    sweep = c.get("/api/sweeps").json()[0]
    assert sweep["state"] == "failed" and "3 times in a row" in sweep["message"]


def test_the_sweeps_list_answers_what_its_openapi_schema_says(sqlite_url: str, make_client: MakeClient) -> None:
    """``GET /api/sweeps`` declares its items (SweepLine): every field named, typed, and nothing else."""
    c = make_client(sqlite_url)
    assert c.post("/api/sweeps", json=_sweep("listed", trials=2), headers=AUTH).status_code == 201
    doc = c.get("/openapi.json").json()
    item = doc["paths"]["/api/sweeps"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    schema = doc["components"]["schemas"][item["$ref"].rsplit("/", 1)[-1]]
    [line] = c.get("/api/sweeps").json()
    assert set(line) == set(schema["properties"]) == set(schema["required"])
    assert line["name"] == "listed" and line["state"] == "queued" and line["trials"] == 2
    assert isinstance(line["config"], str) and line["created_at"] <= line["updated_at"]
    assert "queued, running, done, stopped or failed" in schema["properties"]["state"]["description"]
