"""Reference models trained on the study's folds (RULES.md §1: start from simple models).

- ``baseline-linear``: logistic / ridge regression from scikit-learn, fit to
  convergence (easy to optimize); one record with its final losses. On large data (over
  :data:`LINEAR_FIT_ELEMENTS` numbers per fold, image sets) it is fit on an evenly spaced
  sample of each training fold; its scaler is still fit on the whole fold.
- ``baseline-shallow`` and ``baseline-wide``: MLPs of 64 and 2x256 units (for images and
  sequences: the shallow MLP and ``baseline-cnn``, a small CNN), trained like a candidate
  (:mod:`sweepdoctor.sweep.engine._references`).

Their losses are measured exactly as the candidates' (same folds, scaling and loss).

Off the critical path: when the sweep has a measuring helper, the helper trains the
two MLPs as its first job while the first trial trains here (:class:`Baselines`); the
linear model (a fraction of a second) is fit here. Either way the numbers are the same.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import torch

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory, Task
from sweepdoctor.studies import StudyLock
from sweepdoctor.sweep.data import Dataset, Split, is_stream, scaler_stats
from sweepdoctor.sweep.engine import Measurer, Scored, row_loss, scored_mlp_baselines
from sweepdoctor.sweep.search._setup import Sweep

__all__ = ["Baselines", "linear_baseline"]


def _loss(pred: np.ndarray, y: np.ndarray, task: Task, loss: str) -> float:
    out = torch.from_numpy(pred).float()[None]
    yt = torch.from_numpy(y)[None]
    return float(row_loss(out, yt, task, loss).mean())


# Numbers the linear model is fit on at most: past that (large image sets), a fixed sample of the training rows.
LINEAR_FIT_ELEMENTS = 1 << 21


def _class_scores(model: Any, n_classes: int, Z: np.ndarray) -> np.ndarray:
    """A scikit-learn classifier's decision scores as logits, one column per class of the data."""
    dec = model.decision_function(Z)
    full = np.zeros((len(Z), n_classes), dtype=np.float32)
    if dec.ndim == 1:  # binary: one score for the positive class
        full[:, model.classes_[1]] = dec
    else:
        full[:, model.classes_] = dec
    return full


def _ridge_scores(model: Any, Z: np.ndarray) -> np.ndarray:
    return model.predict(Z).astype(np.float32)[:, None]  # type: ignore[no-any-return]


def _fit_rows(train: np.ndarray, n_features: int) -> np.ndarray:
    """The training rows the linear model is fit on: all, or an evenly spaced sample of them on large data."""
    keep = max(100, LINEAR_FIT_ELEMENTS // max(1, n_features))
    return train if len(train) <= keep else train[np.linspace(0, len(train) - 1, keep).astype(np.int64)]


def _rows(X: np.ndarray) -> np.ndarray:
    """Samples as rows of features: the pixels of images, every step of sequences."""
    return X.reshape(len(X), -1)


def linear_baseline(ds: Dataset, splits: list[Split], *, loss: str, scale: str = "auto",
                    channels: str = "auto") -> Scored:
    """A logistic (classification) or ridge (regression) model per fold."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge

    folds, scores = [], []
    streamed = is_stream(ds.X)  # samples read on demand: every part of a fold is sampled, memory stays bounded
    kept = None if ds.X_test is None else np.arange(len(ds.X_test))
    if kept is not None and streamed:
        kept = _fit_rows(kept, ds.n_features)
    for s in splits:
        train = _fit_rows(s.train, ds.n_features) if ds.X.ndim > 2 else s.train
        val = _fit_rows(s.val, ds.n_features) if streamed else s.val
        mu, sd = scaler_stats(ds.X, scale, rows=s.train, channels=channels)  # the candidates' scaling
        Xtr, Xva = _rows((ds.X[train] - mu) / sd), _rows((ds.X[val] - mu) / sd)
        Xte = None if ds.X_test is None else _rows((ds.X_test[kept] - mu) / sd)
        if ds.task is Task.CLASSIFICATION:
            model = LogisticRegression(max_iter=2000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(Xtr, ds.y[train])
            logits = functools.partial(_class_scores, model, ds.n_classes)
            ytr, yva = ds.y[train], ds.y[val]
            yte = None if ds.y_test is None else ds.y_test[kept]
            score = float((logits(Xva).argmax(1) == yva).mean())
        else:
            ymu, ysd = scaler_stats(ds.y[s.train][:, None])
            ytr = ((ds.y[train] - ymu[0]) / ysd[0]).astype(np.float32)
            yva = ((ds.y[val] - ymu[0]) / ysd[0]).astype(np.float32)
            yte = None if ds.y_test is None else ((ds.y_test[kept] - ymu[0]) / ysd[0]).astype(np.float32)
            logits = functools.partial(_ridge_scores, Ridge(alpha=1e-3).fit(Xtr, ytr))

            score = float(np.sqrt(np.mean((logits(Xva)[:, 0] - yva) ** 2)) * ysd[0])
        rec = EpochRecord(
            epoch=0,
            train_loss=_loss(logits(Xtr), ytr, ds.task, loss),
            val_loss=_loss(logits(Xva), yva, ds.task, loss),
            grad_norm=None,
            lr=float("nan"),
            val_metric=score,
        )
        test = None if Xte is None or yte is None else _loss(logits(Xte), yte, ds.task, loss)
        folds.append(FoldHistory(epochs=(rec,), test_loss=test))
        scores.append(score)
    run = RunHistory(
        name="baseline-linear",
        role=Role.BASELINE,
        folds=tuple(folds),
        depth=0,
        n_params=(ds.n_features + 1) * max(1, ds.n_classes if ds.n_classes > 2 else 1),
        hyperparameters={"model": "logistic_regression" if ds.task is Task.CLASSIFICATION else "ridge"},
    )
    return run, scores


class Baselines:
    """A sweep's baseline runs, stored once: loaded, taken from the helper, or trained here.

    :meth:`get` blocks until they are stored. With a helper that took the MLPs as its first
    job, the first call waits for its answer (the first trial has trained meanwhile); if
    the helper failed, they are trained here instead.
    """

    def __init__(self, sw: Sweep, measurer: Measurer | None = None) -> None:
        self._sw = sw
        self._measurer = measurer
        self._runs: list[RunHistory] | None = sw.store.load_runs(sw.study_id, role=Role.BASELINE) or None

    @property
    def pending(self) -> bool:
        return self._runs is None

    def get(self) -> list[RunHistory]:
        if self._runs is None:
            self._runs = self._train_and_store()
        return self._runs

    def _train_and_store(self) -> list[RunHistory]:
        sw = self._sw
        done, mlps = self._measurer.first_job_result() if self._measurer else (False, [])
        if not done:
            mlps = scored_mlp_baselines(sw.data, epochs=sw.cfg.train.epochs, loss=sw.loss, metric=sw.metric,
                                        seed=sw.cfg.study.seed)
        linear = linear_baseline(sw.ds, sw.splits, loss=sw.loss, scale=sw.cfg.data.scale,
                                 channels=sw.cfg.data.channels)
        runs: list[Scored] = [linear, *mlps]
        with StudyLock(sw.store.engine, sw.study_id):  # workers starting together store one set
            stored = sw.store.load_runs(sw.study_id, role=Role.BASELINE)
            if stored:
                return stored
            for run, scores in runs:
                sw.store.add_run(study_id=sw.study_id, run=run, task=sw.ds.task, loss=sw.loss, fold_scores=scores)
        return [r for r, _ in runs]
