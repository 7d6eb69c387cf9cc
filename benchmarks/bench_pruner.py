"""The diagnosis pruner against the median pruner: compute saved, best score kept, false stops (issue 21).

For each data set and seed, sweeps with the same trial budget, epochs, folds, seed and the
default search space, one after another on fresh SQLite files:

- ``none``: no pruning. Its study is the **replay table**: every trial trained to the end,
  kept under ``bench-results/pruner-replay/`` and reused by later runs with the same settings
  (``--fresh`` trains it again);
- ``median``: plain TPE + the median pruner (the default);
- ``doctor``: plain TPE + the diagnosis pruner; ``doctor+median`` with ``--both``;
- ``guided+doctor`` with ``--guided``.

Per live sweep: fold-epochs trained (every trial's epochs x folds, a stopped trial's up to its
stop; the references are the same on every side and not counted), the CPU seconds of the
process and its children (the measuring helper), the best CV score.

**False stops** are counted on the replay: each pruner's rule is applied, trial by trial
in the replay's order, to the replay's stored curves cut at each epoch (the complete trials
before it are those it is compared with, as in a live study), and a stopped trial counts as
a false stop when its final score in the replay is in the replay's top quartile. (A live
pruned sweep cannot be compared trial by trial with the replay: after the first stop, TPE
proposes other trials.) The same replay gives the fold-epochs each rule would have saved.

Written as JSON under ``bench-results/``. The figures depend on the machine's load only
through the CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from sweepdoctor import sweep
from sweepdoctor.diagnostics import History, RunHistory
from sweepdoctor.diagnostics.early import FinishedRun, StopRules, judge_curves, judge_values
from sweepdoctor.studies import Store
from sweepdoctor.sweep import Dataset, StudyConfig, SweepConfig, TrainConfig, load_builtin

RESULTS = Path("bench-results")
REPLAYS = RESULTS / "pruner-replay"
DATASETS = {
    "digits": lambda: load_builtin("digits"),
    "wine": lambda: load_builtin("wine"),
    "breast_cancer": lambda: load_builtin("breast_cancer"),
    "diabetes": lambda: load_builtin("diabetes"),
    "classification-hard": lambda: load_builtin("classification", n_samples=1500, n_features=40),
}


@dataclass
class Live:
    """One live sweep's cost and result."""

    fold_epochs: int
    cpu_s: float
    wall_s: float
    best: float
    pruned: int
    failed: int


@dataclass
class Replayed:
    """One rule applied to the replay table."""

    stopped: int = 0
    false_stops: int = 0
    fold_epochs: int = 0
    full_fold_epochs: int = 0
    reasons: list[str] = field(default_factory=list)


def process_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and the children it waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _config(url: str, *, seed: int, trials: int, epochs: int, folds: int, pruner: str, guided: bool) -> SweepConfig:
    return SweepConfig(train=TrainConfig(epochs=epochs, folds=folds),
                       study=StudyConfig(trials=trials, seed=seed, storage=url, name="b", pruner=pruner, guided=guided))


def live_sweep(ds: Dataset, url: str, *, pruner: str, guided: bool = False, **kw: int) -> Live:
    """Run one sweep and measure it (fold-epochs from each trial's stored ``epochs_trained``)."""
    cfg = _config(url, pruner=pruner, guided=guided, **kw)
    cpu0, t0 = process_cpu_seconds(), time.perf_counter()
    sweep.run(cfg, ds)
    cpu, wall = process_cpu_seconds() - cpu0, time.perf_counter() - t0
    study = optuna.load_study(study_name="b", storage=url)
    epochs = sum(int(t.user_attrs.get("epochs_trained") or 0) for t in study.trials)
    states = [t.state for t in study.trials]
    values = [t.value for t in study.trials if t.value is not None]
    best = (max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min)(values)
    return Live(epochs * cfg.train.folds, cpu, wall, float(best), states.count(optuna.trial.TrialState.PRUNED),
                states.count(optuna.trial.TrialState.FAIL))


# ---- the replay ---------------------------------------------------------------------------------


@dataclass
class ReplayTrial:
    number: int
    run: RunHistory
    values: dict[int, float]  # fold-mean validation metric per epoch (what a sweep reports)
    final: float | None  # the complete trial's score, None when it failed


def replay_trials(url: str) -> tuple[list[ReplayTrial], History, bool]:
    """The replay study's trials in order, its history (for the loss) and whether it maximizes."""
    study = optuna.load_study(study_name="b", storage=url)
    history, _ = Store(url).load_history("b", include_baselines=False)
    runs = {r.name: r for r in history.runs}
    out = []
    for t in study.trials:
        run = runs.get(f"trial-{t.number}")
        if run is None:
            continue
        n = min(len(f.epochs) for f in run.folds)
        values = {}
        for e in range(n):
            metric = [f.epochs[e].val_metric for f in run.folds]
            known = [m for m in metric if m is not None]
            values[e] = statistics.fmean(known) if len(known) == len(metric) else math.nan
        out.append(ReplayTrial(t.number, run, values, t.value))
    return out, history, study.direction == optuna.study.StudyDirection.MAXIMIZE


def _top_quartile(trials: list[ReplayTrial], maximize: bool) -> set[int]:
    finals = sorted(((t.final, t.number) for t in trials if t.final is not None), reverse=maximize)
    return {n for _, n in finals[:max(1, math.ceil(len(finals) / 4))]}


def _median_stop(values: dict[int, float], done: list[ReplayTrial], epoch: int, *, maximize: bool, warmup: int) -> bool:
    """Optuna's MedianPruner (5 startup trials, ``warmup`` steps) at ``epoch``."""
    if len(done) < 5 or epoch < warmup:
        return False
    others = [t.values[epoch] for t in done if epoch in t.values and not math.isnan(t.values[epoch])]
    if not others:
        return False
    median, v = statistics.median(others), values[epoch]
    return math.isnan(v) or (v < median if maximize else v > median)


def replay(trials: list[ReplayTrial], history: History, ds: Dataset, *, rule: str, maximize: bool,
           epochs: int) -> Replayed:
    """Apply ``rule`` (``median``, ``doctor``, ``doctor+median``) to the replay, trial by trial."""
    from sweepdoctor.sweep.search._doctor_pruner import class_prior  # the sweep's own prior and chance

    prior = class_prior(ds.y, ds.n_classes) if ds.n_classes else None
    prior_loss = prior[0] if prior is not None and history.loss == "cross_entropy" else None
    chance = prior[1] if prior is not None else None
    top, rules = _top_quartile(trials, maximize), StopRules()
    done: list[ReplayTrial] = []
    out = Replayed()
    for t in trials:
        k, n = len(t.run.folds), min(len(f.epochs) for f in t.run.folds)
        out.full_fold_epochs += k * n
        stop_at, why = None, ""
        for e in range(n):
            prefix = {s: v for s, v in t.values.items() if s <= e}
            if "doctor" in rule:
                verdict = judge_curves([f.epochs[:e + 1] for f in t.run.folds], loss=history.loss,
                                       prior_loss=prior_loss, chance=chance, rules=rules) or judge_values(
                    prefix, [FinishedRun(d.values, d.final) for d in done if d.final is not None],
                    maximize=maximize, rules=rules)
                if verdict is not None:
                    stop_at, why = e, verdict.reason
                    break
            if "median" in rule and _median_stop(t.values, done, e, maximize=maximize, warmup=max(1, epochs // 10)):
                stop_at, why = e, "median"
                break
        if stop_at is None:
            out.fold_epochs += k * n
            if t.final is not None:
                done.append(t)
            continue
        out.fold_epochs += k * (stop_at + 1)
        out.stopped += 1
        if t.number in top:
            out.false_stops += 1
            out.reasons.append(f"trial {t.number} (final {t.final:.4g}): {why}")
    return out


def bench(name: str, seed: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    ds = DATASETS[name]()
    kw = dict(seed=seed, trials=args.trials, epochs=args.epochs, folds=args.folds)
    REPLAYS.mkdir(parents=True, exist_ok=True)
    replay_db = REPLAYS / f"{name}-s{seed}-{args.trials}x{args.epochs}x{args.folds}.db"
    out: dict[str, Any] = {"dataset": name, "seed": seed, "live": {}, "replay": {}}
    if not args.replay_only and (args.fresh or not replay_db.exists()):
        replay_db.unlink(missing_ok=True)
        out["live"]["none"] = asdict(live_sweep(ds, f"sqlite:///{replay_db}", pruner="none", **kw))
    sides = [] if args.replay_only else ["median", "doctor"] + (["doctor+median"] if args.both else [])
    for side in sides:
        out["live"][side] = asdict(live_sweep(ds, f"sqlite:///{workdir / f'{name}-{seed}-{side}.db'}", pruner=side,
                                              **kw))
    if args.guided and not args.replay_only:
        out["live"]["guided+doctor"] = asdict(live_sweep(ds, f"sqlite:///{workdir / f'{name}-{seed}-guided.db'}",
                                                         pruner="doctor", guided=True, **kw))
    trials, history, maximize = replay_trials(f"sqlite:///{replay_db}")
    for rule in ("median", "doctor", "doctor+median"):
        out["replay"][rule] = asdict(replay(trials, history, ds, rule=rule, maximize=maximize, epochs=args.epochs))
    return out


def _print(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\n{r['dataset']} seed {r['seed']}")
        for side, live in r["live"].items():
            print(f"  live {side:14s} fold-epochs {live['fold_epochs']:6d}  CPU {live['cpu_s']:7.1f} s  "
                  f"best {live['best']:.4f}  pruned {live['pruned']:2d}  failed {live['failed']:2d}")
        for rule, rep in r["replay"].items():
            share = rep["false_stops"] / rep["stopped"] if rep["stopped"] else 0.0
            print(f"  replay {rule:13s} stopped {rep['stopped']:2d}  false stops {rep['false_stops']} ({share:.0%})  "
                  f"fold-epochs {rep['fold_epochs']}/{rep['full_fold_epochs']}")
            for why in rep["reasons"]:
                print(f"      false stop: {why}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="digits,wine")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--both", action="store_true", help="also doctor+median live")
    p.add_argument("--guided", action="store_true", help="also guided + doctor live")
    p.add_argument("--fresh", action="store_true", help="train the replay studies again")
    p.add_argument("--replay-only", action="store_true", help="only apply the rules to the stored replays")
    args = p.parse_args(argv)
    workdir = RESULTS / f"pruner-{int(time.time())}"
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.datasets.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            results.append(bench(name, seed, args, workdir))
            print(json.dumps(results[-1]["live"]), flush=True)
    _print(results)
    (RESULTS / f"pruner-{int(time.time())}.json").write_text(json.dumps({"args": vars(args), "results": results},
                                                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
