"""A training trial's finished epochs, stored while it trains: what the service's live curves show.

The engine calls ``watch(epoch, curves)`` after each epoch; :class:`LiveCurves` writes the
epochs finished since its last write (every fold's, in one transaction,
:meth:`~sweepdoctor.studies.Store.add_live_epochs`) once ``interval_s`` has passed since
then, the first time ``interval_s`` after the trial started: a trial shorter than that
writes nothing until its record is stored, which writes the rest. Whatever the database
says, training goes on: a write that fails is logged and its epochs are written by the next
one, or by the trial's record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory, RunState, Task
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import Store, describe_error, is_transient
from sweepdoctor.sweep.search._doctor_pruner import CurveWatch

__all__ = ["LIVE_INTERVAL_S", "LiveCurves", "watch_both"]

logger = logging.getLogger(__name__)

LIVE_INTERVAL_S = 1.0  # at most one write a second per trial: the sweep does not pay for the live curves


class LiveCurves:
    """Stores one training trial's finished epochs at most every ``interval_s`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        study_id: int,
        trial_number: int,
        task: Task,
        loss: str,
        params: Mapping[str, Any],
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._study_id, self._trial_number, self._task, self._loss = study_id, trial_number, task, loss
        self._params = dict(params)
        self._interval = LIVE_INTERVAL_S if interval_s is None else interval_s
        self._clock = clock
        self._due = clock() + self._interval
        self._written = 0  # epochs of every fold stored so far
        self.writes = 0  # transactions that stored epochs
        self.off = False  # a write failed for good: the trial's record stores its epochs

    def __call__(self, epoch: int, curves: Sequence[Sequence[EpochRecord]]) -> None:
        """After epoch ``epoch``: store what finished since the last write, when it is due."""
        if self.off or self._clock() < self._due or len(curves[0]) <= self._written:
            return
        self.write(curves)
        self._due = self._clock() + self._interval

    def write(self, curves: Sequence[Sequence[EpochRecord]]) -> None:
        """Store the epochs of ``curves`` not stored yet (one transaction)."""
        n = self._trial_number
        run = RunHistory(name=f"trial-{n}", role=Role.CANDIDATE, hyperparameters=self._params,
                         folds=tuple(FoldHistory(epochs=tuple(c)) for c in curves), state=RunState.RUNNING)
        try:
            self._store.add_live_epochs(study_id=self._study_id, run=run, task=self._task, loss=self._loss,
                                        trial_number=n)
        except StorageError as e:
            self.off = not is_transient(e)  # not the database being away: it would fail again each second
            logger.warning("the live curves of trial %d were not stored (%s); %s", n, describe_error(e),
                           "they are stored when the trial ends" if self.off else "trying again in a while")
            return
        self._written = min(len(c) for c in curves)
        self.writes += 1


def watch_both(live: LiveCurves, watch: CurveWatch | None) -> CurveWatch:
    """One ``watch`` for the engine: store the live curves, then ask ``watch`` (the diagnosis pruner) if any."""

    def both(epoch: int, curves: Sequence[Sequence[EpochRecord]]) -> str | None:
        live(epoch, curves)
        return None if watch is None else watch(epoch, curves)

    return both
