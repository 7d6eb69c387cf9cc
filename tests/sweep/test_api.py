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


# ---- the front door: Optuna's conventions ------------------------------------------------

_TINY = sweep.SweepConfig(space=SMALL_SPACE, train=sweep.TrainConfig(baselines=False, folds=3, epochs=2))


def _iris() -> sweep.Dataset:
    return sweep.load_builtin("iris")


def test_sampler_and_pruner_instances_are_used(sqlite_url: str) -> None:
    sampler = optuna.samplers.RandomSampler(seed=3)
    pruner = optuna.pruners.NopPruner()
    res = sweep.run(_TINY, _iris(), n_trials=3, storage=sqlite_url, study_name="inst", sampler=sampler, pruner=pruner)
    assert res.n_complete == 3  # NopPruner: nothing pruned
    again = sweep.run(_TINY, _iris(), n_trials=6, storage=sqlite_url, study_name="inst2",
                      sampler=optuna.samplers.RandomSampler(seed=3), pruner=optuna.pruners.NopPruner())
    first = [t.params for t in optuna.load_study(study_name="inst", storage=sqlite_url).trials]
    second = [t.params for t in optuna.load_study(study_name="inst2", storage=sqlite_url).trials][:3]
    assert first == second and again.n_complete == 6  # the seeded instance, not the config's TPE


def test_storage_can_be_an_sqlalchemy_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    res = sweep.run(_TINY, _iris(), n_trials=2, storage=engine, study_name="eng")
    assert res.n_complete + res.n_pruned == 2
    assert len(optuna.load_study(study_name="eng", storage=str(engine.url)).trials) == 2


class _Boom(RuntimeError):
    pass


def _exploding(hp: sweep.TrialParams, n_inputs: int, n_outputs: int) -> torch.nn.Module:
    raise _Boom("no model today")


def test_catch_fails_the_trial_and_goes_on(sqlite_url: str) -> None:
    with pytest.raises(SweepdoctorError, match="every trial failed; the first: _Boom: no model today"):
        sweep.run(_TINY, _iris(), model_fn=_exploding, n_trials=2, storage=sqlite_url, study_name="c",
                  catch=(_Boom,))
    states = [t.state for t in optuna.load_study(study_name="c", storage=sqlite_url).trials]
    assert states == [optuna.trial.TrialState.FAIL] * 2  # both trials ran


def test_an_uncaught_error_is_raised_after_its_trial_is_stored_as_failed(sqlite_url: str) -> None:
    with pytest.raises(_Boom, match="no model today"):
        sweep.run(_TINY, _iris(), model_fn=_exploding, n_trials=3, storage=sqlite_url, study_name="u", catch=())
    trials = optuna.load_study(study_name="u", storage=sqlite_url).trials
    assert len(trials) == 1 and trials[0].state == optuna.trial.TrialState.FAIL
    assert "no model today" in trials[0].user_attrs["fail_reason"]


def test_bad_plugins_are_refused_before_anything_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'never.db'}"
    with pytest.raises(SweepdoctorError, match="model_fn must be a callable"):
        sweep.run(_TINY, _iris(), model_fn=42, storage=url)  # type: ignore[arg-type]
    with pytest.raises(SweepdoctorError, match="sampler must be"):
        sweep.run(_TINY, _iris(), sampler=object(), storage=url)  # type: ignore[arg-type]
    with pytest.raises(SweepdoctorError, match="catch must be exception types"):
        sweep.run(_TINY, _iris(), catch=("ValueError",), storage=url)  # type: ignore[arg-type]
    assert not (tmp_path / "never.db").exists()


def test_the_result_is_frozen_typed_and_masks_the_password(sqlite_url: str) -> None:
    import dataclasses

    res = sweep.run(_TINY, _iris(), n_trials=2, storage=sqlite_url, study_name="r")
    assert isinstance(res.best_params, sweep.TrialParams)
    assert res.best_params.as_dict() == optuna.load_study(study_name="r", storage=sqlite_url).best_trial.user_attrs[
        "hyperparameters"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_complete = 5  # type: ignore[misc]
    secret = dataclasses.replace(res, storage="postgresql://u:hunter2@db/x")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret.to_dict())
    assert secret.storage == "postgresql://u:hunter2@db/x"  # the real URL, to open the study again
