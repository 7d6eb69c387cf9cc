"""The sweep loop: ask Optuna for a trial, train it on every fold, store, tell.

Library code: reports progress through a callback and never prints.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from sweepdoctor import diagnostics
from sweepdoctor.diagnostics import Finding, FoldHistory, History, Role, RunHistory, Task
from sweepdoctor.errors import SweepdoctorError
from sweepdoctor.studies import Store, default_storage, mask_url
from sweepdoctor.studies._concurrency import StudyLock
from sweepdoctor.sweep._baselines import linear_baseline, mlp_baselines
from sweepdoctor.sweep._batched_loop import run_batched
from sweepdoctor.sweep._config import DataConfig, SweepConfig, data_source
from sweepdoctor.sweep._coordinator import TrialCoordinator, best_value
from sweepdoctor.sweep._data import Dataset
from sweepdoctor.sweep._fit import FitResult, ModelFn, fit_folds, metric_direction
from sweepdoctor.sweep._folds import make_splits, splits_hash
from sweepdoctor.sweep._measurer import Measurer, start_measurer
from sweepdoctor.sweep._optim import LOSSES, METRICS
from sweepdoctor.sweep._pipeline import measure_in_background
from sweepdoctor.sweep._space import TrialParams, suggest
from sweepdoctor.sweep._study import DATA_SOURCE_ATTR, check_or_set_fingerprint, open_study, optuna_storage
from sweepdoctor.sweep._tensors import FoldData, pick_device, prepare_folds
from sweepdoctor.sweep._weights import save_trial_weights
from sweepdoctor.sweep._workers import run_workers

__all__ = ["SweepResult", "TrialEvent", "run_sweep"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialEvent:
    """What the progress display needs after each trial."""

    number: int
    state: str  # complete | pruned | failed
    value: float | None
    reason: str | None
    best_value: float | None
    done: int
    total: int
    findings: tuple[Finding, ...] = ()


@dataclass
class SweepResult:
    study_name: str
    storage: str  # masked
    direction: str
    metric: str
    task: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_fold_scores: list[float] = field(default_factory=list)
    interrupted: bool = False
    resumed: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0
    training_path: str = ""
    findings: list[Finding] = field(default_factory=list)
    refit_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "findings"}
        d["best_fold_std"] = float(np.std(self.best_fold_scores)) if self.best_fold_scores else None
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


def resolve_task_settings(cfg: SweepConfig, ds: Dataset) -> tuple[str, str]:
    """The loss and metric for this task (validated against it)."""
    loss = cfg.train.loss or ("cross_entropy" if ds.task is Task.CLASSIFICATION else "mse")
    metric = cfg.train.metric or ("accuracy" if ds.task is Task.CLASSIFICATION else "rmse")
    if loss not in LOSSES[ds.task]:
        raise SweepdoctorError(f"train.loss={loss!r} does not fit a {ds.task.value} task; use {LOSSES[ds.task]}")
    if metric not in METRICS[ds.task]:
        raise SweepdoctorError(f"train.metric={metric!r} does not fit a {ds.task.value} task; use {METRICS[ds.task]}")
    return loss, metric


def _candidate_run(number: int, fit: FitResult, params: dict[str, Any]) -> RunHistory:
    return RunHistory(
        name=f"trial-{number}",
        role=Role.CANDIDATE,
        folds=tuple(FoldHistory(epochs=tuple(c), test_loss=t) for c, t in zip(fit.curves, fit.test_losses)),
        depth=fit.depth,
        n_params=fit.n_params,
        hyperparameters=params,
        state=fit.status,
    )


def _ensure_baselines(
    store: Store,
    study_id: int,
    ds: Dataset,
    splits: list[Any],
    data: FoldData,
    cfg: SweepConfig,
    loss: str,
    metric: str,
) -> list[RunHistory]:
    """The study's baseline runs: loaded when stored, else trained once and stored."""
    stored = store.load_runs(study_id, role=Role.BASELINE)
    if stored:
        return stored
    runs: list[tuple[RunHistory, list[float]]] = [linear_baseline(ds, splits, loss=loss)]
    for run, fit in mlp_baselines(data, epochs=cfg.train.epochs, loss=loss, metric=metric, seed=cfg.study.seed):
        runs.append((run, fit.fold_scores))
    with StudyLock(store.engine, study_id):  # workers starting together store one set
        stored = store.load_runs(study_id, role=Role.BASELINE)
        if stored:
            return stored
        for run, scores in runs:
            store.add_run(study_id=study_id, run=run, task=ds.task, loss=loss, fold_scores=scores)
    return [r for r, _ in runs]


def run_sweep(
    cfg: SweepConfig,
    ds: Dataset,
    *,
    model_fn: ModelFn | None = None,
    on_trial: Callable[[TrialEvent], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    source: DataConfig | None = None,
) -> SweepResult:
    """Run (or resume) the sweep described by ``cfg`` on ``ds``.

    ``source`` says where ``ds`` was loaded from; it is stored with the study so that
    ``diagnose --hessian`` can load the same data again without being told.
    """
    cfg = cfg.validate()
    t_start = time.perf_counter()
    stage = on_stage or (lambda _msg: None)
    loss, metric = resolve_task_settings(cfg, ds)
    direction = metric_direction(metric)
    device = pick_device(cfg.train.device)
    url = cfg.study.storage or default_storage()
    name = cfg.study.name or f"{ds.name}-{'mlp' if model_fn is None else 'custom'}"
    threads = cfg.train.threads or 1
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    coord: TrialCoordinator | None = None
    measurer: Measurer | None = None
    try:
        splits = make_splits(ds.y, ds.task, n_splits=cfg.train.folds, n_repeats=cfg.train.repeats, seed=cfg.study.seed)
        data = prepare_folds(ds, splits, device)
        if cfg.study.workers == 1 and _helps_measuring(cfg, model_fn, device):
            # Started first, it is up (~1 s: a fresh interpreter importing torch) by the time
            # the study is open and, when there are any, the baselines are trained.
            measurer = start_measurer(data, loss=loss, metric=metric,
                                      storage_url=url if cfg.study.pruner != "none" else None)
        storage = optuna_storage(url)
        study = open_study(cfg.study, name=name, url=url, direction=direction, epochs=cfg.train.epochs, storage=storage)
        fingerprint = {
            "task": ds.task.value,
            "loss": loss,
            "metric": metric,
            "data": ds.fingerprint(),
            "splits": splits_hash(splits),
            "folds": cfg.train.folds,
            "repeats": cfg.train.repeats,
            "epochs": cfg.train.epochs,
            "space": cfg.space.fingerprint(),
            "model": "builtin-mlp" if model_fn is None else "custom",
        }
        resumed = check_or_set_fingerprint(study, fingerprint)
        if source is not None and DATA_SOURCE_ATTR not in study.user_attrs:
            study.set_user_attr(DATA_SOURCE_ATTR, data_source(source, seed=cfg.study.seed))
        store = Store(url)
        store.ensure_schema()
        study_id = store.study_id(name)
        result = SweepResult(name, mask_url(url), direction, metric, ds.task.value, resumed=resumed)
        baselines: list[RunHistory] = []
        if cfg.train.baselines or cfg.study.diagnose:
            stage("training the reference baselines")
            baselines = _ensure_baselines(store, study_id, ds, splits, data, cfg, loss, metric)
        stage("sweeping" if cfg.study.workers == 1 else f"sweeping with {cfg.study.workers} workers")
        if cfg.study.workers > 1:
            run_workers(cfg, ds, study, store, model_fn=model_fn, result=result, on_trial=on_trial)
        else:
            coord = TrialCoordinator(study, store, study_id, total=cfg.study.trials, timeout=cfg.study.timeout)
            _loop(cfg, study, store, study_id, data, ds, loss, metric, model_fn, baselines, result, on_trial, coord,
                  measurer)
        if cfg.study.diagnose:
            with StudyLock(store.engine, study_id):  # one writer of the study's findings at a time
                hist, run_ids = store.load_history(name)
                report = diagnostics.diagnose(hist, thresholds=_thresholds(cfg))
                store.replace_findings(study_id=study_id, findings=report.findings, run_ids=run_ids)
            result.findings = list(report.findings)
        _fill_best(study, result)
        result.seconds = time.perf_counter() - t_start
        return result
    finally:
        if coord is not None:
            coord.close()
        if measurer is not None:
            measurer.close()
        torch.set_num_threads(old_threads)


def _helps_measuring(cfg: SweepConfig, model_fn: ModelFn | None, device: torch.device) -> bool:
    """Whether this worker's trials measure their epochs in a helper process (see ``_pipeline``)."""
    if model_fn is not None or not cfg.train.vectorize or cfg.train.trials_per_step > 1:
        return False  # those trials measure in place
    return measure_in_background(cfg.train.overlap_eval, device=device.type, workers=1,
                                 threads=torch.get_num_threads())


def _thresholds(cfg: SweepConfig) -> Any:
    return diagnostics.Thresholds.from_mapping(cfg.thresholds) if cfg.thresholds else None


def _loop(
    cfg: SweepConfig,
    study: optuna.Study,
    store: Store,
    study_id: int,
    data: FoldData,
    ds: Dataset,
    loss: str,
    metric: str,
    model_fn: ModelFn | None,
    baselines: list[RunHistory],
    result: SweepResult,
    on_trial: Callable[[TrialEvent], None] | None,
    coord: TrialCoordinator,
    measurer: Measurer | None = None,
) -> None:
    """Train trials until the study has ``--trials`` of them (counting every worker's)."""
    total = cfg.study.trials
    prune = cfg.study.pruner != "none"
    first_error: str | None = None

    def record(trial: optuna.Trial, hp: TrialParams, fit: FitResult) -> None:
        """Store a trained trial's curves and attributes, tell Optuna its state, report progress."""
        nonlocal first_error
        params = hp.as_dict()
        run = _candidate_run(trial.number, fit, params)
        stored = coord.store_run(
            trial,
            lambda: store.add_run(
                study_id=study_id,
                run=run,
                task=ds.task,
                loss=loss,
                trial_id=trial._trial_id,
                trial_number=trial.number,
                fold_scores=fit.fold_scores,
                fail_reason=fit.reason if fit.status == "failed" else None,
            ),
        )
        if not stored:
            return  # another worker took the trial over (our heartbeat went stale); its retry counts
        attrs: dict[str, Any] = {
            f"split{i}_score": v if math.isfinite(v) else None for i, v in enumerate(fit.fold_scores)
        }
        attrs["mean_score"] = fit.score if math.isfinite(fit.score) else None
        attrs["std_score"] = float(np.std(fit.fold_scores)) if fit.status != "failed" else None
        attrs["hyperparameters"] = params
        attrs["training_path"] = fit.path
        attrs["epochs_trained"] = len(fit.curves[0])
        if fit.reason:
            attrs["fail_reason" if fit.status == "failed" else "stop_reason"] = fit.reason
        if cfg.train.save_weights and fit.status != "failed":
            maximize = metric_direction(metric) == "maximize"
            path = save_trial_weights(fit, hp, data, study.study_name, trial.number, store.url, maximize=maximize)
            attrs["weights_path"] = str(path)
        result.train_seconds += fit.train_seconds
        result.training_path = fit.path
        findings: tuple[Finding, ...] = ()
        if cfg.study.diagnose:
            report = diagnostics.diagnose(History(ds.task, loss, (run, *baselines)), thresholds=_thresholds(cfg))
            findings = tuple(report.for_run(run.name))
        state = fit.status
        told = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(state, TrialState.FAIL)
        if not coord.finish(trial, told, fit.score if state == "complete" else None, attrs):
            return
        if state == "complete":
            result.n_complete += 1
        elif state == "pruned":
            result.n_pruned += 1
        else:
            result.n_failed += 1
            first_error = first_error or fit.reason
        _emit(on_trial, study, trial.number, state, fit.score if state == "complete" else None, fit.reason, result,
              total, findings)

    if cfg.train.trials_per_step > 1 and model_fn is None:
        # Several trials at once; what is left for this worker after (a retried trial of a
        # dead worker, say) trains one at a time below.
        run_batched(cfg, coord, data, loss=loss, metric=metric, record=record, result=result)
        if result.interrupted:
            return
    while (trial := coord.next_trial()) is not None:
        try:
            hp = coord.suggest(lambda: suggest(trial, cfg.space), trial)

            try:
                fit = fit_folds(
                    data,
                    hp,
                    epochs=cfg.train.epochs,
                    loss=loss,
                    metric=metric,
                    seed=cfg.study.seed,
                    model_fn=model_fn,
                    vectorize=cfg.train.vectorize,
                    on_epoch=coord.pruning(trial, prune),
                    measurer=measurer,
                    report_to=trial._trial_id if prune else None,
                )
            except (KeyboardInterrupt, SweepdoctorError):
                raise
            except Exception as e:  # noqa: BLE001 - a user model's error fails its trial, not the sweep
                reason = f"{type(e).__name__}: {e}"
                logger.warning("trial %d failed: %s", trial.number, reason)
                coord.finish(trial, TrialState.FAIL, attrs={"fail_reason": reason})
                first_error = first_error or reason
                result.n_failed += 1
                _emit(on_trial, study, trial.number, "failed", None, reason, result, total)
                continue
        except KeyboardInterrupt:
            coord.finish(trial, TrialState.FAIL, attrs={"fail_reason": "interrupted"})
            result.n_failed += 1
            result.interrupted = True
            return
        record(trial, hp, fit)
    result.interrupted = result.interrupted or coord.stop_requested
    if result.n_complete == 0 and result.n_pruned == 0 and result.n_failed > 0 and not result.interrupted:
        raise SweepdoctorError(f"every trial failed; the first: {first_error}")


def _emit(
    cb: Callable[[TrialEvent], None] | None,
    study: optuna.Study,
    number: int,
    state: str,
    value: float | None,
    reason: str | None,
    result: SweepResult,
    total: int,
    findings: tuple[Finding, ...] = (),
) -> None:
    if cb is None:
        return
    best = best_value(study)
    done = result.n_complete + result.n_pruned + result.n_failed
    cb(TrialEvent(number, state, value, reason, best, done, total, findings))


def _fill_best(study: optuna.Study, result: SweepResult) -> None:
    try:
        best = study.best_trial
    except ValueError:
        return
    result.best_number = best.number
    result.best_value = best.value
    result.best_params = dict(best.user_attrs.get("hyperparameters") or best.params)
    splits = sorted((_split_key(k), v) for k, v in best.user_attrs.items() if _split_key(k) >= 0)
    result.best_fold_scores = [float(v) for _, v in splits if v is not None]


def _split_key(k: str) -> int:
    if k.startswith("split") and k.endswith("_score") and k[5:-6].isdigit():
        return int(k[5:-6])
    return -1
