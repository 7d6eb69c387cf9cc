"""Plain-torch k-fold training that records curves the way the sweep does (for the scenarios).

Per epoch and fold: ``train_loss`` is the loss on the whole training fold in eval mode,
``val_loss`` the same on the held-out fold, ``grad_norm`` the L2 norm of the full-batch
training gradient (eval mode), ``lr`` the learning rate used during the epoch. Baselines
are trained on the same folds with the same loss: a scikit-learn linear model (one epoch
record) and MLPs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from torch import nn

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, Task

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Data:
    X: np.ndarray
    y: np.ndarray
    task: Task
    n_classes: int = 0
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


@dataclass(frozen=True)
class Config:
    depth: int = 1
    width: int = 32
    activation: str = "relu"
    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.0
    batch_size: int = 32
    epochs: int = 30
    weight_decay: float = 0.0
    dropout: float = 0.0
    patience: int = 0
    init_scale: float | None = None  # multiply every initial weight by this (None: torch default)

    def hyperparameters(self) -> dict[str, object]:
        return {
            "lr": self.lr,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "schedule": "constant",
            "weight_decay": self.weight_decay,
            "dropout": self.dropout,
            "depth": self.depth,
            "width": self.width,
            "activation": self.activation,
            "patience": self.patience,
            "momentum": self.momentum,
        }


_ACT: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def make_model(cfg: Config, n_in: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(cfg.depth):
        layers += [nn.Linear(d, cfg.width), _ACT[cfg.activation]()]
        if cfg.dropout:
            layers.append(nn.Dropout(cfg.dropout))
        d = cfg.width
    layers.append(nn.Linear(d, n_out))
    model = nn.Sequential(*layers)
    if cfg.init_scale is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(cfg.init_scale)
    return model


def loss_function(task: Task, loss: str) -> LossFn:
    if task is Task.REGRESSION:
        return lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y)
    if loss == "mse":  # Brier-like: MSE between softmax outputs and one-hot targets
        return lambda out, y: nn.functional.mse_loss(
            out.softmax(-1), nn.functional.one_hot(y, out.shape[-1]).to(out.dtype)
        )
    return nn.functional.cross_entropy


def _optimizer(cfg: Config, params: Sequence[nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer={cfg.optimizer!r} is not known here")


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def folds_of(data: Data, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if data.task is Task.CLASSIFICATION:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(data.X, data.y))
    return list(KFold(k, shuffle=True, random_state=seed).split(data.X))


def _tensors(data: Data, X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    yt = torch.as_tensor(y, dtype=torch.long if data.task is Task.CLASSIFICATION else torch.float32)
    return torch.as_tensor(X, dtype=torch.float32), yt


def train_fold(
    data: Data, cfg: Config, loss: str, tr: np.ndarray, va: np.ndarray, seed: int,
    *, make: Callable[[], nn.Module] | None = None,
) -> tuple[FoldHistory, nn.Module]:
    torch.manual_seed(seed)
    n_out = data.n_classes if data.task is Task.CLASSIFICATION else 1
    model = make() if make is not None else make_model(cfg, data.X.shape[1], n_out)
    opt = _optimizer(cfg, list(model.parameters()))
    loss_fn = loss_function(data.task, loss)
    Xtr, ytr = _tensors(data, data.X[tr], data.y[tr])
    Xva, yva = _tensors(data, data.X[va], data.y[va])
    gen = torch.Generator().manual_seed(seed)
    records: list[EpochRecord] = []
    best, since_best = math.inf, 0
    for epoch in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(Xtr), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            loss_fn(model(Xtr[idx]), ytr[idx]).backward()
            opt.step()
        model.eval()
        model.zero_grad()
        train_loss = loss_fn(model(Xtr), ytr)
        train_loss.backward()
        grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
        grad_norm = float(torch.cat(grads).norm()) if grads else 0.0
        with torch.no_grad():
            out = model(Xva)
            val_loss = float(loss_fn(out, yva))
            metric = float((out.argmax(-1) == yva).float().mean()) if data.task is Task.CLASSIFICATION else None
        train_value = _finite(float(train_loss.detach()))
        records.append(EpochRecord(epoch, train_value, _finite(val_loss), _finite(grad_norm), cfg.lr, metric))
        if cfg.patience:
            since_best = 0 if val_loss < best else since_best + 1
            best = min(best, val_loss)
            if since_best >= cfg.patience:
                break
    return FoldHistory(tuple(records), test_loss=_test_loss(data, model, loss_fn)), model


def _test_loss(data: Data, model: nn.Module, loss_fn: LossFn) -> float | None:
    if data.X_test is None or data.y_test is None:
        return None
    X, y = _tensors(data, data.X_test, data.y_test)
    with torch.no_grad():
        return _finite(float(loss_fn(model(X), y)))


def n_params(cfg: Config, data: Data) -> int:
    n_out = data.n_classes if data.task is Task.CLASSIFICATION else 1
    return sum(p.numel() for p in make_model(cfg, data.X.shape[1], n_out).parameters())


def train_run(
    name: str, data: Data, cfg: Config, *, loss: str, k: int = 2, seed: int = 0, role: Role = Role.CANDIDATE,
    make: Callable[[], nn.Module] | None = None,
) -> tuple[RunHistory, list[nn.Module]]:
    """Train ``cfg`` on each of ``k`` folds (the model from ``make`` when given, else the
    MLP of ``cfg``); the run's curves and the final fold models."""
    folds, models = [], []
    for f, (tr, va) in enumerate(folds_of(data, k, seed)):
        fold, model = train_fold(data, cfg, loss, tr, va, seed * 100 + f, make=make)
        folds.append(fold)
        models.append(model)
    run = RunHistory(
        name=name, role=role, folds=tuple(folds), depth=None if make else cfg.depth,
        n_params=sum(p.numel() for p in models[0].parameters()) if make else n_params(cfg, data),
        hyperparameters=cfg.hyperparameters(),
    )
    return run, models


def linear_baseline(data: Data, *, loss: str, k: int = 2, seed: int = 0) -> RunHistory:
    """scikit-learn logistic / linear regression on the same folds, scored with the same loss."""
    loss_fn = loss_function(data.task, loss)
    folds = []
    for tr, va in folds_of(data, k, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)  # sklearn/numpy matmul on some BLAS
            if data.task is Task.CLASSIFICATION:
                lin = LogisticRegression(max_iter=5000).fit(data.X[tr], data.y[tr])

                def score(Xs: np.ndarray, ys: np.ndarray) -> float:
                    p = np.clip(lin.predict_proba(Xs), 1e-12, 1.0)
                    logits = torch.as_tensor(np.log(p), dtype=torch.float32)
                    return float(loss_fn(logits, torch.as_tensor(ys, dtype=torch.long)))
            else:
                reg = LinearRegression().fit(data.X[tr], data.y[tr])

                def score(Xs: np.ndarray, ys: np.ndarray) -> float:
                    return float(np.mean((reg.predict(Xs) - ys) ** 2))

            rec = EpochRecord(0, score(data.X[tr], data.y[tr]), score(data.X[va], data.y[va]), None, float("nan"))
            test = score(data.X_test, data.y_test) if data.X_test is not None and data.y_test is not None else None
        folds.append(FoldHistory((rec,), test_loss=test))
    n_out = data.n_classes if data.task is Task.CLASSIFICATION else 1
    return RunHistory(
        name="baseline-linear", role=Role.BASELINE, folds=tuple(folds), depth=0,
        n_params=(data.X.shape[1] + 1) * n_out, hyperparameters={"model": "linear"},
    )


SHALLOW = Config(depth=1, width=64, optimizer="adam", lr=1e-2, batch_size=32, epochs=40)
WIDE = Config(depth=2, width=256, optimizer="adam", lr=3e-3, batch_size=32, epochs=40)


def baselines(data: Data, *, loss: str, k: int = 2, seed: int = 0, wide: bool = False) -> list[RunHistory]:
    runs = [linear_baseline(data, loss=loss, k=k, seed=seed)]
    runs.append(train_run("baseline-shallow", data, SHALLOW, loss=loss, k=k, seed=seed, role=Role.BASELINE)[0])
    if wide:
        runs.append(train_run("baseline-wide", data, WIDE, loss=loss, k=k, seed=seed, role=Role.BASELINE)[0])
    return runs


def history(data: Data, loss: str, runs: Sequence[RunHistory]) -> History:
    return History(task=data.task, loss=loss, runs=tuple(runs))


def with_epochs(cfg: Config, epochs: int) -> Config:
    return replace(cfg, epochs=epochs)
