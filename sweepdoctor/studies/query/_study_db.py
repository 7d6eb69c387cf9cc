"""``StudyDB``: the questions a user asks a study database, answered by SQL.

Read-only except :meth:`StudyDB.delete` and :meth:`StudyDB.add_indexes`. Works on any database Optuna's RDB storage
uses (SQLite, PostgreSQL, MySQL/MariaDB); on a study made by plain Optuna, the
questions that need our curves or findings raise a :class:`StorageError` saying so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import History
from sweepdoctor.errors import (
    ConfigError,
    CurvesNotFoundError,
    StorageError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from sweepdoctor.studies.db import Store, check_url, make_engine, mask_url, o_trial_values, o_trials, session_scope
from sweepdoctor.studies.query._catalog import (
    DeleteReport,
    Distributions,
    ParamDecoder,
    StudyRef,
    delete_study,
    find_study,
    list_studies,
    study_user_attrs,
)
from sweepdoctor.studies.query._curves import run_curves
from sweepdoctor.studies.query._detail import (
    IMPORTANCE_TRIALS,
    finding_counts,
    fold_spreads,
    guided_rounds,
    param_importance,
    stop_counts,
    value_stats,
)
from sweepdoctor.studies.query._records import (
    Curves,
    GroupBest,
    Importance,
    StudyDetail,
    StudySummary,
    TrialPage,
    ValueStats,
)
from sweepdoctor.studies.query._series import MAX_POINTS, ValueSeries, value_series
from sweepdoctor.studies.query._summary import SummaryCache, add_query_indexes
from sweepdoctor.studies.query._trials import TrialQuery, load_trials, walk_page
from sweepdoctor.studies.query._where import Condition, parse_sort, parse_where

__all__ = ["StudyDB"]

# Each condition on a parameter joins one more table, and SQLite joins at most 64 (MySQL 61):
# past this many, a query is refused as the client's mistake, not sent to fail as the database's.
MAX_WHERE = 32


def _conditions(where: Sequence[str | Condition]) -> list[Condition]:
    if len(where) > MAX_WHERE:
        raise ConfigError(f"--where: at most {MAX_WHERE} conditions, got {len(where)}; combine or drop some")
    return [c if isinstance(c, Condition) else parse_where(c) for c in where]


class _Tables(NamedTuple):
    optuna: bool
    ours: bool


class StudyDB:
    """Queries over one database. Pass a URL or an engine; close it (or use ``with``).

    ``keep_summaries``: a long-lived reader (the service) keeps each study's counts of its
    finished trials between calls, so that :meth:`list_studies`, :meth:`summary` and
    :meth:`show` read only the trials that are new or still moving (:class:`SummaryCache`),
    and the distributions of the parameters its filters name (:class:`Distributions`).
    """

    def __init__(self, storage: str | Engine, *, keep_summaries: bool = False) -> None:
        if isinstance(storage, str):
            _check_sqlite_exists(storage)
        self._owns_engine = isinstance(storage, str)
        self.engine = make_engine(storage) if isinstance(storage, str) else storage
        # the engine's URL: the driver check_url chose (bare mysql:// opens with PyMySQL), password kept
        self._raw_url = self.engine.url.render_as_string(hide_password=False)
        self._tables: _Tables | None = None
        self._summaries = SummaryCache() if keep_summaries else None
        self._dists = Distributions() if keep_summaries else None  # a filtered page's parameters, read once

    @property
    def url(self) -> str:
        """The storage URL with any password masked (safe to print)."""
        return mask_url(self._raw_url)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> StudyDB:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # ---- plumbing ---------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[tuple[Session, _Tables]]:
        with session_scope(self.engine) as s:
            if self._tables is None:
                self._tables = self._inspect(s)
            yield s, self._tables

    def _inspect(self, s: Session) -> _Tables:
        """Which tables exist (the first contact: a connection failure names the masked URL)."""
        try:
            insp = inspect(s.connection())
            return _Tables(
                optuna=insp.has_table("studies") and insp.has_table("trials"),
                ours=insp.has_table("sd_runs") and insp.has_table("sd_findings"),
            )
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__]
            raise StorageError(f"storage: cannot read {self.url!r}: {mask_url(reason[0])}") from e

    def _find(self, s: Session, tables: _Tables, name: str) -> StudyRef:
        if not tables.optuna:
            raise StudyNotFoundError(f"storage: no study named {name!r} in {self.url!r}; it holds no Optuna studies")
        return find_study(s, name, url=self._raw_url)

    def _summary(self, s: Session, tables: _Tables, ref: StudyRef) -> StudySummary:
        return list_studies(s, ours=tables.ours, only=ref, cache=self._summaries)[0]

    def _need_ours(self, tables: _Tables, study: str, what: str) -> None:
        if not tables.ours:
            raise CurvesNotFoundError(
                f"storage: {what} needs sweepdoctor's curves and findings, but {self.url!r} has only "
                f"Optuna's tables (was {study!r} made by plain Optuna? run it with `sweepdoctor sweep`)"
            )

    # ---- questions --------------------------------------------------------------

    def list_studies(self) -> list[StudySummary]:
        """Every study: trials by state, best value, last activity, task/metric, runs with curves."""
        with self._session() as (s, tables):
            return list_studies(s, ours=tables.ours, cache=self._summaries) if tables.optuna else []

    def summary(self, study: str) -> StudySummary:
        """One study's line of :meth:`list_studies`."""
        with self._session() as (s, tables):
            return self._summary(s, tables, self._find(s, tables, study))

    def user_attrs(self, study: str) -> dict[str, object]:
        """The study's user attributes (the sweep stores task, metric, data fingerprint, space)."""
        with self._session() as (s, tables):
            return study_user_attrs(s, self._find(s, tables, study).study_id)

    def trials(
        self,
        study: str,
        *,
        where: Sequence[str | Condition] = (),
        states: Sequence[str] = (),
        finding: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        count: bool = True,
        after: int | None = None,
        summary: bool = False,
    ) -> TrialPage:
        """Trials filtered, sorted and limited in the database.

        ``where`` holds ``NAME OP VALUE`` conditions (all must hold) on parameters,
        ``value`` or ``number`` (and ``n_params`` / ``depth`` from our runs);
        ``sort`` is ``value`` (best first), ``number`` or a parameter, ``-`` for reverse.
        ``count=False`` skips counting every matching trial (``matched`` is then the number
        returned): the latest trials by number come from an index, whatever the study's size.
        ``after``: the trials after trial number ``after`` in the sort order (keyset paging; sort
        by ``value`` or ``number``); ``matched`` still counts every matching trial.
        A sorted or filtered page of a ``limit`` up to 200 whose rows do not carry the count walks the
        sort key's index first, while that reads few rows (:func:`walk_page`): the same page, found
        in time that follows the page and the filters' selectivity, not the study's size.
        ``summary``: the page also carries the study's :meth:`summary` (one lookup of the study for both).
        """
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {limit}")
        with self._session() as (s, tables):
            ref, q = self._filtered(s, tables, study, where=where, states=states, finding=finding)
            key = None if sort is None else parse_sort(sort)
            q.sort(key)
            every: int | None = None
            if after is not None:  # every matching trial counted, then only those after the mark read
                if count:
                    every = s.execute(select(func.count()).select_from(q.select().order_by(None).subquery())).scalar()
                q.after(after, key)
            rows = self._page(s, q, limit=limit, counted=count and after is None, walk=sort is not None or q.filtered)
            records = load_trials(s, rows, study_id=ref.study_id, ours=tables.ours)
            if every is None:
                every = (int(rows[0][-1]) if rows else 0) if count else len(rows)
            line = self._summary(s, tables, ref) if summary else None
            return TrialPage(study=study, trials=tuple(records), matched=int(every), summary=line)

    @staticmethod
    def _page(s: Session, q: TrialQuery, *, limit: int | None, counted: bool, walk: bool) -> list[Any]:
        """The page's rows (with the count of every match last when ``counted``). A short page without the
        count walks its sort key's index when it may (unsorted, unfiltered: the number index leads anyway)."""
        if walk and limit is not None and not counted:
            walked = walk_page(s, q, limit)
            if walked is not None:
                return walked
        stmt = q.select(func.count().over().label("matched")) if counted else q.select()
        return list(s.execute(stmt if limit is None else stmt.limit(limit)))

    def count(
        self, study: str, *, where: Sequence[str | Condition] = (), states: Sequence[str] = (),
        finding: str | None = None,
    ) -> int:
        """How many trials :meth:`trials` would match with these filters."""
        with self._session() as (s, tables):
            _ref, q = self._filtered(s, tables, study, where=where, states=states, finding=finding)
            return int(s.execute(select(func.count()).select_from(q.select().order_by(None).subquery())).scalar_one())

    def _filtered(
        self, s: Session, tables: _Tables, study: str, *, where: Sequence[str | Condition], states: Sequence[str],
        finding: str | None,
    ) -> tuple[StudyRef, TrialQuery]:
        conds = _conditions(where)
        ref = self._find(s, tables, study)
        q = TrialQuery(s, ref, ours=tables.ours, dists=self._dists)
        for c in conds:
            q.where(c)
        q.states(states)
        if finding is not None:
            self._need_ours(tables, study, "--finding")
            q.finding(finding)
        return ref, q

    def value_series(self, study: str, *, max_points: int = MAX_POINTS) -> ValueSeries:
        """Every complete trial's value by number, thinned to about ``max_points`` points in the
        database (per-bucket lowest and highest), and the exact best so far over all of them."""
        with self._session() as (s, tables):
            return value_series(s, self._find(s, tables, study), max_points=max_points)

    def best(self, study: str, *, by: str | None = None, where: Sequence[str | Condition] = ()) -> list[GroupBest]:
        """The best complete trial, or the best for each value of parameter ``by`` (best group first)."""
        conds = _conditions(where)
        with self._session() as (s, tables):
            ref = self._find(s, tables, study)
            q = TrialQuery(s, ref, ours=tables.ours).states(["complete"])
            for c in conds:
                q.where(c)
            value = o_trial_values.c.value
            groups: dict[int, object] = {}
            if by is None:
                stmt = q.select(func.count().over().label("n")).where(value.is_not(None))
                rows = list(s.execute(stmt.order_by(None).order_by(*q.best_first()).limit(1)))
            else:
                col, dj = q.join_param(by, "--by")
                extra = [
                    col.label("g"),
                    func.row_number().over(partition_by=col, order_by=q.best_first()).label("rk"),
                    func.count().over(partition_by=col).label("n"),
                ]
                if dj is not None:
                    extra.append(dj.label("dj"))
                inner = q.select(*extra).where(value.is_not(None)).order_by(None).subquery()
                order = inner.c.value.desc() if ref.maximize else inner.c.value.asc()
                rows = list(s.execute(select(inner).where(inner.c.rk == 1).order_by(order, inner.c.number)))
                decoder = ParamDecoder()
                groups = {r[0]: r.g if dj is None else decoder.decode(r.g, r.dj) for r in rows}
            n = {r[0]: int(r.n) for r in rows}
            records = load_trials(s, rows, study_id=ref.study_id, ours=tables.ours)
        return [
            GroupBest(by=by, group=groups.get(t.trial_id), n_trials=n[t.trial_id], best=t) for t in records
        ]

    def show(
        self, study: str, *, top: int = 5, importance: bool = True, importance_trials: int | None = IMPORTANCE_TRIALS
    ) -> StudyDetail:
        """Summary, best trial, value statistics, fold spread of the ``top`` trials, importance, findings.

        Importance is evaluated on at most ``importance_trials`` complete trials (evenly
        spaced; ``None``: all).
        """
        with self._session() as (s, tables):
            ref = self._find(s, tables, study)
            summary = self._summary(s, tables, ref)
            rows, values = self._best_and_values(s, ref, top=top, ours=tables.ours)
            best = load_trials(s, rows, study_id=ref.study_id, ours=tables.ours)
            return StudyDetail(
                summary=summary,
                user_attrs=study_user_attrs(s, ref.study_id),
                best=best[0] if best and best[0].value is not None else None,
                values=values,
                spreads=fold_spreads(s, best[:top], ours=tables.ours),
                importance=(
                    param_importance(s, ref, max_trials=importance_trials)
                    if importance
                    else Importance(None, "not computed")
                ),
                findings=finding_counts(s, ref) if tables.ours else None,
                guided=guided_rounds(s, ref.study_id) if tables.ours else (),
                stops=stop_counts(s, ref),
            )

    def _best_and_values(self, s: Session, ref: StudyRef, *, top: int, ours: bool) -> tuple[list[Any], ValueStats]:
        """The ``top`` best complete trials' rows and the value statistics: from the kept summary
        when it has them (the best one only), else sorted and aggregated in SQL."""
        q = TrialQuery(s, ref, ours=ours).states(["complete"])
        kept = None if self._summaries is None or top > 1 else self._summaries.latest(ref.study_id)
        if kept is None:
            q.sort(parse_sort("value"))
            return list(s.execute(q.select().limit(max(top, 1)))), value_stats(s, ref)
        best = kept.highest if ref.maximize else kept.lowest
        values = ValueStats(n=kept.n_values, min=None if kept.lowest is None else kept.lowest[0], mean=kept.mean,
                            max=None if kept.highest is None else kept.highest[0])
        if best is None:
            return [], values
        return list(s.execute(q.select().where(o_trials.c.trial_id == best[1]))), values

    def compare(
        self,
        studies: Sequence[str],
        *,
        top: int = 5,
        importance: bool = True,
        importance_trials: int | None = IMPORTANCE_TRIALS,
    ) -> list[StudyDetail]:
        """:meth:`show` for each study, for a side-by-side view."""
        if len(studies) < 2:
            raise ConfigError(f"compare needs at least two studies, got {len(studies)}")
        return [
            self.show(name, top=top, importance=importance, importance_trials=importance_trials) for name in studies
        ]

    def curves(self, study: str, *, trial: int | None = None, run: str | None = None) -> Curves:
        """Per-epoch curves of a trial (default: the best), or of a run by name (e.g. a baseline)."""
        with self._session() as (s, tables):
            ref = self._find(s, tables, study)
            self._need_ours(tables, study, "curves")
            if trial is None and run is None:
                q = TrialQuery(s, ref, ours=True).states(["complete"])
                best = s.execute(q.select().order_by(None).order_by(*q.best_first()).limit(1)).first()
                if best is None:
                    raise TrialNotFoundError(f"storage: study {study!r} has no complete trial; pass --trial N")
                trial = int(best.number)
            return run_curves(s, ref, trial=trial, run=run)

    def history(self, study: str) -> History:
        """The study's stored curves as a ``sweepdoctor.history/1`` :class:`History`."""
        with self._session() as (s, tables):
            self._find(s, tables, study)
            self._need_ours(tables, study, "the history export")
        history, _ids = Store(self.engine).load_history(study)
        # A run without an epoch on some fold (a trial that failed before its first epoch) has no
        # curve to diagnose, and the format refuses empty folds: such runs are left out.
        runs = tuple(r for r in history.runs if all(f.epochs for f in r.folds) and r.folds)
        if not runs:
            raise CurvesNotFoundError(f"storage: study {study!r} has no run with a stored epoch; nothing to export")
        return replace(history, runs=runs)

    def add_indexes(self) -> list[str]:
        """Add the indexes the trial queries use to Optuna's tables (:data:`QUERY_INDEXES`) where
        missing; returns their names. One of two writes (with :meth:`delete`); needs Optuna's tables."""
        with self._session() as (_s, tables):
            if not tables.optuna:
                return []
        return add_query_indexes(self.engine)

    def delete(self, study: str) -> DeleteReport:
        """Delete the study: our rows first (one transaction), then Optuna's through ``optuna.delete_study``."""
        with self._session() as (s, tables):
            ref = self._find(s, tables, study)
        if self._dists is not None:
            self._dists.forget(ref.study_id)
        return delete_study(self.engine, self._raw_url, ref, ours=tables.ours)


def _check_sqlite_exists(url: str) -> None:
    """Reading must not create files: a SQLite path that does not exist is an error, not a new database."""
    check_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.exists() and not parsed.database.startswith("file:"):
            raise StorageError(f"storage: there is no SQLite database at {str(path)!r} (is the path right?)")
