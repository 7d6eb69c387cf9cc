"""What ``show`` and ``compare`` add to a trial query: value statistics, fold spread, findings.

Fold scores come from our ``sd_folds`` when the sweep stored the run, else from the
trial's ``split{i}_score`` user attributes (the sweep writes both; scikit-learn-style
searches write the latter), so a plain Optuna study gets a spread when it has them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from sweepdoctor.studies._catalog import StudyRef
from sweepdoctor.studies._optuna_tables import o_trial_values, o_trials, trial_state
from sweepdoctor.studies._records import FoldSpread, TrialRecord, ValueStats
from sweepdoctor.studies._schema import FindingRow, FoldRow, RunRow

__all__ = ["finding_counts", "fold_spreads", "value_stats"]

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
