"""What a study and a trial look like to the service: gathered once, served as JSON or as a page.

:func:`study_view` and :func:`trial_view` ask the library (``StudyDB``, ``Store``,
``diagnose``) and return plain records; the API returns their ``to_dict()``, the pages
and the report file render them. The JSON forms are typed (``StudyAnswer``, ``TrialAnswer``,
``DiagnosisAnswer`` and their parts): FastAPI declares them in ``/openapi.json`` and checks
every answer against them as it serializes it (about 6 ms a megabyte of answer more than an
untyped dict). Each type names the keys its builder makes, in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

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

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "SCATTER_TRIALS", "DiagnosisAnswer", "StudyAnswer", "StudyView", "Summary",
           "SweepStatus", "TrialAnswer", "TrialLine", "TrialQuery", "TrialView", "diagnosis_dict", "study_dict",
           "study_view", "sweep_status", "trial_page", "trial_view"]

MAX_LIMIT = 1000  # trials per page
MAX_OFFSET = 100_000
SCATTER_TRIALS = 500  # the latest complete trials plotted against each parameter


class TrialLine(TypedDict):
    """One trial of a trials page (and a study's best trial)."""

    number: int
    state: Annotated[str, Field(description="complete, pruned, fail, running or waiting")]
    value: Annotated[float | None, Field(description="the first objective's value; null when none or not finite")]
    datetime_start: str | None
    datetime_complete: str | None
    duration_s: float | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    findings: Annotated[list[str], Field(description="the codes of its stored findings")]


class Summary(TypedDict):
    """A study's summary: ``GET /api/studies`` without direction and sweep_state."""

    study_id: int
    name: str
    directions: list[str]
    n_trials: int
    states: dict[str, int]
    best_value: float | None
    last_activity: str | None
    task: str | None
    metric: str | None
    n_runs: int | None


class ValueStats(TypedDict):
    """The objective values of the complete trials."""

    n: int
    min: float | None
    mean: float | None
    max: float | None


class FoldSpread(TypedDict):
    """A trial's validation score on each fold, their mean and (population) std."""

    number: int
    value: float | None
    scores: list[float | None]
    mean: float | None
    std: float | None
    source: Annotated[str, Field(description="sd_folds (our table) or user_attrs (split{i}_score)")]


class Importance(TypedDict):
    """Parameter importances, or why there are none."""

    values: dict[str, float] | None
    reason: str | None
    n_trials: int
    n_complete: int
    notes: list[str]
    conditional: Annotated[dict[str, int], Field(description="parameters only some trials have: how many of the "
                                                             "evaluated trials have each")]


class SweepStatus(TypedDict):
    """A submitted sweep without its configuration: stopped, submitted, or a study's own."""

    name: Annotated[str, Field(description="the study it writes to")]
    state: Annotated[str, Field(description="queued, running, done, stopped or failed")]
    trials: int
    csv_name: Annotated[str | None, Field(description="the uploaded CSV's file name, if any")]
    csv_bytes: int | None
    message: Annotated[str | None, Field(description="why it failed or stopped, when it did")]
    created_at: Annotated[str, Field(description="ISO time of the submission")]
    updated_at: str


class StudyAnswer(TypedDict):
    """``GET /api/studies/{name}``: the study's detail, its submitted sweep, whether it still moves."""

    summary: Summary
    user_attrs: dict[str, Any]
    best: TrialLine | None
    values: ValueStats
    fold_spread: Annotated[list[FoldSpread], Field(description="the best trials' scores on each fold")]
    importance: Importance
    findings: Annotated[dict[str, int] | None, Field(description="stored findings by code; null without our tables")]
    guided: Annotated[list[dict[str, Any]], Field(description="a guided study's rounds: space edits and their reasons")]
    stops: Annotated[dict[str, int], Field(description="pruned trials by what stopped them")]
    sweep: SweepStatus | None
    live: Annotated[bool, Field(description="trials running, or a submitted sweep that agents work on")]


class FindingLine(TypedDict):
    """One finding with its evidence (``sweepdoctor rules CODE`` explains its rule)."""

    code: str
    severity: Annotated[str, Field(description="info, warning or error")]
    rule: str
    summary: str
    evidence: Annotated[dict[str, Any], Field(description="the numbers that triggered it")]
    advice: str
    run: NotRequired[Annotated[str | None, Field(description="the run it is about (null: the study); absent in a "
                                                          "run's own list")]]
    confidence: Annotated[float, Field(description="0-1: how strong the evidence is")]


class EpochPoint(TypedDict):
    """One epoch of one fold."""

    epoch: Annotated[int, Field(description="1..E")]
    train_loss: float | None
    val_loss: float | None
    val_metric: float | None
    grad_norm: float | None
    lr: float | None
    wall_time: float | None


class FoldCurves(TypedDict):
    fold: int
    test_loss: float | None
    epochs: list[EpochPoint]


class RunCurves(TypedDict):
    """A run's curves, fold by fold (a trial's, or a reference baseline's)."""

    name: str
    role: Annotated[str, Field(description="candidate or baseline")]
    state: str | None
    folds: list[FoldCurves]


class TrialAnswer(TypedDict):
    """``GET /api/studies/{name}/trials/{number}``: the trial, its curves beside the baselines', its findings."""

    study: str
    number: int
    state: str
    value: float | None
    datetime_start: str | None
    datetime_complete: str | None
    duration_s: float | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    findings: list[FindingLine]
    fold_scores: Annotated[list[Any], Field(description="the user attributes split{i}_score in fold order")]
    curves: Annotated[RunCurves | None, Field(description="null for a trial without our curves")]
    baselines: list[RunCurves]
    note: Annotated[str | None, Field(description="why there are no findings when the diagnosis failed")]


class Pattern(TypedDict):
    """A region of the search space where one finding concentrates."""

    code: str
    parameter: str
    op: Annotated[str, Field(description=">, <= or ==")]
    value: Any
    n_code: Annotated[int, Field(description="trials in the region with the finding")]
    n_region: Annotated[int, Field(description="trials in the region")]
    n_code_total: Annotated[int, Field(description="trials with the finding anywhere")]
    n_trials: int
    summary: str


class RunLine(TypedDict):
    """A candidate run of the diagnosis and its findings (at least one: healthy)."""

    name: str
    role: str
    state: str | None
    score: float | None
    fold_scores: list[float | None]
    hyperparameters: dict[str, Any]
    findings: list[FindingLine]


class DiagnosisAnswer(TypedDict):
    """``GET /api/studies/{name}/diagnosis``: the live diagnosis, or only the stored counts (and a note why)."""

    study: str
    note: Annotated[str | None, Field(description="why there is no live diagnosis (then only stored_counts is given)")]
    stored_counts: Annotated[dict[str, int], Field(description="findings stored by sweepdoctor diagnose, by code")]
    counts: NotRequired[Annotated[dict[str, int], Field(description="trials with each finding, main or not")]]
    main_counts: NotRequired[Annotated[dict[str, int], Field(description="trials with each as their main finding")]]
    findings: NotRequired[Annotated[list[FindingLine], Field(description="findings about the whole study")]]
    patterns: NotRequired[list[Pattern]]
    worst_runs: NotRequired[Annotated[list[RunLine], Field(description="the worst candidates (as many as the runs "
                                                                      "parameter), worst first")]]


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
                           limit=q.offset + q.limit, after=q.after, count=False, summary=summary is None)
    summary = summary or page.summary
    assert summary is not None, "asked for with the page"
    matched = state.matched(summary, where=q.where, states=q.states, finding=q.finding)
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

    def to_dict(self) -> StudyAnswer:
        return study_dict(self.detail, self.sweep)


def _is_live(detail: StudyDetail, sweep: SubmittedSweep | None) -> bool:
    running = dict(detail.summary.states).get("running", 0) > 0
    return running or (sweep is not None and sweep.active)


def study_dict(detail: StudyDetail, sweep: SubmittedSweep | None) -> StudyAnswer:
    """``GET /api/studies/{name}``: the study's detail, its submitted sweep, whether it still moves."""
    return jsonable(
        {**detail.to_dict(), "sweep": None if sweep is None else sweep_status(sweep), "live": _is_live(detail, sweep)}
    )


def diagnosis_dict(name: str, d: Diagnosis, *, runs: int = 20) -> DiagnosisAnswer:
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


def sweep_status(s: SubmittedSweep) -> SweepStatus:
    """A submitted sweep as the API shows it: everything but its configuration."""
    d = s.to_dict()
    d.pop("config")
    return d  # type: ignore[return-value]


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

    def to_dict(self) -> TrialAnswer:
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
