"""Faults: a worker killed mid-trial, the database connection cut or the server restarted,
SIGTERM/SIGINT, a database that never comes back. The study must end exact and consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.trial import TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from sweepdoctor.cli import main
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import PROCESS_ATTR, Store, WorkerProcess
from sweepdoctor.sweep.search._coordinator import TrialCoordinator, trials_counted
from sweepdoctor.sweep.search._heartbeat import HeartbeatSettings, fail_stale_trials
from sweepdoctor.sweep.search._storage import optuna_storage
from tests.sweep._distributed import (
    FAST_HEARTBEATS,
    SLOW_HEARTBEATS,
    TINY,
    Worker,
    check_study,
    cli,
    load_trials,
    restart_mariadb,
    restart_postgres,
    script,
    wait_for,
)

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _running(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in load_trials(url, study) if t.state == TrialState.RUNNING]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a dead process is seen through /proc (Linux)")
def test_sigkilled_worker_trial_is_failed_and_retried(pg_url: str, tmp_path: Path) -> None:
    """Same machine: the victim's process is seen gone; no heartbeat grace is waited out (it is 10 minutes)."""
    hang = tmp_path / "hung.pid"
    workers = [Worker(script(pg_url, "kill", 9), tmp_path / f"host{i}", env=SLOW_HEARTBEATS) for i in range(2)]
    victim = Worker(script(pg_url, "kill", 9), tmp_path / "victim",
                    env={**SLOW_HEARTBEATS, "SWEEPDOCTOR_TEST_HANG": str(hang)})
    try:
        wait_for(lambda: hang.exists() and hang.read_text() != "", 90, "the victim to start a trial")
        pid = int(hang.read_text())
        wait_for(lambda: any(t.user_attrs.get("worker", "").endswith(f":{pid}") for t in _running(pg_url, "kill")),
                 30, "the victim's trial to be marked with its worker")
        victim.proc.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        for w in workers:
            assert w.wait(120) == 0, w.stderr
    finally:
        for w in (*workers, victim):
            w.kill()
    trials = check_study(pg_url, "kill", total=9, folds=2)
    killed = [t for t in trials if str(t.user_attrs.get("worker", "")).endswith(f":{pid}")]
    assert len(killed) == 1 and killed[0].state == TrialState.FAIL
    worker = killed[0].user_attrs["worker"]
    assert killed[0].user_attrs["fail_reason"] == f"worker lost: its process is gone (worker {worker})"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed[0].params


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a dead process is seen through /proc (Linux)")
def test_sigkilled_lone_sqlite_sweep_is_retried_at_once_when_rerun(sqlite_url: str, tmp_path: Path) -> None:
    """A lone sweep killed mid-trial: the doctor says its process is gone, and the rerun retries the
    trial at once (the heartbeat grace is 10 minutes: the rerun would time out waiting for it)."""
    hang = tmp_path / "hung.pid"
    victim = Worker(script(sqlite_url, "lone", 3), tmp_path / "victim",
                    env={**SLOW_HEARTBEATS, "SWEEPDOCTOR_TEST_HANG": str(hang)})
    try:
        wait_for(lambda: hang.exists() and hang.read_text() != "", 90, "the sweep to start a trial")
        wait_for(lambda: bool(_running(sqlite_url, "lone")), 30, "its trial to be claimed")
        victim.proc.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
    finally:
        victim.kill()
    r = CliRunner().invoke(main, ["studies", "doctor", "lone", "--storage", sqlite_url])
    assert r.exit_code == 1 and "worker process gone" in r.output and "alive" not in r.output, r.output
    rerun = Worker(script(sqlite_url, "lone", 3), tmp_path / "rerun", env=SLOW_HEARTBEATS)
    try:
        assert rerun.wait(120) == 0, rerun.stderr
    finally:
        rerun.kill()
    trials = check_study(sqlite_url, "lone", total=3, folds=2)
    assert trials[0].state == TrialState.FAIL and "its process is gone" in trials[0].user_attrs["fail_reason"]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params
    assert "sweepdoctor:worker_process" in trials[0].system_attrs  # the victim's record stays with its trial
    assert trials[1].system_attrs["sweepdoctor:worker_process"]["pid"] != trials[0].system_attrs[
        "sweepdoctor:worker_process"]["pid"]  # the retry carries its own worker's, not the victim's


def _cut_connections(admin_url: str, database: str) -> int:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            return len(c.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
            ), {"d": database}).all())
    finally:
        admin.dispose()


def test_connection_cut_mid_sweep_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    workers = [Worker(script(pg_url, "cut", 16, epochs=6), tmp_path / f"host{i}", env=FAST_HEARTBEATS)
               for i in range(2)]
    database = make_url(pg_url).database
    assert database is not None
    admin_url = make_url(pg_url).set(database="postgres").render_as_string(hide_password=False)
    try:
        wait_for(lambda: sum(t.state.is_finished() for t in load_trials(pg_url, "cut")) >= 2, 90, "two trials")
        cuts = 0
        for _ in range(4):
            cuts += _cut_connections(admin_url, database)
            time.sleep(0.7)
        assert cuts > 0
        for w in workers:
            assert w.wait(120) == 0, w.stderr
    finally:
        for w in workers:
            w.kill()
    # no lost or phantom trial; a cut that lands inside a claim may add one trial per cut round
    check_study(pg_url, "cut", total=16, folds=2, surplus=4)


@pytest.mark.slow
@pytest.mark.parametrize("server, restart", [
    pytest.param("pg_url", restart_postgres, marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("mysql_url", restart_mariadb, marks=pytest.mark.mysql, id="mariadb"),
])
def test_database_restarted_mid_sweep(
    server: str, restart: Callable[[], None], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Three workers ride out a restart of the server: nothing lost, stored twice or left running, the budget
    exact. Restarts the shared server (it answers again when the test ends, pass or fail): slow, and it
    disturbs other tests that use it at that moment."""
    url = request.getfixturevalue(server)
    workers = [Worker(script(url, "restart", 18, epochs=8), tmp_path / f"host{i}") for i in range(3)]

    def finished() -> int:
        return sum(t.state.is_finished() for t in load_trials(url, "restart"))

    try:
        wait_for(lambda: finished() >= 3, 120, "three trials")
        before = finished()
        restart()
        for w in workers:
            assert w.wait(240) == 0, w.stderr
    finally:
        for w in workers:
            w.kill()
    assert before < 18  # the restart came in the middle of the sweep
    check_study(url, "restart", total=18, folds=2)


def test_sigterm_stops_a_worker_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    w = Worker(cli(*TINY, "--epochs", "3000", "--no-prune", "--trials", "5", "--storage", sqlite_url,
                   "--study", "term"), tmp_path / "host")
    try:
        wait_for(lambda: bool(_running(sqlite_url, "term")), 90, "a trial")
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait(60) == 130
    finally:
        w.kill()
    trials = load_trials(sqlite_url, "term")
    assert [t.state for t in trials][-1] == TrialState.FAIL and trials[-1].user_attrs["fail_reason"] == "interrupted"
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert "interrupted: study term" in w.stdout


def test_sigterm_to_the_parent_stops_every_worker(pg_url: str, tmp_path: Path) -> None:
    w = Worker(cli(*TINY, "--epochs", "3000", "--no-prune", "--trials", "6", "--workers", "2",
                   "--storage", pg_url, "--study", "term2"), tmp_path / "host")
    try:
        wait_for(lambda: len(_running(pg_url, "term2")) == 2, 90, "both workers to start a trial")
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait(60) == 130
    finally:
        w.kill()
    states = [t.state for t in load_trials(pg_url, "term2")]
    assert TrialState.RUNNING not in states and states.count(TrialState.FAIL) == 2


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie nobody reaped is gone too


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only (PR_SET_PDEATHSIG)")
def test_workers_stop_when_their_parent_is_killed(pg_url: str, tmp_path: Path) -> None:
    w = Worker(cli(*TINY, "--epochs", "3000", "--no-prune", "--trials", "6", "--workers", "2",
                   "--storage", pg_url, "--study", "orphans"), tmp_path / "host")
    try:
        wait_for(lambda: len(_running(pg_url, "orphans")) == 2, 90, "both workers to start a trial")
        pids = [int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in _running(pg_url, "orphans")]
        w.proc.send_signal(signal.SIGKILL)
        w.wait(10)
        wait_for(lambda: not any(_alive(p) for p in pids), 60, "the workers to stop")
    finally:
        w.kill()
    states = [t.state for t in load_trials(pg_url, "orphans")]
    assert TrialState.RUNNING not in states and states.count(TrialState.FAIL) == 2


# ---- in-process: stale and orphaned trials, retries, a database that stays away ------------


def _coordinator(url: str, name: str, total: int, **kw: float) -> tuple[TrialCoordinator, optuna.Study]:
    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    store = Store(url)
    settings = HeartbeatSettings(interval_s=0.5, grace_s=1.0)
    return TrialCoordinator(study, store, store.study_id(name), total=total, settings=settings, **kw), study


def _new_study(url: str, name: str) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=optuna_storage(url))
    Store(url).ensure_schema()
    return study


def test_stale_trial_is_failed_and_its_retry_claimed_first(any_url: str) -> None:
    dead = _new_study(any_url, "stale")
    t = dead.ask()
    t.suggest_float("x", 0.0, 1.0)
    dead._storage.record_heartbeat(t._trial_id)  # type: ignore[attr-defined]
    time.sleep(2.2)  # databases keep heartbeats to the second
    coord, study = _coordinator(any_url, "stale", 3)
    try:
        first = coord.next_trial()
        assert first is not None and first.suggest_float("x", 0.0, 1.0) == t.params["x"]
        assert coord.finish(first, TrialState.COMPLETE, 1.0)
        while (nxt := coord.next_trial()) is not None:
            coord.finish(nxt, TrialState.COMPLETE, 0.5)
    finally:
        coord.close()
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["fail_reason"].startswith("worker lost")
    assert trials[1].system_attrs["failed_trial"] == 0 and trials_counted(trials) == 3 and len(trials) == 4


def test_orphan_without_heartbeat_is_retried_at_once(sqlite_url: str) -> None:
    dead = _new_study(sqlite_url, "orphan")
    dead.ask()  # a worker that died between asking and its first heartbeat
    coord, study = _coordinator(sqlite_url, "orphan", 1)
    try:
        t = coord.next_trial()
        assert t is not None and t.number == 1
        assert coord.finish(t, TrialState.COMPLETE, 1.0) and coord.next_trial() is None
    finally:
        coord.close()
    assert [s.state for s in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a dead process is seen through /proc (Linux)")
def test_lost_workers_by_process_here_and_by_heartbeat_elsewhere(sqlite_url: str) -> None:
    """Grace 1 s. Here, with fresh heartbeats: a live process keeps its trial, a dead one loses it. Elsewhere,
    with old heartbeats: a worker with a long grace of its own keeps its trial, a plain one loses it."""
    study = _new_study(sqlite_url, "who")
    me = WorkerProcess.this()
    dead = subprocess.Popen(["true"])
    dead.wait()
    records = {
        "alive here": me,
        "dead here": replace(me, pid=dead.pid),
        "patient elsewhere": replace(me, host="elsewhere", grace_s=600.0),
        "silent elsewhere": replace(me, host="elsewhere"),
    }
    for record in records.values():
        t = study.ask()
        study._storage.record_heartbeat(t._trial_id)  # type: ignore[attr-defined]
        study._storage.set_trial_system_attr(t._trial_id, PROCESS_ATTR, record.to_json())
        t.set_user_attr("worker", f"{record.host}:{record.pid}")
    time.sleep(2.2)  # heartbeats are kept to the second
    for t in study.get_trials(deepcopy=False)[:2]:
        study._storage.record_heartbeat(t._trial_id)  # type: ignore[attr-defined]
    failed = fail_stale_trials(study, Store(sqlite_url).engine, grace_s=1.0, max_retry=3, orphans=True)
    assert failed == [1, 3]
    trials = study.get_trials(deepcopy=False)
    assert trials[1].user_attrs["fail_reason"] == f"worker lost: its process is gone (worker {me.host}:{dead.pid})"
    assert trials[3].user_attrs["fail_reason"].startswith("worker lost: no heartbeat for 1 s")
    assert [t.state for t in trials[:4]] == [TrialState.RUNNING, TrialState.FAIL, TrialState.RUNNING, TrialState.FAIL]
    assert [t.system_attrs["failed_trial"] for t in trials[4:]] == [1, 3]
    assert all(PROCESS_ATTR not in t.system_attrs for t in trials[4:])  # a retry gets its own worker's record


def test_a_trial_taken_over_is_not_stored(sqlite_url: str) -> None:
    _new_study(sqlite_url, "taken")
    coord, study = _coordinator(sqlite_url, "taken", 1)
    try:
        t = coord.next_trial()
        assert t is not None
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # another worker's verdict
        assert not coord.store_run(t, lambda: pytest.fail("wrote curves of a trial that is not ours"))
        assert not coord.finish(t, TrialState.COMPLETE, 1.0)
    finally:
        coord.close()


def test_database_faults_are_retried_then_reported(sqlite_url: str) -> None:
    _new_study(sqlite_url, "faults")
    coord, _ = _coordinator(sqlite_url, "faults", 1, patience_s=1.0)
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return "stored"

    def down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))

    def bad() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    try:
        assert coord.db(flaky, "testing") == "stored" and calls["n"] == 3
        with pytest.raises(StorageError, match="stopped answering while storing trial 7.*did not come back"):
            coord.db(down, "storing trial 7")
        with pytest.raises(IntegrityError):
            coord.db(bad, "testing")
    finally:
        coord.close()


def test_sigterm_in_process_stops_at_the_next_epoch(sqlite_url: str) -> None:
    from sweepdoctor.sweep import load_builtin, run
    from tests.sweep.helpers import small_config

    calls = {"n": 0}

    def model(hp: object, n_in: int, n_out: int) -> torch.nn.Module:
        calls["n"] += 1
        if calls["n"] == 1 + 3 * 2 + 1:  # the check before the first trial, then building trial 3 (3 folds)
            os.kill(os.getpid(), signal.SIGTERM)
        return torch.nn.Linear(n_in, n_out)

    before = signal.getsignal(signal.SIGTERM)
    res = run(small_config(sqlite_url, "t", trials=6, epochs=2), load_builtin("iris"), model_fn=model)
    trials = load_trials(sqlite_url, "t")
    assert res.interrupted and res.n_complete == 2
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    assert trials[2].user_attrs["fail_reason"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is before
