"""Small pure helpers over loss curves: fold aggregation, plateaus, rises, trends.

A curve is a sequence of per-epoch values where ``None`` marks a non-finite (or
missing) number. Every helper says what it computes and returns ``None`` when the
curve is too short to tell.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from sweepdoctor.diagnostics._history import FoldHistory, RunHistory

__all__ = [
    "down_fraction",
    "fall_per_epoch",
    "finite",
    "first_nonfinite",
    "fold_curve",
    "grad_ratio",
    "mean",
    "mean_curve",
    "rate_ratio",
    "relative_improvement",
    "relative_rise",
    "tail_length",
    "up_fraction",
]

Curve = Sequence[float | None]


def fold_curve(fold: FoldHistory, field: str) -> list[float | None]:
    """The values of ``field`` (``train_loss``, ``val_loss``, ``grad_norm``...) per epoch."""
    return [getattr(e, field) for e in fold.epochs]


def finite(curve: Curve) -> list[float]:
    """The curve without its missing / non-finite points."""
    return [v for v in curve if v is not None]


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the known values (fold aggregation); ``None`` when there are none."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def mean_curve(run: RunHistory, field: str) -> list[float | None]:
    """Per-epoch mean over the folds that reached that epoch (for pictures); ``None``
    where any of them is non-finite there."""
    curves = [fold_curve(f, field) for f in run.folds]
    length = max((len(c) for c in curves), default=0)
    out: list[float | None] = []
    for i in range(length):
        values = [c[i] for c in curves if i < len(c)]
        out.append(None if any(v is None for v in values) else mean(values))
    return out


def first_nonfinite(curve: Curve) -> int | None:
    """Index of the first missing / non-finite value, or ``None``."""
    return next((i for i, v in enumerate(curve) if v is None), None)


def tail_length(n_epochs: int, min_epochs: int) -> int:
    """How many final epochs count as "the end": a quarter of the run, at least ``min_epochs``."""
    return max(min_epochs, n_epochs // 4)


def relative_improvement(curve: Curve, tail: int) -> float | None:
    """How much the last ``tail`` epochs lowered the best value so far, relative to it.

    ``(min(before) - min(tail)) / |min(before)|``; 0 or negative means the tail did not
    improve on the best earlier value (a plateau).
    """
    values = finite(curve)
    if len(values) <= tail:
        return None
    before, end = min(values[:-tail]), min(values[-tail:])
    if before == 0:
        return 0.0
    return (before - end) / abs(before)


def down_fraction(curve: Curve, tail: int) -> float | None:
    """Fraction of the last ``tail`` epoch-to-epoch steps that go strictly down."""
    values = finite(curve)
    if len(values) <= tail:
        return None
    steps = [b - a for a, b in zip(values[-tail - 1 : -1], values[-tail:])]
    return sum(1 for s in steps if s < 0) / len(steps)


def fall_per_epoch(curve: Curve, window: int) -> float | None:
    """How much the curve fell per epoch over its last ``window`` steps, relative to where the window began.

    ``(v[-w-1] - v[-1]) / (w * v[-w-1])`` with ``w`` the window or, on a shorter curve, every
    step; negative when it rose, ``None`` with fewer than two values or a start <= 0.
    """
    values = finite(curve)
    if len(values) < 2:
        return None
    w = min(window, len(values) - 1)
    start = values[-w - 1]
    return None if start <= 0 else (start - values[-1]) / (w * start)


def up_fraction(curve: Curve) -> float | None:
    """Fraction of the epoch-to-epoch steps of the curve's second half that go strictly up."""
    values = finite(curve)
    late = values[len(values) // 2 :]
    if len(late) < 3:
        return None
    steps = [b - a for a, b in zip(late[:-1], late[1:])]
    return sum(1 for s in steps if s > 0) / len(steps)


def rate_ratio(curve: Curve, tail: int) -> float | None:
    """Per-epoch decrease over the tail divided by the per-epoch decrease over the run.

    About 1 for a straight line (no levelling off), near 0 for a curve that flattened,
    0 when the run did not decrease at all.
    """
    values = finite(curve)
    if len(values) <= tail:
        return None
    overall = (values[0] - values[-1]) / (len(values) - 1)
    if overall <= 0:
        return 0.0
    return ((values[-tail - 1] - values[-1]) / tail) / overall


def grad_ratio(grads: Curve, tail: int, head: int) -> float | None:
    """Median gradient norm over the last ``tail`` epochs over the median over the first ``head``.

    Medians make it robust to the spikes of a bouncing run. ``None`` when fewer than
    ``tail + head`` norms are known or the start is exactly zero.
    """
    values = finite(grads)
    if len(values) < tail + head:
        return None
    head_median = statistics.median(values[:head])
    if head_median == 0:
        return None
    return statistics.median(values[-tail:]) / head_median


def relative_rise(curve: Curve, tail: int = 1) -> tuple[float, int, float] | None:
    """``(rise, argmin, minimum)``: how far the end of the curve sits above its minimum.

    ``rise = (end - minimum) / |minimum|`` where ``end`` is the final value or, if
    lower, the median of the last ``tail`` values (robust to one noisy last epoch);
    ``argmin`` is the epoch index of the minimum (the early-stopping epoch for a
    validation curve).
    """
    values = [(i, v) for i, v in enumerate(curve) if v is not None]
    if not values:
        return None
    i_min, v_min = min(values, key=lambda iv: iv[1])
    final = min(values[-1][1], statistics.median(v for _, v in values[-tail:]))
    if v_min == 0:
        return (0.0 if final == 0 else float("inf")), i_min, v_min
    return (final - v_min) / abs(v_min), i_min, v_min
