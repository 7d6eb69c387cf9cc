"""What the diagnosis pruner stops a trial for, and the thresholds it stops at.

A :class:`Stop` is a "will not recover" verdict on a curve cut at some epoch: which
finding, how confident, and the reason a person reads ("divergence (train loss x8.1 in 3
epochs)"). :class:`StopRules` holds the numbers, each with the reason for its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

from sweepdoctor.diagnostics._findings import FindingCode
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.errors import ConfigError

__all__ = ["Stop", "StopRules", "stop_confidence"]


class Stop(NamedTuple):
    """A verdict that a trial will not recover: stop it at ``epoch``."""

    code: FindingCode
    epoch: int
    confidence: float
    reason: str  # e.g. "divergence (train loss x8.1 in 3 epochs)"

    @property
    def message(self) -> str:
        """The trial's stored reason (epochs counted 1..E, as every view shows them; ``epoch`` is 0-based)."""
        return f"pruned by the diagnosis at epoch {self.epoch + 1}: {self.reason}"


@dataclass(frozen=True)
class StopRules:
    """The numbers behind the diagnosis pruner (docs/guided.md, "The diagnosis pruner")."""

    # No verdict before this many epochs: one point is no trend. Two suffice for the
    # verdicts below, each of which asks for more than a step's noise (on the replays of
    # bench_pruner, 2 stopped doomed trials an epoch earlier than 3 with no false stop).
    min_epochs: int = 2
    # A rule stops the trial when its confidence reaches this: 0.5 at a threshold with
    # every fold agreeing, so a verdict needs the evidence past its threshold (margin
    # 1.25x with all folds, more with fewer) -- the same bar as an error finding.
    confidence: float = 0.6
    # Trends are read over the last `window` epochs (fewer while the curve is shorter).
    window: int = 3
    # Divergence under way: the training loss rose at every step of the window and grew
    # at least `growth` x over `window` epochs (geometric growth of 1.6x per epoch), and
    # is not a converged loss's noise (at least `growth_floor` of its first epoch). A
    # learning run's training loss, measured on the whole fold, rises only when its
    # steps overshoot; 4x in three epochs is overflow on its way. A cross-entropy of
    # `exploded` nats is an explosion at once.
    growth: float = 4.0
    growth_floor: float = 0.1
    exploded: float = 50.0
    # Stuck at the prior: over the window the training loss fell by less than `stuck_move`
    # and stayed no better than `prior_band` below the class-prior entropy (its first
    # epoch's loss when the prior is unknown), while the gradient norm is at most
    # `grad_loss_ratio` of the loss (a vanishing gradient: rules.md §2; runs that learn
    # keep 3%-500%) or the validation accuracy stays within `chance_band` of the way from
    # chance to perfect (a dead network, or steps too small to move it).
    stuck_move: float = 0.01
    prior_band: float = 0.05
    grad_loss_ratio: float = Thresholds.grad_loss_ratio  # the diagnosis's own, one definition
    chance_band: float = 0.1
    # Collapse after progress: the score got `collapse_progress` of the way from chance
    # to the best (perfect accuracy; the study's best for reported values), then kept at
    # most `collapse_kept` of that progress for the last two epochs (Adam at lr 0.3 on
    # digits: 39% accuracy after one epoch, then 16%, 14%, ... to the end).
    collapse_progress: float = 0.3
    collapse_kept: float = 0.25
    # Hopeless slowness: with `slow_startup` complete trials, a trial worse at this
    # epoch than every one of the study's good trials (the best `good_fraction` of the
    # complete ones, at least two) and than the median complete trial, whose own pace over
    # the window -- kept up to the last epoch, shrinking each epoch by the ratio it shrank
    # by from the window before (not at all when it did not shrink) -- does not come within
    # the noise (the largest move of a good trial's value over its last `window` epochs)
    # of the weakest good trial's final score, nor did its best epoch so far (early
    # stopping scores a trial at its best epoch). A linear pace overestimated curves that
    # level off: on the digits command's replay it stopped at epoch 9 a trial that ended at
    # 0.655; the shrinking pace stops it at epoch 6, with no more false stops. (Without the
    # median's bar and the noise, wine's trials near the top -- 0.966 against 0.967 at the
    # same epoch -- were stopped and would have ended at 0.983.)
    slow_startup: int = 5
    good_fraction: float = 0.25

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"stop rules: {f.name} must be a positive number, got {value!r}")
        for name in ("confidence", "stuck_move", "prior_band", "chance_band", "collapse_progress", "collapse_kept",
                     "good_fraction", "growth_floor"):
            if getattr(self, name) > 1:
                raise ConfigError(f"stop rules: {name} must be <= 1, got {getattr(self, name)!r}")
        if self.min_epochs < 2 or self.window < 2:
            raise ConfigError(
                f"stop rules: min_epochs and window must be >= 2 (a trend needs two epochs), "
                f"got min_epochs={self.min_epochs}, window={self.window}"
            )
        if self.growth <= 1:
            raise ConfigError(f"stop rules: growth must be > 1, got {self.growth!r}")


def stop_confidence(margin: float, agree: int, folds: int) -> float:
    """How sure a stop is: 0.5 at the threshold (``margin`` 1), towards 1 far past it, times the folds that agree."""
    part = 1.0 if math.isinf(margin) else 1.0 - 0.5 / max(margin, 1.0)
    return round(part * (agree / folds if folds else 0.0), 2)
