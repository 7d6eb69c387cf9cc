"""``studies doctor``: running and stale trials, workers seen, curves that do not match."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.trial import TrialState

from sweepdoctor.cli import main
from sweepdoctor.studies import PROCESS_ATTR, Store, WorkerProcess, make_engine
from sweepdoctor.studies.doctor._examine import examine_study
from sweepdoctor.sweep import load_builtin, run
from sweepdoctor.sweep.search._storage import optuna_storage
from tests.sweep.helpers import small_config

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study_with_a_dead_worker(url: str) -> optuna.Study:
    """Two trials by the sweep, one RUNNING trial whose worker stopped beating, one never beating."""
    run(small_config(url, "d", trials=2, epochs=2), load_builtin("iris"))
    study = optuna.load_study(study_name="d", storage=optuna_storage(url))
    dead = study.ask()
    dead.suggest_float("lr", 1e-3, 1e-1, log=True)
    dead.set_user_attr("worker", "elsewhere:4242")
    study._storage.record_heartbeat(dead._trial_id)  # type: ignore[attr-defined]
    study.ask()  # never sent a heartbeat
    time.sleep(2.2)  # heartbeats are kept to the second
    return study


def test_examine_finds_stale_trials_and_workers(any_url: str) -> None:
    _study_with_a_dead_worker(any_url)
    engine = make_engine(any_url)
    try:
        report = examine_study(engine, "d", grace_s=1.0)
        fresh = examine_study(engine, "d", grace_s=60.0)
    finally:
        engine.dispose()
    assert report.states["complete"] + report.states["pruned"] == 2 and report.states["running"] == 2
    assert [t.number for t in report.stale] == [2, 3] and report.budget_used == 4
    assert report.running[0].worker == "elsewhere:4242" and report.running[0].heartbeat_age_s >= 1  # type: ignore[operator]
    assert report.running[1].heartbeat_age_s is None
    assert [w.n_trials for w in report.workers if w.worker != "elsewhere:4242"] == [2]
    assert report.missing_curves == () and report.stray_curves == () and not report.healthy
    assert [t.number for t in fresh.stale] == [3]  # the one that never beat is stale at any grace


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a dead process is seen through /proc (Linux)")
def test_doctor_says_worker_process_gone_on_this_machine(sqlite_url: str) -> None:
    """Two fresh heartbeats: the trial of a dead process here is lost now, the live one is alive."""
    study = optuna.create_study(study_name="p", storage=optuna_storage(sqlite_url))
    Store(sqlite_url).ensure_schema()
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = WorkerProcess.this()
    for record in (replace(me, pid=dead.pid), me):
        t = study.ask()
        study._storage.record_heartbeat(t._trial_id)  # type: ignore[attr-defined]
        study._storage.set_trial_system_attr(t._trial_id, PROCESS_ATTR, record.to_json())
        t.set_user_attr("worker", f"{record.host}:{record.pid}")
    r = CliRunner().invoke(main, ["studies", "doctor", "p", "--storage", sqlite_url])
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert any(f":{dead.pid}" in ln and "worker process gone" in ln for ln in lines), r.output
    assert any(f":{me.pid}" in ln and "alive (process running)" in ln for ln in lines), r.output
    assert f"worker process gone: trial(s) 0 ran in {me.host}:{dead.pid}" in " ".join(r.output.split())
    r = CliRunner().invoke(main, ["studies", "doctor", "p", "--storage", sqlite_url, "--json"])
    doc = json.loads(r.stdout)
    assert doc["process_gone"] == [0] and doc["stale"] == [0] and doc["running"][0]["process"]["pid"] == dead.pid
    r = CliRunner().invoke(main, ["studies", "doctor", "p", "--storage", sqlite_url, "--fail-stale", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["failed_now"] == [0]


def test_missing_curves_are_reported(sqlite_url: str) -> None:
    run(small_config(sqlite_url, "m", trials=1, epochs=2), load_builtin("iris"))
    study = optuna.load_study(study_name="m", storage=optuna_storage(sqlite_url))
    t = study.ask()
    study.tell(t, 0.5)  # finished without curves of ours
    engine = make_engine(sqlite_url)
    report = examine_study(engine, "m", grace_s=5.0)
    engine.dispose()
    assert report.missing_curves == (1,) and not report.healthy


def test_doctor_command_fails_stale_trials_and_queues_retries(pg_url: str) -> None:
    study = _study_with_a_dead_worker(pg_url)
    r = CliRunner().invoke(main, ["studies", "doctor", "d", "--storage", pg_url, "--grace", "1"])
    assert r.exit_code == 1 and "stale" in r.output and "elsewhere:4242" in r.output
    r = CliRunner().invoke(main, ["studies", "doctor", "d", "--storage", pg_url, "--grace", "1", "--fail-stale",
                                  "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["failed_now"] == [2, 3] and doc["stale"] == [] and doc["healthy"]
    assert doc["states"]["fail"] == 2 and doc["states"]["waiting"] == 2 and doc["budget_used"] == 4
    trials = study.get_trials(deepcopy=False)
    assert trials[2].state == TrialState.FAIL and trials[2].user_attrs["fail_reason"].startswith("worker lost")
    assert [t.system_attrs["failed_trial"] for t in trials[4:]] == [2, 3]


def test_doctor_on_a_healthy_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    run(small_config(url, "h", trials=2, epochs=2), load_builtin("iris"))
    r = CliRunner().invoke(main, ["studies", "doctor", "h", "--storage", url])
    assert r.exit_code == 0 and "healthy" in r.output and "workers seen" in r.output


@pytest.mark.parametrize("args, message", [
    (["nope"], "no study named 'nope'"),
    (["h", "--grace", "0"], "--grace"),
])
def test_doctor_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    Store(url).ensure_schema()
    optuna.create_study(study_name="h", storage=url)
    r = CliRunner().invoke(main, ["studies", "doctor", *args, "--storage", url])
    assert r.exit_code == 2 and message in r.output
