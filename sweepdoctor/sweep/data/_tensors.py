"""Fold data as tensors: per-fold scaled features and padded index tables.

Prepared once per study. The scaler of fold f is fit on fold f's training rows only
(mean and population standard deviation, as scikit-learn's ``StandardScaler``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import SweepdoctorError

if TYPE_CHECKING:  # only annotations here: the measuring process imports this module without sklearn
    from sweepdoctor.sweep.data._datasets import Dataset
    from sweepdoctor.sweep.data._folds import Split

__all__ = ["FoldData", "pick_device", "prepare_folds", "scaler_stats"]


def pick_device(name: str) -> torch.device:
    """The device for ``train.device`` (auto: CUDA when there is one, else the CPU)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SweepdoctorError("train.device=cuda but no CUDA device is available; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def scaler_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale as ``StandardScaler`` computes them (scale 1 for constant columns)."""
    mu = X.mean(axis=0, dtype=np.float64)
    sd = X.std(axis=0, dtype=np.float64)
    sd[sd < 1e-12] = 1.0
    return mu.astype(np.float32), sd.astype(np.float32)


def _pad(rows: list[np.ndarray]) -> tuple[Tensor, Tensor, list[int]]:
    n_max = max(len(r) for r in rows)
    idx = np.zeros((len(rows), n_max), dtype=np.int64)
    mask = np.zeros((len(rows), n_max), dtype=np.float32)
    for f, r in enumerate(rows):
        idx[f, : len(r)] = r
        mask[f, : len(r)] = 1.0
    return torch.from_numpy(idx), torch.from_numpy(mask), [len(r) for r in rows]


@dataclass(frozen=True)
class FoldData:
    """Everything the trainer reads, for k folds, already on the device."""

    task: Task
    n_classes: int
    X: Tensor  # (k, n, d): row i scaled with fold f's scaler
    Y: Tensor  # (k, n): class index, or the target standardized per fold
    train_idx: Tensor  # (k, n_train_max) row indices, padded
    train_n: tuple[int, ...]
    val_idx: Tensor  # (k, n_val_max)
    val_mask: Tensor  # (k, n_val_max) 1 for real rows
    y_scale: Tensor  # (k,) target standard deviation per fold (1 for classification)
    X_test: Tensor | None  # (k, n_test, d)
    Y_test: Tensor | None  # (k, n_test)
    folds: tuple[int, ...]  # which global folds these are

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task is Task.CLASSIFICATION else 1

    def subset(self, folds: list[int]) -> FoldData:
        """The same data for some of the folds (positions in this object)."""
        i = torch.tensor(folds, device=self.X.device)
        n_max = max(self.train_n[f] for f in folds)
        vm = self.val_mask[i]
        v_max = int(vm.sum(1).max().item())
        return FoldData(
            task=self.task,
            n_classes=self.n_classes,
            X=self.X[i],
            Y=self.Y[i],
            train_idx=self.train_idx[i][:, :n_max],
            train_n=tuple(self.train_n[f] for f in folds),
            val_idx=self.val_idx[i][:, :v_max],
            val_mask=vm[:, :v_max],
            y_scale=self.y_scale[i],
            X_test=None if self.X_test is None else self.X_test[i],
            Y_test=None if self.Y_test is None else self.Y_test[i],
            folds=tuple(self.folds[f] for f in folds),
        )


def prepare_folds(ds: Dataset, splits: list[Split], device: torch.device) -> FoldData:
    Xs, Ys, Xts, Yts, scales = [], [], [], [], []
    for s in splits:
        mu, sd = scaler_stats(ds.X[s.train])
        Xs.append((ds.X - mu) / sd)
        if ds.X_test is not None:
            Xts.append((ds.X_test - mu) / sd)
        if ds.task is Task.REGRESSION:
            ymu, ysd = scaler_stats(ds.y[s.train][:, None])
            Ys.append((ds.y - ymu[0]) / ysd[0])
            scales.append(float(ysd[0]))
            if ds.y_test is not None:
                Yts.append((ds.y_test - ymu[0]) / ysd[0])
        else:
            Ys.append(ds.y)
            scales.append(1.0)
            if ds.y_test is not None:
                Yts.append(ds.y_test)
    train_idx, _, train_n = _pad([s.train for s in splits])
    val_idx, val_mask, _ = _pad([s.val for s in splits])
    y_dtype = torch.long if ds.task is Task.CLASSIFICATION else torch.float32

    def t(a: list[np.ndarray], dtype: torch.dtype) -> Tensor:
        return torch.from_numpy(np.stack(a)).to(device=device, dtype=dtype)

    return FoldData(
        task=ds.task,
        n_classes=ds.n_classes,
        X=t(Xs, torch.float32),
        Y=t(Ys, y_dtype),
        train_idx=train_idx.to(device),
        train_n=tuple(train_n),
        val_idx=val_idx.to(device),
        val_mask=val_mask.to(device),
        y_scale=torch.tensor(scales, device=device),
        X_test=t(Xts, torch.float32) if Xts else None,
        Y_test=t(Yts, y_dtype) if Yts else None,
        folds=tuple(range(len(splits))),
    )
