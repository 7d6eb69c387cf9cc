"""The hand-written sweep we compare with: what a competent user writes without sweepdoctor.

Optuna TPE (seeded, in-memory study) + a plain PyTorch loop, one fold after another:
``nn.Sequential`` MLP 64→128→128→10 (depth 2, width 128, ReLU, dropout), batches taken
by indexing tensors directly (no DataLoader), ``StandardScaler`` fit on each training
fold, StratifiedKFold/KFold splits shuffled with the seed, early stopping on validation
loss per fold, no pruning, no tricks. The search space is sweepdoctor's default
(``sweepdoctor.sweep.SearchSpace()``): optimizer, learning rate (log), batch size,
schedule, weight decay (log, or 0), dropout, patience, momentum / beta1 where they apply.

Only Optuna, torch, scikit-learn and numpy are imported: nothing of sweepdoctor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from torch import nn

__all__ = ["BaselineResult", "lr_multiplier", "run_baseline"]


@dataclass(frozen=True)
class BaselineResult:
    best_value: float
    seconds: float
    n_trials: int


def lr_multiplier(schedule: str, step: int, total: int) -> float:
    """The same five schedules as the search space, written out as a user would."""
    p = min(1.0, step / max(1, total))
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 1.0 if p < 0.5 else (0.1 if p < 0.75 else 0.01)
    if schedule == "exponential":
        return float(0.01**p)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    warm = max(1, int(0.1 * max(1, total)))  # warmup: linear over 10%, then cosine
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    p: dict[str, Any] = {"optimizer": trial.suggest_categorical(
        "optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])}
    p["lr"] = trial.suggest_float("lr", 1e-4, 0.3, log=True)
    p["batch_size"] = trial.suggest_categorical("batch_size", [16, 32, 64, 128])
    p["schedule"] = trial.suggest_categorical("schedule", ["constant", "step", "exponential", "cosine", "warmup"])
    use_wd = trial.suggest_categorical("use_weight_decay", [True, False])
    p["weight_decay"] = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True) if use_wd else 0.0
    p["dropout"] = trial.suggest_float("dropout", 0.0, 0.5)
    p["patience"] = trial.suggest_categorical("patience", [0, 5])
    if p["optimizer"] in ("momentum", "nesterov"):
        p["momentum"] = trial.suggest_float("momentum", 0.5, 0.99)
    if p["optimizer"] in ("adam", "adamw"):
        p["beta1"] = trial.suggest_float("beta1", 0.8, 0.99)
    return p


def _optimizer(params: Any, p: dict[str, Any]) -> torch.optim.Optimizer:
    o, lr, wd = p["optimizer"], p["lr"], p["weight_decay"]
    if o == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if o in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=p["momentum"], nesterov=o == "nesterov", weight_decay=wd)
    if o == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if o == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, weight_decay=wd)
    cls = torch.optim.Adam if o == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=(p["beta1"], 0.999), weight_decay=wd)


def _train_fold(
    Xtr: torch.Tensor, ytr: torch.Tensor, Xva: torch.Tensor, yva: torch.Tensor, p: dict[str, Any], epochs: int
) -> float:
    """Train one fold; its validation accuracy (at the best epoch when early stopping)."""
    n_out = int(max(ytr.max().item(), yva.max().item())) + 1
    model = nn.Sequential(
        nn.Linear(Xtr.shape[1], 128), nn.ReLU(), nn.Dropout(p["dropout"]),
        nn.Linear(128, 128), nn.ReLU(), nn.Dropout(p["dropout"]),
        nn.Linear(128, n_out),
    ).to(Xtr.device)
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
        with torch.no_grad():
            out = model(Xva)
            val_loss = loss_fn(out, yva).item()
            acc = (out.argmax(1) == yva).float().mean().item()
        if not math.isfinite(val_loss):
            return float("nan")
        if val_loss < best_loss:
            best_loss, best_acc, since_best = val_loss, acc, 0
        else:
            since_best += 1
        if p["patience"] and since_best >= p["patience"]:
            return best_acc
    return best_acc if p["patience"] else acc


def run_baseline(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_trials: int = 30,
    epochs: int = 20,
    folds: int = 5,
    seed: int = 0,
    device: str = "cpu",
) -> BaselineResult:
    """An Optuna TPE sweep maximizing the mean k-fold validation accuracy."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(cv.split(X, y))

    def objective(trial: optuna.Trial) -> float:
        p = _suggest(trial)
        scores = []
        for tr, va in splits:
            scaler = StandardScaler().fit(X[tr])
            Xtr = torch.tensor(scaler.transform(X[tr]), dtype=torch.float32, device=device)
            Xva = torch.tensor(scaler.transform(X[va]), dtype=torch.float32, device=device)
            ytr = torch.tensor(y[tr], dtype=torch.long, device=device)
            yva = torch.tensor(y[va], dtype=torch.long, device=device)
            scores.append(_train_fold(Xtr, ytr, Xva, yva, p, epochs))
        value = float(np.mean(scores))
        if not math.isfinite(value):
            raise optuna.TrialPruned("diverged")  # a user marks a NaN trial as not-a-result
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    return BaselineResult(study.best_value, time.perf_counter() - t0, n_trials)



def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.baseline_handwritten --dataset digits ...``: the script as a user runs it.

    Prints one JSON line: the best value, the trials and the seconds.
    """
    import argparse
    import json

    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
               "wine": datasets.load_wine, "iris": datasets.load_iris}
    ap = argparse.ArgumentParser(prog="baseline_handwritten", description="The hand-written Optuna + torch sweep.")
    ap.add_argument("--dataset", choices=sorted(loaders), default="digits")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # its best setting on a shared 2-core machine (see bench_sweep)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    d = loaders[args.dataset]()
    res = run_baseline(d.data, d.target, n_trials=args.trials, epochs=args.epochs, folds=args.folds, seed=args.seed)
    print(json.dumps({"best_value": res.best_value, "n_trials": res.n_trials, "seconds": res.seconds}))


if __name__ == "__main__":
    main()
