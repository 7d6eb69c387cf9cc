"""Answers that do not grow with the study: kept summaries, and the indexes the trial queries use.

Trials counted by state, best value and last activity, without reading every trial each time.

A finished Optuna trial never changes again (its state and values are frozen), and trial
ids only grow. :class:`SummaryCache` keeps, per study, the totals of its *settled prefix*:
the trials up to some id that were all finished, and finished a while before the newest
activity seen. Each call reads only the trials after that id (an index range on
``(study_id, trial_id)``), folds the newly settled ones into the prefix, and adds the rest.
A finished study costs a few primary-key lookups whatever its size. The count of a study's
runs with curves is kept until its newest run id or its trials change (a run is rewritten,
never edited in place).

The margin (``SETTLE``) covers a trial born finished (``study.add_trial``) in a transaction
that committed after a later id: it is still after the prefix when it appears. A study
deleted and made again under the same id is noticed by its prefix's last trial no longer
being there as it was; its prefix is then read again from the start.

It holds no connection: the reads go through the caller's session. It works on a
read-only database (nothing is written) and on any backend.

:data:`QUERY_INDEXES` are indexes of ours on Optuna's tables, matching the trial queries'
filters and sorts; a writable service adds them (:func:`add_query_indexes`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Column, Engine, Float, Index, Integer, MetaData, String, Table, and_, func, inspect, or_, select
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import Role
from sweepdoctor.studies.db import RunRow, o_studies, o_trial_values, o_trials

__all__ = ["QUERY_INDEXES", "SETTLE", "StudyTotals", "SummaryCache", "TrialStats", "add_query_indexes"]

SETTLE = timedelta(seconds=30)
_FINISHED = frozenset({"COMPLETE", "PRUNED", "FAIL"})
_STUDIES_PER_QUERY = 100  # studies whose new trials one SELECT reads (an OR of index ranges)


class TrialStats(NamedTuple):
    """Per study id: trials counted by state, (min, max) value of complete trials, last activity."""

    states: dict[int, dict[str, int]]
    best: dict[int, tuple[float | None, float | None]]
    last: dict[int, datetime]


class _Totals(NamedTuple):
    upto: int  # the totals hold the study's trials with id <= upto
    mark: datetime | None  # datetime_start of trial ``upto`` (a study made again has other trials)
    states: Counter[str]
    lo: tuple[float, int] | None  # the lowest complete value and its trial id (the first one, on ties)
    hi: tuple[float, int] | None
    n: int  # complete trials with a value, and their sum (for the mean)
    total: float
    last: datetime | None

    def add(self, rows: Iterable[Any]) -> _Totals:
        states, lo, hi, n, total, last = Counter(self.states), self.lo, self.hi, self.n, self.total, self.last
        upto, mark = self.upto, self.mark
        for tid, state, value, start, complete in rows:
            states[state] += 1
            if state == "COMPLETE" and value is not None:
                lo = (value, tid) if lo is None or value < lo[0] else lo
                hi = (value, tid) if hi is None or value > hi[0] else hi
                n, total = n + 1, total + value
            for when in (start, complete):
                if when is not None and (last is None or when > last):
                    last = when
            upto, mark = tid, start
        return _Totals(upto, mark, states, lo, hi, n, total, last)


class StudyTotals(NamedTuple):
    """What the latest :meth:`SummaryCache.stats` found for one study, beyond its summary line."""

    n_values: int  # complete trials with a finite value
    mean: float | None
    lowest: tuple[float, int] | None  # (value, trial id)
    highest: tuple[float, int] | None


_EMPTY = _Totals(0, None, Counter(), None, None, 0, 0.0, None)


def _settled(rows: Sequence[Any]) -> int:
    """How many leading rows (by trial id) are finished and settled (finished ``SETTLE`` before the
    newest time among the rows)."""
    times = [w for r in rows for w in (r[3], r[4]) if w is not None]
    if not times:
        return 0
    horizon = max(times) - SETTLE
    n = 0
    for r in rows:
        if r[1] not in _FINISHED or r[4] is None or r[4] > horizon:
            break
        n += 1
    return n


class SummaryCache:
    """The settled prefix of each study, kept between calls (thread-safe; one per :class:`StudyDB`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefix: dict[int, _Totals] = {}
        self._latest: dict[int, StudyTotals] = {}
        self._runs: dict[int, tuple[Any, int]] = {}

    def latest(self, study_id: int) -> StudyTotals | None:
        """The best trials and value statistics the latest :meth:`stats` found for the study."""
        with self._lock:
            return self._latest.get(study_id)

    def stats(self, s: Session, study_ids: Sequence[int]) -> TrialStats:
        with self._lock:
            prefix = {sid: self._prefix.get(sid, _EMPTY) for sid in study_ids}
        prefix = self._still_there(s, prefix)
        tails = _tails(s, prefix)
        out = TrialStats({}, {}, {})
        kept, latest = {}, {}
        for sid, totals in prefix.items():
            rows = tails.get(sid, [])
            n = _settled(rows)
            kept[sid] = totals = totals.add(rows[:n])
            whole = totals.add(rows[n:])
            out.states[sid] = {str(k).lower(): v for k, v in whole.states.items() if v}
            if whole.states.get("COMPLETE"):
                out.best[sid] = (None if whole.lo is None else whole.lo[0], None if whole.hi is None else whole.hi[0])
            if whole.last is not None:
                out.last[sid] = whole.last
            latest[sid] = StudyTotals(whole.n, whole.total / whole.n if whole.n else None, whole.lo, whole.hi)
        with self._lock:
            self._prefix.update(kept)
            self._latest.update(latest)
        return out

    def runs(self, s: Session, stats: TrialStats) -> dict[int, int]:
        """Candidate runs with curves per study (of ``stats``, the latest :meth:`stats`), counted again
        only when the study's newest run or its trials changed (runs are rewritten, never edited)."""
        r = RunRow.__table__
        newest = select(func.max(r.c.id)).where(r.c.study_id == o_studies.c.study_id).scalar_subquery()
        ids = list(stats.states)
        marks = {int(sid): (top, tuple(sorted(stats.states[sid].items())), stats.last.get(sid)) for sid, top in
                 s.execute(select(o_studies.c.study_id, newest).where(o_studies.c.study_id.in_(ids)))}
        with self._lock:
            kept = {sid: self._runs[sid] for sid in ids if sid in self._runs and self._runs[sid][0] == marks.get(sid)}
        stale = [sid for sid in ids if sid not in kept]
        counted = dict.fromkeys(stale, 0)
        if stale:
            q = (select(r.c.study_id, func.count(r.c.id))
                 .where(r.c.role == Role.CANDIDATE.value, r.c.study_id.in_(stale)).group_by(r.c.study_id))
            counted |= {int(sid): int(n) for sid, n in s.execute(q)}
        with self._lock:
            self._runs.update({sid: (marks.get(sid), n) for sid, n in counted.items()})
        return {sid: n for sid, (_mark, n) in kept.items()} | counted

    @staticmethod
    def _still_there(s: Session, prefix: dict[int, _Totals]) -> dict[int, _Totals]:
        """Prefixes whose last trial is still the one they counted (else counted again from the start)."""
        ends = {p.upto: sid for sid, p in prefix.items() if p.upto}
        if not ends:
            return prefix
        t = o_trials
        seen = {int(tid): (int(sid), start) for tid, sid, start in
                s.execute(select(t.c.trial_id, t.c.study_id, t.c.datetime_start).where(t.c.trial_id.in_(list(ends))))}
        return {sid: p if not p.upto or seen.get(p.upto) == (sid, p.mark) else _EMPTY for sid, p in prefix.items()}


def _tails(s: Session, prefix: dict[int, _Totals]) -> dict[int, list[Any]]:
    """Each study's trials after its prefix, by trial id: (trial_id, STATE, value, start, complete).

    One SELECT per ``_STUDIES_PER_QUERY`` studies, each study a range of its index."""
    t, v = o_trials, o_trial_values
    q = (
        select(t.c.study_id, t.c.trial_id, t.c.state, v.c.value, t.c.datetime_start, t.c.datetime_complete)
        .select_from(t.outerjoin(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0)))
        .order_by(t.c.trial_id)
    )
    items = list(prefix.items())
    out: dict[int, list[Any]] = {}
    for i in range(0, len(items), _STUDIES_PER_QUERY):
        ranges = [and_(t.c.study_id == sid, t.c.trial_id > p.upto) for sid, p in items[i : i + _STUDIES_PER_QUERY]]
        for sid, tid, state, value, start, complete in s.execute(q.where(or_(*ranges))):
            out.setdefault(int(sid), []).append((int(tid), str(state).upper(), value, start, complete))
    return out


# Indexes of ours on Optuna's tables, matching the filters and sorts offered (Optuna makes
# none of them; it neither needs nor minds them). Added by a writable service or on request.
_INDEX_META = MetaData()
QUERY_INDEXES = (
    # the latest trials, pages by number (and keyset pages after a number)
    Index("ix_sd_trials_study_number", Table("trials", _INDEX_META, Column("study_id", Integer),
                                             Column("number", Integer)).c.study_id, "number"),
    # --where on a parameter; whether a parameter exists at all
    Index("ix_sd_trial_params_name_value", Table("trial_params", _INDEX_META, Column("param_name", String),
                                                 Column("param_value", Float), Column("trial_id", Integer))
          .c.param_name, "param_value", "trial_id"),
    # --where on the value
    Index("ix_sd_trial_values_objective_value", Table("trial_values", _INDEX_META, Column("objective", Integer),
                                                      Column("value", Float), Column("trial_id", Integer))
          .c.objective, "value", "trial_id"),
)


_TABLES = ("trials", "trial_params", "trial_values")
# Statistics for the planner: without them SQLite walks the wrong index (a 100k-trial filtered page
# took 900 ms instead of 80), and PostgreSQL scans all of trial_user_attributes for a page's 20 trials
# (50 ms) until autovacuum has analyzed it. SQLite samples (analysis_limit), so this costs milliseconds.
_ANALYZED = (*_TABLES, "trial_user_attributes")
_ANALYZE = {
    "sqlite": ["PRAGMA analysis_limit=1000", *(f"ANALYZE {t}" for t in _ANALYZED)],
    "postgresql": [f"ANALYZE {', '.join(_ANALYZED)}"],
    "mysql": [f"ANALYZE TABLE {', '.join(_ANALYZED)}"],
}


def add_query_indexes(engine: Engine) -> list[str]:
    """Create the :data:`QUERY_INDEXES` that are missing (Optuna's tables must exist) and refresh the
    planner's statistics of those tables; returns the names of the indexes made."""
    made = []
    with engine.begin() as c:
        existing = {t: {ix["name"] for ix in inspect(c).get_indexes(t)} for t in _TABLES}
        for ix in QUERY_INDEXES:
            if ix.name not in existing[ix.table.name]:  # type: ignore[union-attr]
                ix.create(c)
                made.append(str(ix.name))
        for statement in _ANALYZE.get(engine.dialect.name, []):
            c.exec_driver_sql(statement)
    return made
