"""Small, seeded, real training for the integration tests: an MLP on scikit-learn's digits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch
from sklearn.datasets import load_digits

import sweepdoctor

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def digits(n: int = 600, *, fold: int = 0, folds: int = 2) -> Data:
    """``n`` digits, one fold held out of ``folds`` (train X, train y, val X, val y)."""
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X[:n] / 16.0, dtype=torch.float32), torch.tensor(y[:n])
    held = torch.arange(n) % folds == fold
    return X[~held], y[~held], X[held], y[held]


def mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, data: Data) -> tuple[float, float, float]:
    """One epoch of minibatch SGD; (train loss, val loss, val accuracy) after it."""
    Xt, yt, Xv, yv = data
    for i in range(0, len(Xt), 60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt[i : i + 60]), yt[i : i + 60]).backward()
        opt.step()
    with torch.no_grad():
        train = torch.nn.functional.cross_entropy(model(Xt), yt)
        out = model(Xv)
        val = torch.nn.functional.cross_entropy(out, yv)
        acc = (out.argmax(1) == yv).float().mean()
    return float(train), float(val), float(acc)


def objective(*, epochs: int = 6, folds: int = 1, storage: str | None = None,
              lr: Callable[[optuna.Trial], float] | None = None) -> Callable[[optuna.Trial], float]:
    """An Optuna objective with the recorder in its own loop: ``folds`` folds in lockstep, SGD at the trial's lr."""

    def run(trial: optuna.Trial) -> float:
        rate = lr(trial) if lr is not None else trial.suggest_float("lr", 0.05, 0.5, log=True)
        data = [digits(fold=f, folds=max(folds, 2)) for f in range(folds)]
        models = [mlp(seed=f) for f in range(folds)]
        opts = [torch.optim.SGD(m.parameters(), lr=rate) for m in models]
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy", depth=1, storage=storage)
        acc = 0.0
        for _ in range(epochs):
            for f in range(folds):
                rec.fold(f)
                train, val, acc = train_epoch(models[f], opts[f], data[f])
                rec.epoch(train_loss=train, val_loss=val, val_metric=acc, model=models[f], lr=rate)
            if rec.should_prune():
                raise optuna.TrialPruned()
        return float(rec.result(acc))

    return run


def study(url: str | None, name: str = "own", **kwargs: Any) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=url, sampler=optuna.samplers.TPESampler(seed=0), **kwargs)
