"""Diagnosing a stored study: its curves in, its findings stored in place of the old ones.

The one code path for the sweep's closing diagnosis and ``sweepdoctor diagnose
--study``: load the study's history, run :func:`sweepdoctor.diagnostics.diagnose`,
replace the stored findings, all under the study's lock (:class:`StudyLock`), so that
two writers never interleave their delete-then-insert and the findings stored last are
those of the runs stored when they were written. Each finding's confidence is stored
inside its evidence JSON (``evidence["confidence"]``): no new column, so databases
written before it read as before. A plain Optuna study (no curves of ours) is diagnosed
from the values its trials reported (``_plain``), its validation curve alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from sweepdoctor.diagnostics import HessianReport, History, Report, Thresholds, diagnose
from sweepdoctor.errors import CurvesNotFoundError, TrialNotFoundError
from sweepdoctor.studies.db import Store, StudyLock
from sweepdoctor.studies.doctor._plain import plain_history

__all__ = ["diagnose_study"]


def diagnose_study(
    storage: str | Store,
    name: str,
    *,
    thresholds: Thresholds | None = None,
    trial: int | None = None,
    hessians: Mapping[str, HessianReport] | None = None,
    sharpness: Mapping[str, float] | None = None,
) -> Report:
    """Diagnose the stored study ``name``, store its findings (replacing the old ones), return the report.

    ``storage`` is a database URL or an open :class:`Store`. With ``trial``, only that
    trial (beside the baselines) is diagnosed and the stored study-level findings are
    kept: one trial cannot speak for the study. ``hessians`` and ``sharpness`` go to
    :func:`~sweepdoctor.diagnostics.diagnose` as they are; measure them before calling,
    since the study's lock is held here, and other workers wait on it.
    """
    store = Store(storage) if isinstance(storage, str) else storage
    try:
        study_id = store.study_id(name)
        with StudyLock(store.engine, study_id):  # one writer of the study's findings at a time
            history, run_ids = _history(store, study_id, name, trial)
            if trial is not None and f"trial-{trial}" not in {r.name for r in history.candidates}:
                raise TrialNotFoundError(f"storage: study {name!r} has no stored trial {trial}")
            report = diagnose(history, thresholds=thresholds, hessians=hessians, sharpness=sharpness)
            findings = [f for f in report.findings if f.run is not None or trial is None]
            store.replace_findings(study_id=study_id, findings=findings, run_ids=run_ids)
    finally:
        if store is not storage:  # ours: close its connections
            store.engine.dispose()
    return report


def _history(store: Store, study_id: int, name: str, trial: int | None) -> tuple[History, dict[str, int]]:
    """Our stored curves; for a study without any, the values its trials reported to Optuna.

    A plain study's runs have no rows of ours (no run ids): its per-run findings are
    returned, not stored.
    """
    numbers = None if trial is None else [trial]
    if store.has_runs(study_id):
        return store.load_history(name, trial_numbers=numbers)
    plain = plain_history(store.engine, study_id, trial_numbers=numbers)
    if plain is None:
        which = f"trial {trial}" if trial is not None else "any trial"
        raise CurvesNotFoundError(
            f"storage: study {name!r} has no curves to diagnose: no curves of ours and no values reported by "
            f"{which} (trial.report); record them with sweepdoctor.record(trial, ...) (manual page \"Optuna loop\")"
        )
    return plain, {}
