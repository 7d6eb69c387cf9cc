"""Heartbeats for ask/tell workers, and what happens to a trial whose worker died.

Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)``) only runs inside
``Study.optimize``; our runner uses ask/tell, so it does the same by hand, with Optuna's
storage API and table: :class:`Heartbeat` records ``storage.record_heartbeat(trial_id)``
on a thread while the trial trains (as ``optuna.storages._heartbeat.HeartbeatThread``
does), and :func:`fail_stale_trials` is our ``optuna.storages.fail_stale_trials``: a
RUNNING trial whose worker is lost is failed with a reason and queued again with the
same parameters, in the format of Optuna's ``RetryHeartbeatStaleTrialCallback`` (system
attributes ``failed_trial`` and ``retry_history``), so Optuna's tools recognise the retry.

A worker is lost when its process, recorded with the trial
(:class:`~sweepdoctor.studies.WorkerProcess`), ran on this machine and is gone: seen at
once, at the next claim of any worker here. Across machines, when the trial has had no
heartbeat for the grace period. The interval and the grace period come from the sweep's
configuration (``--heartbeat-interval``/``--heartbeat-grace``, ``[study]`` keys), else
the environment (:data:`INTERVAL_ENV`, :data:`GRACE_ENV`), else 5 s and 15 s.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import optuna
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.errors import ConfigError, StudyNotFoundError
from sweepdoctor.studies import (
    PROCESS_ATTR,
    RunningTrial,
    StudyLock,
    describe_error,
    make_engine,
    mark_run_abandoned,
    mask_url,
    run_stored,
    running_trials,
)
from sweepdoctor.sweep.search._storage import optuna_storage

__all__ = [
    "GRACE_ENV",
    "INTERVAL_ENV",
    "RETRY_ENV",
    "Heartbeat",
    "HeartbeatSettings",
    "enqueue_retry",
    "fail_stale_in_study",
    "fail_stale_trials",
]

logger = logging.getLogger(__name__)

INTERVAL_ENV = "SWEEPDOCTOR_HEARTBEAT_INTERVAL"
GRACE_ENV = "SWEEPDOCTOR_HEARTBEAT_GRACE"
RETRY_ENV = "SWEEPDOCTOR_MAX_RETRY"
# A worker on another machine beats every HEARTBEAT_INTERVAL_S; others take its trial over
# after HEARTBEAT_GRACE_S without one (three missed beats). On one machine the process decides.
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_GRACE_S = 3 * HEARTBEAT_INTERVAL_S


@dataclass(frozen=True)
class HeartbeatSettings:
    """How often a worker says it is alive, how long others wait before taking its trial over."""

    interval_s: float = HEARTBEAT_INTERVAL_S
    grace_s: float = HEARTBEAT_GRACE_S
    max_retry: int = 3  # a trial whose worker keeps dying is run at most 1 + max_retry times

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ConfigError(
                f"heartbeat interval (--heartbeat-interval, {INTERVAL_ENV}) must be > 0 seconds, got {self.interval_s}"
            )
        if not self.grace_s > self.interval_s:
            raise ConfigError(
                f"heartbeat grace period (--heartbeat-grace, {GRACE_ENV}) must be longer than the heartbeat "
                f"interval ({self.interval_s:g} s), got {self.grace_s:g}; raise it or shorten the interval"
            )
        if self.max_retry < 0:
            raise ConfigError(f"{RETRY_ENV} must be >= 0, got {self.max_retry}")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, interval_s: float | None = None, grace_s: float | None = None
    ) -> HeartbeatSettings:
        """``interval_s``/``grace_s`` when given (the sweep's configuration), else
        ``SWEEPDOCTOR_HEARTBEAT_INTERVAL`` / ``_GRACE``, else the defaults; ``SWEEPDOCTOR_MAX_RETRY``.
        Without a grace period, three missed beats of the interval."""
        env = os.environ if env is None else env
        interval = interval_s if interval_s is not None else _number(env, INTERVAL_ENV, HEARTBEAT_INTERVAL_S)
        grace = grace_s if grace_s is not None else _number(env, GRACE_ENV, 3 * interval)
        return cls(interval_s=interval, grace_s=grace, max_retry=int(_number(env, RETRY_ENV, 3)))


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number of seconds, got {raw!r}") from None


class Heartbeat:
    """Records a trial's heartbeat now, then every ``interval_s`` on a daemon thread until stopped."""

    def __init__(self, storage: BaseHeartbeat, trial_id: int, interval_s: float) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """One heartbeat, in the caller's thread (errors propagate)."""
        self._storage.record_heartbeat(self._trial_id)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self._trial_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except (StorageInternalError, SQLAlchemyError) as e:
                # A missed beat is harmless unless they go on for the whole grace period;
                # the worker's own database calls retry and report the outage.
                logger.warning("heartbeat of trial id %d not recorded: %s", self._trial_id, describe_error(e))


def enqueue_retry(study: optuna.Study, trial: FrozenTrial, *, max_retry: int) -> int | None:
    """Queue ``trial`` again (WAITING, same parameters); its number, or None past ``max_retry``.

    Same system attributes as Optuna's ``RetryHeartbeatStaleTrialCallback``; user
    attributes are not copied (the retry gets its own worker, scores and reasons).
    """
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        return None
    kept = {k: v for k, v in trial.system_attrs.items() if k != PROCESS_ATTR}  # the retry gets its own worker
    system_attrs = {**kept, "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                    "retry_history": history}
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING, params=trial.params, distributions=trial.distributions, system_attrs=system_attrs
        )
    )
    return study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[-1].number


def fail_stale_trials(
    study: optuna.Study, engine: Engine, *, grace_s: float, max_retry: int, orphans: bool
) -> list[int]:
    """Fail the study's RUNNING trials whose worker is lost and queue their retries; the numbers failed.

    Lost: its process ran on this machine and is gone, or (across machines) it has had
    no heartbeat for ``grace_s`` (see :meth:`~sweepdoctor.studies.RunningTrial.is_stale`).
    Call it holding the study lock (:class:`~sweepdoctor.studies.StudyLock`), so two
    workers never fail and retry the same trial. ``orphans``: also fail RUNNING trials
    that never sent a heartbeat; right only when every worker records its first
    heartbeat under that same lock, right after asking for the trial.
    """
    storage = study._storage
    failed: list[int] = []
    for t in running_trials(engine, study._study_id):
        if not t.is_stale(grace_s, orphans=orphans):
            continue
        reason = _lost_reason(t, grace_s)
        try:
            # The reason goes first: a finished trial's attributes can no longer change.
            storage.set_trial_user_attr(t.trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(t.trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # its worker finished it after all
        frozen = storage.get_trial(t.trial_id)
        retry = enqueue_retry(study, frozen, max_retry=max_retry)
        if run_stored(engine, t.trial_id):
            mark_run_abandoned(engine, t.trial_id, reason)
        logger.warning("trial %d failed: %s; %s", t.number, reason,
                       "no retry left" if retry is None else f"queued again as trial {retry}")
        failed.append(t.number)
    return failed


def _lost_reason(t: RunningTrial, grace_s: float) -> str:
    worker = t.worker or "unknown"
    if t.process_gone:
        return f"worker lost: its process is gone (worker {worker})"
    if t.heartbeat_age_s is None:
        return f"worker lost before its first heartbeat (worker {worker})"
    return f"worker lost: no heartbeat for {grace_s:g} s (worker {worker})"


def fail_stale_in_study(url: str, name: str, *, grace_s: float, max_retry: int | None = None) -> list[int]:
    """:func:`fail_stale_trials` on a stored study, under its lock (``studies doctor --fail-stale``)."""
    storage = optuna_storage(url)
    engine = make_engine(url)
    try:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise StudyNotFoundError(f"storage: no study named {name!r} in {mask_url(url)!r}") from None
        lock = StudyLock(engine, study._study_id)
        retries = HeartbeatSettings.from_env().max_retry if max_retry is None else max_retry
        with lock:
            return fail_stale_trials(study, engine, grace_s=grace_s, max_retry=retries, orphans=lock.exclusive)
    finally:
        engine.dispose()
        storage.engine.dispose()
