"""The numbers behind every rule, each with the reason for its value.

They were calibrated on the seeded scenarios in ``tests/diagnostics/scenarios.py``
(small MLPs on digits, breast cancer, moons, make_classification/regression): each
problem scenario must trip its rule, and the healthy set must trip none. Override any
of them from a config file or ``sweepdoctor diagnose --threshold KEY=VALUE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sweepdoctor.errors import ConfigError

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Named constants of the diagnosis rules (the manual's page "Rules and thresholds" lists each with its reason)."""

    # ---- curve shape ---------------------------------------------------------------
    # The "end" of a curve is its last quarter, but at least this many epochs: fewer
    # points cannot tell a trend from epoch-to-epoch noise.
    tail_min_epochs: int = 3
    # Stalled: the tail improved the best training loss by less than 1%, or at the
    # tail's pace reaching the best reference would take over 3x the epochs run so far
    # (a run 1000x above the reference that gains 4% per quarter is not getting there).
    stall_rel_improvement: float = 0.01
    stall_horizon: float = 3.0
    # Bouncing: at least 30% of the epoch-to-epoch steps of the run's second half go up.
    # A training loss measured on the whole fold rises only when steps overshoot (or at
    # a noise floor, which a large loss rules out); healthy curves rise in < 10%.
    bounce_up_fraction: float = 0.3
    # Steady fall: at least 80% of the tail's epoch-to-epoch steps go down, and the
    # tail falls at no less than half the run's average rate (no sign of levelling off).
    steady_down_fraction: float = 0.8
    steady_rate_fraction: float = 0.5
    # A validation curve alone (no training loss) bounces when, besides stalling and going
    # up in ``bounce_up_fraction`` of its late steps, its median late step is 15% of its
    # level: a validation loss measured on held-out rows moves by a few % at its noise floor.
    val_bounce_step: float = 0.15
    # Gradient norm at the end (median over the tail) over its norm at the start (median
    # over the first tail_min_epochs epochs).
    # <= 0.25: the gradient is vanishing, a critical point is near (rules.md §2).
    # >= 0.5: the gradient is not small; a stalled loss is then not a critical point.
    # In between the curves do not decide, and no refinement is reported.
    grad_vanished_ratio: float = 0.25
    grad_kept_ratio: float = 0.5
    # The gradient judged on scale, which also catches runs stuck from their first epoch
    # (rules.md §2): the gradient norm (median over the tail) at most 2% of the training
    # loss, and (when references record gradients) at most 10% of their ratio at the same
    # epoch. Runs that still learn keep a gradient of 3%-500% of their loss (30-trial sweeps
    # on digits, breast_cancer, diabetes); an MLP whose weights all start at zero keeps
    # 0.2% with SGD, 1% with Adam (only the output bias learns).
    grad_loss_ratio: float = 0.02
    grad_vs_reference: float = 0.1
    # No progress at all: the training loss never moved by 1% of its first value.
    no_progress: float = 0.01
    # Still falling fast: the training loss of a curve cut short (pruned, running, or shorter
    # than its references) fell by at least 5% per epoch over its last epochs (halving in
    # ~14 more), or by more than stall_rel_improvement per epoch and faster at its last step
    # (a slow start speeding up: Adam at lr 1e-3 on digits falls 2%, 3%, 4% per epoch, then
    # trains well); a stalled run falls < 1%. Such a curve is never "optimization failure"
    # or "model bias": what it would reach is not known yet.
    fast_fall: float = 0.05

    # ---- strength of the evidence and severity ------------------------------------
    # A curve of fewer epochs than this supports a verdict only in proportion (a pruned
    # 3-epoch curve carries 3/10 of the weight of a full one).
    confident_epochs: int = 10
    # Error severity needs this confidence and a training loss at least this many times
    # the reference's (the impact on the score); pruned runs are warnings at most.
    error_confidence: float = 0.6
    error_impact: float = 3.0

    # ---- comparison with reference models (rules.md §1) ----------------------------
    # A reference is "clearly lower" when its training loss is at most 1/1.5 of the
    # candidate's: fold-to-fold noise of training losses is far below 50%.
    reference_ratio: float = 1.5
    # Without baselines, "training loss large" means the run did not even halve the
    # training loss of its first recorded epoch.
    large_vs_first_epoch: float = 0.5

    # ---- overfitting (rules.md §1) -------------------------------------------------
    # Validation loss over the last epochs (their median, robust to one noisy epoch)
    # 20% above its minimum while the training loss kept falling. Validation noise on
    # folds of >= 30 rows stays below that; an early-stopped run rises ~10% at most.
    overfit_val_rise: float = 0.2
    # "Clearly larger" validation loss without a rise: 1.5x the best validation loss a
    # reference reaches, while fitting the training data at least as well as it.
    overfit_vs_reference: float = 1.5

    # ---- mismatch (rules.md §1) ----------------------------------------------------
    # Test loss (deployment distribution) 2x the k-fold validation loss, and at least
    # 0.1 above it. An i.i.d. test set of ~100 rows already lands 1.5x off at times
    # (one confidently wrong row adds ~0.05 to a mean cross-entropy).
    mismatch_ratio: float = 2.0
    mismatch_min_gap: float = 0.1

    # ---- divergence (rules.md §4) --------------------------------------------------
    # The training loss ends at 2x its minimum and above its first epoch: learning
    # runs never end worse than after one epoch.
    divergence_growth: float = 2.0
    # A mean cross-entropy of 50 nats puts probability e^-50 on the true class: the
    # logits have blown up (the trivial predictor scores ln K, 2.3 for ten classes).
    exploded_cross_entropy: float = 50.0

    # ---- study level (rules.md §3) -------------------------------------------------
    # Large-batch trials' median top Hessian eigenvalue at least 1.5x the small-batch
    # ones' (sharpness varies by far less between seeds of one configuration).
    sharpness_ratio: float = 1.5
    # A search-space pattern is reported when at least 3 trials show the code, 60% of
    # the trials in the region show it, the region holds at least half of them, and it
    # closes at least half the distance from the study-wide rate to 100% (so that a
    # finding most trials share is not "explained" by an arbitrary split).
    pattern_min_count: int = 3
    pattern_min_precision: float = 0.6
    pattern_min_coverage: float = 0.5
    pattern_min_lift: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"thresholds: {f.name} must be a finite number, got {value!r}")
            if value <= 0:
                raise ConfigError(f"thresholds: {f.name} must be > 0, got {value!r}")
        if self.grad_vanished_ratio > self.grad_kept_ratio:
            raise ConfigError(
                "thresholds: grad_vanished_ratio must be <= grad_kept_ratio, got "
                f"grad_vanished_ratio={self.grad_vanished_ratio}, grad_kept_ratio={self.grad_kept_ratio}"
            )
        for name in ("steady_down_fraction", "pattern_min_precision", "pattern_min_coverage", "large_vs_first_epoch",
                     "bounce_up_fraction", "pattern_min_lift", "grad_vs_reference", "no_progress",
                     "error_confidence"):
            if getattr(self, name) > 1:
                raise ConfigError(f"thresholds: {name} must be <= 1, got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: Thresholds | None = None) -> Thresholds:
        """``base`` (default: the defaults) with the given values replaced.

        Unknown keys and values that are not numbers raise :class:`ConfigError`
        naming the key. Strings are parsed, so ``{"overfit_val_rise": "0.3"}`` works.
        """
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"thresholds: unknown key {key!r}; valid keys: {', '.join(sorted(known))}")
            changes[key] = _coerce(key, raw, int if known[key].type in (int, "int") else float)
        return replace(base or cls(), **changes)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, raw: Any, kind: type) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"thresholds: {key} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"thresholds: {key} must be a number, got {raw!r}") from None
    if kind is int:
        if not value.is_integer():
            raise ConfigError(f"thresholds: {key} must be a whole number, got {raw!r}")
        return int(value)
    return value
