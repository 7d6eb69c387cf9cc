"""The diagnosis pruner's verdict from reported values alone (one number per epoch).

What a plain Optuna study has: the trial's ``intermediate_values`` and the complete
trials' curves and final values. ``judge_values`` returns the first "will not recover"
verdict whose confidence reaches ``StopRules.confidence``, or ``None``: a non-finite
value, divergence under way (a minimized value growing geometrically), a collapse to
chance after progress, hopeless slowness next to the study's good trials at the same
epoch (never their final epochs: a curve cut short is compared as one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from sweepdoctor.diagnostics._findings import FindingCode
from sweepdoctor.diagnostics.early._rules import Stop, StopRules, stop_confidence

__all__ = ["FinishedRun", "judge_values"]


class FinishedRun(NamedTuple):
    """A complete trial of the study: its reported values per epoch and its final value."""

    values: Mapping[int, float]
    final: float


def judge_values(
    values: Mapping[int, float],
    finished: Sequence[FinishedRun] = (),
    *,
    maximize: bool,
    chance: float | None = None,
    rules: StopRules | None = None,
) -> Stop | None:
    """A verdict on the trial's reported ``values`` (epoch -> value), or ``None`` (go on).

    ``finished``: the study's complete trials; ``chance``: the score of a trivial
    predictor where known (else the worst first-epoch value reported in the study).
    """
    r = rules or StopRules()
    if not values:
        return None
    steps = sorted(values)
    last = steps[-1]
    if not math.isfinite(values[last]):
        return Stop(FindingCode.DIVERGENCE, last, 1.0, f"divergence (the reported value is {values[last]})")
    if len(steps) < r.min_epochs:
        return None
    sign = 1.0 if maximize else -1.0
    curve = [sign * values[s] for s in steps if math.isfinite(values[s])]
    done = [FinishedRun({k: sign * v for k, v in f.values.items()}, sign * f.final) for f in finished
            if math.isfinite(f.final)]
    for stop in (_diverging(curve, last, maximize, r), _collapsed(curve, last, done, chance, sign, r),
                 _hopeless(curve, last, done, sign, r)):
        if stop is not None and stop.confidence >= r.confidence:
            return stop
    return None


def _diverging(curve: list[float], epoch: int, maximize: bool, r: StopRules) -> Stop | None:
    """A minimized value (a loss) that rose at every step of the window and grew geometrically."""
    if maximize:
        return None  # a score cannot grow without bound: a collapse shows instead
    w = min(r.window, len(curve) - 1)
    tail = [-v for v in curve[-w - 1:]]
    if tail[0] <= 0 or any(b <= a for a, b in zip(tail, tail[1:])) or tail[-1] < r.growth_floor * -curve[0]:
        return None
    needed = r.growth ** (w / r.window)
    ratio = tail[-1] / tail[0]
    if ratio < needed:
        return None
    return Stop(FindingCode.DIVERGENCE, epoch, stop_confidence(ratio / needed, 1, 1),
                f"divergence (value x{ratio:.3g} in {w} epoch{'s' * (w > 1)})")


def _collapsed(curve: list[float], epoch: int, done: list[FinishedRun], chance: float | None, sign: float,
               r: StopRules) -> Stop | None:
    """Back at chance for two epochs after real progress (scores with the sign that makes larger better)."""
    firsts = [f.values[min(f.values)] for f in done if f.values]
    base = sign * chance if chance is not None else min([curve[0], *firsts])
    top = max((f.final for f in done), default=None)
    best = max(curve[:-2], default=None)
    if top is None or best is None or top <= base:
        return None  # no scale for "progress" yet
    progress = best - base
    now = max(curve[-2:])
    if progress < r.collapse_progress * (top - base) or now > base + r.collapse_kept * progress:
        return None
    kept = now - base
    conf = stop_confidence(r.collapse_kept * progress / kept if kept > 0 else float("inf"), 1, 1)
    return Stop(FindingCode.DIVERGENCE, epoch, conf,
                f"collapse to chance (value {sign * now:.4g} after {sign * best:.4g}; chance {sign * base:.4g})")


def projected_gain(curve: Sequence[float], remaining: int, window: int) -> float:
    """What the curve would still gain in ``remaining`` epochs at its pace over the last ``window``
    epochs, the pace shrinking each epoch by the ratio it shrank by from the window before
    (no shrinking when it did not, or when the curve is too short to tell)."""
    w = min(window, len(curve) - 1)
    pace = max((curve[-1] - curve[-w - 1]) / w, 0.0) if w > 0 else 0.0
    ratio = 1.0
    if len(curve) > 2 * w and pace > 0:
        before = (curve[-w - 1] - curve[-2 * w - 1]) / w
        ratio = min(1.0, (pace / before) ** (1 / w)) if before > 0 else 1.0
    if ratio >= 1.0:
        return pace * remaining
    return pace * ratio * (1 - ratio ** remaining) / (1 - ratio)


def _value_at(f: FinishedRun, index: int) -> float | None:
    """The trial's value at its ``index``-th reported epoch, or ``None`` when it stopped before."""
    steps = sorted(f.values)
    return f.values[steps[index]] if index < len(steps) else None


def _noise(good: list[FinishedRun], window: int) -> float:
    """The largest epoch-to-epoch move of a good trial's value over its last ``window`` epochs."""
    moves = [0.0]
    for f in good:
        ends = [f.values[s] for s in sorted(f.values)[-window - 1:]]
        moves.extend(abs(b - a) for a, b in zip(ends, ends[1:]))
    return max(moves)


def _hopeless(curve: list[float], epoch: int, done: list[FinishedRun], sign: float, r: StopRules) -> Stop | None:
    """Worse than every good trial at this epoch, and its own pace does not reach the weakest good final."""
    if len(done) < r.slow_startup:
        return None
    ranked = sorted(done, key=lambda f: f.final, reverse=True)
    good = ranked[:max(2, math.ceil(r.good_fraction * len(ranked)))]
    at = len(curve) - 1  # the trial's epochs are 0..at, like the complete trials' (compared at the same one)
    same = [v for f in good if (v := _value_at(f, at)) is not None]
    if len(same) < len(good):
        return None  # a good trial has no value at this epoch: nothing to compare with
    now = curve[-1]
    if now >= min(same):
        return None
    peers = sorted(v for f in done if (v := _value_at(f, at)) is not None)
    if now >= peers[len(peers) // 2]:
        return None  # not worse than the study's median trial at this epoch: near the top, the noise decides
    horizon = max(len(f.values) for f in good) - 1  # the study's last epoch
    reach = now + projected_gain(curve, horizon - at, r.window)
    target = min(f.final for f in good)
    need = target - now
    noise = _noise(good, r.window)
    if max(reach, max(curve)) >= target - noise or need <= 0:
        return None  # it got there once, or the noise of a good curve's end could carry it there
    conf = stop_confidence(need / (reach - now) if reach > now else float("inf"), 1, 1)
    return Stop(FindingCode.SLOW_CONVERGENCE, epoch, conf,
                f"hopeless slowness (at this pace it would end near {sign * reach:.4g}; the weakest of the "
                f"{len(good)} best trials was at {sign * min(same):.4g} here and ended at {sign * target:.4g})")
