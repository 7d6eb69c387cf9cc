"""The diagnosis pruner: stop a trial the diagnosis says will not recover.

:class:`DoctorPruner` is an ordinary Optuna pruner: from the values a trial reports
(``trial.report``) and the study's complete trials it stops a trial whose value is
non-finite, whose minimized value grows geometrically, that collapsed to chance after
progress, or that is hopelessly slow next to the study's good trials at the same epoch
(``sweepdoctor.diagnostics.early.judge_values``). A sweep also hands every fold's curves
to :func:`curve_watch` (``judge_curves``: divergence of the training loss, stuck at the
class prior with a vanishing gradient, collapse of the validation accuracy). The reason
of each stop is kept (:meth:`DoctorPruner.reason`) and stored as the trial's user
attribute ``prune_reason``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepdoctor.diagnostics import EpochRecord
from sweepdoctor.diagnostics.early import FinishedRun, StopRules, judge_curves, judge_values

__all__ = ["REASON_ATTR", "CurveWatch", "DoctorPruner", "class_prior", "curve_watch"]

logger = logging.getLogger(__name__)

# The trial user attribute holding the reason of a stop.
REASON_ATTR = "prune_reason"
# The engine's ``watch``: every fold's curve so far in, the reason to stop (or ``None``) out.
CurveWatch = Callable[[int, Sequence[Sequence[EpochRecord]]], str | None]
# Trials whose comparison set the pruner keeps: more than a worker trains at once.
_CACHE_TRIALS = 64


class DoctorPruner(optuna.pruners.BasePruner):
    """Prune trials the diagnosis says will not recover; optionally also by ``also``'s rule.

    ``rules``: the thresholds (:class:`~sweepdoctor.diagnostics.early.StopRules`);
    ``chance``: the score of a trivial predictor, where known (the majority class's
    share, for accuracy); ``also``: another pruner whose verdict stops the trial too
    (``doctor+median``: the median rule).

    Usable in any Optuna study::

        study = optuna.create_study(direction="minimize", pruner=sweepdoctor.sweep.DoctorPruner())
    """

    def __init__(self, *, rules: StopRules | None = None, chance: float | None = None,
                 also: optuna.pruners.BasePruner | None = None) -> None:
        if chance is not None and not math.isfinite(chance):
            raise ValueError(f"DoctorPruner: chance must be a finite number or None, got {chance!r}")
        self.rules = rules or StopRules()
        self.chance = chance
        self.also = also
        self._reasons: dict[int, str] = {}
        self._finished: dict[int, list[FinishedRun]] = {}  # trial number -> the complete trials it is compared with

    def reason(self, number: int) -> str | None:
        """Why trial ``number`` was stopped by the diagnosis (``None``: it was not, or by ``also``)."""
        return self._reasons.get(number)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        values = trial.intermediate_values
        if not values:
            return False
        last = max(values)
        if len(values) >= self.rules.min_epochs or not math.isfinite(values[last]):
            stop = judge_values(values, self._complete(study, trial), maximize=_maximize(study),
                                chance=self.chance, rules=self.rules)
            if stop is not None:
                self._stopped(study, trial, stop.message)
                return True
        return self.also is not None and self.also.prune(study, trial)

    def _complete(self, study: optuna.Study, trial: FrozenTrial) -> list[FinishedRun]:
        """The study's complete trials, read once per trial (at its first verdict)."""
        found = self._finished.get(trial.number)
        if found is None:
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            found = [FinishedRun(dict(t.intermediate_values), float(t.value)) for t in complete
                     if t.value is not None and t.intermediate_values]
            self._finished = {trial.number: found, **self._finished}
            if len(self._finished) > _CACHE_TRIALS:
                self._finished = dict(list(self._finished.items())[:_CACHE_TRIALS])
        return found

    def _stopped(self, study: optuna.Study, trial: FrozenTrial, message: str) -> None:
        self._reasons[trial.number] = message
        try:
            study._storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, message)
        except (optuna.exceptions.OptunaError, RuntimeError) as e:  # the verdict stands; the note is informative
            logger.warning("trial %d: the pruning reason was not stored: %s", trial.number, e)


def _maximize(study: optuna.Study) -> bool:
    return bool(study.direction == optuna.study.StudyDirection.MAXIMIZE)


def class_prior(y: np.ndarray, n_classes: int) -> tuple[float, float] | None:
    """The class-prior entropy (the cross-entropy of predicting the class frequencies) and the
    majority class's share (chance accuracy); ``None`` without classes."""
    if n_classes < 2 or len(y) == 0:
        return None
    p = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes) / len(y)
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum()), float(p.max())


def curve_watch(
    *, loss: str, prior_loss: float | None, chance: float | None, rules: StopRules,
) -> CurveWatch:
    """The engine's ``watch``: the reason to stop a trial from its folds' curves so far, or ``None``."""

    def watch(epoch: int, curves: Sequence[Sequence[EpochRecord]]) -> str | None:
        stop = judge_curves(curves, loss=loss, prior_loss=prior_loss, chance=chance, rules=rules)
        return None if stop is None else stop.message

    return watch
