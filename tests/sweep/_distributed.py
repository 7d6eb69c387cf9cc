"""Helpers for the distributed tests: worker processes with their own environments, and the
invariants a shared study must keep whatever happened to its workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.sweep.search._coordinator import trials_counted

REPO = Path(__file__).resolve().parents[2]
TINY = ["--dataset", "iris", "--folds", "2", "--epochs", "2", "--no-baselines"]
# Heartbeats every second, stale after four: for the tests that kill a worker (the others keep
# the defaults, so that a busy machine never makes a live worker look dead).
FAST_HEARTBEATS = {"SWEEPDOCTOR_HEARTBEAT_INTERVAL": "1", "SWEEPDOCTOR_HEARTBEAT_GRACE": "4"}
# A grace no test waits out: a worker killed on this machine must be seen by its process being gone.
SLOW_HEARTBEATS = {"SWEEPDOCTOR_HEARTBEAT_INTERVAL": "60", "SWEEPDOCTOR_HEARTBEAT_GRACE": "600"}


class Worker:
    """A worker process with its own home, temp and working directories (a host of its own)."""

    def __init__(self, args: Sequence[str], home: Path, *, env: dict[str, str] | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        full = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPDOCTOR_") and k != "PYTHONPATH"}
        full.update(HOME=str(home), TMPDIR=str(home / "tmp"), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **(env or {}))
        self.home = home
        self._out: IO[bytes] = (home / "stdout").open("wb")
        self._err: IO[bytes] = (home / "stderr").open("wb")
        self.proc = subprocess.Popen([sys.executable, *args], cwd=home, env=full, stdout=self._out, stderr=self._err)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
            self._err.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(10)

    @property
    def stdout(self) -> str:
        return (self.home / "stdout").read_text()

    @property
    def stderr(self) -> str:
        return (self.home / "stderr").read_text()


def cli(*args: str) -> list[str]:
    return ["-m", "sweepdoctor", "sweep", *args]


def script(url: str, study: str, trials: int, *, epochs: int = 2) -> list[str]:
    return ["-m", "tests.sweep._worker_script", url, study, str(trials), str(epochs)]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (a study or table not there yet counts as False)."""
    end = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (KeyError, SQLAlchemyError, optuna.exceptions.StorageInternalError):
            pass
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def load_trials(url: str, study: str) -> list[FrozenTrial]:
    storage = optuna.storages.RDBStorage(url, skip_table_creation=True)
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()


def check_study(url: str, study: str, *, total: int, folds: int, surplus: int = 0) -> list[FrozenTrial]:
    """Exactly ``total`` trials count; none left running or queued; each finished trial has its curves, once.

    ``surplus``: how many extra trials are tolerated. Only a connection cut while a
    worker holds the study lock (a window of milliseconds) can lose the lock early and
    let one more trial be claimed: each such cut may add one (docs/distributed.md).
    """
    trials = load_trials(url, study)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "duplicate trial numbers"
    assert sorted(numbers) == list(range(len(numbers)))
    left = [(t.number, t.state.name) for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not left, f"trials left unfinished: {left}"
    assert total <= trials_counted(trials) <= total + surplus, (trials_counted(trials), total)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(text(
                "SELECT r.trial_id, r.state, (SELECT count(*) FROM sd_epochs e WHERE e.run_id = r.id), "
                "(SELECT count(*) FROM sd_folds f WHERE f.run_id = r.id) FROM sd_runs r WHERE r.trial_id IS NOT NULL"
            )).all()
    finally:
        engine.dispose()
    per_trial = Counter(r[0] for r in rows)
    assert not [tid for tid, n in per_trial.items() if n > 1], "a trial's curves are stored twice"
    runs = {r[0]: r for r in rows}
    expected = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
    for t in trials:
        lost_worker = str(t.user_attrs.get("fail_reason", "")).startswith(("interrupted", "worker lost"))
        if t.state == TrialState.FAIL and lost_worker:
            assert t._trial_id not in runs or runs[t._trial_id][1] == "failed"
            continue
        assert t._trial_id in runs, f"trial {t.number} ({t.state.name}) has no curves"
        _, state, n_epochs, n_folds = runs[t._trial_id]
        assert state == expected[t.state], f"trial {t.number}: curves say {state}, Optuna {t.state.name}"
        assert n_folds == folds and n_epochs == folds * t.user_attrs["epochs_trained"]
    return trials


# ---- restarting the local database servers (the restart tests) ---------------------------

PG_PING = ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]
MARIADB_PING = ["mariadb-admin", "-h", "127.0.0.1", "-u", "root", "ping"]
MARIADB_START = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"]


def _answers(ping: list[str]) -> bool:
    return subprocess.run(ping, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30).returncode == 0


def ensure_up(ping: list[str], start: list[str], *, timeout: float = 90) -> None:
    """Start the server until it answers (``start`` must do nothing when it runs already)."""
    end = time.monotonic() + timeout
    while not _answers(ping):
        if time.monotonic() > end:
            raise AssertionError(f"the server did not come back: {' '.join(ping)}")
        subprocess.run(start, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        time.sleep(0.5)


def restart_postgres() -> None:
    """``pg_ctlcluster VERSION main restart``; the server answers again when this returns, even on failure."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    try:
        subprocess.run([*cluster, "restart"], check=True, timeout=120)
    finally:
        ensure_up(PG_PING, [*cluster, "start"])


def restart_mariadb() -> None:
    """Shut MariaDB down cleanly and start it as ``.ci/run`` does; it answers again when this returns."""
    try:
        subprocess.run(["mariadb-admin", "-h", "127.0.0.1", "-u", "root", "shutdown"], check=True, timeout=120)
        end = time.monotonic() + 60
        while _answers(MARIADB_PING) and time.monotonic() < end:
            time.sleep(0.2)
    finally:
        ensure_up(MARIADB_PING, MARIADB_START)
