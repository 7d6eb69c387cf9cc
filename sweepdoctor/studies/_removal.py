"""Deleting a study: our rows, then Optuna's study through Optuna's own API.

Ours go first, in one transaction: a failure in between leaves a plain Optuna study
(which every command still reads), never curves pointing at a study id that a new
study might reuse. Running the delete again finishes the job.
"""

from __future__ import annotations

from typing import NamedTuple

import optuna
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.errors import StorageError
from sweepdoctor.studies._catalog import StudyRef
from sweepdoctor.studies._engine import mask_url, session_scope
from sweepdoctor.studies._optuna_tables import o_trials
from sweepdoctor.studies._schema import EpochRow, FindingRow, FoldRow, RunRow

__all__ = ["DeleteReport", "delete_study"]


class DeleteReport(NamedTuple):
    """What a delete removed."""

    study: str
    n_trials: int
    n_runs: int
    n_findings: int

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


def delete_study(engine: Engine, url: str, study: StudyRef, *, ours: bool) -> DeleteReport:
    """Delete ``study``'s sd_* rows, then the Optuna study (``optuna.delete_study``)."""
    n_runs = n_findings = 0
    with session_scope(engine) as s:
        n_trials = s.execute(select(func.count()).where(o_trials.c.study_id == study.study_id)).scalar_one()
        if ours:
            runs = select(RunRow.id).where(RunRow.study_id == study.study_id)
            n_runs = s.execute(select(func.count()).select_from(runs.subquery())).scalar_one()
            n_findings = s.execute(
                select(func.count(FindingRow.id)).where(FindingRow.study_id == study.study_id)
            ).scalar_one()
            s.execute(delete(FindingRow).where(FindingRow.study_id == study.study_id))
            s.execute(delete(EpochRow).where(EpochRow.run_id.in_(runs)))
            s.execute(delete(FoldRow).where(FoldRow.run_id.in_(runs)))
            s.execute(delete(RunRow).where(RunRow.study_id == study.study_id))
    try:
        storage = optuna.storages.RDBStorage(url)
    except (optuna.exceptions.OptunaError, SQLAlchemyError, RuntimeError, ValueError, ImportError) as e:
        raise StorageError(f"storage: Optuna cannot open {mask_url(url)!r} to delete {study.name!r}: {e}") from e
    try:
        optuna.delete_study(study_name=study.name, storage=storage)
    except (optuna.exceptions.OptunaError, SQLAlchemyError, KeyError) as e:
        raise StorageError(
            f"storage: our rows of {study.name!r} are deleted but Optuna could not delete the study "
            f"({type(e).__name__}); run the delete again"
        ) from e
    finally:
        storage.remove_session()
        storage.engine.dispose()
    return DeleteReport(study=study.name, n_trials=int(n_trials), n_runs=int(n_runs), n_findings=int(n_findings))
