"""Trial queries: ``--where`` / ``--state`` / ``--finding`` / ``--sort`` / ``--limit`` in the database.

One SELECT over Optuna's ``trials`` and ``trial_values`` (and ``trial_params`` or our
``sd_runs`` / ``sd_findings`` when a condition needs them) filters, sorts and limits;
only the returned trials' parameters and attributes are then read. Every value the
user typed reaches the database as a bound parameter.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.distributions import CategoricalDistribution
from sqlalchemy import ColumnElement, FromClause, Select, and_, case, exists, or_, select
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
    ParamDecoder,
    StudyRef,
    param_distribution,
    param_names,
    study_user_attrs,
)
from sweepdoctor.studies.query._records import TrialRecord
from sweepdoctor.studies.query._where import Condition, SortKey, choice_indices, numeric_value

__all__ = ["STATES", "TrialQuery", "load_trials"]

STATES = tuple(s.lower() for s in OPTUNA_STATES)
# Attributes of a trial (not parameters) that --where and --sort accept.
_TRIAL_ATTRS = ("value", "number")
_RUN_ATTRS = ("n_params", "depth")  # from our sd_runs
_IN_CHUNK = 900  # ids per IN (...) list; under SQLite's oldest bound-parameter limit


class TrialQuery:
    """Builds one SELECT of a study's trials. Call the methods, then :meth:`select`."""

    def __init__(self, s: Session, study: StudyRef, *, ours: bool) -> None:
        t, v = o_trials, o_trial_values
        self._s, self._study, self._ours = s, study, ours
        self._from: FromClause = t.outerjoin(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0))
        self._conds: list[ColumnElement[bool]] = [t.c.study_id == study.study_id]
        self._order: list[Any] = []
        self._n_alias = 0
        self._run: FromClause | None = None

    # ---- conditions -------------------------------------------------------------

    def where(self, cond: Condition) -> TrialQuery:
        if cond.name == "value":
            self._conds.append(cond.op.compare(o_trial_values.c.value, numeric_value(cond)))
        elif cond.name == "number":
            number = numeric_value(cond, integer=True)  # past 64 bits no driver binds an int: compare as a float
            self._conds.append(cond.op.compare(o_trials.c.number, int(number) if abs(number) < 2**62 else number))
        else:
            column, dist = self._shown_column(cond.name, "--where", inner=True)
            if isinstance(dist, CategoricalDistribution):
                indices = [float(i) for i in choice_indices(cond, dist.choices)]
                self._conds.append(column.in_(indices))
            else:
                self._conds.append(cond.op.compare(column, numeric_value(cond)))
        return self

    def states(self, states: Iterable[str]) -> TrialQuery:
        wanted = []
        for st in states:
            if st.lower() not in STATES:
                raise ConfigError(f"--state: {st!r} is not a trial state; choose from {', '.join(STATES)}")
            wanted.append(st.upper())
        if wanted:
            self._conds.append(trial_state.in_(wanted))
        return self

    def finding(self, code: str) -> TrialQuery:
        codes = [c.value for c in FindingCode]
        if code not in codes:
            raise ConfigError(f"--finding: {code!r} is not a finding code; choose from {', '.join(codes)}")
        run = RunRow.__table__
        self._conds.append(
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
            self._order += [col.desc() if key is not None and key.descending else col.asc()]
            return self
        if key.name == "value":  # best first; "-value" worst first
            col = o_trial_values.c.value
            ascending = not self._study.maximize
        else:
            col, _dist = self._shown_column(key.name, "--sort", inner=False)
            ascending = True
        if key.descending:
            ascending = not ascending
        self._order += [col.is_(None), col.asc() if ascending else col.desc(), o_trials.c.number.asc()]
        return self

    def after(self, number: int, key: SortKey | None) -> TrialQuery:
        """Keyset paging: only the trials that come after trial ``number`` in the ``key`` order
        (``number`` or ``value``; ties on the value go by number, and trials without one last)."""
        t, v = o_trials, o_trial_values
        n: float = number if abs(number) < 2**62 else float(number)  # past 64 bits no driver binds an int
        if key is None or key.name == "number":
            self._conds.append(t.c.number < n if key is not None and key.descending else t.c.number > n)
            return self
        if key.name != "value":
            raise ConfigError(f"after: pages after a trial follow sort=value or sort=number, not sort={key.name!r}; "
                              "use offset for other sorts")
        ascending = (not self._study.maximize) != key.descending
        mark = (select(v.c.value).select_from(t.join(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0)))
                .where(t.c.study_id == self._study.study_id, t.c.number == n).scalar_subquery())
        later = v.c.value > mark if ascending else v.c.value < mark
        self._conds.append(
            case(
                (mark.is_(None), and_(v.c.value.is_(None), t.c.number > n)),
                else_=or_(v.c.value.is_(None), later, and_(v.c.value == mark, t.c.number > n)),
            )
        )
        return self

    # ---- the statement ----------------------------------------------------------

    def select(self, *extra: Any) -> Select[Any]:
        t, v = o_trials, o_trial_values
        cols = [t.c.trial_id, t.c.number, t.c.state, v.c.value, t.c.datetime_start, t.c.datetime_complete]
        q = select(*cols, *extra).select_from(self._from).where(*self._conds)
        return q.order_by(*(self._order or [t.c.number.asc()]))

    def best_first(self) -> list[Any]:
        """ORDER BY terms that put the best complete value first (ties: lowest number)."""
        v = o_trial_values.c.value
        return [v.desc() if self._study.maximize else v.asc(), o_trials.c.number.asc()]

    def join_param(self, name: str, what: str) -> tuple[Any, Any]:
        """Inner-join parameter ``name``; returns its value column and its distribution JSON column
        (``None`` for ``n_params`` / ``depth`` of our runs, which are plain numbers)."""
        column, dist = self._column(name, what, inner=True)
        return column, None if dist is None else column.table.c.distribution_json

    def _shown_column(self, name: str, what: str, *, inner: bool) -> tuple[Any, Any]:
        """Parameter ``name`` as the sweep shows it: ``weight_decay`` is 0 on the trials where
        Optuna's switch ``use_weight_decay`` is False (and which have no ``weight_decay``)."""
        switch = param_distribution(self._s, self._study.study_id, f"use_{name}")
        if not isinstance(switch, CategoricalDistribution) or False not in switch.choices:
            return self._column(name, what, inner=inner)
        self._n_alias += 1
        use = o_trial_params.alias(f"p{self._n_alias}")
        on = and_(use.c.trial_id == o_trials.c.trial_id, use.c.param_name == f"use_{name}")
        self._from = self._from.join(use, on) if inner else self._from.outerjoin(use, on)
        dist = param_distribution(self._s, self._study.study_id, name)
        if dist is None:  # no trial switched it on: 0 wherever the switch is off
            return case((use.c.param_value == float(switch.choices.index(False)), 0.0), else_=None), None
        value, _ = self._column(name, what, inner=False)
        return case((use.c.param_value == float(switch.choices.index(False)), 0.0), else_=value), dist

    def _column(self, name: str, what: str, *, inner: bool) -> tuple[Any, Any]:
        dist = param_distribution(self._s, self._study.study_id, name)
        if dist is None:
            if name in _RUN_ATTRS and self._ours:
                return self._run_column(name, inner=inner), None
            raise ConfigError(f"{what}: {name!r} is not a parameter of study {self._study.name!r}; {self._names()}")
        self._n_alias += 1
        p = o_trial_params.alias(f"p{self._n_alias}")
        on = and_(p.c.trial_id == o_trials.c.trial_id, p.c.param_name == name)
        self._from = self._from.join(p, on) if inner else self._from.outerjoin(p, on)
        return p.c.param_value, dist

    def _run_column(self, name: str, *, inner: bool) -> Any:
        if self._run is None:
            self._run = RunRow.__table__.alias("r")
            on = self._run.c.trial_id == o_trials.c.trial_id
            self._from = self._from.join(self._run, on) if inner else self._from.outerjoin(self._run, on)
        return self._run.c[name]

    def _names(self) -> str:
        names = list(_TRIAL_ATTRS) + param_names(self._s, self._study.study_id)
        if self._ours:
            names += [n for n in _RUN_ATTRS if n not in names]
        return "valid names: " + ", ".join(names)


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
