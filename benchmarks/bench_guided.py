"""Compute to reach a target: plain or guided search, median or diagnosis pruning (issue 21).

For each data set and seed the data are split once into an outer training part (80%,
stratified for classification) and an outer test part (20%) that no sweep sees. On the
outer training part, four sweeps with the same trial budget, epochs, folds, seed and the
default search space, one after another on fresh SQLite files (``--arms`` picks):

- ``plain+median``: TPE with the median pruner (the default command);
- ``plain+doctor``: TPE with the diagnosis pruner;
- ``guided+median`` / ``guided+doctor``: the space re-planned from the diagnosis every
  ``guide_every`` trials (with its repair probes).

It reports, per sweep:

- **fold-epochs** trained: every trial's epochs x folds (a stopped trial's up to its stop,
  the guide's probes are trials), plus the reference models' (the baselines trained with
  epochs; the same on every arm); and the CPU seconds of the process and its children;
- **the ladder**: targets are plain+median's median (over seeds) best-so-far after 8, 16,
  24 and 40 trials; for each arm and target, the fold-epochs until the sweep's best so far
  reaches it, averaged over seeds (a seed that never reaches it counts its whole budget:
  an expected running time, aRT). The ratio plain+median / arm is averaged over targets and
  data sets, with a bootstrap interval (seeds resampled within each data set);
- **the outer split**: each sweep's winner refit on the outer training part (as
  ``sweep --refit`` does) and scored on the outer test part (accuracy, or R^2), paired by
  seed against plain+median, with a two-sided sign test;
- how often the guided arms' narrowed sampler drew a parameter itself (the wrapped sampler
  kept proposing outside the plan): trials with such a draw / all trials.

``python -m benchmarks.bench_guided [--datasets a,b] [--seeds 8] [--trials 40] [--epochs 10]``;
``--quick``: 2 data sets x 2 seeds x 24 trials. Written as JSON under ``bench-results/``.
The fold-epochs and scores do not depend on the machine's load; the CPU seconds do.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from benchmarks.bench_pruner import process_cpu_seconds
from sweepdoctor import sweep
from sweepdoctor.diagnostics import Role
from sweepdoctor.studies import Store
from sweepdoctor.sweep import Dataset, StudyConfig, SweepConfig, TrainConfig, load_builtin
from sweepdoctor.sweep.search._samplers import FALLBACK_ATTR

RESULTS = Path("bench-results")
ARMS = ("plain+median", "plain+doctor", "guided+median", "guided+doctor", "plain+doctor+median",
        "guided+doctor+median")
LADDER = (8, 16, 24, 40)
DATASETS = {
    "digits": lambda: load_builtin("digits"),
    "breast_cancer": lambda: load_builtin("breast_cancer"),
    "wine": lambda: load_builtin("wine"),
    "diabetes": lambda: load_builtin("diabetes"),
    # many informative features, little data per class: plain SGD at small rates trains too
    # slowly, large rates diverge (a slice of the default space that diverges or crawls)
    "classification-hard": lambda: load_builtin("classification", n_samples=1500, n_features=40),
}


@dataclass
class Sweep:
    """One sweep's trajectory and cost."""

    values: list[float] = field(default_factory=list)  # each trial's value in order (nan: pruned or failed)
    fold_epochs: list[int] = field(default_factory=list)  # each trial's fold-epochs, in the same order
    reference_fold_epochs: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    pruned: int = 0
    failed: int = 0
    fallback_trials: int = 0
    outer: float = math.nan  # the winner refit on the outer training part, scored on the outer test part
    maximize: bool = True

    def best_so_far(self) -> list[float]:
        out, best = [], math.nan
        for v in self.values:
            if v == v and (best != best or (v > best if self.maximize else v < best)):
                best = v
            out.append(best)
        return out

    def compute_to(self, target: float) -> int:
        """Fold-epochs (references included) until the best so far reaches ``target``; the whole budget if never."""
        spent = self.reference_fold_epochs
        for v, fe in zip(self.best_so_far(), self.fold_epochs):
            spent += fe
            if v == v and (v >= target if self.maximize else v <= target):
                return spent
        return spent

    @property
    def total_fold_epochs(self) -> int:
        return self.reference_fold_epochs + sum(self.fold_epochs)


def outer_split(ds: Dataset, seed: int) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """The outer training part as a Dataset, and the outer test part's X and y."""
    strat = ds.y if ds.task.value == "classification" else None
    idx = np.arange(len(ds.y))
    tr, te = train_test_split(idx, test_size=0.2, random_state=seed, stratify=strat)
    inner = Dataset(name=ds.name, X=ds.X[tr], y=ds.y[tr], task=ds.task, n_classes=ds.n_classes, classes=ds.classes)
    return inner, ds.X[te], ds.y[te]


def _outer_score(cfg: SweepConfig, result: Any, ds: Dataset, X_te: np.ndarray, y_te: np.ndarray,
                 workdir: Path) -> float:
    if result.best_params is None:
        return math.nan
    loss = "cross_entropy" if ds.task.value == "classification" else "mse"
    out = sweep.refit(ds, result.best_params, epochs=cfg.train.epochs, loss=loss, metric=result.metric,
                      out_dir=workdir / "refit", seed=cfg.study.seed)
    model = sweep.load_model(out)
    if ds.task.value == "classification":
        pred = model.outputs(X_te).argmax(1)
        return float(accuracy_score(y_te, pred))
    return float(r2_score(y_te, model.predict(X_te)))


def run_arm(arm: str, ds: Dataset, outer: tuple[np.ndarray, np.ndarray], *, seed: int, args: argparse.Namespace,
            workdir: Path) -> Sweep:
    guided, pruner = arm.split("+", 1)
    url = f"sqlite:///{workdir / f'{ds.name}-{seed}-{arm}.db'}"
    cfg = SweepConfig(train=TrainConfig(epochs=args.epochs, folds=args.folds),
                      study=StudyConfig(trials=args.trials, seed=seed, storage=url, name="b", pruner=pruner,
                                        guided=guided == "guided"))
    cpu0, t0 = process_cpu_seconds(), time.perf_counter()
    result = sweep.run(cfg, ds)
    s = Sweep(cpu_s=process_cpu_seconds() - cpu0, wall_s=time.perf_counter() - t0)
    study = optuna.load_study(study_name="b", storage=url)
    s.maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    for t in sorted(study.trials, key=lambda t: t.number):
        s.values.append(math.nan if t.value is None or t.state != optuna.trial.TrialState.COMPLETE else float(t.value))
        s.fold_epochs.append(int(t.user_attrs.get("epochs_trained") or 0) * args.folds)
        s.fallback_trials += FALLBACK_ATTR in t.system_attrs
    states = [t.state for t in study.trials]
    s.pruned, s.failed = states.count(optuna.trial.TrialState.PRUNED), states.count(optuna.trial.TrialState.FAIL)
    store = Store(url)
    s.reference_fold_epochs = sum(len(f.epochs) for r in store.load_runs(store.study_id("b"), role=Role.BASELINE)
                                  for f in r.folds)
    s.outer = _outer_score(cfg, result, ds, *outer, workdir)
    return s


# ---- the summary ------------------------------------------------------------------------------


def ladder_targets(plain: list[Sweep]) -> list[float]:
    """plain+median's median best-so-far after each rung's number of trials (over seeds)."""
    out = []
    for n in LADDER:
        at = [s.best_so_far()[min(n, len(s.values)) - 1] for s in plain if s.values]
        at = [v for v in at if v == v]
        out.append(statistics.median(at) if at else math.nan)
    return out


def art_ratio(table: dict[str, dict[str, list[Sweep]]], arm: str, seeds: dict[str, list[int]] | None = None) -> float:
    """plain+median's mean compute to each target / ``arm``'s, averaged over targets and data sets."""
    ratios = []
    for name, arms in table.items():
        pick = (seeds or {}).get(name) or list(range(len(arms["plain+median"])))
        base = [arms["plain+median"][i] for i in pick]
        other = [arms[arm][i] for i in pick]
        for target in ladder_targets(arms["plain+median"]):
            if target != target:
                continue
            ratios.append(statistics.fmean(s.compute_to(target) for s in base)
                          / statistics.fmean(s.compute_to(target) for s in other))
    return statistics.fmean(ratios) if ratios else math.nan


def bootstrap(table: dict[str, dict[str, list[Sweep]]], arm: str, n: int = 1000) -> tuple[float, float]:
    """A 95% percentile interval of :func:`art_ratio`, seeds resampled within each data set."""
    rng = random.Random(0)
    draws = []
    for _ in range(n):
        seeds = {name: [rng.randrange(len(a["plain+median"])) for _ in a["plain+median"]] for name, a in table.items()}
        draws.append(art_ratio(table, arm, seeds))
    draws.sort()
    return draws[int(0.025 * n)], draws[int(0.975 * n) - 1]


def sign_test(table: dict[str, dict[str, list[Sweep]]], arm: str) -> tuple[int, int, int, float]:
    """Outer-split scores of ``arm`` against plain+median, paired by data set and seed: wins, losses, ties, p."""
    wins = losses = ties = 0
    for arms in table.values():
        for a, b in zip(arms[arm], arms["plain+median"]):
            diff = (a.outer - b.outer) if a.maximize else (b.outer - a.outer)
            if diff != diff or abs(diff) < 1e-12:
                ties += 1
            elif diff > 0:
                wins += 1
            else:
                losses += 1
    p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
    return wins, losses, ties, float(p)


def report(table: dict[str, dict[str, list[Sweep]]], arms: list[str]) -> list[str]:
    lines = [f"{'data set':<20} {'arm':<21} {'fold-epochs':>11} {'refs':>5} {'CPU s':>7} {'best CV':>8} "
             f"{'outer':>7} {'pruned':>6} {'fallback':>8}   compute to the ladder's targets (trials 8/16/24/40)"]
    for name, by_arm in table.items():
        targets = ladder_targets(by_arm["plain+median"])
        for arm in arms:
            runs = by_arm[arm]
            best = statistics.fmean(s.best_so_far()[-1] for s in runs)
            rungs = " ".join(f"{statistics.fmean(s.compute_to(t) for s in runs):6.0f}" for t in targets)
            lines.append(f"{name:<20} {arm:<21} {statistics.fmean(s.total_fold_epochs for s in runs):11.0f} "
                         f"{statistics.fmean(s.reference_fold_epochs for s in runs):5.0f} "
                         f"{statistics.fmean(s.cpu_s for s in runs):7.1f} {best:8.4f} "
                         f"{statistics.fmean(s.outer for s in runs):7.4f} "
                         f"{statistics.fmean(s.pruned for s in runs):6.1f} "
                         f"{sum(s.fallback_trials for s in runs):4d}/{sum(len(s.values) for s in runs):<4d}   {rungs}")
        lines.append(f"{name:<20} {'targets':<21} " + " ".join(f"{t:.4f}" for t in targets))
    lines.append("")
    for arm in arms:
        if arm == "plain+median":
            continue
        lo, hi = bootstrap(table, arm)
        w, los, ties, p = sign_test(table, arm)
        lines.append(f"{arm:<21} aRT ratio plain+median / {arm}: {art_ratio(table, arm):.2f}x "
                     f"(95% bootstrap {lo:.2f}-{hi:.2f}); outer split vs plain+median: {w} better, {los} worse, "
                     f"{ties} tied, sign test p = {p:.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_guided", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="digits, classification-hard; 2 seeds, 24 trials")
    ap.add_argument("--seeds", type=int, default=None, help="seeds first..first+N-1 (default 8; 2 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=None, help="trial budget of each sweep (default 40)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--datasets", default=None, help=f"comma-separated, of {', '.join(DATASETS)} (default: all)")
    ap.add_argument("--arms", default=",".join(ARMS[:4]),
                    help=f"comma-separated, of {', '.join(ARMS)} (default: the first four); plain+median always runs")
    ap.add_argument("--report", metavar="JSON", nargs="+", help="only print the summary of earlier runs' files")
    args = ap.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 8)
    args.trials = args.trials or (24 if args.quick else 40)
    names = (args.datasets or ("digits,classification-hard" if args.quick else ",".join(DATASETS))).split(",")
    arms = ["plain+median"] + [a for a in args.arms.split(",") if a != "plain+median"]
    for a in arms:
        if a not in ARMS or any(n not in DATASETS for n in names):
            ap.error(f"--arms takes {', '.join(ARMS)}; --datasets {', '.join(DATASETS)}")
    if args.report:
        table = _merge([json.loads(Path(f).read_text()) for f in args.report])
        print("\n".join(report(table, list(next(iter(table.values())).keys()))))
        return 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"guided-{time.strftime('%Y%m%d-%H%M%S')}-seeds{args.first_seed}-{args.first_seed + seeds - 1}.json"
    table: dict[str, dict[str, list[Sweep]]] = {n: {a: [] for a in arms} for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + seeds):  # seed by seed: a stopped run keeps whole seeds
            for name in names:
                inner, X_te, y_te = outer_split(DATASETS[name](), seed)
                for arm in arms:
                    s = run_arm(arm, inner, (X_te, y_te), seed=seed, args=args, workdir=Path(tmp))
                    table[name][arm].append(s)
                    print(f"  {name} seed {seed} {arm}: fold-epochs {s.total_fold_epochs} CPU {s.cpu_s:.1f} s "
                          f"best {s.best_so_far()[-1]:.4f} outer {s.outer:.4f}", flush=True)
            out.write_text(json.dumps({"args": vars(args), "table": {
                n: {a: [asdict(s) for s in runs] for a, runs in by_arm.items()} for n, by_arm in table.items()}}))
    print("\n".join(report(table, arms)))
    print(f"written to {out}")
    return 0


def _merge(docs: list[dict[str, Any]]) -> dict[str, dict[str, list[Sweep]]]:
    """The tables of several runs (other seeds) as one; an arm missing from a run is dropped."""
    table: dict[str, dict[str, list[Sweep]]] = {}
    for doc in docs:
        for name, by_arm in doc["table"].items():
            n = min(len(runs) for runs in by_arm.values())
            into = table.setdefault(name, {a: [] for a in by_arm})
            for arm in list(into):
                if arm not in by_arm:
                    del into[arm]
                    continue
                into[arm] += [Sweep(**r) for r in by_arm[arm][:n]]
    return table


if __name__ == "__main__":
    raise SystemExit(main())
