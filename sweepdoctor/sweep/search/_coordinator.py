"""One worker's side of a study shared by many: claim trials within budget, keep them alive, survive faults.

The runner's loop asks :class:`TrialCoordinator` for its next trial and hands it every
database effect of the trial. What it guarantees:

- **Exact budget.** Deciding whether the study still needs a trial and creating it
  happen under the study lock (:class:`~sweepdoctor.studies.StudyLock`), so workers
  racing for the last slot create exactly one trial between them. A trial counts
  against ``--trials`` unless it failed and was queued again (its retry counts
  instead); queued retries are claimed before anything new.
- **Dead workers.** A claimed trial gets its first heartbeat and the worker's process
  (:class:`~sweepdoctor.studies.WorkerProcess`: host, pid, start time) under the lock,
  then a heartbeat every interval from a thread; every claim first fails the trials of
  lost workers and queues their retries
  (:func:`~sweepdoctor.sweep.search._heartbeat.fail_stale_trials`): at once when the
  process ran on this machine and is gone, after the grace period without a heartbeat
  otherwise. A worker whose budget is spent waits while other workers' trials are alive,
  so the trial of a worker that dies is still retried before the sweep ends.
- **Database faults.** Each database effect is retried with exponential backoff while
  the error is transient (connection lost, server restarting, SQLite busy), for up to
  ``patience_s``; then a :class:`StorageError` says what was not stored. Each effect is
  idempotent (curves written once per trial, a finished trial not told twice), so a
  retry after a commit whose answer was lost duplicates nothing.
- **Stopping.** SIGINT and SIGTERM ask for a stop: training stops at the next epoch
  boundary (the trial is failed as interrupted), a finished trial is still stored, and
  nothing new is claimed. A second signal interrupts at once.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any, TypeVar

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from sweepdoctor.errors import ConfigError, StorageError
from sweepdoctor.studies import (
    PROCESS_ATTR,
    WORKER_ATTR,
    Store,
    StudyLock,
    WorkerProcess,
    describe_error,
    is_transient,
    mark_run_abandoned,
    run_stored,
    running_trials,
)
from sweepdoctor.sweep.search._heartbeat import Heartbeat, HeartbeatSettings, fail_stale_trials
from sweepdoctor.sweep.search._signals import StopSignals

__all__ = ["PATIENCE_ENV", "TrialCoordinator", "best_value", "trials_counted", "worker_id"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

PATIENCE_ENV = "SWEEPDOCTOR_DB_PATIENCE"  # seconds a worker keeps retrying a database that went away
DEFAULT_PATIENCE_S = 120.0
LINGER_POLL_S = 0.5  # how often a worker with nothing to claim looks again while others still train


def trials_counted(trials: Sequence[FrozenTrial]) -> int:
    """Trials that count against ``--trials``: all, except failed ones that were queued again."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return sum(1 for t in trials if t.number not in retried)


def worker_id() -> str:
    """``host:pid``: how a worker is named in its trials and in ``studies doctor``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def best_value(study: optuna.Study) -> float | None:
    """The study's best value for progress display (None when there is none or the database is away)."""
    try:
        return study.best_value
    except ValueError:
        return None
    except Exception as e:
        if not is_transient(e):
            raise
        logger.warning("best value not read: %s", describe_error(e))
        return None


def db_patience(env: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if env is None else env).get(PATIENCE_ENV) or ""
    try:
        value = float(raw) if raw else DEFAULT_PATIENCE_S
    except ValueError:
        raise ConfigError(f"{PATIENCE_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{PATIENCE_ENV} must be >= 0 seconds, got {value}")
    return value


class TrialCoordinator:
    """Claims, keeps alive and records the trials of one worker (see the module docstring)."""

    def __init__(
        self,
        study: optuna.Study,
        store: Store,
        study_id: int,
        *,
        total: int,
        timeout: float | None = None,
        settings: HeartbeatSettings | None = None,
        patience_s: float | None = None,
    ) -> None:
        self._study = study
        self._storage = study._storage
        if not isinstance(self._storage, BaseHeartbeat):
            raise StorageError(f"storage: {type(self._storage).__name__} cannot record heartbeats; use a database URL")
        self._heartbeats: BaseHeartbeat = self._storage
        self._store = store
        self._study_id = study_id
        self._lock = StudyLock(store.engine, study_id)
        self._total = total
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._settings = settings or HeartbeatSettings.from_env()
        self._patience = db_patience() if patience_s is None else patience_s
        self.worker_id = worker_id()
        self._process = WorkerProcess.this(grace_s=self._settings.grace_s).to_json()
        self._beats: dict[int, Heartbeat] = {}  # trial id -> its heartbeat, for each trial this worker trains
        self._others_alive = False
        self._stop = threading.Event()
        self._signals = StopSignals(self._on_signal)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Stop the heartbeat and give the signal handlers back."""
        self._end_heartbeat()
        self._signals.restore()

    # ---- the loop's questions ------------------------------------------------------

    def next_trial(self) -> optuna.Trial | None:
        """The next trial to train (a queued retry first), or None when the study needs no more from us."""
        self._end_heartbeat()
        while not self._stop.is_set() and (self._deadline is None or time.monotonic() < self._deadline):
            trial = self.db(self._claim, "claiming the next trial")
            if trial is not None:
                self._beats[trial._trial_id].start()
                return trial
            if not self._others_alive:
                return None
            # Budget spent but other workers still train: if one of them dies, its
            # trial goes stale and is queued again; stay to take it.
            self._stop.wait(min(self._settings.interval_s, LINGER_POLL_S))
        return None

    def check_stop(self) -> None:
        """Raise KeyboardInterrupt when a stop was asked for (called at each epoch boundary)."""
        if self._stop.is_set():
            raise KeyboardInterrupt

    def pruning(self, trial: optuna.Trial, prune: bool) -> Callable[[int, float, bool], bool]:
        """The ``on_epoch`` callback of ``trial``: stop when asked to, report and prune (when ``prune``)."""

        def on_epoch(epoch: int, value: float, stored: bool) -> bool:
            self.check_stop()
            if not prune or not math.isfinite(value):
                return False
            return self.report(trial, value, epoch, stored=stored)

        return on_epoch

    def report(self, trial: optuna.Trial, value: float, epoch: int, *, stored: bool = False) -> bool:
        """Report an epoch's value; True to stop training: pruned, or the trial is no longer ours.

        ``stored``: the measuring process has written the value to the study already;
        the trial only learns it (as ``Trial.report`` does after its write).
        """
        cached = getattr(trial, "_cached_frozen_trial", None)  # where Trial.report keeps what it wrote

        def attempt() -> bool:
            if stored and cached is not None:
                cached.intermediate_values[epoch] = value
            else:
                trial.report(value, epoch)
            return trial.should_prune()

        try:
            return self.db(attempt, f"reporting epoch {epoch} of trial {trial.number}")
        except UpdateFinishedTrialError:
            logger.warning("trial %d was failed by another worker meanwhile (stale heartbeat)", trial.number)
            return True

    def suggest(self, fn: Callable[[], T], trial: optuna.Trial) -> T:
        """Sample the trial's parameters (repeatable: a retry gets the values already stored)."""
        return self.db(fn, f"sampling the parameters of trial {trial.number}")

    def store_run(self, trial: optuna.Trial, write: Callable[[], object]) -> bool:
        """Write the trial's curves once; False (and nothing written) if the trial is no longer ours."""

        def attempt() -> bool:
            if self._storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
                return False
            if not run_stored(self._store.engine, trial._trial_id):
                write()
            return True

        ok = self.db(attempt, f"storing the curves of trial {trial.number}")
        if not ok:
            self._end_heartbeat(trial._trial_id)
            logger.warning("trial %d was failed by another worker meanwhile; its result is dropped", trial.number)
        return ok

    def finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> bool:
        """Set the trial's user attributes and tell its state; False if another worker failed it first."""

        def attempt() -> bool:
            now = self._storage.get_trial(trial._trial_id).state
            if now.is_finished():
                return now == state  # the same state: an earlier try of ours got through
            try:
                for key, v in (attrs or {}).items():
                    trial.set_user_attr(key, v)
                if state == TrialState.COMPLETE:
                    done = self._study.tell(trial, value, skip_if_finished=True)
                else:
                    done = self._study.tell(trial, state=state, skip_if_finished=True)
            except UpdateFinishedTrialError:
                return False
            return done.state == state

        try:
            ok = self.db(attempt, f"recording trial {trial.number} as {state.name.lower()}")
        finally:
            self._end_heartbeat(trial._trial_id)
        if not ok:
            reason = "abandoned: another worker failed this trial (stale heartbeat) before it was recorded"
            self.db(lambda: mark_run_abandoned(self._store.engine, trial._trial_id, reason), "marking a run")
            logger.warning("trial %d was failed by another worker meanwhile; its result is dropped", trial.number)
        return ok

    def db(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, retried with exponential backoff while the database is away (see the module docstring)."""
        start = time.monotonic()
        delay = 0.5
        while True:
            try:
                return fn()
            except Exception as e:
                if not is_transient(e):
                    raise
                waited = time.monotonic() - start
                if waited >= self._patience:
                    raise StorageError(
                        f"storage: the database stopped answering while {what} and did not come back within "
                        f"{self._patience:.0f} s ({describe_error(e)}); trials finished before that are stored, "
                        "and the same command resumes the study"
                    ) from e
                logger.warning("database error while %s (%s); retrying in %.1f s", what, describe_error(e), delay)
                time.sleep(min(delay, self._patience - waited))
                delay = min(delay * 2, 10.0)

    # ---- inside ----------------------------------------------------------------------

    def _claim(self) -> optuna.Trial | None:
        with self._lock:
            fail_stale_trials(
                self._study,
                self._store.engine,
                grace_s=self._settings.grace_s,
                max_retry=self._settings.max_retry,
                orphans=self._lock.exclusive,
            )
            trials = self._study.get_trials(deepcopy=False)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if not waiting and trials_counted(trials) >= self._total:
                running = running_trials(self._store.engine, self._study_id) if any(
                    t.state == TrialState.RUNNING for t in trials) else []
                self._others_alive = any(r.heartbeat_age_s is not None for r in running)
                return None
            trial = self._study.ask()
            beat = Heartbeat(self._heartbeats, trial._trial_id, self._settings.interval_s)
            beat.beat()  # under the lock: a RUNNING trial without a heartbeat is an orphan
            trial.set_user_attr(WORKER_ATTR, self.worker_id)
            self._storage.set_trial_system_attr(trial._trial_id, PROCESS_ATTR, self._process)
        self._beats[trial._trial_id] = beat
        return trial

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """The first SIGINT/SIGTERM stops after this epoch; a second one at once."""
        if self._stop.is_set():
            raise KeyboardInterrupt
        self._stop.set()
        logger.warning("%s: stopping after this epoch (send it again to stop at once)", signal.Signals(signum).name)

    def _end_heartbeat(self, trial_id: int | None = None) -> None:
        """Stop one trial's heartbeat, or (None) every one."""
        for tid in list(self._beats) if trial_id is None else [trial_id]:
            beat = self._beats.pop(tid, None)
            if beat is not None:
                beat.stop()
