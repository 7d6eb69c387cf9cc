"""The diagnosis pruner's verdict on a trial's own curves so far (every fold's epochs).

``judge_curves`` reads the training loss, gradient norm and validation metric of each
fold up to the last epoch trained, and returns the first "will not recover" verdict
whose confidence reaches ``StopRules.confidence``, or ``None``: divergence under way,
stuck at the class prior with a vanishing gradient, collapse to chance after progress.
Each rule counts the folds that show it; a verdict needs most of them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from sweepdoctor.diagnostics._findings import FindingCode
from sweepdoctor.diagnostics._history import EpochRecord
from sweepdoctor.diagnostics.early._rules import Stop, StopRules, stop_confidence

__all__ = ["judge_curves"]

Folds = Sequence[Sequence[EpochRecord]]

# Losses whose value is a few nats for a trivial predictor (an absolute ceiling makes sense).
_LOG_LOSSES = frozenset({"cross_entropy", "bce", "nll", "log_loss"})


def judge_curves(
    folds: Folds,
    *,
    loss: str,
    prior_loss: float | None = None,
    chance: float | None = None,
    rules: StopRules | None = None,
) -> Stop | None:
    """A verdict on the curves so far, or ``None`` (go on).

    ``prior_loss``: the loss of predicting the class frequencies (their entropy, for
    cross-entropy); ``chance``: the validation accuracy of predicting the majority class.
    Either may be unknown: the rule that needs it then reads the curve alone or is off.
    """
    r = rules or StopRules()
    n = min((len(f) for f in folds), default=0)
    if n < r.min_epochs:
        return None
    cut = [list(f[:n]) for f in folds]
    epoch = cut[0][-1].epoch
    for stop in (_diverging(cut, epoch, loss, r), _stuck_at_prior(cut, epoch, prior_loss, chance, r),
                 _collapsed(cut, epoch, chance, r)):
        if stop is not None and stop.confidence >= r.confidence:
            return stop
    return None


def _growth(values: Sequence[float | None], r: StopRules, loss: str) -> float | None:
    """How many times the loss grew over the window, rising at every step; ``None`` if it did not.

    A non-finite last value, or a cross-entropy past ``exploded``, counts as unbounded growth."""
    w = min(r.window, len(values) - 1)
    tail = values[-w - 1:]
    if tail[-1] is None or (loss in _LOG_LOSSES and tail[-1] >= r.exploded):
        return float("inf")
    known = [v for v in tail if v is not None]
    first = next((v for v in values if v is not None), None)
    if len(known) != len(tail) or first is None or known[0] <= 0:
        return None
    if any(b <= a for a, b in zip(known, known[1:])) or known[-1] < r.growth_floor * first:
        return None
    return known[-1] / known[0]


def _diverging(folds: list[list[EpochRecord]], epoch: int, loss: str, r: StopRules) -> Stop | None:
    w = min(r.window, len(folds[0]) - 1)
    needed = r.growth ** (w / r.window)  # the same geometric rate over a shorter window
    ratios = [g for f in folds if (g := _growth([e.train_loss for e in f], r, loss)) is not None and g >= needed]
    if not ratios:
        return None
    ratio = statistics.median(ratios)
    conf = stop_confidence(ratio / needed, len(ratios), len(folds))
    grown = "non-finite or exploded" if ratio == float("inf") else f"x{ratio:.3g} in {w} epoch{'s' * (w > 1)}"
    return Stop(FindingCode.DIVERGENCE, epoch, conf, f"divergence (train loss {grown}, {len(ratios)} of "
                                                    f"{len(folds)} folds)")


def _stuck_fold(fold: list[EpochRecord], prior_loss: float | None, chance: float | None,
                r: StopRules) -> tuple[float, bool] | None:
    """How far past its threshold the fold is stuck at the prior (a margin) and whether its gradient
    vanished (else its accuracy stays at chance), or ``None``.

    Stuck: over the window the training loss is no better than the prior (or, the prior
    unknown, than its first epoch) and fell by less than ``stuck_move``, while the gradient
    vanishes on the scale of the loss or the validation accuracy stays at chance."""
    tail = fold[-min(r.window, len(fold) - 1) - 1:]
    losses = [e.train_loss for e in tail]
    if any(v is None or v <= 0 for v in losses):
        return None
    known = [v for v in losses if v is not None]
    floor = prior_loss if prior_loss is not None else fold[0].train_loss
    if floor is None or min(known) < (1 - r.prior_band) * floor:
        return None  # better than the prior: it learned something
    fall = (known[0] - known[-1]) / known[0]
    if fall >= r.stuck_move:
        return None  # still falling
    grads = [e.grad_norm / v for e, v in zip(tail, known) if e.grad_norm is not None]
    g2l = statistics.median(grads) if len(grads) == len(tail) else None
    if g2l is not None and g2l <= r.grad_loss_ratio:
        return (r.grad_loss_ratio / g2l if g2l > 0 else float("inf")), True
    metric = [e.val_metric for e in tail]
    if chance is None or any(m is None or m > chance + r.chance_band * (1 - chance) for m in metric):
        return None
    return (r.stuck_move / fall if fall > 0 else float("inf")), False


def _stuck_at_prior(folds: list[list[EpochRecord]], epoch: int, prior_loss: float | None, chance: float | None,
                    r: StopRules) -> Stop | None:
    stuck = [m for f in folds if (m := _stuck_fold(f, prior_loss, chance, r)) is not None]
    if not stuck:
        return None
    conf = stop_confidence(statistics.median(m for m, _ in stuck), len(stuck), len(folds))
    vanished = sum(1 for _, g in stuck if g) * 2 >= len(stuck)
    loss = statistics.median(f[-1].train_loss or 0.0 for f in folds)
    at = f"the class-prior loss {prior_loss:.3g}" if prior_loss is not None else "its first epoch's loss"
    return Stop(FindingCode.CRITICAL_POINT, epoch, conf,
                f"stuck at {at} (train loss {loss:.3g}, not falling, "
                f"{'with a vanishing gradient' if vanished else 'at chance accuracy'} in {len(stuck)} of "
                f"{len(folds)} folds)")


def _collapse_margin(progress: float, kept: float, r: StopRules) -> float:
    """How far below the line of ``collapse_kept`` of its progress the score fell: 1 on it, unbounded at chance."""
    return r.collapse_kept * progress / kept if kept > 0 else float("inf")


def _collapsed(folds: list[list[EpochRecord]], epoch: int, chance: float | None, r: StopRules) -> Stop | None:
    if chance is None or chance >= 1:
        return None
    margins, best_seen, last_seen = [], [], []
    for f in folds:
        metric = [e.val_metric for e in f]
        if any(m is None for m in metric[-2:]) or not any(m is not None for m in metric[:-2]):
            continue
        best = max(m for m in metric[:-2] if m is not None)
        progress = best - chance
        last = max(m for m in metric[-2:] if m is not None)
        if progress < r.collapse_progress * (1 - chance) or last > chance + r.collapse_kept * progress:
            continue
        margins.append(_collapse_margin(progress, last - chance, r))
        best_seen.append(best)
        last_seen.append(last)
    if not margins:
        return None
    conf = stop_confidence(statistics.median(margins), len(margins), len(folds))
    return Stop(FindingCode.DIVERGENCE, epoch, conf,
                f"collapse to chance (val accuracy {statistics.median(last_seen):.3g} after "
                f"{statistics.median(best_seen):.3g}; chance {chance:.3g}; {len(margins)} of {len(folds)} folds)")
