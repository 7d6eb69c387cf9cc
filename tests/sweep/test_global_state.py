"""A sweep leaves the process as it found it: torch's global generator, flush-denormal, threads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sweepdoctor.sweep import SweepConfig, fit_folds, from_arrays, make_splits, prepare_folds, run
from sweepdoctor.sweep.engine._kernels import flush_denormals, flushing_denormals
from tests.sweep.helpers import small_config, trial_params


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _folds():  # type: ignore[no-untyped-def]
    X, y = _data()
    ds = from_arrays(X, y)
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=3), torch.device("cpu"))


def _dropout_model(hp, n_in, n_out):  # type: ignore[no-untyped-def]
    return torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                               torch.nn.Linear(8, n_out))


@pytest.mark.parametrize("model_fn", [None, _dropout_model], ids=["builtin", "user-model"])
def test_training_leaves_the_global_generator_alone(model_fn) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    fit = fit_folds(_folds(), trial_params(dropout=0.3), epochs=2, loss="cross_entropy", metric="accuracy",
                    model_fn=model_fn)
    assert fit.status == "complete"
    assert torch.equal(torch.rand(3), expected)  # the caller's stream goes on where it was


def test_training_draws_the_same_with_any_global_seed() -> None:
    """The built-in MLP's dropout comes from its own stream: the global seed changes nothing."""
    fits = []
    for global_seed in (0, 99):
        torch.manual_seed(global_seed)
        fits.append(fit_folds(_folds(), trial_params(dropout=0.3), epochs=3, loss="cross_entropy",
                              metric="accuracy", seed=5))
    assert [r.train_loss for r in fits[0].curves[0]] == [r.train_loss for r in fits[1].curves[0]]


@pytest.mark.parametrize("before", [False, True])
def test_flush_denormal_setting_is_put_back(before: bool) -> None:
    torch.set_flush_denormal(before)
    try:
        assert flushing_denormals() is before
        with flush_denormals():
            assert flushing_denormals()
        assert flushing_denormals() is before
    finally:
        torch.set_flush_denormal(False)


def test_a_sweep_leaves_generator_threads_and_denormals_as_found(tmp_path: Path) -> None:
    X, y = _data()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    threads = torch.get_num_threads()
    cfg: SweepConfig = small_config(f"sqlite:///{tmp_path / 's.db'}", "g", trials=2, epochs=2)
    res = run(cfg, X=X, y=y)
    assert res.n_complete + res.n_pruned == 2
    assert torch.equal(torch.rand(2), expected)
    assert torch.get_num_threads() == threads
    assert not flushing_denormals()


def test_a_sweep_holds_the_blas_pools_to_its_threads_and_gives_them_back(tmp_path: Path) -> None:
    """The references' scikit-learn fits run on the sweep's threads: OpenBLAS left at a thread per core
    spins them (1.7 s of CPU instead of 0.04 s for the digits' logistic regression on 2 cores)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from sweepdoctor.sweep.search import _baselines

    seen: list[set[int]] = []
    real = _baselines.linear_baseline

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real(*args, **kwargs)

    X, y = _data()
    cfg = small_config(f"sqlite:///{tmp_path}/t.db", trials=1, epochs=1, folds=3)
    cfg = replace(cfg, train=replace(cfg.train, baselines=True))
    with threadpool_limits(limits=2, user_api="blas"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_baselines, "linear_baseline", spy)
            run(cfg, data=from_arrays(X, y))
        after = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert seen == [{1}]  # the reference fit on the sweep's one thread
    assert after == {2}  # and the caller's setting is back
