"""The hand-written image sweep we compare with: what a competent user writes without sweepdoctor.

Optuna TPE (seeded, in-memory study) + a plain PyTorch loop, one fold after another, on
images ``(N, C, H, W)``: StratifiedKFold shuffled with the seed, per-channel
standardization fit on each training fold, an ``nn.Sequential`` CNN written out to match
sweepdoctor's built-in CNN at its defaults (2 blocks of conv 3x3 with 16 then 32 filters,
zero padding 1, batch norm, ReLU, max pooling by 2; then 2 dense layers of 128 with ReLU and
dropout, and the output layer), batches taken by indexing tensors (no DataLoader), early
stopping on validation loss per fold, the validation accuracy measured every epoch. The
score of a trial is the mean fold accuracy. The search space is sweepdoctor's default
(``sweepdoctor.sweep.SearchSpace()``), sampled by the same code as the table baseline
(:mod:`benchmarks.baseline_handwritten`), with the same five schedules.

Only Optuna, torch, scikit-learn and numpy are imported: nothing of sweepdoctor.

``python -m benchmarks.baseline_handwritten_cnn data.npz --trials 30 --epochs 10 --folds 5 --seed 0``
prints one JSON line: the best value, the seconds and the trials.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import optuna
import torch
from sklearn.model_selection import StratifiedKFold
from torch import nn

from benchmarks.baseline_handwritten import BaselineResult, _optimizer, _suggest, lr_multiplier

__all__ = ["build_cnn_by_hand", "run_baseline_cnn"]

EVAL_BATCH = 1024  # validation in chunks, so that a large fold does not hold every activation at once


def build_cnn_by_hand(sample_shape: tuple[int, ...], n_out: int, dropout: float) -> nn.Sequential:
    """sweepdoctor's built-in CNN at its defaults, written out (``(C, H, W)`` samples)."""
    c, h, w = sample_shape
    layers: list[nn.Module] = []
    for c_out in (16, 32):
        layers += [nn.Conv2d(c, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        if min(h, w) >= 2:  # pooling is skipped once a side is down to 1
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = c_out
    layers += [
        nn.Flatten(),
        nn.Linear(c * h * w, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, n_out),
    ]
    return nn.Sequential(*layers)


def _standardize(X: np.ndarray, tr: np.ndarray, va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the training rows, applied to both parts."""
    Xtr = X[tr]
    mean = Xtr.mean(axis=(0, 2, 3), keepdims=True)
    std = Xtr.std(axis=(0, 2, 3), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return ((Xtr - mean) / std).astype(np.float32), ((X[va] - mean) / std).astype(np.float32)


def _evaluate(model: nn.Module, Xva: torch.Tensor, yva: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on the validation fold."""
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(Xva), EVAL_BATCH):
            out = model(Xva[i : i + EVAL_BATCH])
            yb = yva[i : i + EVAL_BATCH]
            loss_sum += nn.functional.cross_entropy(out, yb, reduction="sum").item()
            correct += int((out.argmax(1) == yb).sum().item())
    return loss_sum / len(Xva), correct / len(Xva)


def _train_fold(
    Xtr: torch.Tensor, ytr: torch.Tensor, Xva: torch.Tensor, yva: torch.Tensor, *,
    n_out: int, p: dict[str, Any], epochs: int,
) -> float:
    """Train one fold; its validation accuracy (at the best epoch when early stopping)."""
    model = build_cnn_by_hand(tuple(Xtr.shape[1:]), n_out, p["dropout"]).to(Xtr.device)
    opt = _optimizer(model.parameters(), p)
    loss_fn = nn.CrossEntropyLoss()
    bs, n = p["batch_size"], len(Xtr)
    steps = math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_multiplier(p["schedule"], s, epochs * steps))
    best_loss, best_acc, since_best, acc = math.inf, 0.0, 0, 0.0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, device=Xtr.device)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            opt.zero_grad()
            loss = loss_fn(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        val_loss, acc = _evaluate(model, Xva, yva)
        if not math.isfinite(val_loss):
            return float("nan")
        if val_loss < best_loss:
            best_loss, best_acc, since_best = val_loss, acc, 0
        else:
            since_best += 1
        if p["patience"] and since_best >= p["patience"]:
            return best_acc
    return best_acc if p["patience"] else acc


def run_baseline_cnn(
    X: np.ndarray,
    y: np.ndarray,
    *,
    trials: int = 30,
    epochs: int = 10,
    folds: int = 5,
    seed: int = 0,
    device: str = "cpu",
) -> BaselineResult:
    """An Optuna TPE sweep of the CNN maximizing the mean k-fold validation accuracy."""
    if X.ndim != 4:
        raise ValueError(f"X must be images (N, C, H, W), got shape {X.shape}")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    y = np.asarray(y).astype(np.int64)
    n_out = int(y.max()) + 1
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(cv.split(np.zeros(len(y)), y))

    def objective(trial: optuna.Trial) -> float:
        p = _suggest(trial)
        scores = []
        for tr, va in splits:
            Xtr, Xva = _standardize(X, tr, va)
            scores.append(_train_fold(
                torch.from_numpy(Xtr).to(device), torch.from_numpy(y[tr]).to(device),
                torch.from_numpy(Xva).to(device), torch.from_numpy(y[va]).to(device), n_out=n_out, p=p, epochs=epochs,
            ))
        value = float(np.mean(scores))
        if not math.isfinite(value):
            raise optuna.TrialPruned("diverged")  # a user marks a NaN trial as not-a-result
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return BaselineResult(study.best_value, time.perf_counter() - t0, trials)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.baseline_handwritten_cnn data.npz ...``: the script as a user runs it."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="baseline_handwritten_cnn",
                                 description="The hand-written Optuna + torch CNN sweep.")
    ap.add_argument("npz", help="an .npz file with arrays X (N, C, H, W) and y")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # its best setting on a shared 2-core machine (see bench_sweep)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with np.load(args.npz) as f:
        X, y = f["X"].astype(np.float32, copy=False), f["y"]
    res = run_baseline_cnn(X, y, trials=args.trials, epochs=args.epochs, folds=args.folds, seed=args.seed,
                           device=args.device)
    print(json.dumps({"best_value": res.best_value, "n_trials": res.n_trials, "seconds": res.seconds}))


if __name__ == "__main__":
    main()
