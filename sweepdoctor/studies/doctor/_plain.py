"""A plain Optuna study's curves: the values its trials reported (``trial.report``), as a History.

A study made by plain Optuna has no rows of ours, but each trial that reported keeps one
value per step in Optuna's ``trial_intermediate_values``. Those steps become the run's
epochs, read as its validation curve: ``val_loss`` when the study minimizes, ``val_metric``
(higher is better) when it maximizes. A reported NaN/inf (stored by Optuna as NULL) stays
an epoch without a value, which the validation-curve rules read as non-finite. Only
finished trials count (complete, pruned, failed), as in a sweep. Read by SQL, like the
rest of Optuna's tables here; nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from optuna.distributions import json_to_distribution
from sqlalchemy import Engine, select

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, RunState, Task, finite_or_none
from sweepdoctor.studies.db import (
    o_study_directions,
    o_study_user_attrs,
    o_trial_intermediate_values,
    o_trial_params,
    o_trials,
    session_scope,
    trial_state,
)

__all__ = ["PLAIN_LOSS", "plain_history"]

# The loss name of a plain study's history: Optuna does not say what the values are.
PLAIN_LOSS = "intermediate_value"
_STATES = {"COMPLETE": RunState.COMPLETE, "PRUNED": RunState.PRUNED, "FAIL": RunState.FAIL}


def plain_history(engine: Engine, study_id: int, *, trial_numbers: Sequence[int] | None = None) -> History | None:
    """The study's reported values as a :class:`History` of candidate runs; ``None`` when no trial reported."""
    t, iv = o_trials, o_trial_intermediate_values
    with session_scope(engine) as s:
        q = select(t.c.trial_id, t.c.number, trial_state.label("state")).where(
            t.c.study_id == study_id, trial_state.in_(list(_STATES))
        )
        if trial_numbers is not None:
            q = q.where(t.c.number.in_(list(trial_numbers)))
        trials = {int(r.trial_id): (int(r.number), str(r.state)) for r in s.execute(q)}
        if not trials:
            return None
        values: dict[int, list[tuple[int, float | None]]] = defaultdict(list)
        for tid, step, value in s.execute(
            select(iv.c.trial_id, iv.c.step, iv.c.intermediate_value)
            .where(iv.c.trial_id.in_(list(trials)))
            .order_by(iv.c.trial_id, iv.c.step)
        ):
            values[int(tid)].append((int(step), finite_or_none(value)))
        params = _params(s, list(values))
        maximize = _maximize(s, study_id)
        task = _task(s, study_id)
    runs = tuple(
        _run(f"trial-{trials[tid][0]}", curve, params.get(tid, {}), _STATES[trials[tid][1]], maximize)
        for tid, curve in sorted(values.items(), key=lambda kv: trials[kv[0]][0])
    )
    return History(task=task, loss=PLAIN_LOSS, runs=runs) if runs else None


def _run(
    name: str, curve: list[tuple[int, float | None]], hp: dict[str, Any], state: str, maximize: bool
) -> RunHistory:
    epochs = tuple(
        EpochRecord(epoch=step, train_loss=None, val_loss=None if maximize else v, grad_norm=None, lr=float("nan"),
                    val_metric=v if maximize else None)
        for step, v in curve
    )
    return RunHistory(name=name, role=Role.CANDIDATE, folds=(FoldHistory(epochs=epochs),), hyperparameters=hp,
                      state=state)


def _params(s: Any, trial_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each trial's parameters in their external form (a category's value, not its index)."""
    p = o_trial_params
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    if not trial_ids:
        return out
    for tid, name, value, dist in s.execute(
        select(p.c.trial_id, p.c.param_name, p.c.param_value, p.c.distribution_json).where(p.c.trial_id.in_(trial_ids))
    ):
        out[int(tid)][str(name)] = json_to_distribution(dist).to_external_repr(value)
    return out


def _maximize(s: Any, study_id: int) -> bool:
    d = o_study_directions
    first = s.execute(
        select(d.c.direction).where(d.c.study_id == study_id).order_by(d.c.objective)
    ).scalars().first()
    return first is not None and str(first).lower().endswith("maximize")


def _task(s: Any, study_id: int) -> Task:
    """The study's ``task`` user attribute where it names one (classification/regression), else regression:
    the validation-curve rules do not depend on it."""
    a = o_study_user_attrs
    raw = s.execute(select(a.c.value_json).where(a.c.study_id == study_id, a.c.key == "task")).scalar()
    return Task.CLASSIFICATION if raw == '"classification"' else Task.REGRESSION
