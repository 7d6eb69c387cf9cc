"""The front door: :func:`run` (the CLI calls it too) and the sweep it runs, :func:`run_sweep`.

A sweep opens its study, trains trials here (one worker) or in worker processes
(``study.workers``) and the reference baselines beside them (in the measuring helper,
or here while the workers train), diagnoses the study when asked, and
returns a frozen :class:`SweepResult`. Library code: it reports progress through
callbacks and never prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from sqlalchemy import Engine

from sweepdoctor.diagnostics import Finding
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import GUIDED_PLAN, diagnose_study
from sweepdoctor.sweep.config import DataConfig, SearchSpace, SweepConfig, load_config
from sweepdoctor.sweep.data import Dataset, from_arrays, from_dataset, load_dataset
from sweepdoctor.sweep.engine import ModelFn, check_model_fn
from sweepdoctor.sweep.search._baselines import Baselines
from sweepdoctor.sweep.search._result import SweepResult, Tally, best_of
from sweepdoctor.sweep.search._setup import (
    Plugins,
    Sweep,
    close_connections,
    fold_tensors,
    needs_baselines,
    open_sweep,
    resolve_model,
    start_helper,
    torch_threads,
)
from sweepdoctor.sweep.search._suggest import probe_params
from sweepdoctor.sweep.search._trials import OnPlan, OnTrial, thresholds_of, work, work_guided
from sweepdoctor.sweep.search._workers import run_workers

__all__ = ["run", "run_sweep"]

OnStage = Callable[[str], None]


def run(
    config: SweepConfig | None = None,
    data: Dataset | None = None,
    *,
    X: Any = None,
    y: Any = None,
    task: str | None = None,
    X_test: Any = None,
    y_test: Any = None,
    dataset: Any = None,
    test_dataset: Any = None,
    model_fn: ModelFn | None = None,
    space: SearchSpace | None = None,
    n_trials: int | None = None,
    storage: str | Engine | None = None,
    study_name: str | None = None,
    sampler: str | optuna.samplers.BaseSampler | None = None,
    pruner: str | optuna.pruners.BasePruner | None = None,
    folds: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    guided: bool | None = None,
    catch: tuple[type[BaseException], ...] = (Exception,),
    on_trial: OnTrial | None = None,
    on_stage: OnStage | None = None,
    on_plan: OnPlan | None = None,
) -> SweepResult:
    """Run (or resume) a sweep: the data, the space and the study from ``config`` and keywords.

    The data: ``data`` (a :class:`Dataset`), else arrays ``X``/``y``, else a map-style
    ``torch.utils.data.Dataset`` ``dataset`` of ``(x, y)`` items, read on demand in worker
    processes (never all in memory; ``test_dataset`` likewise; ``y`` gives its labels when
    it has no ``targets``), else what ``config.data`` names. Keywords override the
    configuration. ``sampler`` and ``pruner`` take a name or an Optuna instance, ``storage``
    a URL or an SQLAlchemy engine.
    ``catch`` has Optuna's meaning: a trial that raises one of these types is failed and
    the sweep goes on; any other error is raised after the trial is stored as failed.
    ``guided=True`` re-plans the space from the diagnosis every ``study.guide_every``
    trials (the manual's page Guided search); ``on_plan(round, plan)`` hears of each plan.
    """
    cfg = _configure(config, space=space, n_trials=n_trials, storage=storage, study_name=study_name,
                     sampler=sampler, pruner=pruner, folds=folds, epochs=epochs, seed=seed, guided=guided)
    plugins = _plugins(model_fn, sampler, pruner, catch)
    _check_callbacks(on_trial=on_trial, on_stage=on_stage, on_plan=on_plan)
    _check_data_args(data, X=X, y=y, dataset=dataset)
    source: DataConfig | None = None
    if dataset is not None and (data is not None or X is not None or X_test is not None):
        raise ConfigError("give the data one way: dataset= (a torch Dataset), X=/y= (arrays) or data=, not several")
    if data is None and dataset is not None:
        data = from_dataset(dataset, y=y, task=task, test_dataset=test_dataset)
    elif test_dataset is not None:
        raise ConfigError("test_dataset= goes with dataset= (a torch Dataset); for arrays give X_test= and y_test=")
    elif data is None and X is not None:
        data = from_arrays(X, y, task=task, X_test=X_test, y_test=y_test)
    elif data is None:
        data, source = load_dataset(cfg.data, seed=cfg.study.seed), cfg.data
    return run_sweep(cfg, data, plugins=plugins, on_trial=on_trial, on_stage=on_stage, on_plan=on_plan,
                     source=source)


def _check_callbacks(**callbacks: Any) -> None:
    for name, f in callbacks.items():
        if f is not None and not callable(f):
            raise ConfigError(f"{name} must be a callable (it is called with each event), got {f!r}")


def _check_data_args(data: Any, *, X: Any, y: Any, dataset: Any) -> None:
    """The data arguments make sense together, before anything is read or written."""
    if data is not None and not isinstance(data, Dataset):
        raise ConfigError(f"data= takes a sweepdoctor Dataset (sweep.from_arrays, sweep.load_csv...), got a "
                          f"{type(data).__name__}; for arrays give X= and y=, for a torch Dataset dataset=")
    if X is not None and y is None:
        raise ConfigError("X= needs its labels or targets: give y= (one per row of X)")
    if y is not None and X is None and dataset is None:
        raise ConfigError("y= goes with X= (arrays) or dataset= (labels of a torch Dataset); give the samples too")


def _configure(config: Any, *, space: Any, storage: Any, sampler: Any, pruner: Any, **overrides: Any) -> SweepConfig:
    if isinstance(config, (str, os.PathLike)):  # a TOML file, as `sweepdoctor sweep --config` reads it
        config = load_config(os.fspath(config))
    if config is not None and not isinstance(config, SweepConfig):
        raise ConfigError(f"config= takes a SweepConfig or the path of a TOML file, got a {type(config).__name__}")
    if isinstance(space, Mapping):  # the [space] table of a TOML file, as a dict
        space = SearchSpace.from_mapping(space)
    if space is not None and not isinstance(space, SearchSpace):
        raise ConfigError(f"space= takes a SearchSpace or a mapping like the [space] table, got a "
                          f"{type(space).__name__}")
    if storage is not None and not isinstance(storage, (str, Engine)):
        raise ConfigError(f"storage= takes a database URL (like 'sqlite:///sweepdoctor.db') or an SQLAlchemy "
                          f"Engine, got {storage!r}")
    cfg = config or SweepConfig()
    if space is not None:
        cfg = dataclasses.replace(cfg, space=space)
    if isinstance(storage, Engine):
        storage = storage.url.render_as_string(hide_password=False)
    cfg = cfg.with_overrides(
        "study", trials=overrides["n_trials"], storage=storage, name=overrides["study_name"], seed=overrides["seed"],
        sampler=sampler if isinstance(sampler, str) else None, pruner=pruner if isinstance(pruner, str) else None,
        guided=overrides["guided"],
    )
    return cfg.with_overrides("train", folds=overrides["folds"], epochs=overrides["epochs"]).validate()


def _plugins(model_fn: Any, sampler: Any, pruner: Any, catch: Any) -> Plugins:
    """The caller's own parts, checked before anything is written."""
    if model_fn is not None and not callable(model_fn):
        raise ConfigError(f"model_fn must be a callable (hp, n_inputs, n_outputs) -> nn.Module, got {model_fn!r}")
    if sampler is not None and not isinstance(sampler, (str, optuna.samplers.BaseSampler)):
        raise ConfigError(f"sampler must be a name or an optuna.samplers.BaseSampler, got {sampler!r}")
    if pruner is not None and not isinstance(pruner, (str, optuna.pruners.BasePruner)):
        raise ConfigError(f"pruner must be a name or an optuna.pruners.BasePruner, got {pruner!r}")
    catch = tuple(catch) if isinstance(catch, (tuple, list)) else (catch,)
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch):
        raise ConfigError(f"catch must be exception types, got {catch!r}")
    return Plugins(
        model_fn=model_fn,
        sampler=None if isinstance(sampler, str) else sampler,
        pruner=None if isinstance(pruner, str) else pruner,
        catch=catch,
    )


def run_sweep(
    cfg: SweepConfig,
    ds: Dataset,
    *,
    plugins: Plugins | None = None,
    on_trial: OnTrial | None = None,
    on_stage: OnStage | None = None,
    on_plan: OnPlan | None = None,
    source: DataConfig | None = None,
) -> SweepResult:
    """Run (or resume) the sweep described by ``cfg`` on ``ds`` (see :func:`run`)."""
    plugins = plugins or Plugins()
    cfg = resolve_model(cfg.validate(), ds, plugins.model_fn)
    t_start = time.perf_counter()
    stage = on_stage or (lambda _msg: None)
    with torch_threads(cfg.train.threads or 1), contextlib.ExitStack() as stack:
        splits, data = fold_tensors(cfg, ds)
        if plugins.model_fn is not None:  # a model that cannot fit these data is refused before anything is written
            check_model_fn(plugins.model_fn, probe_params(cfg.space), data)
        measurer = start_helper(cfg, ds, data, plugins)
        if measurer is not None:
            stack.callback(measurer.close)
        sw = open_sweep(cfg, ds, splits, data, plugins=plugins, source=source)
        stack.callback(close_connections, sw)
        baselines = Baselines(sw, measurer) if needs_baselines(cfg) else None
        if baselines is not None and baselines.pending and measurer is None and cfg.study.workers == 1:
            stage("training the reference baselines")
            baselines.get()  # nowhere else to train them: before the trials, as they are needed during them
        if cfg.study.workers > 1:
            stage(f"sweeping with {cfg.study.workers} workers")
            tally = run_workers(sw, plugins=plugins, on_trial=on_trial,
                                meanwhile=None if baselines is None else baselines.get)
        elif cfg.study.guided:
            stage(f"sweeping, guided: the space re-planned every {cfg.study.guide_every} trials")
            tally = work_guided(sw, plugins=plugins, baselines=baselines, measurer=measurer, on_trial=on_trial,
                                on_plan=on_plan)
        else:
            stage("sweeping")
            tally = work(sw, plugins=plugins, baselines=baselines, measurer=measurer, on_trial=on_trial)
        if baselines is not None:
            baselines.get()  # stored with the study, for any later diagnosis
        findings: tuple[Finding, ...] = ()
        if cfg.study.diagnose:
            findings = tuple(diagnose_study(sw.store, sw.study.study_name, thresholds=thresholds_of(cfg)).findings)
        return _result(sw, tally, findings, seconds=time.perf_counter() - t_start)


def _result(sw: Sweep, tally: Tally, findings: tuple[Any, ...], *, seconds: float) -> SweepResult:
    best = best_of(sw.study)
    return SweepResult(
        study_name=sw.study.study_name, storage=sw.url, direction=sw.direction, metric=sw.metric,
        task=sw.ds.task.value, n_complete=tally.n_complete, n_pruned=tally.n_pruned, n_failed=tally.n_failed,
        best_number=best.number, best_value=best.value, best_params=best.params, best_fold_scores=best.fold_scores,
        interrupted=tally.interrupted, resumed=sw.resumed, seconds=seconds, train_seconds=tally.train_seconds,
        training_path=tally.training_path, findings=findings, custom_model=best.custom_model,
        guided_rounds=tuple(sw.store.study_doc(sw.study_id, GUIDED_PLAN) or ()) if sw.cfg.study.guided else (),
    )
