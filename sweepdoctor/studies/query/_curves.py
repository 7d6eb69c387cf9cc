"""Per-epoch curves of one stored run, aggregated over its folds in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import Role
from sweepdoctor.errors import CurvesNotFoundError, TrialNotFoundError
from sweepdoctor.studies.db import EpochRow, RunRow
from sweepdoctor.studies.query._catalog import StudyRef
from sweepdoctor.studies.query._records import CurvePoint, Curves

__all__ = ["run_curves"]

# Baselines are stored as ``baseline-linear`` etc.; ``--run linear`` names the same run.
BASELINE_PREFIX = "baseline-"


def run_curves(s: Session, study: StudyRef, *, trial: int | None = None, run: str | None = None) -> Curves:
    """Mean, min and max over folds of train and validation loss, per epoch.

    Pick the run by trial number or by name: a baseline is ``baseline-linear`` or just ``linear``.
    """
    q = select(RunRow.id, RunRow.name, RunRow.trial_number).where(RunRow.study_id == study.study_id)
    if run is not None:
        names = [run] if run.startswith(BASELINE_PREFIX) else [run, BASELINE_PREFIX + run]
        q = q.where(RunRow.name.in_(names))
    elif trial is not None:  # a number past 64 bits is no trial (and no driver binds it)
        q = q.where(RunRow.trial_number == trial if abs(trial) < 2**63 else false())
    found = s.execute(q.order_by(RunRow.id.desc()).limit(1)).first()
    if found is None:
        available = _available(s, study)
        if run is not None:
            raise CurvesNotFoundError(
                f"storage: study {study.name!r} has no stored curves for run {run!r}; {available}"
            )
        raise TrialNotFoundError(f"storage: study {study.name!r} has no stored curves for trial {trial}; {available}",
                                 available=available)
    run_id, name, number = found
    e = EpochRow
    rows = s.execute(
        select(
            e.epoch,
            func.count(e.fold),
            func.avg(e.train_loss),
            func.min(e.train_loss),
            func.max(e.train_loss),
            func.avg(e.val_loss),
            func.min(e.val_loss),
            func.max(e.val_loss),
        )
        .where(e.run_id == run_id)
        .group_by(e.epoch)
        .order_by(e.epoch)
    )
    points = tuple(
        CurvePoint(
            epoch=int(epoch) + 1,  # numbered 1..E in every view; the stored records count from 0
            n_folds=int(n),
            train_mean=_float(tm),
            train_min=tlo,
            train_max=thi,
            val_mean=_float(vm),
            val_min=vlo,
            val_max=vhi,
        )
        for epoch, n, tm, tlo, thi, vm, vlo, vhi in rows
    )
    return Curves(study=study.name, run=name, trial_number=number, points=points)


def _available(s: Session, study: StudyRef) -> str:
    n, lo, hi = s.execute(
        select(func.count(RunRow.id), func.min(RunRow.trial_number), func.max(RunRow.trial_number)).where(
            RunRow.study_id == study.study_id, RunRow.role == Role.CANDIDATE.value
        )
    ).one()
    baselines = list(
        s.execute(
            select(RunRow.name).where(RunRow.study_id == study.study_id, RunRow.role == Role.BASELINE.value)
        ).scalars()
    )
    if not n and not baselines:
        return "it has none (made by plain Optuna, or stored by another tool?)"
    parts = [f"{n} trials have curves (numbers {lo}..{hi})"] if n else []
    if baselines:
        parts.append("baselines: " + ", ".join(sorted(baselines)))
    return "; ".join(parts)


def _float(x: Any) -> float | None:
    return None if x is None else float(x)
