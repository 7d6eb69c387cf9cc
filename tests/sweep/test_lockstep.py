"""Folds in lockstep: the vectorized paths give the curves of training fold after fold."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from sweepdoctor.sweep import FitResult, fit_folds, from_arrays, make_splits, prepare_folds
from sweepdoctor.sweep.config import OPTIMIZERS, SCHEDULES, TrialParams
from sweepdoctor.sweep.data import FoldData

from .helpers import trial_params

FIELDS = ("train_loss", "val_loss", "grad_norm", "val_metric", "lr")


def _data(n: int = 120, folds: int = 3, seed: int = 0) -> FoldData:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    ds = from_arrays(X, y, task="classification")
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=folds, seed=seed), torch.device("cpu"))


_hp = trial_params


def _fit(data: FoldData, hp: TrialParams, **kw: object) -> FitResult:
    return fit_folds(data, hp, epochs=3, loss="cross_entropy", metric="accuracy", seed=3, **kw)  # type: ignore[arg-type]


def _assert_same_curves(a: FitResult, b: FitResult, rtol: float = 1e-4) -> None:
    assert len(a.curves) == len(b.curves)
    for ca, cb in zip(a.curves, b.curves):
        assert len(ca) == len(cb)
        for ea, eb in zip(ca, cb):
            for f in FIELDS:
                va, vb = getattr(ea, f), getattr(eb, f)
                assert va == pytest.approx(vb, rel=rtol, abs=1e-6), (f, ea.epoch)
    assert a.fold_scores == pytest.approx(b.fold_scores, abs=1e-6)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_vectorized_folds_match_fold_after_fold(optimizer: str, schedule: str) -> None:
    data = _data()
    hp = _hp(optimizer=optimizer, schedule=schedule, lr=0.005 if optimizer in ("adagrad", "sgd") else 0.02)
    vec, seq = _fit(data, hp, vectorize=True), _fit(data, hp, vectorize=False)
    assert (vec.path, seq.path) == ("vectorized", "sequential")
    _assert_same_curves(vec, seq)


def test_unequal_fold_sizes_average_over_real_rows_only() -> None:
    data = _data(n=125)  # training folds of 83, 83 and 84 rows: the last batch is padded
    assert len(set(data.train_n)) > 1
    hp = _hp(batch_size=32, activation="tanh")
    _assert_same_curves(_fit(data, hp, vectorize=True), _fit(data, hp, vectorize=False))


def test_early_stopping_picks_the_best_epoch_on_both_paths() -> None:
    data = _data()
    hp = _hp(lr=0.3, optimizer="sgd", patience=1, schedule="constant")
    vec = fit_folds(data, hp, epochs=8, loss="cross_entropy", metric="accuracy", seed=1)
    seq = fit_folds(data, hp, epochs=8, loss="cross_entropy", metric="accuracy", seed=1, vectorize=False)
    _assert_same_curves(vec, seq)
    assert vec.best_epoch == seq.best_epoch


def _user_mlp(hp: TrialParams, n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Dropout(hp.dropout), nn.Linear(8, n_out))


def test_user_module_vectorized_with_vmap_matches_fold_after_fold() -> None:
    data = _data()
    hp = _hp(optimizer="momentum")
    vec = _fit(data, hp, model_fn=_user_mlp)
    seq = _fit(data, hp, model_fn=_user_mlp, vectorize=False)
    assert (vec.path, seq.path) == ("vectorized", "sequential")
    _assert_same_curves(vec, seq)


def _with_batchnorm(hp: TrialParams, n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, n_out))


def test_a_model_with_batchnorm_trains_fold_after_fold_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sweepdoctor.sweep.engine._fit"):
        res = _fit(_data(), _hp(), model_fn=_with_batchnorm)
    assert res.path == "sequential"
    assert res.status == "complete" and len(res.curves) == 3 and all(len(c) == 3 for c in res.curves)
    assert "BatchNorm" in caplog.text


def test_pruning_sees_the_fold_mean_and_keeps_the_curves() -> None:
    data = _data()
    seen: list[tuple[int, float]] = []

    def on_epoch(epoch: int, value: float, stored: bool) -> bool:
        assert not stored  # no measuring process here: nothing was written for us
        seen.append((epoch, value))
        return epoch == 1

    res = fit_folds(data, _hp(), epochs=5, loss="cross_entropy", metric="accuracy", on_epoch=on_epoch)
    assert res.status == "pruned" and res.reason == "pruned at epoch 2"
    assert [e for e, _ in seen] == [0, 1]
    assert all(len(c) == 2 for c in res.curves)  # every fold's curve up to the pruning epoch
    assert seen[1][1] == pytest.approx(np.mean([c[1].val_metric for c in res.curves]))
    assert res.fold_scores == pytest.approx([c[1].val_metric for c in res.curves])


def test_same_seed_same_curves_with_dropout() -> None:
    data = _data()
    hp = _hp(dropout=0.3)
    a, b = _fit(data, hp), _fit(data, hp)
    _assert_same_curves(a, b, rtol=0)
