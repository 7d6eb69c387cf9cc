"""Parallel scaling: trials per minute with 1 and 2 worker processes on one PostgreSQL study.

Runs ``sweepdoctor sweep --workers N`` as a user would (a subprocess each, on a fresh
database on the local server), with a search space whose cost does not depend on the
sampled values (fixed depth, width, batch size, epochs; no pruning, no early stopping),
so both runs train the same amount. Reports two rates for each: end to end (the whole
command: start-up, workers spawning, the last worker's exit) and steady state (first
trial start to last trial end, from Optuna's timestamps), and their ratio 2 / 1; and
the CPU time of every process of each command (parent, workers, measuring helpers),
from ``getrusage(RUSAGE_CHILDREN)``, as CPU-seconds per trial and their ratio.

One worker alone measures its epochs in a helper process on the second core; two
workers on two cores measure in place. So "1 worker" already uses more than one core.

``python -m benchmarks.bench_workers --trials 200 --admin-url postgresql+psycopg2://...``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("SWEEPDOCTOR_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
SPACE = """
[space]
depth = 2
width = 128
batch_size = 32
optimizer = ["adam", "momentum", "rmsprop"]
lr = {low = 1e-4, high = 3e-2, log = true}
patience = 0
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(url: str, study: str, workers: int, trials: int, config: Path) -> tuple[float, float, float]:
    """Seconds end to end, seconds from the first trial's start to the last trial's end, CPU-seconds."""
    cmd = [sys.executable, "-m", "sweepdoctor", "sweep", "--config", str(config), "--dataset", "digits",
           "--folds", "3", "--epochs", "6", "--no-prune", "--no-baselines", "--quiet", "--trials", str(trials),
           "--workers", str(workers), "--storage", url, "--study", study]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    storage = optuna.storages.RDBStorage(url)
    done = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    storage.engine.dispose()
    assert len(done) == trials and all(t.datetime_complete for t in done)
    start = min(t.datetime_start for t in done if t.datetime_start)
    end = max(t.datetime_complete for t in done if t.datetime_complete)
    return wall, (end - start).total_seconds(), cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench_workers", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=200, help="trials per run (default 200)")
    ap.add_argument("--admin-url", default=ADMIN_URL, help="a PostgreSQL URL allowed to create databases")
    args = ap.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"sd_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - any driver error means "no server to benchmark on"
        print(f"bench_workers: needs a PostgreSQL server ({args.admin_url}): {str(e).splitlines()[0]}")
        return
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.trials} trials of digits (3 folds x 6 epochs, MLP 2x128) per run, PostgreSQL, {cores} cores")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "space.toml"
            config.write_text(SPACE)
            rates = {}
            for workers in (1, 2):
                wall, steady, cpu = run_once(url, f"w{workers}", workers, args.trials, config)
                rates[workers] = (60 * args.trials / wall, 60 * args.trials / steady, cpu / args.trials)
                print(f"  {workers} worker(s): {rates[workers][0]:6.1f} trials/min end to end ({wall:.1f} s), "
                      f"{rates[workers][1]:6.1f} trials/min steady ({steady:.1f} s), "
                      f"{cpu:.1f} CPU-s in all processes ({cpu / wall:.2f} cores busy on average)", flush=True)
            print(f"  ratio 2/1: {rates[2][0] / rates[1][0]:.2f}x end to end, "
                  f"{rates[2][1] / rates[1][1]:.2f}x steady; CPU-s per trial {rates[2][2] / rates[1][2]:.2f}x")
    finally:
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
