"""How fast the study queries answer on 100k trials, against Optuna's ``trials_dataframe`` path.

Builds (once, cached under ``bench-results/``) a SQLite database the way a long sweep
leaves it: Optuna's schema made by Optuna's ``RDBStorage``, then rows bulk-inserted
with SQLAlchemy Core into Optuna's tables (trials, params, values, user attributes,
intermediate values) and ours (runs, per-epoch curves, folds, findings).

Then, in the same run, times the same answers two ways:

- ``studies list``: ours (``StudyDB.list_studies``) vs ``trials_dataframe()`` of
  every study + pandas (counts by state, best value, last activity);
- a filtered ``studies trials`` (optimizer=adam, lr>=1e-3, complete, best 20 by
  value): ours vs ``trials_dataframe()`` + pandas filter/sort/head; the two answers
  are checked to be the same trials;

and prints each as a ratio (Optuna's time / ours), with the CLI's end-to-end time.
``python -m benchmarks.bench_queries --trials 20000`` makes a smaller database.
Optuna's ``trials_dataframe`` needs pandas.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, distribution_to_json
from sqlalchemy import MetaData, create_engine, insert

from sweepdoctor.studies import StudyDB
from sweepdoctor.studies.db._schema import Base

RESULTS = Path("bench-results")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup")
DISTS = {
    "optimizer": CategoricalDistribution(OPTIMIZERS),
    "lr": FloatDistribution(1e-4, 0.3, log=True),
    "batch_size": CategoricalDistribution((16, 32, 64, 128)),
    "schedule": CategoricalDistribution(SCHEDULES),
    "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
}
FOLDS, EPOCHS, SMALL_STUDIES, SMALL_TRIALS = 3, 10, 4, 500
WHERE = ["optimizer=adam", "lr>=1e-3"]
CHUNK = 20_000


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def build(path: Path | str, n_trials: int, *, seed: int = 0) -> None:
    """Write the benchmark database at ``path`` (a main study of ``n_trials`` plus small ones); a ``str``
    is a database URL instead (an empty PostgreSQL or MySQL database)."""
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    storage = optuna.storages.RDBStorage(url)  # Optuna makes its own schema and version row
    sizes = {"bench-main": n_trials} | {f"bench-small-{i}": SMALL_TRIALS for i in range(SMALL_STUDIES)}
    study_ids = {}
    for name in sizes:
        sid = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], name)
        storage.set_study_user_attr(sid, "task", "classification")
        storage.set_study_user_attr(sid, "metric", "accuracy")
        study_ids[name] = sid
    storage.remove_session()
    storage.engine.dispose()
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    meta = MetaData()
    meta.reflect(engine)  # Optuna's tables as they are on disk; ours from our typed models
    tables = dict(meta.tables) | {t.name: t for t in Base.metadata.sorted_tables}
    rng = random.Random(seed)
    djson = {k: distribution_to_json(d) for k, d in DISTS.items()}
    t0 = datetime(2026, 1, 1)
    trial_id = run_id = 0
    with engine.begin() as c:
        for name, n in sizes.items():
            rows: dict[str, list[dict[str, Any]]] = {k: [] for k in tables}
            for number in range(n):
                trial_id += 1
                run_id += 1
                r = rng.random()
                state = "COMPLETE" if r < 0.8 else "PRUNED" if r < 0.95 else "FAIL"
                opt, lr = rng.randrange(len(OPTIMIZERS)), math.exp(rng.uniform(math.log(1e-4), math.log(0.3)))
                start = t0 + timedelta(seconds=30 * trial_id)
                value = abs(math.log10(lr) + 2.5) * 0.1 + 0.05 * (opt != 5) + rng.random() * 0.1
                rows["trials"].append(
                    dict(trial_id=trial_id, number=number, study_id=study_ids[name], state=state,
                         datetime_start=start, datetime_complete=start + timedelta(seconds=25))
                )
                values = {"optimizer": opt, "lr": lr, "batch_size": rng.randrange(4), "schedule": rng.randrange(5),
                          "weight_decay": math.exp(rng.uniform(math.log(1e-6), math.log(1e-2))),
                          "dropout": rng.uniform(0, 0.5)}
                rows["trial_params"] += [
                    dict(trial_id=trial_id, param_name=k, param_value=float(v), distribution_json=djson[k])
                    for k, v in values.items()
                ]
                curve = [value * (1.6 - 0.06 * e) for e in range(EPOCHS)]
                rows["trial_intermediate_values"] += [
                    dict(trial_id=trial_id, step=e, intermediate_value=v, intermediate_value_type="FINITE")
                    for e, v in enumerate(curve[: EPOCHS if state != "PRUNED" else EPOCHS // 2])
                ]
                if state == "COMPLETE":
                    rows["trial_values"].append(dict(trial_id=trial_id, objective=0, value=value, value_type="FINITE"))
                    scores = [1 - value + rng.uniform(-0.02, 0.02) for _ in range(FOLDS)]
                    attrs = {f"split{i}_score": s for i, s in enumerate(scores)}
                    attrs |= {"mean_score": sum(scores) / FOLDS, "std_score": 0.01}
                    rows["trial_user_attributes"] += [
                        dict(trial_id=trial_id, key=k, value_json=json.dumps(v)) for k, v in attrs.items()
                    ]
                rows["sd_runs"].append(
                    dict(id=run_id, study_id=study_ids[name], trial_id=trial_id, trial_number=number,
                         name=f"trial-{number}", role="candidate", state=state.lower(), task="classification",
                         loss="cross_entropy", depth=2, n_params=5000, hyperparameters={}, created_at=start)
                )
                rows["sd_epochs"] += [
                    dict(run_id=run_id, fold=f, epoch=e, train_loss=v * 0.9, val_loss=v + 0.01 * f,
                         val_metric=1 - v, grad_norm=1.0, lr=lr, wall_time=0.1 * e)
                    for f in range(FOLDS)
                    for e, v in enumerate(curve)
                ]
                rows["sd_folds"] += [dict(run_id=run_id, fold=f, val_score=1 - value, test_loss=None)
                                     for f in range(FOLDS)]
                if rng.random() < 0.1:
                    rows["sd_findings"].append(
                        dict(study_id=study_ids[name], run_id=run_id, code="overfitting", severity="warning",
                             rule="RULES.md#overfitting", summary="gap", advice="regularize", evidence={},
                             created_at=start)
                    )
                if len(rows["sd_epochs"]) >= 10 * CHUNK:
                    _flush(c, tables, rows)
            _flush(c, tables, rows)
        if engine.dialect.name == "postgresql":  # ids given by hand: the sequences must move past them
            for table, column in (("trials", "trial_id"), ("sd_runs", "id")):
                c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) "
                                  f"FROM {table}")
    engine.dispose()


def _flush(c: Any, tables: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("trials", "trial_params", "trial_values", "trial_user_attributes", "trial_intermediate_values",
                 "sd_runs", "sd_epochs", "sd_folds", "sd_findings"):
        for batch in _chunks(iter(rows[name])):
            c.execute(insert(tables[name]), batch)
        rows[name].clear()


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def optuna_answers(url: str) -> tuple[float, float, list[tuple[str, dict[str, int], float]], list[int]]:
    """Both answers through Optuna: each study's ``trials_dataframe()`` (loaded once) + pandas.

    Returns the seconds for ``studies list`` (every study's dataframe, then counts by
    state, best value, last activity), the seconds for the filtered ``studies trials``
    (the main study's dataframe, then filter, sort, head), and the two answers.
    """
    list_s = trials_s = 0.0
    listed, numbers = [], []
    for summary in optuna.get_all_study_summaries(url, include_best_trial=False):
        t = time.perf_counter()
        df = optuna.load_study(study_name=summary.study_name, storage=url).trials_dataframe()
        loaded = time.perf_counter() - t
        t = time.perf_counter()
        counts = {str(k).lower(): int(v) for k, v in df["state"].value_counts().items()}
        best = float(df.loc[df["state"] == "COMPLETE", "value"].min())
        df["datetime_complete"].max()
        listed.append((summary.study_name, counts, best))
        list_s += loaded + time.perf_counter() - t
        if summary.study_name == "bench-main":
            t = time.perf_counter()
            hit = df[(df["params_optimizer"] == "adam") & (df["params_lr"] >= 1e-3) & (df["state"] == "COMPLETE")]
            numbers = [int(n) for n in hit.sort_values(["value", "number"]).head(20)["number"]]
            trials_s = loaded + time.perf_counter() - t
    return list_s, trials_s, listed, numbers


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench_queries", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=100_000, help="trials in the main study (default 100000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed repeats of our queries (best is reported)")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("pandas") is None:
        print("bench_queries: Optuna's trials_dataframe needs pandas: pip install pandas")
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"queries-{args.trials}-v1.db"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build(tmp, args.trials)
        tmp.rename(path)
        print(f"built {path} in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    url = f"sqlite:///{path}"
    print(f"{args.trials:,} trials in the main study (+{SMALL_STUDIES}x{SMALL_TRIALS}), "
          f"{FOLDS} folds x {EPOCHS} epochs of curves each, SQLite; ours: best of {args.repeat}")
    with StudyDB(url) as db:
        ours_list, listed = timed(db.list_studies, args.repeat)
        ours_trials, page = timed(
            lambda: db.trials("bench-main", where=WHERE, states=["complete"], sort="value", limit=20), args.repeat
        )
        ours_finding, _ = timed(
            lambda: db.trials("bench-main", where=WHERE, finding="overfitting", sort="value", limit=20), args.repeat
        )
    opt_list, opt_trials, opt_listed, opt_numbers = optuna_answers(url)
    if [t.number for t in page.trials] != opt_numbers:
        raise SystemExit(f"bench_queries: MISMATCH: ours {[t.number for t in page.trials]} vs Optuna {opt_numbers}")
    if {s.name: (dict(s.states), s.best_value) for s in listed} != {n: (c, b) for n, c, b in opt_listed}:
        raise SystemExit("bench_queries: MISMATCH in studies list")
    cli = [sys.executable, "-m", "sweepdoctor", "studies"]
    cli_list, _ = timed(lambda: subprocess.run([*cli, "list", "--storage", url], check=True, capture_output=True), 3)
    cli_trials, _ = timed(lambda: subprocess.run(
        [*cli, "trials", "bench-main", "--storage", url, "--where", WHERE[0], "--where", WHERE[1],
         "--state", "complete", "--sort", "value", "--limit", "20"], check=True, capture_output=True), 3)
    cli_import, _ = timed(lambda: subprocess.run([sys.executable, "-c", "import sweepdoctor.cli"], check=True), 3)
    rows = [
        ("studies list", ours_list, opt_list),
        (f"studies trials ({page.matched:,} match, top 20)", ours_trials, opt_trials),
    ]
    print(f"{'same answer, seconds':<40}{'ours':>9}{'trials_dataframe':>18}{'ratio':>9}")
    for label, ours, theirs in rows:
        print(f"{label:<40}{ours:>9.3f}{theirs:>18.2f}{theirs / ours:>8.0f}x")
    print(f"{'  + --finding overfitting (ours only)':<40}{ours_finding:>9.3f}")
    print(f"{'CLI end to end: studies list':<40}{cli_list:>9.2f}  (python start + `import sweepdoctor.cli`: "
          f"{cli_import:.2f})")
    print(f"{'CLI end to end: studies trials':<40}{cli_trials:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
