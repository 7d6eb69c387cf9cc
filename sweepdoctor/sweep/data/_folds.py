"""Cross-validation splits, fixed per study, and per-fold feature scaling."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import ConfigError

__all__ = ["Split", "make_splits", "splits_hash"]


@dataclass(frozen=True)
class Split:
    """Row indices of one fold's training and validation parts."""

    train: np.ndarray
    val: np.ndarray


def make_splits(y: np.ndarray, task: Task, *, n_splits: int, n_repeats: int = 1, seed: int = 0) -> list[Split]:
    """StratifiedKFold for classification, KFold for regression, shuffled with ``seed``."""
    # scikit-learn on first use: the measuring helper imports this room and never splits
    from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold

    if n_splits < 2:
        raise ConfigError(f"train.folds must be at least 2, got {n_splits}")
    if n_repeats < 1:
        raise ConfigError(f"train.repeats must be at least 1, got {n_repeats}")
    n = len(y)
    if n_splits > n:
        raise ConfigError(f"train.folds={n_splits} is greater than the number of samples n_samples={n}")
    if task is Task.CLASSIFICATION:
        smallest = int(np.bincount(y).min())
        if smallest < n_splits:
            raise ConfigError(
                f"train.folds={n_splits} is more than the smallest class has samples ({smallest}); lower --folds"
            )
        cv = (
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            if n_repeats == 1
            else RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
        )
    else:
        cv = (
            KFold(n_splits=n_splits, shuffle=True, random_state=seed)
            if n_repeats == 1
            else RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
        )
    return [Split(np.sort(tr), np.sort(va)) for tr, va in cv.split(np.zeros((n, 1)), y)]


def splits_hash(splits: list[Split]) -> str:
    """A short hash of the fold assignment (stored with the study, checked on resume)."""
    h = hashlib.sha256()
    for s in splits:
        h.update(s.val.astype(np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]
