"""What ``show`` and ``compare`` add to a trial query: value statistics, fold spread,
findings and parameter importance.

Fold scores come from our ``sd_folds`` when the sweep stored the run, else from the
trial's ``split{i}_score`` user attributes (the sweep writes both; scikit-learn-style
searches write the latter), so a plain Optuna study gets a spread when it has them.

Importance uses Optuna's own evaluator: the complete trials' values and parameters are
read by our queries and handed to an in-memory Optuna study, so
:func:`optuna.importance.get_param_importances` runs as it would on the stored study,
without Optuna opening (or migrating) the user's database.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from sweepdoctor.studies.db import FindingRow, FoldRow, RunRow, o_trial_params, o_trial_values, o_trials, trial_state
from sweepdoctor.studies.query._catalog import ParamDecoder, StudyRef
from sweepdoctor.studies.query._records import FoldSpread, Importance, TrialRecord, ValueStats

__all__ = [
    "IMPORTANCE_TRIALS",
    "evenly_spaced",
    "finding_counts",
    "fold_spreads",
    "param_importance",
    "value_stats",
]

_SPLIT_RE = re.compile(r"^split(\d+)_score$")


def value_stats(s: Session, study: StudyRef) -> ValueStats:
    """Count, min, mean and max of the complete trials' first objective (aggregated in SQL)."""
    t, v = o_trials, o_trial_values
    n, lo, mean, hi = s.execute(
        select(func.count(v.c.value), func.min(v.c.value), func.avg(v.c.value), func.max(v.c.value))
        .join_from(t, v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0))
        .where(t.c.study_id == study.study_id, trial_state == "COMPLETE")
    ).one()
    return ValueStats(n=int(n), min=lo, mean=None if mean is None else float(mean), max=hi)


def fold_spreads(s: Session, trials: Sequence[TrialRecord], *, ours: bool) -> tuple[FoldSpread, ...]:
    """Each trial's per-fold validation scores (trials without any are left out)."""
    ids = [t.trial_id for t in trials]
    stored: dict[int, dict[int, float | None]] = defaultdict(dict)
    if ours and ids:
        q = (
            select(RunRow.trial_id, FoldRow.fold, FoldRow.val_score)
            .join_from(FoldRow, RunRow, RunRow.id == FoldRow.run_id)
            .where(RunRow.trial_id.in_(ids))
        )
        for tid, fold, score in s.execute(q):
            if tid is not None:
                stored[tid][fold] = score
    out = []
    for t in trials:
        folds, source = stored.get(t.trial_id), "sd_folds"
        if not folds or all(x is None for x in folds.values()):
            folds, source = _split_attrs(t), "user_attrs"
        if folds:
            scores = tuple(folds.get(i) for i in range(max(folds) + 1))
            out.append(FoldSpread(number=t.number, value=t.value, scores=scores, source=source))
    return tuple(out)


def _split_attrs(t: TrialRecord) -> dict[int, float | None]:
    out: dict[int, float | None] = {}
    for key, value in t.user_attrs.items():
        m = _SPLIT_RE.match(key)
        if m is not None:
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            out[int(m.group(1))] = float(value) if is_number else None
    return out


def finding_counts(s: Session, study: StudyRef) -> dict[str, int]:
    """How many stored findings of each code the study has (runs and study level)."""
    q = (
        select(FindingRow.code, func.count(FindingRow.id))
        .where(FindingRow.study_id == study.study_id)
        .group_by(FindingRow.code)
        .order_by(func.count(FindingRow.id).desc(), FindingRow.code)
    )
    return {code: int(n) for code, n in s.execute(q)}


# ---- parameter importance ------------------------------------------------------

MIN_TRIALS = 2
_CHUNK = 900  # ids per IN (...) list
IMPORTANCE_TRIALS = 10_000  # Optuna's in-memory study copies every trial: ~0.2 ms each, plus the evaluation


def evenly_spaced(ids: Sequence[int], k: int | None) -> list[int]:
    """``k`` of ``ids`` spread evenly over the sorted list (all of them when ``k`` is None or larger)."""
    ordered = sorted(ids)
    if k is None or len(ordered) <= k:
        return ordered
    step = len(ordered) / k
    return [ordered[int(i * step)] for i in range(k)]


def param_importance(s: Session, study: StudyRef, *, max_trials: int | None = IMPORTANCE_TRIALS) -> Importance:
    """Importance of each parameter for the first objective (normalized to sum to 1).

    On more than ``max_trials`` complete trials, an evenly spaced sample of them (in
    trial order) is evaluated, and :attr:`Importance.n_trials` says how many.
    """
    t, v, p = o_trials, o_trial_values, o_trial_params
    complete = and_(t.c.study_id == study.study_id, trial_state == "COMPLETE")
    values: dict[int, float] = {
        tid: value
        for tid, value in s.execute(
            select(t.c.trial_id, v.c.value)
            .join_from(t, v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0))
            .where(complete, v.c.value.is_not(None))
        )
    }
    if len(values) < MIN_TRIALS:
        return Importance(
            None, f"needs at least {MIN_TRIALS} complete trials with a finite value; the study has {len(values)}"
        )
    n_complete = len(values)
    values = {tid: values[tid] for tid in evenly_spaced(list(values), max_trials)}
    decoder = ParamDecoder()
    params: dict[int, dict[str, Any]] = defaultdict(dict)
    dists: dict[int, dict[str, BaseDistribution]] = defaultdict(dict)
    q = select(p.c.trial_id, p.c.param_name, p.c.param_value, p.c.distribution_json)
    if len(values) < n_complete:  # a sample: read its parameters by id
        ids = list(values)
        rows: Iterable[Any] = (
            row for i in range(0, len(ids), _CHUNK) for row in s.execute(q.where(p.c.trial_id.in_(ids[i : i + _CHUNK])))
        )
    else:
        rows = s.execute(q.join_from(p, t, t.c.trial_id == p.c.trial_id).where(complete))
    for tid, name, value, dj in rows:
        if tid in values:
            params[tid][name] = decoder.decode(value, dj)
            dists[tid][name] = decoder.distribution(dj)
    if not any(params.values()):
        return Importance(None, "the complete trials have no parameters")
    direction = StudyDirection.MAXIMIZE if study.maximize else StudyDirection.MINIMIZE
    mem = optuna.create_study(direction=direction)
    mem.add_trials(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=value, params=params[tid], distributions=dists[tid]
        )
        for tid, value in values.items()
    )
    with warnings.catch_warnings(record=True) as caught:  # the evaluator's caveats become notes of the result
        warnings.simplefilter("always")
        try:
            result = optuna.importance.get_param_importances(mem)
        except (ValueError, RuntimeError) as e:  # Optuna's own refusal (e.g. a parameter that never varies)
            return Importance(None, f"Optuna's evaluator declined: {e}")
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return Importance(dict(result), n_trials=len(values), n_complete=n_complete, notes=notes)
