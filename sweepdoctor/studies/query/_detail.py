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

import json
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from sweepdoctor.diagnostics import Role
from sweepdoctor.studies.db import (
    GUIDED_PLAN,
    FindingRow,
    FoldRow,
    RunRow,
    StudyDocRow,
    o_trial_params,
    o_trial_user_attrs,
    o_trial_values,
    o_trials,
    trial_state,
)
from sweepdoctor.studies.query._catalog import ParamDecoder, StudyRef
from sweepdoctor.studies.query._records import FoldSpread, Importance, TrialRecord, ValueStats

__all__ = [
    "IMPORTANCE_TRIALS",
    "evenly_spaced",
    "finding_counts",
    "fold_spreads",
    "param_importance",
    "stop_counts",
    "value_stats",
    "guided_rounds",
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


def guided_rounds(s: Session, study_id: int) -> tuple[dict[str, Any], ...]:
    """A guided study's stored rounds (``sweep --guided``): each one's edits and their reasons."""
    doc = s.execute(
        select(StudyDocRow.document).where(StudyDocRow.study_id == study_id, StudyDocRow.key == GUIDED_PLAN)
    ).scalar_one_or_none()
    return tuple(r for r in doc if isinstance(r, dict)) if isinstance(doc, list) else ()


def finding_counts(s: Session, study: StudyRef) -> dict[str, int]:
    """How many candidate trials carry each stored finding code, as ``diagnose`` counts them.

    Baselines (references, not candidates) and study-level findings are not counted.
    """
    n_runs = func.count(func.distinct(FindingRow.run_id))
    q = (
        select(FindingRow.code, n_runs)
        .join_from(FindingRow, RunRow, RunRow.id == FindingRow.run_id)
        .where(FindingRow.study_id == study.study_id, RunRow.role == Role.CANDIDATE.value)
        .group_by(FindingRow.code)
        .order_by(n_runs.desc(), FindingRow.code)
    )
    return {code: int(n) for code, n in s.execute(q)}


def stop_counts(s: Session, study: StudyRef) -> dict[str, int]:
    """The pruned trials by what stopped them (their ``stop_reason``): the diagnosis pruner by the reason's
    rule ("the diagnosis: divergence"), Optuna's pruner ("the pruner: values below the others'"), most first."""
    q = (
        select(o_trial_user_attrs.c.value_json)
        .join_from(o_trial_user_attrs, o_trials, o_trials.c.trial_id == o_trial_user_attrs.c.trial_id)
        .where(o_trials.c.study_id == study.study_id, trial_state == TrialState.PRUNED.name,
               o_trial_user_attrs.c.key == "stop_reason")
    )
    counts: dict[str, int] = defaultdict(int)
    for (raw,) in s.execute(q):
        try:
            reason = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(reason, str):
            counts[_stop_kind(reason)] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_EPOCH = re.compile(r"\s*at epoch \d+")


def _stop_kind(reason: str) -> str:
    """``pruned by the diagnosis at epoch 3: divergence (train loss x8 in 3 epochs)`` -> ``the diagnosis:
    divergence``; ``pruned at epoch 4`` (Optuna's pruner) -> ``the pruner``."""
    text = _EPOCH.sub("", reason).strip()
    if text.startswith("pruned by the diagnosis"):
        rule = _WORDS.match(text.partition(":")[2].strip())
        return f"the diagnosis: {rule.group(0).strip()}" if rule and rule.group(0).strip() else "the diagnosis"
    if text in ("pruned", ""):
        return "the pruner"
    return _WORDS.match(text).group(0).strip() or text  # type: ignore[union-attr]


_WORDS = re.compile(r"[^\d(,;]*")  # a reason's words up to its first number or detail


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
    ranked, on = _split_conditional(s, study, params)
    base = Importance(None, n_trials=len(values), n_complete=n_complete, conditional=on)
    if not ranked:
        return replace(base, reason="every parameter is conditional (exists on some trials only)")
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
            result = optuna.importance.get_param_importances(mem, params=ranked)
        except (ValueError, RuntimeError) as e:  # Optuna's own refusal (e.g. a parameter that never varies)
            return replace(base, reason=f"Optuna's evaluator declined: {e}")
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    return replace(base, values={_switch_name(k): v for k, v in result.items()}, notes=notes)


def _split_conditional(
    s: Session, study: StudyRef, params: dict[int, dict[str, Any]]
) -> tuple[list[str], dict[str, int]]:
    """The parameters to rank (every trial has them), and the conditional ones with how many
    evaluated trials have each."""
    seen = {name for ps in params.values() for name in ps}
    conditional = conditional_params(s, study) | {n for n in seen if any(n not in ps for ps in params.values())}
    on = {name: sum(name in ps for ps in params.values()) for name in sorted(seen & conditional)}
    return sorted(seen - conditional), on


def _switch_name(name: str) -> str:
    """The sweep asks Optuna ``use_weight_decay`` before ``weight_decay`` (a range that may be 0):
    its importance is that of ``weight_decay>0``, in the names the sweep shows."""
    return f"{name[4:]}>0" if name.startswith("use_") else name


def conditional_params(s: Session, study: StudyRef) -> set[str]:
    """Parameters some of the study's trials have and others not (``beta1`` only for Adam).

    Ranking one against the others on the trials where it exists would credit it with
    what the condition (the optimizer) did; such parameters are listed, not ranked.
    """
    t, p = o_trials, o_trial_params
    in_study = p.join(t, t.c.trial_id == p.c.trial_id)
    n_trials = s.execute(
        select(func.count(func.distinct(p.c.trial_id))).select_from(in_study).where(t.c.study_id == study.study_id)
    ).scalar_one()
    counts = s.execute(
        select(p.c.param_name, func.count(func.distinct(p.c.trial_id)))
        .select_from(in_study)
        .where(t.c.study_id == study.study_id)
        .group_by(p.c.param_name)
    )
    return {name for name, n in counts if n < n_trials}
