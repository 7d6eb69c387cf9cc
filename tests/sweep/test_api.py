"""The one-call Python API: arrays or tensors in, a stored study out."""

from __future__ import annotations

import optuna
import pytest
import torch
from sklearn.datasets import make_regression

from sweepdoctor import sweep
from sweepdoctor.errors import SweepdoctorError
from tests.sweep.helpers import SMALL_SPACE

torch.set_num_threads(1)


def _factory(hp: sweep.TrialParams, n_inputs: int, n_outputs: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(n_inputs, 16), torch.nn.Tanh(), torch.nn.Dropout(hp.dropout), torch.nn.Linear(16, n_outputs)
    )


def test_run_with_user_model_on_tensors(sqlite_url: str) -> None:
    X, y = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=0)
    result = sweep.run(
        model_fn=_factory,
        X=torch.tensor(X),
        y=torch.tensor(y),
        space=SMALL_SPACE,
        n_trials=2,
        storage=sqlite_url,
        study_name="api",
        folds=3,
        epochs=3,
        config=sweep.SweepConfig(train=sweep.TrainConfig(baselines=False)),
    )
    assert result.task == "regression" and result.metric == "rmse" and result.direction == "minimize"
    study = optuna.load_study(study_name="api", storage=sqlite_url)
    assert len(study.trials) == 2
    assert study.user_attrs["sweepdoctor"]["model"] == "custom"
    assert result.best_value == min(t.value for t in study.trials)


def test_user_model_with_batchnorm_falls_back_to_sequential(sqlite_url: str) -> None:
    def bn(hp: sweep.TrialParams, n_in: int, n_out: int) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, n_out))

    ds = sweep.load_builtin("iris")
    sweep.run(model_fn=bn, X=ds.X, y=ds.y, space=SMALL_SPACE, n_trials=1, storage=sqlite_url, study_name="bn",
              folds=2, epochs=2, config=sweep.SweepConfig(train=sweep.TrainConfig(baselines=False)))
    t = optuna.load_study(study_name="bn", storage=sqlite_url).trials[0]
    assert t.user_attrs["training_path"] == "sequential"


def test_cuda_requested_without_cuda_is_a_clear_error(sqlite_url: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    ds = sweep.load_builtin("iris")
    cfg = sweep.SweepConfig(train=sweep.TrainConfig(device="cuda", baselines=False))
    with pytest.raises(SweepdoctorError, match="no CUDA device"):
        sweep.run(X=ds.X, y=ds.y, n_trials=1, storage=sqlite_url, config=cfg)
