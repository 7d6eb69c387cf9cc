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
from sweepdoctor.studies import Store, mask_url
from sweepdoctor.sweep._baselines import linear_baseline, mlp_baselines
from sweepdoctor.sweep._config import SweepConfig
from sweepdoctor.sweep._data import Dataset
from sweepdoctor.sweep._fit import FitResult, ModelFn, fit_folds, metric_direction
from sweepdoctor.sweep._folds import make_splits, splits_hash
from sweepdoctor.sweep._optim import LOSSES, METRICS
from sweepdoctor.sweep._space import suggest
from sweepdoctor.sweep._study import check_or_set_fingerprint, open_study, optuna_storage
from sweepdoctor.sweep._tensors import FoldData, prepare_folds
from sweepdoctor.sweep._weights import save_trial_weights

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


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise SweepdoctorError("train.device=cuda but no CUDA device is available; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
) -> SweepResult:
    """Run (or resume) the sweep described by ``cfg`` on ``ds``."""
    cfg = cfg.validate()
    t_start = time.perf_counter()
    stage = on_stage or (lambda _msg: None)
    loss, metric = resolve_task_settings(cfg, ds)
    direction = metric_direction(metric)
    device = pick_device(cfg.train.device)
    url = cfg.study.storage or _default_storage()
    name = cfg.study.name or f"{ds.name}-{'mlp' if model_fn is None else 'custom'}"
    threads = cfg.train.threads or 1
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        splits = make_splits(ds.y, ds.task, n_splits=cfg.train.folds, n_repeats=cfg.train.repeats, seed=cfg.study.seed)
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
        store = Store(url)
        store.ensure_schema()
        study_id = store.study_id(name)
        data = prepare_folds(ds, splits, device)
        result = SweepResult(name, mask_url(url), direction, metric, ds.task.value, resumed=resumed)
        baselines: list[RunHistory] = []
        if cfg.train.baselines or cfg.study.diagnose:
            stage("training the reference baselines")
            baselines = _ensure_baselines(store, study_id, ds, splits, data, cfg, loss, metric)
        stage("sweeping")
        _loop(cfg, study, store, study_id, data, ds, loss, metric, model_fn, baselines, result, on_trial)
        if cfg.study.diagnose:
            hist, run_ids = store.load_history(name)
            report = diagnostics.diagnose(hist, thresholds=_thresholds(cfg))
            store.replace_findings(study_id=study_id, findings=report.findings, run_ids=run_ids)
            result.findings = list(report.findings)
        _fill_best(study, result)
        result.seconds = time.perf_counter() - t_start
        return result
    finally:
        torch.set_num_threads(old_threads)


def _default_storage() -> str:
    from sweepdoctor.studies import default_storage

    return default_storage()


def _thresholds(cfg: SweepConfig) -> Any:
    return diagnostics.Thresholds.from_mapping(cfg.thresholds) if cfg.thresholds else None


def budget_used(study: optuna.Study) -> int:
    """Trials that count against ``--trials``: all, except failed ones that were retried."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials} - {None}
    return sum(1 for t in trials if t.number not in retried)


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
) -> None:
    total = cfg.study.trials
    deadline = None if cfg.study.timeout is None else time.monotonic() + cfg.study.timeout
    prune = cfg.study.pruner != "none"
    first_error: str | None = None
    while budget_used(study) < total and (deadline is None or time.monotonic() < deadline):
        trial = study.ask()
        try:
            hp = suggest(trial, cfg.space)
            params = hp.as_dict()

            def on_epoch(epoch: int, value: float) -> bool:
                if not prune or not math.isfinite(value):
                    return False
                trial.report(value, epoch)
                return trial.should_prune()

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
                    on_epoch=on_epoch,
                )
            except (KeyboardInterrupt, SweepdoctorError):
                raise
            except Exception as e:  # noqa: BLE001 - a user model's error fails its trial, not the sweep
                reason = f"{type(e).__name__}: {e}"
                logger.warning("trial %d failed: %s", trial.number, reason)
                trial.set_user_attr("fail_reason", reason)
                study.tell(trial, state=TrialState.FAIL)
                first_error = first_error or reason
                result.n_failed += 1
                _emit(on_trial, study, trial.number, "failed", None, reason, result, total)
                continue
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            result.n_failed += 1
            result.interrupted = True
            return
        run = _candidate_run(trial.number, fit, params)
        store.add_run(
            study_id=study_id,
            run=run,
            task=ds.task,
            loss=loss,
            trial_id=trial._trial_id,
            trial_number=trial.number,
            fold_scores=fit.fold_scores,
            fail_reason=fit.reason if fit.status == "failed" else None,
        )
        for i, s in enumerate(fit.fold_scores):
            trial.set_user_attr(f"split{i}_score", s if math.isfinite(s) else None)
        trial.set_user_attr("mean_score", fit.score if math.isfinite(fit.score) else None)
        trial.set_user_attr("std_score", float(np.std(fit.fold_scores)) if fit.status != "failed" else None)
        trial.set_user_attr("hyperparameters", params)
        trial.set_user_attr("training_path", fit.path)
        trial.set_user_attr("epochs_trained", len(fit.curves[0]))
        if fit.reason:
            trial.set_user_attr("fail_reason" if fit.status == "failed" else "stop_reason", fit.reason)
        if cfg.train.save_weights and fit.status != "failed":
            maximize = metric_direction(metric) == "maximize"
            path = save_trial_weights(fit, hp, data, study.study_name, trial.number, store.url, maximize=maximize)
            trial.set_user_attr("weights_path", str(path))
        result.train_seconds += fit.train_seconds
        result.training_path = fit.path
        findings: tuple[Finding, ...] = ()
        if cfg.study.diagnose:
            report = diagnostics.diagnose(History(ds.task, loss, (run, *baselines)), thresholds=_thresholds(cfg))
            findings = tuple(report.for_run(run.name))
        state = fit.status
        if state == "complete":
            study.tell(trial, fit.score)
            result.n_complete += 1
        elif state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            result.n_pruned += 1
        else:
            study.tell(trial, state=TrialState.FAIL)
            result.n_failed += 1
            first_error = first_error or fit.reason
        _emit(on_trial, study, trial.number, state, fit.score if state == "complete" else None, fit.reason, result,
              total, findings)
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
    try:
        best = study.best_value
    except ValueError:
        best = None
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
