"""Parameter importance with Optuna's own evaluator, on trials read by our queries.

The complete trials' values and parameters are read in two queries and handed to an
in-memory Optuna study, so :func:`optuna.importance.get_param_importances` runs
exactly as it would on the stored study, without Optuna opening (or migrating) the
user's database.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from sweepdoctor.studies._catalog import ParamDecoder, StudyRef
from sweepdoctor.studies._optuna_tables import o_trial_params, o_trial_values, o_trials, trial_state
from sweepdoctor.studies._records import Importance

__all__ = ["param_importance"]

MIN_TRIALS = 2


def param_importance(s: Session, study: StudyRef) -> Importance:
    """Importance of each parameter for the first objective (normalized to sum to 1)."""
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
    decoder = ParamDecoder()
    params: dict[int, dict[str, Any]] = defaultdict(dict)
    dists: dict[int, dict[str, BaseDistribution]] = defaultdict(dict)
    for tid, name, value, dj in s.execute(
        select(p.c.trial_id, p.c.param_name, p.c.param_value, p.c.distribution_json)
        .join_from(p, t, t.c.trial_id == p.c.trial_id)
        .where(complete)
    ):
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
    try:
        result = optuna.importance.get_param_importances(mem)
    except (ValueError, RuntimeError) as e:  # Optuna's own refusal (e.g. a parameter that never varies)
        return Importance(None, f"Optuna's evaluator declined: {e}")
    return Importance(dict(result))
