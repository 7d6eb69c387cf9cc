"""What the study queries return: small frozen records, each with a JSON form.

States are Optuna's in lower case (``complete``, ``pruned``, ``fail``, ``running``,
``waiting``); directions are ``minimize`` / ``maximize``. ``value`` is the first
objective's value (``None`` when the trial has none or it is infinite).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CurvePoint",
    "Curves",
    "FoldSpread",
    "GroupBest",
    "Importance",
    "StudyDetail",
    "StudySummary",
    "TrialPage",
    "TrialRecord",
    "ValueStats",
]


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.isoformat()


@dataclass(frozen=True)
class StudySummary:
    """One line of ``studies list``."""

    study_id: int
    name: str
    directions: tuple[str, ...]
    states: Mapping[str, int]
    best_value: float | None
    last_activity: datetime | None
    task: str | None = None
    metric: str | None = None
    n_runs: int | None = None  # runs with our curves; None when the database has no sweepdoctor tables

    @property
    def n_trials(self) -> int:
        return sum(self.states.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "name": self.name,
            "directions": list(self.directions),
            "n_trials": self.n_trials,
            "states": dict(self.states),
            "best_value": self.best_value,
            "last_activity": _iso(self.last_activity),
            "task": self.task,
            "metric": self.metric,
            "n_runs": self.n_runs,
        }


@dataclass(frozen=True)
class TrialRecord:
    """One trial with its parameters (as the user wrote them), user attributes and finding codes."""

    number: int
    trial_id: int
    state: str
    value: float | None
    datetime_start: datetime | None
    datetime_complete: datetime | None
    params: Mapping[str, Any] = field(default_factory=dict)
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return (self.datetime_complete - self.datetime_start).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "datetime_start": _iso(self.datetime_start),
            "datetime_complete": _iso(self.datetime_complete),
            "duration_s": self.duration_s,
            "params": dict(self.params),
            "user_attrs": dict(self.user_attrs),
            "findings": list(self.findings),
        }


@dataclass(frozen=True)
class TrialPage:
    """The trials a query returned, and how many matched before ``limit``; ``summary``: the study's line of
    the list of studies, read in the same transaction when asked for (``StudyDB.trials(summary=True)``)."""

    study: str
    trials: tuple[TrialRecord, ...]
    matched: int
    summary: StudySummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "matched": self.matched, "trials": [t.to_dict() for t in self.trials]}


@dataclass(frozen=True)
class GroupBest:
    """The best complete trial among the ``n_trials`` whose parameter ``by`` is ``group``.

    Without ``by`` (``None``) it is the best trial of all ``n_trials`` complete ones.
    """

    by: str | None
    group: Any
    n_trials: int
    best: TrialRecord

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "group": self.group, "n_trials": self.n_trials, "best": self.best.to_dict()}


@dataclass(frozen=True)
class FoldSpread:
    """A trial's validation score on each fold, with their mean and (population) std."""

    number: int
    value: float | None
    scores: tuple[float | None, ...]
    source: str  # "sd_folds" (our table) or "user_attrs" (split{i}_score)

    @property
    def mean(self) -> float | None:
        xs = [s for s in self.scores if s is not None]
        return sum(xs) / len(xs) if xs else None

    @property
    def std(self) -> float | None:
        xs = [s for s in self.scores if s is not None]
        if not xs:
            return None
        m = sum(xs) / len(xs)
        return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "value": self.value,
            "scores": list(self.scores),
            "mean": self.mean,
            "std": self.std,
            "source": self.source,
        }


@dataclass(frozen=True)
class ValueStats:
    """Objective values of the complete trials."""

    n: int
    min: float | None
    mean: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "min": self.min, "mean": self.mean, "max": self.max}


@dataclass(frozen=True)
class Importance:
    """Parameter importances (Optuna's evaluator), or why there are none.

    ``n_trials`` complete trials were evaluated out of the study's ``n_complete``;
    ``notes`` holds the evaluator's warnings (e.g. a conditional parameter seen in few trials).
    """

    values: Mapping[str, float] | None
    reason: str | None = None
    n_trials: int = 0
    n_complete: int = 0
    notes: tuple[str, ...] = ()
    # Parameters only some trials have (``beta1`` only for Adam): not ranked; name → evaluated trials with it.
    conditional: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": None if self.values is None else dict(self.values),
            "reason": self.reason,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "notes": list(self.notes),
            "conditional": dict(self.conditional),
        }


@dataclass(frozen=True)
class StudyDetail:
    """What ``studies show`` (and each side of ``studies compare``) reports."""

    summary: StudySummary
    user_attrs: Mapping[str, Any]
    best: TrialRecord | None
    values: ValueStats
    spreads: tuple[FoldSpread, ...]
    importance: Importance
    findings: Mapping[str, int] | None  # finding code → count; None without our tables
    guided: tuple[Mapping[str, Any], ...] = ()  # a guided study's rounds: space edits and their reasons
    stops: Mapping[str, int] = field(default_factory=dict)  # pruned trials by what stopped them (stop_counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "user_attrs": dict(self.user_attrs),
            "best": None if self.best is None else self.best.to_dict(),
            "values": self.values.to_dict(),
            "fold_spread": [s.to_dict() for s in self.spreads],
            "importance": self.importance.to_dict(),
            "findings": None if self.findings is None else dict(self.findings),
            "guided": [dict(r) for r in self.guided],
            "stops": dict(self.stops),
        }


@dataclass(frozen=True)
class CurvePoint:
    """One epoch of a run's curves over its folds: mean, min and max of each loss.

    ``epoch`` is numbered 1..E, as every view shows it (the stored records count from 0)."""

    epoch: int
    n_folds: int
    train_mean: float | None
    train_min: float | None
    train_max: float | None
    val_mean: float | None
    val_min: float | None
    val_max: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Curves:
    """Per-epoch curves of one stored run (a trial, or a baseline)."""

    study: str
    run: str
    trial_number: int | None
    points: tuple[CurvePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "run": self.run,
            "trial_number": self.trial_number,
            "points": [p.to_dict() for p in self.points],
        }
