"""A worker SIGKILLed mid-trial: seconds until its trial's retry starts, and until the sweep ends.

Three workers (``sweepdoctor sweep`` processes, as three hosts would run it) share one
PostgreSQL study (iris, 2 folds, a few dozen epochs per trial, 12 trials). Once a worker
has trained a trial for a while, it is killed with SIGKILL. Reported, from the kill: when
the retry of its trial started (Optuna's ``datetime_start``), and when the last worker
exited (the sweep's end). Two cases:

- same host: the survivors see that the victim's process is gone, and fail and retry its
  trial at their next claim;
- another host: the victim runs in a UTS namespace of its own with another hostname
  (``unshare --uts``, Linux and root only; skipped otherwise), so only its heartbeat
  tells; defaults: a beat every 5 s, lost after 15 s without one.

Each case is bounded (``--limit`` seconds, default 180). ``python -m benchmarks.bench_worker_kill``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("SWEEPDOCTOR_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
OTHER_HOST = "bench-other-host"


@dataclass(frozen=True)
class Outcome:
    retry_start_s: float  # from the kill until the lost trial's retry started
    sweep_end_s: float  # from the kill until the last worker exited
    reason: str  # why the lost trial was failed


def sweep_cmd(url: str, trials: int, epochs: int) -> list[str]:
    return [sys.executable, "-m", "sweepdoctor", "sweep", "--dataset", "iris", "--folds", "2", "--epochs",
            str(epochs), "--trials", str(trials), "--no-baselines", "--no-prune", "--threads", "1", "--quiet",
            "--storage", url, "--study", "kill"]


def running_trial_of(url: str, pid: int) -> tuple[int, float] | None:
    """(number, seconds running) of the trial process ``pid`` trains, if any."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            row = c.execute(text(
                "SELECT t.number, t.datetime_start FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id AND a.key = 'worker' WHERE t.state = 'RUNNING' AND a.value_json LIKE :p"
            ), {"p": f'%:{pid}"'}).first()
    except Exception:  # noqa: BLE001 - tables not created yet
        return None
    finally:
        engine.dispose()
    return None if row is None else (row[0], (dt.datetime.now() - row[1]).total_seconds())


def run_case(url: str, *, other_host: bool, trials: int, epochs: int, limit: float) -> Outcome:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in [k for k in env if k.startswith("SWEEPDOCTOR_HEARTBEAT")]:
        del env[key]  # the defaults
    cmd = sweep_cmd(url, trials, epochs)
    victim_cmd = (["unshare", "--uts", "sh", "-c", f'hostname {OTHER_HOST} && exec "$0" "$@"', *cmd]
                  if other_host else cmd)
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for c in (victim_cmd, cmd, cmd)]
    deadline = time.monotonic() + limit
    try:
        while (found := running_trial_of(url, procs[0].pid)) is None or found[1] < 0.3:
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError("the victim never trained a trial long enough to be killed mid-trial")
            time.sleep(0.05)
        killed_at = dt.datetime.now()
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        for p in procs[1:]:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0:
                raise RuntimeError(f"a surviving worker failed: {p.stderr.read().decode()[-500:] if p.stderr else ''}")
        ended_at = dt.datetime.now()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return _outcome(url, found[0], killed_at, ended_at)


def _outcome(url: str, lost_number: int, killed_at: dt.datetime, ended_at: dt.datetime) -> Outcome:
    storage = optuna.storages.RDBStorage(url)
    try:
        trials = optuna.load_study(study_name="kill", storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
    lost = trials[lost_number]
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == lost_number)
    assert retry.datetime_start is not None
    return Outcome(retry_start_s=(retry.datetime_start - killed_at).total_seconds(),
                   sweep_end_s=(ended_at - killed_at).total_seconds(),
                   reason=str(lost.user_attrs.get("fail_reason")))


def _fresh_database(admin_url: str) -> str:
    name = f"sd_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def _can_rename_host() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--uts", "hostname", OTHER_HOST], capture_output=True)
    return probe.returncode == 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench_worker_kill", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=12, help="trials in the study (default 12)")
    ap.add_argument("--epochs", type=int, default=40, help="epochs per trial (default 40)")
    ap.add_argument("--limit", type=float, default=180.0, help="seconds each case may take (default 180)")
    ap.add_argument("--admin-url", default=ADMIN_URL, help="a PostgreSQL URL allowed to create databases")
    args = ap.parse_args(argv)
    cases = [("same host", False)] + ([("another host", True)] if _can_rename_host() else [])
    print(f"3 workers, {args.trials} trials of iris (2 folds x {args.epochs} epochs), PostgreSQL; "
          f"one worker SIGKILLed mid-trial; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, other in cases:
        try:
            url = _fresh_database(args.admin_url)
        except Exception as e:  # noqa: BLE001 - any driver error means "no server to benchmark on"
            print(f"bench_worker_kill: needs a PostgreSQL server ({args.admin_url}): {str(e).splitlines()[0]}")
            return
        try:
            out = run_case(url, other_host=other, trials=args.trials, epochs=args.epochs, limit=args.limit)
        finally:
            _drop_database(args.admin_url, url)
        print(f"  {label:12s}: retry started {out.retry_start_s:5.1f} s after the kill, sweep ended "
              f"{out.sweep_end_s:5.1f} s after it ({out.reason})")
    if len(cases) == 1:
        print("  another host: skipped (needs `unshare --uts`, Linux and root)")


if __name__ == "__main__":
    main(sys.argv[1:])
