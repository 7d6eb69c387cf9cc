"""Whole studies: which exist, their directions, attributes and parameters; deleting one.

The reads take an open :class:`~sqlalchemy.orm.Session` (from ``session_scope``) and
run a few aggregate queries; nothing loads a study's trials into Python.

A delete removes our rows first, in one transaction, then the study through Optuna's
own API: a failure in between leaves a plain Optuna study (which every command still
reads), never curves pointing at a study id that a new study might reuse. Running the
delete again finishes the job.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections import defaultdict
from typing import Any, NamedTuple

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, json_to_distribution
from sqlalchemy import Engine, and_, delete, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import Role
from sweepdoctor.errors import StorageError, StudyNotFoundError
from sweepdoctor.studies.db import (
    EpochRow,
    FindingRow,
    FoldRow,
    RunRow,
    StudyDocRow,
    mask_url,
    o_studies,
    o_study_directions,
    o_study_user_attrs,
    o_trial_params,
    o_trial_values,
    o_trials,
    session_scope,
    training_study_id,
)
from sweepdoctor.studies.query._records import StudySummary
from sweepdoctor.studies.query._summary import SummaryCache, TrialStats

__all__ = [
    "DeleteReport",
    "Distributions",
    "ParamDecoder",
    "StudyRef",
    "delete_study",
    "find_study",
    "list_studies",
    "param_distribution",
    "param_names",
    "study_user_attrs",
]


class StudyRef(NamedTuple):
    """A study found by name: its id and its objectives' directions."""

    study_id: int
    name: str
    directions: tuple[str, ...]

    @property
    def maximize(self) -> bool:
        """Whether the first objective (the one ``value`` means) is maximized."""
        return bool(self.directions) and self.directions[0] == "maximize"


def _directions(s: Session, study_ids: list[int] | None = None) -> dict[int, tuple[str, ...]]:
    d = o_study_directions
    q = select(d.c.study_id, d.c.direction).order_by(d.c.study_id, d.c.objective)
    if study_ids is not None:
        q = q.where(d.c.study_id.in_(study_ids))
    out: dict[int, list[str]] = defaultdict(list)
    for sid, direction in s.execute(q):
        out[int(sid)].append(str(direction).lower())
    return {k: tuple(v) for k, v in out.items()}


def find_study(s: Session, name: str, *, url: str) -> StudyRef:
    """The study called ``name``; a missing one is an error naming the close matches."""
    d = o_study_directions
    rows = s.execute(  # the id and the directions in one statement (one round trip on a server database)
        select(o_studies.c.study_id, d.c.direction)
        .select_from(o_studies.outerjoin(d, d.c.study_id == o_studies.c.study_id))
        .where(o_studies.c.study_name == name)
        .order_by(d.c.objective)
    ).all()
    if not rows:
        names = list(s.execute(select(o_studies.c.study_name).order_by(o_studies.c.study_name)).scalars())
        close = difflib.get_close_matches(name, names, n=3)
        if close:
            hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif names:
            hint = "studies there: " + ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        else:
            hint = "it holds no studies"
        raise StudyNotFoundError(f"storage: no study named {name!r} in {mask_url(url)!r}; {hint}")
    return StudyRef(study_id=int(rows[0][0]), name=name,
                    directions=tuple(str(direction).lower() for _sid, direction in rows if direction is not None))


def _trial_stats(s: Session, only: int | None) -> TrialStats:
    """One GROUP BY (study, state) over the trials and their first objective's values."""
    t, v = o_trials, o_trial_values
    per_state = (
        select(
            t.c.study_id,
            t.c.state,
            func.count(t.c.trial_id),
            func.min(v.c.value),
            func.max(v.c.value),
            func.max(t.c.datetime_start),
            func.max(t.c.datetime_complete),
        )
        .select_from(t.outerjoin(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0)))
        .group_by(t.c.study_id, t.c.state)
    )
    if only is not None:
        per_state = per_state.where(t.c.study_id == only)
    stats = TrialStats(defaultdict(dict), {}, {})
    for sid, state, n, lo, hi, started, completed in s.execute(per_state):
        stats.states[sid][str(state).lower()] = int(n)
        if str(state).upper() == "COMPLETE":
            stats.best[sid] = (lo, hi)
        for when in (started, completed):
            if when is not None and (sid not in stats.last or when > stats.last[sid]):
                stats.last[sid] = when
    return stats


def _task_and_metric(s: Session, only: int | None) -> dict[int, dict[str, Any]]:
    """The ``task`` and ``metric`` study attributes our sweeps set, per study id."""
    a = o_study_user_attrs
    attrs: dict[int, dict[str, Any]] = defaultdict(dict)
    attr_q = select(a.c.study_id, a.c.key, a.c.value_json).where(a.c.key.in_(["task", "metric"]))
    if only is not None:
        attr_q = attr_q.where(a.c.study_id == only)
    for sid, key, value_json in s.execute(attr_q):
        attrs[sid][key] = _loads(value_json)
    return attrs


def _candidate_runs(s: Session, only: int | None) -> dict[int, int]:
    """How many candidate runs with curves each study has in our tables."""
    q = select(RunRow.study_id, func.count(RunRow.id)).where(RunRow.role == Role.CANDIDATE.value)
    if only is not None:
        q = q.where(RunRow.study_id == only)
    return {int(sid): int(n) for sid, n in s.execute(q.group_by(RunRow.study_id))}


def list_studies(
    s: Session, *, ours: bool, only: StudyRef | None = None, cache: SummaryCache | None = None
) -> list[StudySummary]:
    """Every study (or the study ``only``, just found by :func:`find_study`) with trials counted by
    state, best value, last activity.

    A few GROUP BY queries; the trials themselves stay in the database. With a ``cache``
    (a long-lived reader's), only the trials after each study's settled prefix are read.
    """
    if only is None:
        studies = select(o_studies.c.study_id, o_studies.c.study_name).order_by(o_studies.c.study_id)
        named = [(int(sid), name) for sid, name in s.execute(studies)]
        directions = _directions(s)
    else:  # its name and directions are known: not read again
        named, directions = [(only.study_id, only.name)], {only.study_id: only.directions}
    one = None if only is None else only.study_id
    stats = _trial_stats(s, one) if cache is None else cache.stats(s, [sid for sid, _name in named])
    attrs = _task_and_metric(s, one)
    runs = ({} if not ours else _candidate_runs(s, one) if cache is None else cache.runs(s, stats))
    out = []
    for sid, name in named:
        dirs = directions.get(sid, ())
        lo, hi = stats.best.get(sid, (None, None))
        out.append(
            StudySummary(
                study_id=int(sid),
                name=name,
                directions=dirs,
                states=stats.states.get(sid, {}),
                best_value=None if len(dirs) != 1 else (hi if dirs[0] == "maximize" else lo),
                last_activity=stats.last.get(sid),
                task=_str_or_none(attrs[sid].get("task")),
                metric=_str_or_none(attrs[sid].get("metric")),
                n_runs=runs.get(sid, 0) if ours else None,
            )
        )
    return out


def study_user_attrs(s: Session, study_id: int) -> dict[str, Any]:
    a = o_study_user_attrs
    rows = s.execute(select(a.c.key, a.c.value_json).where(a.c.study_id == study_id).order_by(a.c.key))
    return {key: _loads(vj) for key, vj in rows}


def param_distribution(s: Session, study_id: int, name: str) -> BaseDistribution | None:
    """The distribution of parameter ``name`` in the study, or ``None`` when no trial has it.

    One row suffices: Optuna refuses a categorical parameter whose choices change within
    a study, and a numeric range change does not affect how values are compared.
    """
    p, t = o_trial_params, o_trials
    anywhere = select(p.c.param_name).where(p.c.param_name == name).limit(1)
    if s.execute(anywhere).first() is None:  # a name no study has (an index on the name answers at once;
        return None  # the study's own trials would all be probed)
    q = (
        select(p.c.distribution_json)
        .select_from(p.join(t, t.c.trial_id == p.c.trial_id))
        .where(t.c.study_id == study_id, p.c.param_name == name)
        .limit(1)
    )
    dj = s.execute(q).scalar_one_or_none()
    return None if dj is None else json_to_distribution(dj)


class Distributions:
    """The parameter distributions found so far, by study and name: each read once.

    One per query, or one per long-lived reader (the service's :class:`StudyDB`), where a
    filtered page would otherwise read the same few rows on every request. Only found
    distributions are kept (a parameter no trial has yet may appear with the next one); a
    study's distribution of a parameter does not change while it lives (see
    :func:`param_distribution`). The key holds the study's name as well as its id, and
    :meth:`forget` drops a study's entries when it is deleted through the reader (SQLite hands
    the newest study's id out again); a study deleted by another process and made again under
    the same name and id, with other choices for a categorical parameter, would be filtered with
    the old choices until the reader restarts.
    """

    MAX_KEPT = 10_000  # (study, parameter) pairs; past it the cache starts again rather than grow

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[int, str, str], BaseDistribution] = {}

    def get(self, s: Session, study: StudyRef, name: str) -> BaseDistribution | None:
        """:func:`param_distribution` of ``name`` in ``study``, read from the database only until found."""
        key = (study.study_id, study.name, name)
        with self._lock:
            hit = self._found.get(key)
        if hit is None:
            hit = param_distribution(s, study.study_id, name)
            if hit is not None:
                with self._lock:
                    if len(self._found) >= self.MAX_KEPT:
                        self._found.clear()
                    self._found[key] = hit
        return hit

    def forget(self, study_id: int) -> None:
        with self._lock:
            self._found = {k: v for k, v in self._found.items() if k[0] != study_id}


def param_names(s: Session, study_id: int) -> list[str]:
    """Every parameter name used by the study's trials (a DISTINCT over its parameters)."""
    p, t = o_trial_params, o_trials
    q = (
        select(p.c.param_name)
        .distinct()
        .select_from(p.join(t, t.c.trial_id == p.c.trial_id))
        .where(t.c.study_id == study_id)
    )
    return sorted(s.execute(q).scalars())


class ParamDecoder:
    """Turns stored ``param_value`` floats into what the user suggested (the choice, the int).

    Decoded distributions are cached by their JSON text, so a study's million parameter
    rows parse a handful of distributions.
    """

    def __init__(self) -> None:
        self._cache: dict[str, BaseDistribution] = {}

    def distribution(self, distribution_json: str) -> BaseDistribution:
        d = self._cache.get(distribution_json)
        if d is None:
            d = self._cache[distribution_json] = json_to_distribution(distribution_json)
        return d

    def decode(self, value: float, distribution_json: str) -> Any:
        d = self.distribution(distribution_json)
        if isinstance(d, CategoricalDistribution) and not 0 <= int(value) < len(d.choices):
            return None
        return d.to_external_repr(value)


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
        if ours:  # the trials' runs, and the training runs of trials that never ended (killed workers)
            owned = RunRow.study_id.in_((study.study_id, training_study_id(study.study_id)))
            runs = select(RunRow.id).where(owned)
            n_runs = s.execute(select(func.count()).where(RunRow.study_id == study.study_id)).scalar_one()
            n_findings = s.execute(
                select(func.count(FindingRow.id)).where(FindingRow.study_id == study.study_id)
            ).scalar_one()
            s.execute(delete(FindingRow).where(FindingRow.study_id == study.study_id))
            s.execute(delete(EpochRow).where(EpochRow.run_id.in_(runs)))
            s.execute(delete(FoldRow).where(FoldRow.run_id.in_(runs)))
            s.execute(delete(RunRow).where(owned))
            if inspect(s.connection()).has_table(StudyDocRow.__tablename__):  # absent in databases before it
                s.execute(delete(StudyDocRow).where(StudyDocRow.study_id == study.study_id))
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


def _loads(value_json: str | None) -> Any:
    if value_json is None:
        return None
    try:
        return json.loads(value_json)
    except json.JSONDecodeError:
        return value_json


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)
