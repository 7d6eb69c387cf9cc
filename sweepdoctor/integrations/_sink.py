"""Where a recorder writes: our tables in the database of the trial's study, never at the study's cost.

The curves of a trial go in one transaction when the trial ends (``Store.add_run``, with
the trial's user attributes, as a sweep writes them), so an epoch costs no write. Any
failure to write (our tables cannot be created, the database refuses, the study's storage
is not a database) is logged as a warning and the user's loop goes on: the study is the
user's, our curves are extra.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.exceptions import OptunaError
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.diagnostics import Role, RunHistory, Task
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import Store

__all__ = ["RunSink"]

logger = logging.getLogger(__name__)


def _optuna_engine(trial: Any) -> Any | None:
    """The SQLAlchemy engine of the trial's study storage, or ``None`` when it is not a database."""
    storage = getattr(getattr(trial, "study", None), "_storage", None)
    storage = getattr(storage, "_backend", storage)  # Optuna's _CachedStorage wraps the RDBStorage
    return getattr(storage, "engine", None)


class RunSink:
    """Writes one trial's run (and the study's references) to ``storage`` or the trial's own database."""

    def __init__(self, trial: Any, storage: str | Store | None = None) -> None:
        self._trial = trial
        self._storage = storage
        self._store: Store | None = None
        self._study_id: int | None = None
        self.broken = False  # a write failed or there is nowhere to write: later writes are not tried

    def _open(self) -> tuple[Store, int] | None:
        if self._store is not None and self._study_id is not None:
            return self._store, self._study_id
        if isinstance(self._storage, Store):
            store = self._storage
        elif isinstance(self._storage, str):
            store = Store(self._storage)
        else:
            engine = _optuna_engine(self._trial)
            if engine is None:
                kind = type(getattr(getattr(self._trial, "study", None), "_storage", None)).__name__
                logger.warning("sweepdoctor: trial %s's study storage (%s) is not a database; its curves are kept "
                               "in memory only (pass storage=URL to sweepdoctor.record to store them)",
                               getattr(self._trial, "number", "?"), kind)
                return None
            store = Store(engine)
        study_id = getattr(self._trial.study, "_study_id", None)
        if not isinstance(study_id, int):
            study_id = store.study_id(self._trial.study.study_name)
        self._store, self._study_id = store, study_id
        return store, study_id

    def write_run(self, run: RunHistory, *, task: Task, loss: str, fold_scores: Sequence[float | None],
                  attrs: Mapping[str, Any], fail_reason: str | None, replace: bool) -> bool:
        """Store the trial's run with its attributes (one transaction); False, logged, when it cannot."""
        trial = self._trial

        def write(store: Store, study_id: int) -> None:
            store.add_run(study_id=study_id, run=run, task=task, loss=loss, trial_id=trial._trial_id,
                          trial_number=trial.number, fold_scores=fold_scores, fail_reason=fail_reason,
                          trial_attrs=attrs, replace=replace, study_attrs={"task": task.value})  # as a sweep's

        return self._attempt(write, f"the curves of trial {trial.number}")

    def write_references(self, refs: Sequence[RunHistory], *, task: Task, loss: str) -> bool:
        """Store the references the study does not have yet (by name); False, logged, when it cannot."""

        def write(store: Store, study_id: int) -> None:
            have = {r.name for r in store.load_runs(study_id, role=Role.BASELINE)}
            for ref in refs:
                if ref.name not in have:
                    store.add_run(study_id=study_id, run=ref, task=task, loss=loss)

        return self._attempt(write, "the study's references")

    def _attempt(self, write: Any, what: str) -> bool:
        if self.broken:
            return False
        try:
            opened = self._open()
            if opened is None:
                self.broken = True
                return False
            write(*opened)
        except (StorageError, SQLAlchemyError, OptunaError) as e:
            self.broken = True
            logger.warning("sweepdoctor: could not store %s (%s); the study goes on without them", what, e)
            return False
        finally:
            self._close()
        return True

    def _close(self) -> None:
        """Close the connections of a store opened from a URL here (Optuna's engine stays Optuna's)."""
        if isinstance(self._storage, str) and self._store is not None:
            self._store.engine.dispose()
