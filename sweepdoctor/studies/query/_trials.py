"""Trial queries: ``--where`` / ``--state`` / ``--finding`` / ``--sort`` / ``--limit`` in the database.

One SELECT over Optuna's ``trials`` and ``trial_values`` (and ``trial_params`` or our
``sd_runs`` / ``sd_findings`` when a condition needs them) filters, sorts and limits;
only the returned trials' parameters and attributes are then read. Every value the
user typed reaches the database as a bound parameter.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from optuna.distributions import CategoricalDistribution
from sqlalchemy import ColumnElement, FromClause, Select, TableClause, and_, case, exists, or_, select
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import FindingCode
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies.db import (
    OPTUNA_STATES,
    FindingRow,
    RunRow,
    o_trial_params,
    o_trial_user_attrs,
    o_trial_values,
    o_trials,
    trial_state,
)
from sweepdoctor.studies.query._catalog import (
    Distributions,
    ParamDecoder,
    StudyRef,
    param_names,
    study_user_attrs,
)
from sweepdoctor.studies.query._records import TrialRecord
from sweepdoctor.studies.query._where import Condition, SortKey, choice_indices, numeric_value

__all__ = ["STATES", "TrialQuery", "load_trials", "walk_page"]

STATES = tuple(s.lower() for s in OPTUNA_STATES)
# Attributes of a trial (not parameters) that --where and --sort accept.
_TRIAL_ATTRS = ("value", "number")
_RUN_ATTRS = ("n_params", "depth")  # from our sd_runs
_IN_CHUNK = 900  # ids per IN (...) list; under SQLite's oldest bound-parameter limit
# A sorted page first reads WALK_FIRST index entries per row it wants along its sort key; if that
# window does not fill it, the share of matches seen sizes one more window, of at most WALK_MOST
# entries; past that the filters lead (they then find fewer rows than such a walk would read).
WALK_FIRST = 16
WALK_MOST = 5_000
WALK_MAX_LIMIT = 200  # longer pages (deep offsets) go by the filters at once


class _Walk(NamedTuple):
    """The index a sort follows: the entries of ``table.key`` where ``scope`` (of an alias of ``table``) holds."""

    table: TableClause
    key: str
    scope: Callable[[FromClause], list[ColumnElement[bool]]]
    ascending: bool
    total: bool = False  # every trial has the key (a number): no trial sorts after the index's end

    def order(self, w: FromClause) -> Any:
        return w.c[self.key].asc() if self.ascending else w.c[self.key].desc()


class _Read(NamedTuple):
    """An alias of ``trial_params`` that reads parameter ``name`` of each trial (inner: the trial must have it)."""

    alias: FromClause
    name: str
    inner: bool

    def on(self, trial_id: Any) -> ColumnElement[bool]:
        return and_(self.alias.c.trial_id == trial_id, self.alias.c.param_name == self.name)


class TrialQuery:
    """Builds one SELECT of a study's trials. Call the methods, then :meth:`select` (the filters lead)
    or :meth:`walk_select` (the sort key's index leads; conditions on parameters become EXISTS probes)."""

    def __init__(self, s: Session, study: StudyRef, *, ours: bool, dists: Distributions | None = None) -> None:
        t, v = o_trials, o_trial_values
        self._s, self._study, self._ours = s, study, ours
        self._dists = Distributions() if dists is None else dists  # a long-lived reader's, or this query's
        self._from: FromClause = t.outerjoin(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0))
        self._conds: list[ColumnElement[bool]] = [t.c.study_id == study.study_id]
        self._walk_from: FromClause = self._from  # the same, for walk_select: parameter conditions are probes
        self._walk_conds = list(self._conds)
        self._order: list[Any] = []
        self._n_alias = 0
        self._run: FromClause | None = None
        self._walk: _Walk | None = None  # set by sort() when its key has an index to walk
        self._walk_start: Callable[[Any], list[Any]] = lambda _key: []  # set by after(): where the walk begins

    # ---- conditions -------------------------------------------------------------

    def _cond(self, cond: ColumnElement[bool], probe: ColumnElement[bool] | None = None) -> None:
        self._conds.append(cond)
        self._walk_conds.append(cond if probe is None else probe)

    def where(self, cond: Condition) -> TrialQuery:
        if cond.name == "value":
            self._cond(cond.op.compare(o_trial_values.c.value, numeric_value(cond)))
        elif cond.name == "number":
            number = numeric_value(cond, integer=True)  # past 64 bits no driver binds an int: compare as a float
            self._cond(cond.op.compare(o_trials.c.number, int(number) if abs(number) < 2**62 else number))
        else:
            column, dist, reads = self._shown_column(cond.name, "--where", inner=True)
            if isinstance(dist, CategoricalDistribution):
                test = column.in_([float(i) for i in choice_indices(cond, dist.choices)])
            else:
                test = cond.op.compare(column, numeric_value(cond))
            self._from = self._joined(self._from, reads)
            self._cond(test, self._probe(reads, test) if reads else None)
        return self

    def states(self, states: Iterable[str]) -> TrialQuery:
        wanted = []
        for st in states:
            if st.lower() not in STATES:
                raise ConfigError(f"--state: {st!r} is not a trial state; choose from {', '.join(STATES)}")
            wanted.append(st.upper())
        if wanted:
            self._cond(trial_state.in_(wanted))
        return self

    def finding(self, code: str) -> TrialQuery:
        codes = [c.value for c in FindingCode]
        if code not in codes:
            raise ConfigError(f"--finding: {code!r} is not a finding code; choose from {', '.join(codes)}")
        run = RunRow.__table__
        self._cond(
            exists(
                select(FindingRow.id)
                .select_from(FindingRow.__table__.join(run, run.c.id == FindingRow.run_id))
                .where(run.c.trial_id == o_trials.c.trial_id, FindingRow.code == code)
            )
        )
        return self

    def sort(self, key: SortKey | None) -> TrialQuery:
        if key is None or key.name == "number":
            col: Any = o_trials.c.number
            ascending = key is None or not key.descending
            self._order += [col.asc() if ascending else col.desc()]
            sid = self._study.study_id
            self._walk = _Walk(o_trials, "number", lambda w: [w.c.study_id == sid], ascending, total=True)
            return self
        if key.name == "value":  # best first; "-value" worst first
            col = o_trial_values.c.value
            ascending = (not self._study.maximize) != key.descending
            self._walk = _Walk(o_trial_values, "value", lambda w: [w.c.objective == 0, w.c.value.is_not(None)],
                               ascending)
        else:
            col, _dist, reads = self._shown_column(key.name, "--sort", inner=False)
            self._from, self._walk_from = self._joined(self._from, reads), self._joined(self._walk_from, reads)
            ascending = not key.descending
            if len(reads) == 1 and col is reads[0].alias.c.param_value:  # not a switched-off parameter's 0
                name = key.name
                self._walk = _Walk(o_trial_params, "param_value",
                                   lambda w: [w.c.param_name == name, w.c.param_value.is_not(None)], ascending)
        self._order += [col.is_(None), col.asc() if ascending else col.desc(), o_trials.c.number.asc()]
        return self

    def after(self, number: int, key: SortKey | None) -> TrialQuery:
        """Keyset paging: only the trials that come after trial ``number`` in the ``key`` order
        (``number`` or ``value``; ties on the value go by number, and trials without one last)."""
        t, v = o_trials, o_trial_values
        n: float = number if abs(number) < 2**62 else float(number)  # past 64 bits no driver binds an int
        if key is None or key.name == "number":
            self._cond(t.c.number < n if key is not None and key.descending else t.c.number > n)
            self._walk_start = lambda k: [k < n if key is not None and key.descending else k > n]
            return self
        if key.name != "value":
            raise ConfigError(f"after: pages after a trial follow sort=value or sort=number, not sort={key.name!r}; "
                              "use offset for other sorts")
        ascending = (not self._study.maximize) != key.descending
        mark = (select(v.c.value).select_from(t.join(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0)))
                .where(t.c.study_id == self._study.study_id, t.c.number == n).scalar_subquery())
        later = v.c.value > mark if ascending else v.c.value < mark
        self._walk_start = lambda k: [k >= mark if ascending else k <= mark]  # ties included; no mark: no walk
        self._cond(
            case(
                (mark.is_(None), and_(v.c.value.is_(None), t.c.number > n)),
                else_=or_(v.c.value.is_(None), later, and_(v.c.value == mark, t.c.number > n)),
            )
        )
        return self

    # ---- the statement ----------------------------------------------------------

    def select(self, *extra: Any) -> Select[Any]:
        return self._statement(self._from, self._conds, *extra)

    def _statement(self, from_: FromClause, conds: list[ColumnElement[bool]], *extra: Any) -> Select[Any]:
        t, v = o_trials, o_trial_values
        cols = [t.c.trial_id, t.c.number, t.c.state, v.c.value, t.c.datetime_start, t.c.datetime_complete]
        q = select(*cols, *extra).select_from(from_).where(*conds)
        return q.order_by(*(self._order or [t.c.number.asc()]))

    # ---- walking the sort key's index -------------------------------------------

    @property
    def walkable(self) -> bool:
        """Whether the sort key has an index to walk (``number``, ``value``, a parameter as stored)."""
        return self._walk is not None

    @property
    def walk_total(self) -> bool:
        """Whether every trial is in the index walked (its key is never missing)."""
        return self._walk is not None and self._walk.total

    @property
    def filtered(self) -> bool:
        """Whether a condition beyond the study's own narrows the trials."""
        return len(self._conds) > 1

    def walk_edge(self, budget: int) -> Select[Any]:
        """The sort key at the ``budget``-th index entry from where the page starts (no row: fewer are left)."""
        assert self._walk is not None, "walk_edge() after a sort() with an index"
        w = self._walk.table.alias("walk_edge")
        key = w.c[self._walk.key]
        q = select(key).where(*self._walk.scope(w), *self._walk_start(key)).order_by(self._walk.order(w))
        return q.limit(1).offset(budget - 1)

    def walk_select(self, budget: int, *, bounded: bool) -> Select[Any]:
        """:meth:`select` over only the index entries before the :meth:`walk_edge` (all of them unless
        ``bounded``): at most ``budget`` rows are read and filtered, in index order, whatever the filters.
        The edge stays in SQL: a key read back and bound again could come back rounded."""
        assert self._walk is not None, "walk_select() after a sort() with an index"
        w = self._walk.table.alias("walk")
        key = w.c[self._walk.key]
        edge = self.walk_edge(budget).scalar_subquery()
        before = [key < edge if self._walk.ascending else key > edge] if bounded else []
        window = (select(w.c.trial_id).where(*self._walk.scope(w), *self._walk_start(key), *before)
                  .order_by(self._walk.order(w))
                  .limit(budget)  # never reached (the edge is the budget-th entry): it keeps the window a subquery
                  .subquery("walked"))
        return self._statement(window.join(self._walk_from, window.c.trial_id == o_trials.c.trial_id),
                               self._walk_conds)

    def best_first(self) -> list[Any]:
        """ORDER BY terms that put the best complete value first (ties: lowest number)."""
        v = o_trial_values.c.value
        return [v.desc() if self._study.maximize else v.asc(), o_trials.c.number.asc()]

    def join_param(self, name: str, what: str) -> tuple[Any, Any]:
        """Inner-join parameter ``name``; returns its value column and its distribution JSON column
        (``None`` for ``n_params`` / ``depth`` of our runs, which are plain numbers)."""
        column, dist, reads = self._column(name, what, inner=True)
        self._from, self._walk_from = self._joined(self._from, reads), self._joined(self._walk_from, reads)
        return column, None if dist is None else column.table.c.distribution_json

    def _shown_column(self, name: str, what: str, *, inner: bool) -> tuple[Any, Any, list[_Read]]:
        """Parameter ``name`` as the sweep shows it: ``weight_decay`` is 0 on the trials where
        Optuna's switch ``use_weight_decay`` is False (and which have no ``weight_decay``).
        Returns the value, the distribution and the parameter aliases read (joined by the caller)."""
        switch = self._dists.get(self._s, self._study, f"use_{name}")
        if not isinstance(switch, CategoricalDistribution) or False not in switch.choices:
            return self._column(name, what, inner=inner)
        self._n_alias += 1
        use = _Read(o_trial_params.alias(f"p{self._n_alias}"), f"use_{name}", inner)
        off = use.alias.c.param_value == float(switch.choices.index(False))
        dist = self._dists.get(self._s, self._study, name)
        if dist is None:  # no trial switched it on: 0 wherever the switch is off
            return case((off, 0.0), else_=None), None, [use]
        value, _, reads = self._column(name, what, inner=False)
        return case((off, 0.0), else_=value), dist, [use, *reads]

    def _column(self, name: str, what: str, *, inner: bool) -> tuple[Any, Any, list[_Read]]:
        dist = self._dists.get(self._s, self._study, name)
        if dist is None:
            if name in _RUN_ATTRS and self._ours:
                return self._run_column(name, inner=inner), None, []
            raise ConfigError(f"{what}: {name!r} is not a parameter of study {self._study.name!r}; {self._names()}")
        self._n_alias += 1
        p = o_trial_params.alias(f"p{self._n_alias}")
        return p.c.param_value, dist, [_Read(p, name, inner)]

    @staticmethod
    def _joined(from_: FromClause, reads: list[_Read]) -> FromClause:
        for r in reads:
            from_ = from_.join(r.alias, r.on(o_trials.c.trial_id), isouter=not r.inner)
        return from_

    @staticmethod
    def _probe(reads: list[_Read], test: ColumnElement[bool]) -> ColumnElement[bool]:
        """``test`` on the parameters ``reads`` as an EXISTS probe of the trial's own rows (the first read,
        which the trial must have, is unique per trial): for a plan the sort key's index leads."""
        first, *rest = reads
        tree: FromClause = first.alias
        for r in rest:
            tree = tree.join(r.alias, r.on(first.alias.c.trial_id), isouter=not r.inner)
        return exists(select(first.alias.c.trial_id).select_from(tree).where(first.on(o_trials.c.trial_id), test))

    def _run_column(self, name: str, *, inner: bool) -> Any:
        if self._run is None:
            self._run = RunRow.__table__.alias("r")
            on = self._run.c.trial_id == o_trials.c.trial_id
            self._from = self._from.join(self._run, on, isouter=not inner)
            self._walk_from = self._walk_from.join(self._run, on, isouter=not inner)
        return self._run.c[name]

    def _names(self) -> str:
        names = list(_TRIAL_ATTRS) + param_names(self._s, self._study.study_id)
        if self._ours:
            names += [n for n in _RUN_ATTRS if n not in names]
        return "valid names: " + ", ".join(names)


def walk_page(s: Session, q: TrialQuery, limit: int) -> list[Any] | None:
    """The first ``limit`` rows of ``q`` found by walking its sort key's index, or ``None`` when that
    would read more than :data:`WALK_MOST` entries (the caller then lets the filters lead).

    Each window holds the index entries up to the ``budget``-th from where the page starts, less
    those with the key found there (so that ties on it are never cut); its rows are filtered and
    sorted as the whole query would, so a full page is exactly the whole query's. Trials without
    the key (sorted last) are not in the index: a page that reaches them is left to the whole query.
    """
    if not q.walkable or limit > WALK_MAX_LIMIT:
        return None
    budget = WALK_FIRST * limit
    for _step in range(2):
        bounded = s.execute(q.walk_edge(budget)).first() is not None
        rows = list(s.execute(q.walk_select(budget, bounded=bounded).limit(limit)))
        if len(rows) == limit or (not bounded and q.walk_total):
            return rows
        if not bounded or not rows:  # the index's end reached, or no match seen to size the next window
            return None
        budget = math.ceil(1.5 * budget * limit / len(rows))
        if budget > WALK_MOST:
            return None
    return None


def load_trials(s: Session, rows: Sequence[Any], *, study_id: int, ours: bool) -> list[TrialRecord]:
    """Trial records for ``rows`` (trial_id, number, state, value, start, complete, ...).

    Parameters, user attributes and finding codes are read for these trials only: in
    chunks of ids, or in one pass over the study when there are many.
    """
    ids = [int(r[0]) for r in rows]
    t, p, a = o_trials, o_trial_params, o_trial_user_attrs
    decoder = ParamDecoder()
    params: dict[int, dict[str, Any]] = defaultdict(dict)
    q: Select = select(p.c.trial_id, p.c.param_name, p.c.param_value, p.c.distribution_json)
    in_study = t.c.study_id == study_id
    for tid, name, value, dj in _rows_for(s, ids, q, p.c.trial_id, q.join(t, t.c.trial_id == p.c.trial_id), in_study):
        params[tid][name] = decoder.decode(value, dj)
    attrs: dict[int, dict[str, Any]] = defaultdict(dict)
    q = select(a.c.trial_id, a.c.key, a.c.value_json)
    for tid, key, vj in _rows_for(s, ids, q, a.c.trial_id, q.join(t, t.c.trial_id == a.c.trial_id), in_study):
        attrs[tid][key] = None if vj is None else json.loads(vj)
    findings: dict[int, set[str]] = defaultdict(set)
    if ours:
        run = RunRow.__table__
        q = select(run.c.trial_id, FindingRow.code)
        q = q.join_from(FindingRow.__table__, run, run.c.id == FindingRow.run_id)
        for tid, code in _rows_for(s, ids, q, run.c.trial_id, q, run.c.study_id == study_id):
            findings[tid].add(code)
    custom = _custom_model(s, study_id)
    return [
        TrialRecord(
            number=int(number),
            trial_id=int(tid),
            state=str(state).lower(),
            value=value,
            datetime_start=start,
            datetime_complete=complete,
            params=sweep_names(params.get(tid, {}), attrs.get(tid, {}), custom_model=custom),
            user_attrs=attrs.get(tid, {}),
            findings=tuple(sorted(findings.get(tid, ()))),
        )
        for tid, number, state, value, start, complete, *_ in rows
    ]


# The built-in MLP's own parameters: not shown for a study of the caller's model (model_fn).
_MLP_PARAMS = ("depth", "width", "activation")


def _custom_model(s: Session, study_id: int) -> bool:
    fingerprint = study_user_attrs(s, study_id).get("sweepdoctor")
    return isinstance(fingerprint, dict) and fingerprint.get("model") == "custom"


def sweep_names(params: dict[str, Any], attrs: dict[str, Any], *, custom_model: bool = False) -> dict[str, Any]:
    """A trial's parameters in the names the sweep shows everywhere (its summary, JSON, ``studies``).

    A sweep's trial carries them as its ``hyperparameters`` attribute (fixed ones included,
    those its optimizer does not use left out; for a caller's model, not the built-in MLP's
    depth/width/activation). Otherwise Optuna's own are shown, with the sweep's internal
    switch ``use_weight_decay=false`` shown as ``weight_decay=0``.
    """
    stored = attrs.get("hyperparameters")
    if isinstance(stored, dict) and stored:
        return {k: v for k, v in stored.items() if not (custom_model and k in _MLP_PARAMS)}
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith("use_") and isinstance(value, bool):
            if not value:
                out.setdefault(name[4:], 0.0)
            continue
        out[name] = value
    return out


def _rows_for(
    s: Session, ids: list[int], q: Select, id_col: Any, by_study: Select, in_study: ColumnElement[bool]
) -> Iterable[Any]:
    """Rows of ``q`` for the trials ``ids``: IN-lists for a page, one pass over the study for many."""
    if len(ids) > 4 * _IN_CHUNK:
        wanted = set(ids)
        yield from (r for r in s.execute(by_study.where(in_study)) if r[0] in wanted)
        return
    for i in range(0, len(ids), _IN_CHUNK):
        yield from s.execute(q.where(id_col.in_(ids[i : i + _IN_CHUNK])))
