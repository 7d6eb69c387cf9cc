"""The command a user runs against the script a user writes: wall time and CPU time of every process.

Both sides run as fresh processes, one after the other (who goes first rotates per seed):

- ``ours``: ``sweepdoctor sweep --dataset D --trials T --folds K --epochs E --seed S --json``,
  the default command (reference baselines on, median pruning, the measuring helper
  on the second core), on a fresh SQLite file;
- ``handwritten``: ``python -m benchmarks.baseline_handwritten`` (Optuna TPE + a plain
  torch loop, sweepdoctor's default search space, one torch thread).

Wall: the command's elapsed time, start-up and imports included. CPU: user + system
time of the command and of every process it waited for (our measuring helper, worker
processes), from ``getrusage(RUSAGE_CHILDREN)``. Ratios are handwritten / ours: wall,
and per core (CPU). Best: the best mean CV accuracy each side found.

Then the breakdown of our wall time, from one more run of the same sweep with timers
around its parts (``--no-breakdown`` skips it).

``python -m benchmarks.bench_command [--datasets digits] [--seeds 3] [--trials 30]``
(~2.5 minutes a seed on digits on 2 cores, most of it the hand-written script).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path("bench-results")
SIDES = ("handwritten", "ours")


@dataclass
class Side:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, CPU seconds of the command and its children, and its JSON output."""
    cpu0, t0 = _children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    text = out.stdout.strip()
    try:
        return wall, cpu, json.loads(text)  # our --json: one indented document
    except json.JSONDecodeError:
        return wall, cpu, json.loads(text.splitlines()[-1])  # the script: one line at the end


def command(side: str, dataset: str, args: argparse.Namespace, seed: int, db: Path) -> list[str]:
    common = ["--dataset", dataset, "--trials", str(args.trials), "--folds", str(args.folds),
              "--epochs", str(args.epochs), "--seed", str(seed)]
    if side == "handwritten":
        return [sys.executable, "-m", "benchmarks.baseline_handwritten", *common]
    return [sys.executable, "-m", "sweepdoctor", "sweep", *common, "--storage", f"sqlite:///{db}", "--json"]


def bench_dataset(dataset: str, args: argparse.Namespace, tmp: Path) -> dict[str, Side]:
    sides = {s: Side() for s in SIDES}
    for seed in range(args.seeds):
        for side in SIDES[seed % 2:] + SIDES[: seed % 2]:
            wall, cpu, out = timed(command(side, dataset, args, seed, tmp / f"{dataset}-{seed}.db"))
            best = float(out["best_value"])  # type: ignore[arg-type]
            s = sides[side]
            s.wall.append(wall)
            s.cpu.append(cpu)
            s.best.append(best)
            print(f"  {dataset:<14} seed {seed} {side:<12} {wall:7.1f} s wall {cpu:7.1f} s cpu  best {best:.4f}",
                  flush=True)
    return sides


def table(dataset: str, sides: dict[str, Side]) -> list[str]:
    hand, ours = sides["handwritten"], sides["ours"]
    m = statistics.fmean
    wall_r = m(hand.wall) / m(ours.wall)
    cpu_r = m(hand.cpu) / m(ours.cpu)
    per_seed = " ".join(f"{h / o:.2f}" for h, o in zip(hand.wall, ours.wall))
    return [
        f"{dataset:<14} handwritten {m(hand.wall):7.1f} s wall {m(hand.cpu):7.1f} s cpu  best {m(hand.best):.4f}",
        f"{dataset:<14} ours        {m(ours.wall):7.1f} s wall {m(ours.cpu):7.1f} s cpu  best {m(ours.best):.4f}",
        f"{dataset:<14} ratio       wall x{wall_r:.2f} [{per_seed}]  per core (cpu) x{cpu_r:.2f}  "
        f"best {m(ours.best) - m(hand.best):+.4f}",
    ]


def breakdown(dataset: str, args: argparse.Namespace, tmp: Path) -> list[str]:
    """Where our command's wall time goes: one more run in a child process with timers (``_breakdown``)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "benchmarks._breakdown", "--dataset", dataset,
                          "--trials", str(args.trials), "--folds", str(args.folds), "--epochs", str(args.epochs),
                          "--storage", f"sqlite:///{tmp / 'breakdown.db'}"],
                         check=True, capture_output=True, text=True)
    total = time.perf_counter() - t0
    parts: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    parts["interpreter start and exit"] = total - parts.pop("in the script")
    lines = [f"breakdown of our {total:.1f} s on {dataset} (seed 0):"]
    lines += [f"  {name:<44} {secs:6.2f} s  {100 * secs / total:5.1f}%"
              for name, secs in sorted(parts.items(), key=lambda kv: -kv[1])]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_command", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits"], choices=["digits", "breast_cancer", "wine", "iris"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-breakdown", action="store_true")
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"bench_command: {args.trials} trials x {args.epochs} epochs x {args.folds} folds, {args.seeds} seed(s), "
          f"{cores} cores; ratio = handwritten / ours", flush=True)
    lines: list[str] = []
    cells = {}
    with tempfile.TemporaryDirectory(prefix="bench-command-") as tmp:
        for dataset in args.datasets:
            sides = bench_dataset(dataset, args, Path(tmp))
            cells[dataset] = {k: vars(v) for k, v in sides.items()}
            lines += table(dataset, sides)
        if not args.no_breakdown:
            lines += breakdown(args.datasets[0], args, Path(tmp))
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"command-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"settings": vars(args), "cores": cores, "cells": cells, "lines": lines}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
