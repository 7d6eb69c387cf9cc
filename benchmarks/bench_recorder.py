"""What ``sweepdoctor.record`` adds to a user's own Optuna loop, per epoch, on SQLite.

The same loop twice, trial after trial interleaved, in one Optuna study on a SQLite
file (Optuna's default journal, as a user's ``sqlite:///study.db`` is):

- *plain*: train one epoch, ``trial.report(val_loss, epoch)``, ``trial.should_prune()``,
  ``study.tell``: what an Optuna user's loop does already;
- *recorded*: the same, through the recorder: ``rec.epoch(train_loss=, val_loss=,
  val_metric=, model=model, lr=)`` (gradient norm and parameter count from the model),
  ``rec.should_prune()`` (which reports to Optuna), and ``rec.result(score)``, whose one
  write per trial (curves, folds, trial attributes) is counted in.

An "epoch" is a few minibatches of a small MLP on scikit-learn's digits, so that the
recorder's cost is not lost in training time. Prints the median time per epoch of each,
their difference (the recorder's overhead per epoch, the end-of-trial write spread over
the trial's epochs) and the ratio recorded / plain; then the recorder's pieces timed alone
(``rec.epoch``, what ``rec.should_prune`` adds to Optuna's report, ``rec.result``), whose
sum is the figure least disturbed by other load on the machine.

    python -m benchmarks.bench_recorder [--trials 30] [--epochs 20] [--wal]
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch
from sklearn.datasets import load_digits

import sweepdoctor


def _data() -> tuple[torch.Tensor, ...]:
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X[:600] / 16.0, dtype=torch.float32), torch.tensor(y[:600])
    return X[:400], y[:400], X[400:], y[400:]


def _epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, data: tuple[torch.Tensor, ...]) -> tuple[float, ...]:
    Xt, yt, Xv, yv = data
    for i in range(0, 200, 50):  # four minibatches: a short epoch, so that the overhead shows
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt[i : i + 50]), yt[i : i + 50]).backward()
        opt.step()
    with torch.no_grad():
        out = model(Xv)
        val = torch.nn.functional.cross_entropy(out, yv)
        acc = (out.argmax(1) == yv).float().mean()
        train = torch.nn.functional.cross_entropy(model(Xt[:200]), yt[:200])
    return float(train), float(val), float(acc)


def _trial(study: optuna.Study, data: tuple[torch.Tensor, ...], epochs: int, *, recorded: bool) -> float:
    """Seconds per epoch of one trial, the end-of-trial write included."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = time.perf_counter()
    trial = study.ask()
    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy") if recorded else None
    acc = 0.0
    for epoch in range(epochs):
        train, val, acc = _epoch(model, opt, data)
        if rec is not None:
            rec.epoch(train_loss=train, val_loss=val, val_metric=acc, model=model, lr=0.1)
            rec.should_prune()
        else:
            trial.report(val, epoch)
            trial.should_prune()
    study.tell(trial, rec.result(acc) if rec is not None else acc)
    return (time.perf_counter() - start) / epochs


def _parts(study: optuna.Study, data: tuple[torch.Tensor, ...], epochs: int) -> tuple[float, float, float]:
    """The recorder's own pieces, timed alone (medians): ``rec.epoch``, what ``rec.should_prune`` adds to
    Optuna's report (both on an in-memory study, where a report costs no commit to compare against), and
    ``rec.result`` on ``study``'s SQLite file. Seconds each."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    _epoch(model, torch.optim.SGD(model.parameters(), lr=0.1), data)  # gradients to take the norm of
    memory = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    ep, extra, end = [], [], []
    for _ in range(10):
        trial, plain = memory.ask(), memory.ask()
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
        for epoch in range(epochs):
            t0 = time.perf_counter()
            rec.epoch(train_loss=0.5, val_loss=0.6, val_metric=0.8, model=model, lr=0.1)
            t1 = time.perf_counter()
            rec.should_prune()
            t2 = time.perf_counter()
            plain.report(0.8, epoch)  # what the plain loop pays for the same step
            plain.should_prune()
            t3 = time.perf_counter()
            ep.append(t1 - t0)
            extra.append((t2 - t1) - (t3 - t2))
        memory.tell(plain, 0.8)
        trial = study.ask()
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
        for _ in range(epochs):
            rec.epoch(train_loss=0.5, val_loss=0.6, val_metric=0.8, model=model, lr=0.1)
        t0 = time.perf_counter()
        score = rec.result(0.8)
        end.append(time.perf_counter() - t0)
        study.tell(trial, score)
    return statistics.median(ep), max(0.0, statistics.median(extra)), statistics.median(end)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="The recorder's overhead per epoch on SQLite")
    parser.add_argument("--trials", type=int, default=30, help="trials of each loop (interleaved)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--wal", action="store_true", help="the SQLite file in write-ahead-log mode (as a sweep's)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("sweepdoctor").setLevel(logging.ERROR)  # the in-memory study: "not a database"
    torch.set_num_threads(1)
    data = _data()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.wal:  # stored in the file: every later connection (Optuna's, ours) uses it
            with sqlite3.connect(Path(tmp) / "bench.db") as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        # the pruner asks nothing of the database: its cost, the same in both loops, adds no noise
        study = optuna.create_study(study_name="bench", storage=url, direction="maximize",
                                    pruner=optuna.pruners.NopPruner())
        _trial(study, data, 2, recorded=True)  # warm-up: our tables created, torch and SQLAlchemy warm
        plain, recorded = [], []
        for i in range(2 * args.trials):  # ABBA order: neither loop always runs on the larger study
            first = i % 4 in (0, 3)
            plain.append(_trial(study, data, args.epochs, recorded=not first))
            recorded.append(_trial(study, data, args.epochs, recorded=first))
            if not first:
                plain[-1], recorded[-1] = recorded[-1], plain[-1]
        parts = _parts(study, data, args.epochs)
    diffs = [r - p for p, r in zip(plain, recorded)]
    p, r, d = statistics.median(plain), statistics.median(recorded), statistics.median(diffs)
    mode = "write-ahead log" if args.wal else "Optuna's default journal"
    print(f"{2 * args.trials} trials x {args.epochs} epochs each way, SQLite file ({mode})")
    print(f"plain Optuna loop (report + should_prune): {p * 1e3:.3f} ms per epoch (median)")
    print(f"with sweepdoctor.record:                   {r * 1e3:.3f} ms per epoch (median)")
    print(f"overhead: {d * 1e3:.3f} ms per epoch (median of paired trials, end-of-trial write included); "
          f"ratio {(p + d) / p:.3f}")
    print(f"parts: rec.epoch(model=...) {parts[0] * 1e3:.3f} ms, rec.should_prune() beyond trial.report "
          f"{parts[1] * 1e3:.3f} ms, rec.result() {parts[2] * 1e3:.2f} ms per trial "
          f"= {parts[2] / args.epochs * 1e3:.3f} ms per epoch over {args.epochs} epochs")
    own = parts[0] + parts[1] + parts[2] / args.epochs
    print(f"the recorder's own cost, from its parts: {own * 1e3:.3f} ms per epoch; ratio {(p + own) / p:.3f}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
