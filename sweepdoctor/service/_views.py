"""What a study and a trial look like to the service: gathered once, served as JSON or as a page.

:func:`study_view` and :func:`trial_view` ask the library (``StudyDB``, ``Store``,
``diagnose``) and return plain records; the API returns their ``to_dict()``, the pages
and the report file render them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sweepdoctor.diagnostics import Finding, Role, RunHistory
from sweepdoctor.errors import ConfigError, StorageError, TrialNotFoundError
from sweepdoctor.service._state import Diagnosis, ServiceState
from sweepdoctor.studies import (
    StudyDetail,
    StudySummary,
    SubmittedSweep,
    TrialPage,
    TrialRecord,
    ValueSeries,
    jsonable,
)

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "SCATTER_TRIALS", "StudyView", "TrialQuery", "TrialView", "diagnosis_dict",
           "study_dict", "study_view", "trial_page", "trial_view"]

MAX_LIMIT = 1000  # trials per page
MAX_OFFSET = 100_000
SCATTER_TRIALS = 500  # the latest complete trials plotted against each parameter


@dataclass(frozen=True)
class TrialQuery:
    """The trials-table query of the API and the pages (the ``studies trials`` options)."""

    where: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    finding: str | None = None
    sort: str | None = None
    limit: int = 50
    offset: int = 0
    after: int | None = None  # keyset paging: the trials after this trial number in the sort order


def trial_page(state: ServiceState, name: str, q: TrialQuery, summary: StudySummary | None = None) -> TrialPage:
    """One page of a study's trials, filtered and sorted in the database (bound parameters only).

    ``matched`` comes from the study's summary (no filter, or states only) or from a count kept
    until the study changes: a page does not count every matching trial each time."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise ConfigError(f"limit must be between 1 and {MAX_LIMIT}, got {q.limit}")
    if not 0 <= q.offset <= MAX_OFFSET:
        raise ConfigError(f"offset must be between 0 and {MAX_OFFSET}, got {q.offset}")
    if q.after is not None and q.offset:
        raise ConfigError(f"after and offset are two ways to page: pass one, got after={q.after}, offset={q.offset}")
    page = state.db.trials(name, where=q.where, states=q.states, finding=q.finding or None, sort=q.sort or None,
                           limit=q.offset + q.limit, after=q.after, count=False)
    matched = state.matched(summary or state.db.summary(name), where=q.where, states=q.states, finding=q.finding)
    return TrialPage(study=page.study, trials=page.trials[q.offset:], matched=matched)


@dataclass(frozen=True)
class StudyView:
    detail: StudyDetail
    sweep: SubmittedSweep | None
    query: TrialQuery
    page: TrialPage
    scatter: TrialPage
    diagnosis: Diagnosis
    series: ValueSeries

    @property
    def name(self) -> str:
        return self.detail.summary.name

    @property
    def live(self) -> bool:
        """Still moving: trials running, or a submitted sweep that agents work on."""
        return _is_live(self.detail, self.sweep)

    def to_dict(self) -> dict[str, Any]:
        return study_dict(self.detail, self.sweep)


def _is_live(detail: StudyDetail, sweep: SubmittedSweep | None) -> bool:
    running = dict(detail.summary.states).get("running", 0) > 0
    return running or (sweep is not None and sweep.active)


def study_dict(detail: StudyDetail, sweep: SubmittedSweep | None) -> dict[str, Any]:
    """``GET /api/studies/{name}``: the study's detail, its submitted sweep, whether it still moves."""
    return jsonable(
        {**detail.to_dict(), "sweep": None if sweep is None else _sweep_dict(sweep), "live": _is_live(detail, sweep)}
    )


def diagnosis_dict(name: str, d: Diagnosis, *, runs: int = 20) -> dict[str, Any]:
    """``GET /api/studies/{name}/diagnosis``: counts by kind, study findings, where in the space, worst runs."""
    out: dict[str, Any] = {"study": name, "note": d.note, "stored_counts": d.stored_counts}
    if d.report is not None:
        r = d.report
        out |= {
            "counts": r.counts(),  # trials with each finding, main or not
            "main_counts": r.main_counts(),  # trials with each as their main finding
            "findings": [f.to_dict() for f in r.study_findings],
            "patterns": [p.to_dict() for p in r.patterns],
            "worst_runs": [w.to_dict() for w in r.worst_runs(runs)],
        }
    return jsonable(out)


def _sweep_dict(s: SubmittedSweep) -> dict[str, Any]:
    d = s.to_dict()
    d.pop("config")
    return d


def study_view(state: ServiceState, name: str, q: TrialQuery = TrialQuery()) -> StudyView:
    detail = state.db.show(name, top=1, importance=False)
    scatter = state.db.trials(name, states=["complete"], sort="-number", limit=SCATTER_TRIALS, count=False)
    return StudyView(
        detail=detail,
        sweep=state.sweep_of(name),
        query=q,
        page=trial_page(state, name, q, detail.summary),
        scatter=scatter,
        diagnosis=state.diagnosis(detail.summary, stored=detail.findings),
        series=state.value_series(detail.summary),
    )


@dataclass(frozen=True)
class TrialView:
    study: str
    trial: TrialRecord
    run: RunHistory | None
    baselines: tuple[RunHistory, ...]
    findings: tuple[Finding, ...]
    note: str | None = None  # why there are no findings when the diagnosis failed

    @property
    def fold_scores(self) -> list[float | None]:
        attrs = self.trial.user_attrs
        keys = sorted((k for k in attrs if k.startswith("split") and k.endswith("_score")),
                      key=lambda k: int(k[5:-6]) if k[5:-6].isdigit() else 0)
        return [attrs[k] for k in keys]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "study": self.study,
                **self.trial.to_dict(),
                "fold_scores": self.fold_scores,
                "curves": None if self.run is None else _run_dict(self.run),
                "baselines": [_run_dict(b) for b in self.baselines],
                "findings": [f.to_dict() for f in self.findings],
                "note": self.note,
            }
        )


def _run_dict(run: RunHistory) -> dict[str, Any]:
    return {
        "name": run.name,
        "role": run.role.value,
        "state": run.state,
        "folds": [
            {
                "fold": i,
                "test_loss": fold.test_loss,
                "epochs": [
                    {"epoch": e.epoch + 1, "train_loss": e.train_loss, "val_loss": e.val_loss,  # epochs 1..E
                     "val_metric": e.val_metric, "grad_norm": e.grad_norm, "lr": e.lr, "wall_time": e.wall_time}
                    for e in fold.epochs
                ],
            }
            for i, fold in enumerate(run.folds)
        ],
    }


def trial_view(state: ServiceState, name: str, number: int) -> TrialView:
    page = state.db.trials(name, where=[f"number={number}"], limit=1)
    if not page.trials:
        raise TrialNotFoundError(f"storage: study {name!r} has no stored trial {number}")
    run_name = f"trial-{number}"
    try:
        history = state.history(name, trial=number)
    except StorageError:  # a plain Optuna study, or a trial without curves yet
        return TrialView(name, page.trials[0], None, (), ())
    run = next((r for r in history.candidates if r.name == run_name), None)
    findings: Sequence[Finding] = ()
    note = None
    if run is not None:
        report, note = state.try_diagnose(history)
        findings = () if report is None else report.for_run(run_name)
    baselines = tuple(r for r in history.runs if r.role is Role.BASELINE)
    return TrialView(name, page.trials[0], run, baselines, tuple(findings), note)
