"""Sweeps: data → search space → k-fold training (folds in lockstep) → Optuna study.

The one-call API::

    from sweepdoctor import sweep
    result = sweep.run(X=X, y=y, n_trials=30, storage="sqlite:///s.db")
    result = sweep.run(model_fn=my_factory, X=X, y=y, space=sweep.SearchSpace(lr=...))

``model_fn(hp, n_inputs, n_outputs) -> nn.Module`` receives the trial's
:class:`TrialParams`; without it the built-in MLP is used.
"""

from __future__ import annotations

import dataclasses as _dataclasses
import importlib as _importlib
import typing as _typing
from collections.abc import Callable as _Callable

if _typing.TYPE_CHECKING:
    from sweepdoctor.sweep._config import DataConfig, StudyConfig, SweepConfig, TrainConfig, load_config
    from sweepdoctor.sweep._data import BUILTIN_DATASETS, Dataset, from_arrays, load_builtin, load_csv
    from sweepdoctor.sweep._fit import FitResult, ModelFn, fit_folds
    from sweepdoctor.sweep._folds import Split, make_splits, splits_hash
    from sweepdoctor.sweep._models import build_mlp
    from sweepdoctor.sweep._refit import refit
    from sweepdoctor.sweep._runner import SweepResult, TrialEvent, resolve_task_settings, run_sweep
    from sweepdoctor.sweep._space import Choice, Fixed, FloatRange, IntRange, SearchSpace, TrialParams
    from sweepdoctor.sweep._tensors import FoldData, prepare_folds

# Each public name and its module, imported on first use (PEP 562): the measuring process
# (see _measurer) imports a few modules of this package and must not pay for the rest
# (Optuna, scikit-learn, SQLAlchemy: ~1 s of start-up).
_LAZY = {
    **dict.fromkeys(("DataConfig", "StudyConfig", "SweepConfig", "TrainConfig", "load_config"), "_config"),
    **dict.fromkeys(("BUILTIN_DATASETS", "Dataset", "from_arrays", "load_builtin", "load_csv"), "_data"),
    **dict.fromkeys(("FitResult", "ModelFn", "fit_folds"), "_fit"),
    **dict.fromkeys(("Split", "make_splits", "splits_hash"), "_folds"),
    "build_mlp": "_models",
    "refit": "_refit",
    **dict.fromkeys(("SweepResult", "TrialEvent", "resolve_task_settings", "run_sweep"), "_runner"),
    **dict.fromkeys(("Choice", "Fixed", "FloatRange", "IntRange", "SearchSpace", "TrialParams"), "_space"),
    **dict.fromkeys(("FoldData", "prepare_folds"), "_tensors"),
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BUILTIN_DATASETS",
    "Choice",
    "DataConfig",
    "Dataset",
    "FitResult",
    "Fixed",
    "FloatRange",
    "FoldData",
    "IntRange",
    "ModelFn",
    "SearchSpace",
    "Split",
    "StudyConfig",
    "SweepConfig",
    "SweepResult",
    "TrainConfig",
    "TrialEvent",
    "TrialParams",
    "build_mlp",
    "fit_folds",
    "from_arrays",
    "load_builtin",
    "load_config",
    "load_csv",
    "load_dataset",
    "make_splits",
    "prepare_folds",
    "refit",
    "resolve_task_settings",
    "run",
    "run_sweep",
    "splits_hash",
]


def load_dataset(cfg: DataConfig, *, seed: int = 0) -> Dataset:
    """The dataset a :class:`DataConfig` names."""
    from sweepdoctor.errors import ConfigError
    from sweepdoctor.sweep._data import from_arrays, load_builtin, load_csv

    if cfg.csv is not None:
        if cfg.dataset is not None:
            raise ConfigError("data: give either a dataset name or a CSV file, not both")
        assert cfg.target is not None  # checked by SweepConfig.validate
        return load_csv(cfg.csv, target=cfg.target, task=cfg.task, test_path=cfg.test_csv)
    if cfg.test_csv is not None:
        raise ConfigError("data.test_csv needs data.csv (a test set for a built-in dataset is not supported)")
    ds = load_builtin(cfg.dataset or "digits", n_samples=cfg.n_samples, n_features=cfg.n_features, seed=seed)
    if cfg.task is not None and cfg.task != ds.task.value:
        return from_arrays(ds.X, ds.y, task=cfg.task, name=ds.name)
    return ds


def run(
    *,
    X: _typing.Any = None,
    y: _typing.Any = None,
    model_fn: ModelFn | None = None,
    space: SearchSpace | None = None,
    n_trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    task: str | None = None,
    X_test: _typing.Any = None,
    y_test: _typing.Any = None,
    folds: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    config: SweepConfig | None = None,
    on_trial: _Callable[[TrialEvent], None] | None = None,
) -> SweepResult:
    """Run a sweep on arrays (or on ``config.data`` when ``X`` is None)."""
    from sweepdoctor.sweep._config import SweepConfig
    from sweepdoctor.sweep._data import from_arrays
    from sweepdoctor.sweep._runner import run_sweep

    cfg = config or SweepConfig()
    if space is not None:
        cfg = _dataclasses.replace(cfg, space=space)
    cfg = cfg.with_overrides("study", trials=n_trials, storage=storage, name=study_name, seed=seed)
    cfg = cfg.with_overrides("train", folds=folds, epochs=epochs)
    cfg.validate()
    if X is not None:
        ds = from_arrays(X, y, task=task, X_test=X_test, y_test=y_test)
        return run_sweep(cfg, ds, model_fn=model_fn, on_trial=on_trial)
    ds = load_dataset(cfg.data, seed=cfg.study.seed)
    return run_sweep(cfg, ds, model_fn=model_fn, on_trial=on_trial, source=cfg.data)
