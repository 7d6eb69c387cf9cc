"""Guided search against plain TPE on the same budget (issue 13), in the same run.

For each data set and seed, two sweeps with the same trial budget, epochs, folds, seed
and default search space, one after another on fresh SQLite files:

- ``plain``: ``sweepdoctor.sweep.run`` with TPE (the default);
- ``guided``: the same with ``guided=True`` (the space re-planned every 8 trials).

Both train the reference baselines (guided search needs them for its diagnosis). It
prints, per data set (mean over seeds): the best CV score at the budget, and the trials
and seconds each side needed to reach the plain sweep's final best (the budget + 1 when
it never did). The plain sweep's best is the maximum of 40 noisy estimates, so it also
gives the trials each side needed to come within one standard error of it (the standard
deviation of that trial's fold scores over the square root of the number of folds): a
difference smaller than that is not one the cross-validation can tell. And it counts the
trials after the first round that failed to optimize (failed, or diagnosed with divergence,
optimization failure, oscillation or a critical point). Written as JSON under
``bench-results/``. ``--quick``: 1 seed, 24 trials, 3 data sets.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
import torch

from sweepdoctor import sweep
from sweepdoctor.studies import diagnose_study
from sweepdoctor.sweep import Dataset, StudyConfig, SweepConfig, TrainConfig, load_builtin

RESULTS = Path("bench-results")
FAILURE_CODES = {"divergence", "optimization_failure", "oscillation", "critical_point"}
DATASETS = {
    "digits": lambda: load_builtin("digits"),
    "breast_cancer": lambda: load_builtin("breast_cancer"),
    "wine": lambda: load_builtin("wine"),
    "diabetes": lambda: load_builtin("diabetes"),
    # many informative features, little data per class: plain SGD at small rates trains too
    # slowly, large rates diverge: the kind of space guided search should repair
    "classification-hard": lambda: load_builtin("classification", n_samples=1500, n_features=40),
}


@dataclass
class Side:
    best: list[float] = field(default_factory=list)
    trials_to_target: list[int] = field(default_factory=list)
    trials_to_within_se: list[int] = field(default_factory=list)
    failed_after_round_one: list[int] = field(default_factory=list)
    seconds_to_target: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    edits: list[int] = field(default_factory=list)


def _sweep(ds: Dataset, *, guided: bool, seed: int, trials: int, epochs: int, workdir: Path
           ) -> tuple[list[tuple[float, float]], float, int, float, int]:
    """Each finished trial's (value, seconds since start) in trial order, the wall time, the edits made,
    the standard error of the best trial's score (its folds' standard deviation / sqrt(folds)), and
    how many trials after the first round failed to optimize (failed, or a failure finding)."""
    url = f"sqlite:///{workdir / f'{ds.name}-{seed}-{int(guided)}.db'}"
    cfg = SweepConfig(train=TrainConfig(epochs=epochs), study=StudyConfig(trials=trials, seed=seed, storage=url,
                                                                            name="b", guided=guided))
    t0 = time.perf_counter()
    res = sweep.run(cfg, ds)
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name="b", storage=url)
    start = min(t.datetime_start for t in study.trials if t.datetime_start is not None)
    points = [(float("nan") if t.value is None else float(t.value),
               (t.datetime_complete - start).total_seconds() if t.datetime_complete else wall) for t in study.trials]
    best = study.best_trial
    se = float(best.user_attrs.get("std_score") or 0.0) / math.sqrt(cfg.train.folds)
    report = diagnose_study(url, "b")
    flagged = {f.run for f in report.findings if f.code.value in FAILURE_CODES}
    failed = sum(1 for t in study.trials[cfg.study.guide_every:]
                 if t.state == optuna.trial.TrialState.FAIL or f"trial-{t.number}" in flagged)
    return points, wall, sum(len(r.get("edits", [])) for r in res.guided_rounds), se, failed


def _reach(points: list[tuple[float, float]], target: float, maximize: bool) -> tuple[int, float]:
    """Trials (1-based) and seconds until the best so far reaches ``target``; budget + 1 when never."""
    for i, (v, secs) in enumerate(points, 1):
        if v == v and (v >= target if maximize else v <= target):
            return i, secs
    return len(points) + 1, float("nan")


def _best(points: list[tuple[float, float]], maximize: bool) -> float:
    values = [v for v, _ in points if v == v]
    return (max if maximize else min)(values) if values else float("nan")


def bench_dataset(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Side]:
    ds = DATASETS[name]()
    maximize = ds.task.value == "classification"
    sides = {"plain": Side(), "guided": Side()}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs = {g: _sweep(ds, guided=g == "guided", seed=seed, trials=args.trials, epochs=args.epochs,
                          workdir=workdir) for g in ("plain", "guided")}
        target, se = _best(runs["plain"][0], maximize), runs["plain"][3]
        for side, (points, wall, edits, _, failed) in runs.items():
            n, secs = _reach(points, target, maximize)
            s = sides[side]
            s.best.append(_best(points, maximize))
            s.trials_to_target.append(n)
            s.failed_after_round_one.append(failed)
            s.trials_to_within_se.append(_reach(points, target - se if maximize else target + se, maximize)[0])
            s.seconds_to_target.append(secs)
            s.seconds.append(wall)
            s.edits.append(edits)
        p, g = sides["plain"], sides["guided"]
        print(f"  {name:<20} seed {seed}: plain best {p.best[-1]:.4f} ({p.seconds[-1]:.0f} s), guided best "
              f"{g.best[-1]:.4f} ({g.seconds[-1]:.0f} s, {g.edits[-1]} edits); trials to plain's best: "
              f"plain {p.trials_to_target[-1]}, guided {g.trials_to_target[-1]}; to within one standard error "
              f"({se:.4f}): plain {p.trials_to_within_se[-1]}, guided {g.trials_to_within_se[-1]}; failed to "
              f"optimize after round 1: plain {p.failed_after_round_one[-1]}, guided {g.failed_after_round_one[-1]}",
              flush=True)
    return sides


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_guided", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 24 trials, digits/wine/classification-hard")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; 1 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0, help="start the seeds here (more seeds in another run)")
    ap.add_argument("--trials", type=int, default=None, help="trial budget of each sweep (default 40)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=None)
    args = ap.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.trials = args.trials or (24 if args.quick else 40)
    names = args.datasets or (["digits", "wine", "classification-hard"] if args.quick else list(DATASETS))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    print(f"bench_guided: {args.trials} trials x {args.epochs} epochs, {args.seeds} seed(s); guided vs plain TPE, "
          "same budget; 'to best' = trials until the plain sweep's final best is reached (budget + 1: never)")
    table: dict[str, dict[str, Side]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                table[name] = bench_dataset(name, args, Path(tmp))
    finally:
        torch.set_num_threads(old)
    print(f"\n{'data set':<20} {'plain best':>10} {'guided best':>11} {'plain to best':>13} {'guided to best':>14}"
          f"  {'seconds to best (plain / guided; -: never)':<44} {'wall plain / guided':>20}")
    for name, sides in table.items():
        p, g = sides["plain"], sides["guided"]
        secs = " ".join(f"{a:.1f}/{'-' if b != b else f'{b:.1f}'}" for a, b in zip(p.seconds_to_target,
                                                                               g.seconds_to_target))
        print(f"{name:<20} {statistics.mean(p.best):>10.4f} {statistics.mean(g.best):>11.4f} "
              f"{statistics.mean(p.trials_to_target):>13.1f} {statistics.mean(g.trials_to_target):>14.1f}  "
              f"{secs:<44} {statistics.mean(p.seconds):>9.1f} / {statistics.mean(g.seconds):.1f} s")
    ratios = [statistics.mean(s["plain"].trials_to_target) / statistics.mean(s["guided"].trials_to_target)
              for s in table.values()]
    print(f"trials to the plain sweep's best, plain / guided, mean over data sets: {statistics.mean(ratios):.2f}x")
    within = [statistics.mean(s["plain"].trials_to_within_se) / statistics.mean(s["guided"].trials_to_within_se)
              for s in table.values()]
    print("trials to within one standard error of it, plain / guided: "
          + ", ".join(f"{n} {statistics.mean(s['plain'].trials_to_within_se):.1f} / "
                      f"{statistics.mean(s['guided'].trials_to_within_se):.1f}" for n, s in table.items())
          + f"; mean ratio {statistics.mean(within):.2f}x")
    print("trials after round 1 that failed to optimize (diverged, stalled, oscillated, far above a baseline's "
          "loss), plain / guided, sum over seeds: "
          + ", ".join(f"{n} {sum(s['plain'].failed_after_round_one)} / {sum(s['guided'].failed_after_round_one)}"
                      for n, s in table.items()))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"guided-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({n: {k: asdict(v) for k, v in s.items()} for n, s in table.items()}, indent=1))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
