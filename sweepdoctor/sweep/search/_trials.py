"""One worker's trials: claim a trial, train it on every fold, store its curves, tell Optuna.

Library code: reports progress through a callback and never prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from sweepdoctor import diagnostics
from sweepdoctor.diagnostics import Finding, FoldHistory, History, Role, RunHistory, RunState
from sweepdoctor.errors import SweepdoctorError
from sweepdoctor.studies import GUIDED_PLAN
from sweepdoctor.sweep.config import SweepConfig, TrialParams
from sweepdoctor.sweep.data import Dataset, Split
from sweepdoctor.sweep.engine import FitResult, Measurer, fit_folds
from sweepdoctor.sweep.guide import GuideLimits, Plan, TrialOutcome, latest_space, plan_round, round_entry
from sweepdoctor.sweep.search._baselines import Baselines
from sweepdoctor.sweep.search._coordinator import TrialCoordinator, best_value, trials_counted
from sweepdoctor.sweep.search._doctor_pruner import CurveWatch, DoctorPruner, class_prior, curve_watch
from sweepdoctor.sweep.search._heartbeat import HeartbeatSettings
from sweepdoctor.sweep.search._live import LiveCurves, watch_both
from sweepdoctor.sweep.search._result import Tally, TrialEvent
from sweepdoctor.sweep.search._samplers import NarrowedSampler
from sweepdoctor.sweep.search._setup import (
    Plugins,
    Sweep,
    close_connections,
    fold_tensors,
    open_sweep,
    start_helper,
    torch_threads,
)
from sweepdoctor.sweep.search._suggest import suggest
from sweepdoctor.sweep.search._weights import save_trial_weights

__all__ = ["OnPlan", "OnTrial", "TrialLoop", "outcomes", "thresholds_of", "work", "work_alone", "work_guided"]

logger = logging.getLogger(__name__)

OnTrial = Callable[[TrialEvent], None]
_TOLD = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}


def thresholds_of(cfg: SweepConfig) -> diagnostics.Thresholds | None:
    return diagnostics.Thresholds.from_mapping(cfg.thresholds) if cfg.thresholds else None


def candidate_run(number: int, fit: FitResult, params: dict[str, Any]) -> RunHistory:
    return RunHistory(
        name=f"trial-{number}",
        role=Role.CANDIDATE,
        folds=tuple(FoldHistory(epochs=tuple(c), test_loss=t) for c, t in zip(fit.curves, fit.test_losses)),
        depth=fit.depth,
        n_params=fit.n_params,
        hyperparameters=params,
        state=fit.status,
    )


def trial_attrs(fit: FitResult, params: dict[str, Any]) -> dict[str, Any]:
    """The user attributes a trained trial carries in Optuna's tables."""
    attrs: dict[str, Any] = {
        f"split{i}_score": v if math.isfinite(v) else None for i, v in enumerate(fit.fold_scores)
    }
    attrs["mean_score"] = fit.score if math.isfinite(fit.score) else None
    attrs["std_score"] = float(np.std(fit.fold_scores)) if fit.status != RunState.FAIL else None
    attrs["hyperparameters"] = params
    attrs["training_path"] = fit.path
    attrs["epochs_trained"] = len(fit.curves[0])
    if fit.reason:
        attrs["fail_reason" if fit.status == RunState.FAIL else "stop_reason"] = fit.reason
    return attrs


class TrialLoop:
    """Trains trials until the study has ``study.trials`` of them (counting every worker's)."""

    def __init__(
        self,
        sweep: Sweep,
        coord: TrialCoordinator,
        *,
        plugins: Plugins,
        baselines: Baselines | None,
        measurer: Measurer | None = None,
        on_trial: OnTrial | None = None,
    ) -> None:
        self.sweep = sweep
        self.coord = coord
        self.plugins = plugins
        self.baselines = baselines
        self.measurer = measurer
        self.on_trial = on_trial
        self.tally = Tally()
        self.watch = doctor_watch(sweep)

    def run(self) -> Tally:
        while (trial := self.coord.next_trial()) is not None:
            try:
                sw = self.sweep
                hp = self.coord.suggest(lambda: suggest(trial, sw.space, asked=sw.asked_space), trial)
                fit = self._fit(trial, hp)
            except KeyboardInterrupt:
                self.coord.finish(trial, TrialState.FAIL, attrs={"fail_reason": "interrupted"})
                self.tally.count(RunState.FAIL, "interrupted")
                self.tally.interrupted = True
                return self.tally
            if fit is not None:
                self._record(trial, hp, fit)
        self.tally.interrupted = self.tally.interrupted or self.coord.stop_requested
        t = self.tally
        if t.n_complete == 0 and t.n_pruned == 0 and t.n_failed > 0 and not t.interrupted:
            raise SweepdoctorError(f"every trial failed; the first: {t.first_error}")
        return t

    def _fit(self, trial: optuna.Trial, hp: TrialParams) -> FitResult | None:
        """Train ``trial``; None when it raised one of ``catch`` (the trial is then failed)."""
        sw = self.sweep
        cfg, prune = sw.cfg, sw.cfg.study.pruner != "none"
        live = LiveCurves(sw.store, study_id=sw.study_id, trial_number=trial.number, task=sw.ds.task, loss=sw.loss,
                          params=hp.as_dict())
        try:
            return fit_folds(
                self.sweep.data,
                hp,
                epochs=cfg.train.epochs,
                loss=self.sweep.loss,
                metric=self.sweep.metric,
                seed=cfg.study.seed,
                model_fn=self.plugins.model_fn,
                vectorize=cfg.train.vectorize,
                on_epoch=self.coord.pruning(trial, prune),
                measurer=self.measurer,
                report_to=trial._trial_id if prune else None,
                watch=watch_both(live, self.watch if prune else None),  # the live curves, then the diagnosis
            )
        except (KeyboardInterrupt, SweepdoctorError):
            raise
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            self.coord.finish(trial, TrialState.FAIL, attrs={"fail_reason": reason})
            if not isinstance(e, self.plugins.catch):
                raise  # Optuna's ``catch``: stored as failed, then the caller's to handle
            logger.warning("trial %d failed: %s", trial.number, reason)
            self.tally.count(RunState.FAIL, reason)
            self._emit(trial.number, RunState.FAIL, None, reason)
            return None

    def _record(self, trial: optuna.Trial, hp: TrialParams, fit: FitResult) -> None:
        """Store a trained trial's curves and attributes, tell Optuna its state, report progress."""
        sw, params = self.sweep, hp.as_dict()
        pruner = sw.study.pruner
        if fit.status == "pruned" and isinstance(pruner, DoctorPruner) and pruner.reason(trial.number):
            fit.reason = pruner.reason(trial.number)  # the diagnosis stopped it from the reported values
        run = candidate_run(trial.number, fit, params)
        attrs = trial_attrs(fit, params)
        if sw.cfg.train.save_weights and fit.status != RunState.FAIL:
            path = save_trial_weights(fit, hp, sw.data, sw.study.study_name, trial.number, sw.url,
                                      maximize=sw.direction == "maximize")
            attrs["weights_path"] = str(path)
        stored = self.coord.store_run(trial, lambda: sw.store.add_run(  # curves, folds and attributes: one write
            study_id=sw.study_id, run=run, task=sw.ds.task, loss=sw.loss, trial_id=trial._trial_id,
            trial_number=trial.number, fold_scores=fit.fold_scores,
            fail_reason=fit.reason if fit.status == RunState.FAIL else None, trial_attrs=attrs,
        ))
        if not stored:
            return  # another worker took the trial over (our heartbeat went stale); its retry counts
        self.tally.train_seconds += fit.train_seconds
        self.tally.training_path = fit.path
        findings = self._diagnose(run)
        value = fit.score if fit.status == "complete" else None
        if not self.coord.finish(trial, _TOLD.get(fit.status, TrialState.FAIL), value):
            return
        self.tally.count(fit.status, fit.reason)
        self._emit(trial.number, fit.status, value, fit.reason, findings)

    def _diagnose(self, run: RunHistory) -> tuple[Finding, ...]:
        """The trial's findings beside the baselines (with ``study.diagnose``)."""
        sw = self.sweep
        if not sw.cfg.study.diagnose:
            return ()
        refs = self.baselines.get() if self.baselines is not None else []
        report = diagnostics.diagnose(History(sw.ds.task, sw.loss, (run, *refs)),
                                      thresholds=thresholds_of(sw.cfg))
        return tuple(report.for_run(run.name))

    def _emit(self, number: int, state: str, value: float | None, reason: str | None,
              findings: tuple[Finding, ...] = ()) -> None:
        if self.on_trial is None:
            return
        total = self.sweep.cfg.study.trials
        event = TrialEvent(number, state, value, reason, best_value(self.sweep.study), self.tally.done, total, findings)
        self.on_trial(event)


def doctor_watch(sw: Sweep) -> CurveWatch | None:
    """With a :class:`DoctorPruner`, what judges every fold's curves after each epoch (``None`` without)."""
    pruner = sw.study.pruner
    if not isinstance(pruner, DoctorPruner):
        return None
    prior = class_prior(sw.ds.y, sw.ds.n_classes) if sw.ds.task.value == "classification" else None
    return curve_watch(
        loss=sw.loss,
        prior_loss=prior[0] if prior is not None and sw.loss == "cross_entropy" else None,
        chance=prior[1] if prior is not None and sw.metric == "accuracy" else None,
        rules=pruner.rules,
    )


def work(
    sw: Sweep, *, plugins: Plugins, baselines: Baselines | None, measurer: Measurer | None, on_trial: OnTrial | None,
    total: int | None = None,
) -> Tally:
    """Train this worker's share of the study's trials (until it has ``total``, default ``study.trials``)."""
    s = sw.cfg.study
    beats = HeartbeatSettings.from_env(interval_s=s.heartbeat_interval, grace_s=s.heartbeat_grace)
    coord = TrialCoordinator(sw.study, sw.store, sw.study_id, total=total or s.trials, timeout=s.timeout,
                             settings=beats)
    try:
        return TrialLoop(sw, coord, plugins=plugins, baselines=baselines, measurer=measurer, on_trial=on_trial).run()
    finally:
        coord.close()


def work_alone(cfg: SweepConfig, ds: Dataset, *, plugins: Plugins, on_trial: OnTrial | None,
               splits: list[Split] | None = None) -> Tally:
    """A worker process's whole part: open the sweep its parent prepared (with its ``splits``) and train trials."""
    with torch_threads(cfg.train.threads or 1), contextlib.ExitStack() as stack:
        splits, data = fold_tensors(cfg, ds, splits)
        measurer = start_helper(cfg, ds, data, plugins)
        if measurer is not None:
            stack.callback(measurer.close)
        sw = open_sweep(cfg, ds, splits, data, plugins=plugins)
        stack.callback(close_connections, sw)
        return work(sw, plugins=plugins, baselines=None, measurer=measurer, on_trial=on_trial)


OnPlan = Callable[[int, Plan], None]


def work_guided(
    sw: Sweep, *, plugins: Plugins, baselines: Baselines | None, measurer: Measurer | None, on_trial: OnTrial | None,
    on_plan: OnPlan | None = None,
) -> Tally:
    """Train in rounds of ``study.guide_every`` trials; after each round the diagnosis of every trial so
    far re-plans the space (``sweepdoctor.sweep.guide``), and the plan is stored with the study."""
    s = sw.cfg.study
    rounds = list(sw.store.study_doc(sw.study_id, GUIDED_PLAN) or [])
    space, limits, tally = latest_space(rounds, sw.cfg.space), GuideLimits.from_config(sw.cfg.guide), Tally()
    sampler = NarrowedSampler(sw.study.sampler, seed=s.seed)
    sw.study.sampler = sampler
    # Optuna is asked with the study's own space wherever the plan narrows it, the sampler keeps to the plan
    asked = sw.cfg.space
    while (counted := trials_counted(sw.study.get_trials(deepcopy=False))) < s.trials and not tally.interrupted:
        target = min(s.trials, counted + s.guide_every)
        sampler.narrow(space)
        current = dataclasses.replace(sw, plan_space=space, asked_space=asked)
        tally.add(work(current, plugins=plugins, baselines=baselines, measurer=measurer, on_trial=on_trial,
                       total=target))
        if tally.interrupted or target >= s.trials:
            break
        if baselines is not None:
            baselines.get()  # the diagnosis of the round compares with them
        plan = plan_round(space, outcomes(current), maximize=sw.direction == "maximize", limits=limits)
        rounds.append(round_entry(index=len(rounds) + 1, first_trial=len(sw.study.trials), plan=plan))
        sw.store.put_study_doc(study_id=sw.study_id, key=GUIDED_PLAN, document=rounds)
        for probe in plan.probes:  # the next round's first trials (they count against the budget)
            sw.study.enqueue_trial(dict(probe.params), skip_if_exists=True)
        if on_plan is not None:
            on_plan(len(rounds), plan)
        space = plan.space
    return tally


_STATE_NAMES = {TrialState.COMPLETE: RunState.COMPLETE, TrialState.PRUNED: RunState.PRUNED}


def outcomes(sw: Sweep) -> list[TrialOutcome]:
    """Every finished trial of the study: its parameters, state, score and the codes of its findings."""
    history, _ = sw.store.load_history(sw.study.study_name)
    report = diagnostics.diagnose(history, thresholds=thresholds_of(sw.cfg))
    found = []
    for t in sw.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        if t.state == TrialState.FAIL and "hyperparameters" not in t.user_attrs:
            continue  # never trained to a result (interrupted, an error, a lost worker): says nothing of its parameters
        codes = frozenset(f.code for f in report.for_run(f"trial-{t.number}"))
        params = t.user_attrs.get("hyperparameters") or t.params
        found.append(TrialOutcome(t.number, _STATE_NAMES.get(t.state, RunState.FAIL), t.value, params, codes))
    return found
