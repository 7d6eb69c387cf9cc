"""The diagnosis pruner's rules (``diagnostics/early``) on curves written by hand, in milliseconds.

Each rule sees a curve that has its problem (the verdict checked whole: code, epoch,
confidence and reason, worked out from ``StopRules`` and ``stop_confidence``) and healthy
curves at and just past the thresholds. Where a threshold is met exactly the numbers are
chosen so that the comparison is exact in floating point (powers of two, or rules set for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from sweepdoctor.diagnostics import EpochRecord, FindingCode
from sweepdoctor.diagnostics.early import FinishedRun, Stop, StopRules, judge_curves, judge_values
from sweepdoctor.diagnostics.early._curve_rules import _collapsed, _diverging, _stuck_at_prior
from sweepdoctor.diagnostics.early._rules import stop_confidence
from sweepdoctor.diagnostics.early._value_rules import _collapsed as _values_collapsed
from sweepdoctor.diagnostics.early._value_rules import _diverging as _values_diverging
from sweepdoctor.diagnostics.early._value_rules import projected_gain
from sweepdoctor.errors import ConfigError

R = StopRules()
G = R.grad_loss_ratio  # 0.02


def curve(train: Sequence[float | None], *, grads: Sequence[float | None] | None = None,
          metric: Sequence[float | None] | None = None) -> list[EpochRecord]:
    """One fold's epochs: the training loss, gradient norms and validation metric given (else None)."""
    n = len(train)
    grads = grads if grads is not None else [None] * n
    metric = metric if metric is not None else [None] * n
    return [EpochRecord(i, t, None, g, 0.1, m) for i, (t, g, m) in enumerate(zip(train, grads, metric))]


# ---- _rules.py: Stop, StopRules, stop_confidence ---------------------------------------------------


def test_a_stop_message_counts_epochs_from_one() -> None:
    stop = Stop(FindingCode.DIVERGENCE, 2, 0.75, "divergence (x)")
    assert stop.message == "pruned by the diagnosis at epoch 3: divergence (x)"


def test_stop_rules_hold_the_documented_numbers() -> None:
    assert (R.min_epochs, R.confidence, R.window, R.growth, R.growth_floor, R.exploded) == (2, 0.6, 3, 4.0, 0.1, 50.0)
    assert (R.stuck_move, R.prior_band, R.grad_loss_ratio, R.chance_band) == (0.01, 0.05, 0.02, 0.1)
    assert (R.collapse_progress, R.collapse_kept, R.slow_startup, R.good_fraction) == (0.3, 0.25, 5, 0.25)


@pytest.mark.parametrize("name", ["min_epochs", "confidence", "window", "growth", "growth_floor", "exploded",
                                  "stuck_move", "prior_band", "grad_loss_ratio", "chance_band",
                                  "collapse_progress", "collapse_kept", "slow_startup", "good_fraction"])
@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "1"])
def test_every_stop_rule_must_be_a_positive_finite_number(name: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=f"stop rules: {name} must be a positive number, got"):
        StopRules(**{name: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["confidence", "stuck_move", "prior_band", "chance_band", "collapse_progress",
                                  "collapse_kept", "good_fraction", "growth_floor"])
def test_fractions_may_reach_one_and_no_further(name: str) -> None:
    assert getattr(StopRules(**{name: 1.0}), name) == 1.0  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=f"stop rules: {name} must be <= 1, got 1.01"):
        StopRules(**{name: 1.01})  # type: ignore[arg-type]


def test_a_trend_needs_two_epochs_and_growth_must_grow() -> None:
    assert StopRules(min_epochs=2, window=2).window == 2
    for bad in ({"min_epochs": 1}, {"window": 1}):
        with pytest.raises(ConfigError, match=r"min_epochs and window must be >= 2 .*got min_epochs=\d, window=\d"):
            StopRules(**bad)  # type: ignore[arg-type]
    assert StopRules(growth=1.5).growth == 1.5
    with pytest.raises(ConfigError, match=r"stop rules: growth must be > 1, got 1.0"):
        StopRules(growth=1.0)


@pytest.mark.parametrize(("margin", "agree", "folds", "expected"), [
    (1.0, 1, 1, 0.5),  # at the threshold
    (0.5, 1, 1, 0.5),  # short of it counts as at it
    (2.0, 1, 1, 0.75),
    (3.0, 1, 1, 0.83),  # 1 - 1/6, rounded
    (math.inf, 1, 1, 1.0),
    (2.0, 2, 3, 0.5),
    (math.inf, 1, 4, 0.25),
    (2.0, 0, 0, 0.0),
])
def test_stop_confidence(margin: float, agree: int, folds: int, expected: float) -> None:
    assert stop_confidence(margin, agree, folds) == expected


# ---- _curve_rules.py: judge_curves ----------------------------------------------------------------------


def test_no_verdict_before_the_minimum_epochs_and_folds_are_cut_to_the_shortest() -> None:
    assert judge_curves([], loss="mse") is None
    assert judge_curves([curve([None])], loss="mse") is None  # one epoch: no trend yet
    stop = judge_curves([curve([1.0, None])], loss="mse")
    assert stop == Stop(FindingCode.DIVERGENCE, 1, 1.0, "divergence (train loss non-finite or exploded, 1 of 1 folds)")
    # the first fold's third epoch (non-finite) is not read: both folds are cut at two epochs
    stop = judge_curves([curve([1.0, 2.0, None]), curve([1.0, 4.5])], loss="mse")
    # growth 2 and 4.5 over one epoch against 4 ** (1/3); median 3.25
    assert stop == Stop(FindingCode.DIVERGENCE, 1, round(1 - 0.5 / (3.25 / 4 ** (1 / 3)), 2),
                        "divergence (train loss x3.25 in 1 epoch, 2 of 2 folds)")
    assert judge_curves([curve([1.0, 2.0, None])], loss="mse", rules=StopRules(min_epochs=4)) is None


def test_divergence_over_the_window() -> None:
    stop = judge_curves([curve([1.0, 2.0, 4.0, 8.0])], loss="mse")
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.75, "divergence (train loss x8 in 3 epochs, 1 of 1 folds)")
    # only the last three epochs count: x8 from 0.6
    stop = judge_curves([curve([1.0, 0.5, 0.6, 1.2, 2.4, 4.8])], loss="mse")
    assert stop is not None and stop.epoch == 5 and "x8 in 3 epochs" in stop.reason and stop.confidence == 0.75
    # a shorter window asks the same rate: 4 ** (1/3) per epoch
    stop = judge_curves([curve([1.0, 3.2])], loss="mse")
    assert stop is not None and stop.confidence == 0.75 and "x3.2 in 1 epoch," in stop.reason
    assert judge_curves([curve([1.0, 1.6])], loss="mse") is None  # past the rate, confidence 0.5


@pytest.mark.parametrize("train", [
    [1.0, 2.0, 4.0, 3.9],  # came down
    [1.0, 2.0, 2.0, 8.0],  # flat for a step
    [1.0, None, 4.0, 8.0],  # a gap in the window
    [0.0, 1.0, 4.0, 16.0],  # starts at zero: no ratio
    [-1.0, 1.0, 4.0, 16.0],
    [1.0, 1.5, 2.5, 3.9],  # rose by less than x4
    [100.0, 1.0, 2.0, 4.0, 8.0],  # converged noise: under a tenth of the first epoch
])
def test_no_divergence_on_curves_without_one(train: list[float | None]) -> None:
    assert judge_curves([curve(train)], loss="mse") is None
    assert _diverging([curve(train)], 3, "mse", R) is None


def test_divergence_at_its_thresholds() -> None:
    # exactly x4 in three epochs: a verdict at confidence 0.5 (below the bar to stop)
    stop = _diverging([curve([1.0, 2.0, 3.0, 4.0])], 3, "mse", R)
    assert stop is not None and stop.confidence == 0.5
    # exactly a tenth of the first epoch is not noise
    stop = _diverging([curve([80.0, 1.0, 2.0, 4.0, 8.0])], 4, "mse", R)
    assert stop is not None and "x8 in 3 epochs" in stop.reason
    # the first known epoch is the reference when the first is missing
    assert _diverging([curve([None, 80.0, 1.0, 2.0, 4.0, 8.0])], 5, "mse", R) is not None
    assert _diverging([curve([None, 100.0, 1.0, 2.0, 4.0, 8.0])], 5, "mse", R) is None


@pytest.mark.parametrize("loss", ["cross_entropy", "bce", "nll", "log_loss"])
def test_a_cross_entropy_past_fifty_nats_has_exploded(loss: str) -> None:
    stop = judge_curves([curve([1.0, 2.0, 50.0])], loss=loss)
    assert stop is not None and "non-finite or exploded" in stop.reason and stop.confidence == 1.0
    stop = judge_curves([curve([1.0, 2.0, 49.0])], loss=loss)
    assert stop is not None and "x49 in 2 epochs" in stop.reason
    # a loss with no ceiling (mse) of 50 is just a number
    stop = judge_curves([curve([1.0, 2.0, 50.0])], loss="mse")
    assert stop is not None and "x50 in 2 epochs" in stop.reason


def test_divergence_needs_most_folds() -> None:
    healthy = curve([1.0, 0.5, 0.4, 0.3])
    fast = curve([1.0, 10.0, 100.0, 1000.0])
    assert judge_curves([curve([1.0, 2.0, 4.0, 8.0])] * 2 + [healthy], loss="mse") is None  # 0.75 * 2/3
    stop = judge_curves([fast, fast, healthy], loss="mse")
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.67, "divergence (train loss x1e+03 in 3 epochs, 2 of 3 folds)")
    # the median ratio: x8 and x16 give x12
    stop = judge_curves([curve([1.0, 2.0, 4.0, 8.0]), curve([1.0, 2.0, 4.0, 16.0])], loss="mse")
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.83, "divergence (train loss x12 in 3 epochs, 2 of 2 folds)")


def test_stuck_at_the_prior_with_a_vanishing_gradient() -> None:
    flat = [1.0, 1.0, 1.0, 1.0]
    stop = judge_curves([curve(flat, grads=[G / 4] * 4)], loss="cross_entropy", prior_loss=1.0)
    assert stop == Stop(FindingCode.CRITICAL_POINT, 3, 0.88,
                        "stuck at the class-prior loss 1 (train loss 1, not falling, with a vanishing gradient "
                        "in 1 of 1 folds)")
    # the prior unknown: its first epoch's loss; a zero gradient is past any threshold
    stop = judge_curves([curve(flat, grads=[0.0] * 4)], loss="mse")
    assert stop == Stop(FindingCode.CRITICAL_POINT, 3, 1.0,
                        "stuck at its first epoch's loss (train loss 1, not falling, with a vanishing gradient "
                        "in 1 of 1 folds)")
    # the gradient on the scale of the loss: 2 x 0.02 / 4 = 0.01, a margin of 2
    stop = judge_curves([curve([4.0] * 4, grads=[G * 2] * 4)], loss="mse")
    assert stop is not None and stop.confidence == 0.75 and "train loss 4," in stop.reason
    # exactly at the ratio: confidence 0.5
    stop = _stuck_at_prior([curve(flat, grads=[G] * 4)], 3, 1.0, None, R)
    assert stop is not None and stop.confidence == 0.5


@pytest.mark.parametrize(("train", "grads", "prior"), [
    ([1.0, 1.0, 1.0, 1.0], [G * 2] * 4, 1.0),  # a healthy gradient, accuracy unknown
    ([1.0, 1.0, 1.0, 1.0], [G / 4, G / 4, None, G / 4], 1.0),  # a gradient missing: not known to vanish
    ([0.94, 0.94, 0.94, 0.94], [0.0] * 4, 1.0),  # better than the prior
    ([1.0, 1.0, 1.0, 0.75], [0.0] * 4, 0.75),  # fell by a quarter
    ([1.0, 0.0, 1.0, 1.0], [0.0] * 4, 1.0),  # a zero loss
    ([1.0, None, 1.0, 1.0], [0.0] * 4, 1.0),  # a gap
    ([None, 1.0, 1.0, 1.0, 1.0], [0.0] * 5, None),  # no first epoch to compare with
])
def test_not_stuck(train: list[float | None], grads: list[float | None], prior: float | None) -> None:
    assert judge_curves([curve(train, grads=grads)], loss="mse", prior_loss=prior) is None
    assert _stuck_at_prior([curve(train, grads=grads)], 3, prior, None, R) is None


def test_stuck_at_its_thresholds() -> None:
    zero = [0.0] * 4
    # exactly prior_band below the prior is not better than it
    assert _stuck_at_prior([curve([1.9] * 4, grads=zero)], 3, 2.0, None, R) is not None
    assert _stuck_at_prior([curve([1.89] * 4, grads=zero)], 3, 2.0, None, R) is None
    # a fall of exactly stuck_move is a fall; just under it is not
    r = StopRules(stuck_move=0.25)
    assert _stuck_at_prior([curve([1.0, 1.0, 1.0, 0.75], grads=zero)], 3, 0.75, None, r) is None
    assert _stuck_at_prior([curve([1.0, 1.0, 1.0, 0.76], grads=zero)], 3, 0.75, None, r) is not None
    # only the window is read: a fall before it does not count
    stop = judge_curves([curve([2.0, 1.5, 1.0, 1.0, 1.0, 1.0], grads=[0.0] * 6)], loss="mse", prior_loss=1.0)
    assert stop is not None and stop.code is FindingCode.CRITICAL_POINT and stop.epoch == 5


def test_stuck_at_chance_accuracy() -> None:
    healthy_grad = [1.0] * 4
    at_chance = [0.5, 0.5, 0.5, 0.55]  # chance 0.5: within a tenth of the way to perfect
    stop = judge_curves([curve([1.0] * 4, grads=healthy_grad, metric=at_chance)], loss="cross_entropy",
                        prior_loss=1.0, chance=0.5)
    assert stop == Stop(FindingCode.CRITICAL_POINT, 3, 1.0,
                        "stuck at the class-prior loss 1 (train loss 1, not falling, at chance accuracy in 1 of 1 "
                        "folds)")
    # falling by 0.4%: a margin of 0.01 / 0.004
    stop = judge_curves([curve([1.0, 1.0, 1.0, 0.996], grads=healthy_grad, metric=at_chance)],
                        loss="cross_entropy", prior_loss=1.0, chance=0.5)
    assert stop is not None and stop.confidence == 0.8 and "train loss 0.996," in stop.reason
    for metric in ([0.5, 0.5, 0.5, 0.56], [0.5, None, 0.5, 0.5]):
        assert judge_curves([curve([1.0] * 4, grads=healthy_grad, metric=metric)], loss="mse", prior_loss=1.0,
                            chance=0.5) is None
    assert judge_curves([curve([1.0] * 4, grads=healthy_grad, metric=at_chance)], loss="mse",
                        prior_loss=1.0) is None  # chance unknown


def test_stuck_folds_agree_and_say_which_symptom_most_show() -> None:
    vanish = curve([1.0] * 4, grads=[0.0] * 4)
    chance = curve([1.0] * 4, grads=[1.0] * 4, metric=[0.5] * 4)
    learning = curve([1.0, 0.5, 0.25, 0.125], grads=[1.0] * 4, metric=[0.5, 0.7, 0.8, 0.9])
    stop = judge_curves([vanish, chance], loss="mse", prior_loss=1.0, chance=0.5)
    assert stop is not None and "with a vanishing gradient in 2 of 2 folds" in stop.reason
    stop = judge_curves([vanish, chance, chance], loss="mse", prior_loss=1.0, chance=0.5)
    assert stop is not None and "at chance accuracy in 3 of 3 folds" in stop.reason
    # two of three stuck: 2/3 of a sure verdict; the loss is the median over all folds (1, 1, 0.125)
    stop = judge_curves([vanish, vanish, learning], loss="mse", prior_loss=1.0, chance=0.5)
    assert stop == Stop(FindingCode.CRITICAL_POINT, 3, 0.67,
                        "stuck at the class-prior loss 1 (train loss 1, not falling, with a vanishing gradient "
                        "in 2 of 3 folds)")
    stop = judge_curves([vanish, learning, learning], loss="mse", prior_loss=1.0, chance=0.5)
    assert stop is None  # one of three
    # the median of the margins: 4 and inf
    stop = _stuck_at_prior([vanish, curve([1.0] * 4, grads=[G / 4] * 4), curve([1.0] * 4, grads=[G / 2] * 4)],
                           3, 1.0, None, R)
    assert stop is not None and stop.confidence == 0.88


def _collapse(metric: Sequence[float | None]) -> list[EpochRecord]:
    return curve([1.0, 0.5, 0.25, 0.125, 0.0625][:len(metric)], grads=[1.0] * len(metric), metric=metric)


def test_collapse_to_chance_after_progress() -> None:
    stop = judge_curves([_collapse([0.5, 0.9, 0.55, 0.55])], loss="mse", chance=0.5)
    # progress 0.4, kept 0.05: a margin of 0.25 * 0.4 / 0.05 = 2
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.75,
                        "collapse to chance (val accuracy 0.55 after 0.9; chance 0.5; 1 of 1 folds)")
    stop = judge_curves([_collapse([0.5, 0.9, 0.5, 0.5])], loss="mse", chance=0.5)
    assert stop is not None and stop.confidence == 1.0  # back at chance exactly
    stop = judge_curves([_collapse([0.5, 0.9, 0.4, 0.5])], loss="mse", chance=0.5)
    assert stop is not None and "val accuracy 0.5 after" in stop.reason  # the better of the last two
    # medians over the folds that collapsed, 2 of 3
    folds = [_collapse([0.5, 0.9, 0.55, 0.55]), _collapse([0.5, 1.0, 0.5, 0.5]), _collapse([0.5, 0.6, 0.7, 0.8])]
    stop = judge_curves(folds, loss="mse", chance=0.5)
    # margins 2 and inf: median inf, confidence 2/3
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.67,
                        "collapse to chance (val accuracy 0.525 after 0.95; chance 0.5; 2 of 3 folds)")


@pytest.mark.parametrize(("metric", "chance"), [
    ([0.5, 0.9, 0.55, 0.55], None),  # chance unknown
    ([1.0, 1.0, 1.0, 1.0], 1.0),  # nothing to fall to
    ([0.5, 0.9, 0.8, 0.55], 0.5),  # the epoch before the last was still good
    ([0.5, 0.9, 0.55, None], 0.5),  # the last epoch unknown
    ([None, None, 0.5, 0.5], 0.5),  # nothing before the last two
    ([0.5, 0.6, 0.5, 0.5], 0.5),  # progress 0.1 of the way 0.5: too little
    ([0.5, 0.9, 0.61, 0.61], 0.5),  # kept more than a quarter of its progress
])
def test_no_collapse(metric: list[float | None], chance: float | None) -> None:
    assert judge_curves([_collapse(metric)], loss="mse", chance=chance) is None
    assert _collapsed([_collapse(metric)], 3, chance, R) is None


def test_collapse_at_its_thresholds() -> None:
    # progress 0.5 of the way 0.5 from chance; keeps exactly a quarter of it (0.625): margin 1
    stop = _collapsed([_collapse([0.5, 1.0, 0.625, 0.625])], 3, 0.5, R)
    assert stop is not None and stop.confidence == 0.5
    r = StopRules(collapse_progress=0.5)
    assert _collapsed([_collapse([0.5, 0.75, 0.5, 0.5])], 3, 0.5, r) is not None  # exactly half the way
    assert _collapsed([_collapse([0.5, 0.74, 0.5, 0.5])], 3, 0.5, r) is None
    # a gap before the last two epochs is skipped
    assert _collapsed([_collapse([None, 1.0, 0.5, 0.5])], 3, 0.5, R) is not None


def test_rules_run_in_order_and_a_weak_verdict_lets_the_next_speak() -> None:
    # diverging at confidence 0.5 (too weak) and collapsed at 1.0: the collapse stops it
    folds = [curve([1.0, 2.0, 3.0, 4.0], metric=[0.5, 1.0, 0.5, 0.5])]
    stop = judge_curves(folds, loss="mse", chance=0.5)
    assert stop is not None and stop.reason.startswith("collapse to chance")
    assert judge_curves(folds, loss="mse", chance=0.5, rules=StopRules(confidence=1.0)) == stop
    folds = [curve([1.0, 2.0, 4.0, 8.0], metric=[0.5, 1.0, 0.5, 0.5])]
    stop = judge_curves(folds, loss="mse", chance=0.5)
    assert stop is not None and stop.reason.startswith("divergence")


# ---- _value_rules.py: judge_values ------------------------------------------------------------------


def test_values_non_finite_and_too_short() -> None:
    assert judge_values({}, maximize=False) is None
    assert judge_values({2: math.nan, 0: 1.0, 1: 1.0}, maximize=True) == Stop(
        FindingCode.DIVERGENCE, 2, 1.0, "divergence (the reported value is nan)")
    assert judge_values({0: -math.inf}, maximize=True) == Stop(
        FindingCode.DIVERGENCE, 0, 1.0, "divergence (the reported value is -inf)")
    assert judge_values({0: 1.0, 1: 8.0}, maximize=False, rules=StopRules(min_epochs=3)) is None
    assert judge_values({0: 1.0, 1: 8.0}, maximize=False) is not None


def test_values_divergence() -> None:
    stop = judge_values({0: 1.0, 1: 2.0, 2: 4.0, 3: 8.0}, maximize=False)
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.75, "divergence (value x8 in 3 epochs)")
    stop = judge_values({0: 1.0, 1: 3.2}, maximize=False)
    assert stop == Stop(FindingCode.DIVERGENCE, 1, 0.75, "divergence (value x3.2 in 1 epoch)")
    # only the window: x8 from 0.6
    stop = judge_values({0: 1.0, 1: 0.5, 2: 0.6, 3: 1.2, 4: 2.4, 5: 4.8}, maximize=False)
    assert stop is not None and stop.reason == "divergence (value x8 in 3 epochs)" and stop.epoch == 5
    # a non-finite value earlier is left out of the curve
    assert _values_diverging([-1.0, -2.0, -4.0, -8.0], 3, False, R) == stop._replace(epoch=3)
    assert judge_values({0: 1.0, 1: 2.0, 2: 4.0, 3: 8.0}, maximize=True) is None  # a score: no divergence
    assert _values_diverging([-1.0, -2.0, -3.0, -4.0], 3, False, R) == Stop(
        FindingCode.DIVERGENCE, 3, 0.5, "divergence (value x4 in 3 epochs)")  # exactly x4
    assert _values_diverging([-80.0, -1.0, -2.0, -4.0, -8.0], 4, False, R) is not None  # a tenth of the first


@pytest.mark.parametrize("values", [
    [1.0, 2.0, 4.0, 3.9], [1.0, 2.0, 2.0, 8.0], [0.0, 1.0, 4.0, 16.0], [-1.0, 1.0, 4.0, 16.0],
    [1.0, 1.5, 2.5, 3.9], [100.0, 1.0, 2.0, 4.0, 8.0],
])
def test_values_no_divergence(values: list[float]) -> None:
    assert judge_values(dict(enumerate(values)), maximize=False) is None


def test_values_collapse_of_a_score() -> None:
    done = [FinishedRun({0: 0.5, 1: 0.9}, 0.9)]
    values = {0: 0.5, 1: 0.9, 2: 0.55, 3: 0.55}
    stop = judge_values(values, done, maximize=True, chance=0.5)
    # progress 0.4 of the way 0.4 to the best final; kept 0.05: margin 2
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.75, "collapse to chance (value 0.55 after 0.9; chance 0.5)")
    # chance unknown: the worst first epoch of the study (0.4 here)
    done2 = [*done, FinishedRun({0: 0.4, 1: 0.6}, 0.6)]
    low = {0: 0.5, 1: 0.9, 2: 0.45, 3: 0.45}
    stop = judge_values(low, done2, maximize=True)
    # progress 0.5 from 0.4, kept 0.05: margin 2.5
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.8, "collapse to chance (value 0.45 after 0.9; chance 0.4)")
    stop = judge_values(low, done, maximize=True)  # its own first epoch, 0.5: below it
    assert stop is not None and stop.confidence == 1.0 and stop.reason.endswith("chance 0.5)")
    assert judge_values(values, maximize=True, chance=0.5) is None  # no finished trial: no scale
    assert judge_values(values, [FinishedRun({0: 0.5}, 0.5)], maximize=True, chance=0.5) is None  # best at chance
    assert judge_values(values, [FinishedRun({0: 0.5}, math.nan)], maximize=True, chance=0.5) is None
    assert judge_values({0: 0.5, 1: 0.9, 2: 0.8, 3: 0.55}, done, maximize=True, chance=0.5) is None
    assert judge_values({0: 0.5, 1: 0.6, 2: 0.5, 3: 0.5}, done, maximize=True, chance=0.5) is None
    assert judge_values({0: 0.5, 1: 0.9, 2: 0.61}, done, maximize=True, chance=0.5) is None


def test_values_collapse_of_a_loss() -> None:
    done = [FinishedRun({0: 2.0, 1: 1.0}, 1.0)]
    stop = judge_values({0: 2.0, 1: 1.0, 2: 1.9, 3: 1.9}, done, maximize=False, chance=2.0)
    # progress 1, kept 0.1: margin 2.5
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.8, "collapse to chance (value 1.9 after 1; chance 2)")
    stop = judge_values({0: 2.0, 1: 1.0, 2: 2.0, 3: 2.0}, done, maximize=False, chance=2.0)
    assert stop is not None and stop.confidence == 1.0


def test_values_collapse_at_its_thresholds() -> None:
    done = [FinishedRun({0: 0.5}, 1.0)]
    stop = _values_collapsed([0.5, 1.0, 0.625, 0.625], 3, done, 0.5, 1.0, R)
    assert stop is not None and stop.confidence == 0.5
    r = StopRules(collapse_progress=0.5)
    assert _values_collapsed([0.5, 0.75, 0.5, 0.5], 3, done, 0.5, 1.0, r) is not None
    assert _values_collapsed([0.5, 0.74, 0.5, 0.5], 3, done, 0.5, 1.0, r) is None
    assert _values_collapsed([0.5, 0.5], 1, done, 0.5, 1.0, R) is None  # nothing before the last two
    assert _values_collapsed([0.5, 1.0, 0.5, 0.5], 3, [FinishedRun({}, 1.0)], None, 1.0, R) is not None


def _study(finals: Sequence[float], epochs: int = 10) -> list[FinishedRun]:
    """Complete trials rising linearly to their final value over ``epochs`` epochs."""
    return [FinishedRun({e: f * (e + 1) / epochs for e in range(epochs)}, f) for f in finals]


FINALS = (0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def test_hopeless_slowness_next_to_the_good_trials() -> None:
    stop = judge_values({0: 0.05, 1: 0.06, 2: 0.07}, _study(FINALS), maximize=True)
    # good: the best two (a quarter of eight); at epoch 2 the weaker was at 0.255 and ended at 0.85.
    # Pace 0.01 for 7 more epochs: 0.14; need 0.78 against a gain of 0.07.
    assert stop == Stop(FindingCode.SLOW_CONVERGENCE, 2, round(1 - 0.5 / (0.78 / 0.07), 2),
                        "hopeless slowness (at this pace it would end near 0.14; the weakest of the 2 best trials "
                        "was at 0.255 here and ended at 0.85)")
    # twelve trials: the best three
    stop = judge_values({0: 0.05, 1: 0.06, 2: 0.07}, _study((*FINALS, 0.2, 0.2, 0.2, 0.2)), maximize=True)
    assert stop is not None and "of the 3 best trials was at 0.24 here and ended at 0.8)" in stop.reason
    # no pace at all: sure
    stop = judge_values({0: 0.07, 1: 0.07, 2: 0.07}, _study(FINALS), maximize=True)
    assert stop is not None and stop.confidence == 1.0 and "end near 0.07;" in stop.reason


def test_hopeless_slowness_of_a_loss() -> None:
    done = [FinishedRun({e: -v for e, v in f.values.items()}, -f.final) for f in _study(FINALS)]
    stop = judge_values({0: -0.05, 1: -0.06, 2: -0.07}, done, maximize=False)
    assert stop is not None and stop.code is FindingCode.SLOW_CONVERGENCE
    assert stop.reason == ("hopeless slowness (at this pace it would end near -0.14; the weakest of the 2 best "
                           "trials was at -0.255 here and ended at -0.85)")


def test_not_hopeless() -> None:
    slow = {0: 0.05, 1: 0.06, 2: 0.07}
    assert judge_values(slow, _study(FINALS[:4]), maximize=True) is None  # four complete trials: too few
    assert judge_values(slow, _study(FINALS[:5]), maximize=True) is not None  # five
    assert judge_values(slow, _study(FINALS, epochs=2), maximize=True) is None  # the good ones stopped before
    short_good = [*_study(FINALS[1:]), *_study((0.9,), epochs=2)]
    assert judge_values(slow, short_good, maximize=True) is None  # one good trial has no third epoch
    # as good as the weaker good trial here (0.255): goes on
    assert judge_values({0: 0.05, 1: 0.06, 2: 0.255}, _study(FINALS), maximize=True) is None
    # at the median of the study at this epoch (0.21 of 0.09 ... 0.27): goes on
    assert judge_values({0: 0.05, 1: 0.06, 2: 0.21}, _study(FINALS), maximize=True) is None
    assert judge_values({0: 0.05, 1: 0.06, 2: 0.2}, _study(FINALS), maximize=True) is not None
    # its best epoch got within the noise (0.09) of 0.85
    assert judge_values({0: 0.05, 1: 0.77, 2: 0.07}, _study(FINALS), maximize=True) is None
    assert judge_values({0: 0.05, 1: 0.74, 2: 0.07}, _study(FINALS), maximize=True) is not None
    # a steep pace reaches it: 0.05 + 0.1 x 8 epochs
    assert judge_values({0: 0.01, 1: 0.1, 2: 0.2}, _study(FINALS), maximize=True) is None


def test_hopeless_noise_reads_each_good_trials_last_window() -> None:
    # two good trials, flat, but the first steps up by 0.2 three epochs from its end
    good = FinishedRun({e: 0.3 if e < 7 else 0.5 for e in range(10)}, 0.5)
    rest = [FinishedRun({e: 0.29 for e in range(10)}, 0.3)] * 6
    done = [good, FinishedRun({e: 0.3 for e in range(10)}, 0.5), *rest]
    # at epoch 2: good trials at 0.3, the median 0.29; a trial at 0.28 with no pace reaches 0.28 < 0.5 - 0.2
    assert judge_values({0: 0.28, 1: 0.28, 2: 0.28}, done, maximize=True) is not None
    assert judge_values({0: 0.31, 1: 0.28, 2: 0.28}, done, maximize=True) is None  # within the noise once


def test_projected_gain() -> None:
    assert projected_gain([0.1, 0.2, 0.3, 0.4], 5, 3) == pytest.approx(0.5)
    assert projected_gain([0.1, 0.2, 0.4, 0.8], 5, 3) == pytest.approx(5 * 0.7 / 3)
    curve_ = [0.1, 0.18, 0.22, 0.24, 0.25]  # increments 0.08, 0.04, 0.02, 0.01: the pace halves
    assert projected_gain(curve_, 10, 2) == pytest.approx(0.015 * 0.5 * (1 - 0.5 ** 10) / 0.5, rel=1e-6)
    assert projected_gain([0.5, 0.4, 0.3], 5, 3) == 0.0
    assert projected_gain([0.5], 5, 3) == 0.0
    assert projected_gain([0.1, 0.2, 0.25], 4, 1) == pytest.approx(0.05 * 0.5 * (1 - 0.5 ** 4) / 0.5)
    assert projected_gain([0.3, 0.2, 0.25], 4, 1) == pytest.approx(0.2)  # the pace before fell: no shrinking
    assert projected_gain([0.1, 0.15, 0.25], 4, 1) == pytest.approx(0.4)  # it grew: linear
    assert projected_gain([0.1, 0.2], 4, 1) == pytest.approx(0.4)  # too short to tell


def test_curve_rules_read_the_right_epochs() -> None:
    at_chance = [0.5] * 4
    healthy_grad = [1.0] * 4
    # the fall is from the window's first epoch to its last, relative to the first (a spike between
    # does not count): 1.0 to 0.996 is 0.4%, a margin of 2.5
    stop = judge_curves([curve([1.0, 2.0, 1.0, 0.996], grads=healthy_grad, metric=at_chance)], loss="mse",
                        prior_loss=1.0, chance=0.5)
    assert stop is not None and stop.confidence == 0.8
    stop = judge_curves([curve([4.0, 4.0, 4.0, 3.984], grads=healthy_grad, metric=at_chance)], loss="mse",
                        prior_loss=4.0, chance=0.5)
    assert stop is not None and stop.confidence == 0.8  # 0.4% of 4
    # three epochs: the window is all of them, the first included
    assert judge_curves([curve([1.2, 1.0, 1.0], grads=[0.0] * 3)], loss="mse", prior_loss=1.0) is None
    # a fold whose loss reached zero counts as zero in the reported median
    stop = _stuck_at_prior([curve([1.0] * 4, grads=[0.0] * 4), curve([1.0, 1.0, 1.0, 0.0])], 3, 1.0, None, R)
    assert stop is not None and "(train loss 0.5," in stop.reason
    # five epochs: "the last two" and "before them" are counted from the end
    for metric in ([0.5, 1.0, None, 0.5, 0.5], [None, None, 1.0, 0.5, 0.5], [0.5, 0.6, 1.0, 0.5, 0.5]):
        stop = judge_curves([_collapse(metric)], loss="mse", chance=0.5)
        assert stop is not None and stop.confidence == 1.0, metric
    assert judge_curves([_collapse([0.5, 1.0, 0.9, 0.5, 0.5])], loss="mse", chance=0.5) is not None
    assert judge_curves([_collapse([0.5, 1.0, 0.5, 0.9, 0.5])], loss="mse", chance=0.5) is None


def test_a_fold_that_did_not_collapse_does_not_hide_the_others() -> None:
    down = _collapse([0.5, 1.0, 0.5, 0.5])
    for other in ([0.5, 0.9, 0.55, None], [0.5, 0.6, 0.7, 0.8]):
        stop = judge_curves([_collapse(other), down, down], loss="mse", chance=0.5)
        assert stop is not None and stop.confidence == 0.67 and "2 of 3 folds" in stop.reason


def test_value_rules_read_the_right_epochs_and_arguments() -> None:
    done = [FinishedRun({0: 0.5}, 1.0)]
    # five epochs: "the last two" and "before them" are counted from the end
    assert _values_collapsed([0.5, 0.6, 1.0, 0.5, 0.5], 4, done, 0.5, 1.0, R) is not None
    assert _values_collapsed([0.5, 1.0, 0.9, 0.5, 0.5], 4, done, 0.5, 1.0, R) is not None
    # kept 0.2 of a progress of 0.5: more than a quarter
    assert _values_collapsed([0.5, 1.0, 0.7, 0.7], 3, done, 0.5, 1.0, R) is None
    # the chance given is the base, not the first epochs (0.6 here)
    stop = judge_values({0: 0.6, 1: 0.9, 2: 0.55, 3: 0.55}, [FinishedRun({0: 0.6}, 0.9)], maximize=True, chance=0.5)
    assert stop == Stop(FindingCode.DIVERGENCE, 3, 0.75, "collapse to chance (value 0.55 after 0.9; chance 0.5)")
    stop = judge_values({0: 1.0, 1: 2.0, 2: 9.0}, maximize=False)
    assert stop is not None and stop.reason == "divergence (value x9 in 2 epochs)"
    # a score falling ever further below zero is not a divergence of a loss
    assert judge_values({0: -1.0, 1: -2.0, 2: -4.0, 3: -8.0}, maximize=True) is None


def test_hopeless_confidence_and_noise_window() -> None:
    # pace 0.02 for 7 more epochs: reach 0.18; need 0.81 against a gain of 0.14
    stop = judge_values({0: 0.0, 1: 0.02, 2: 0.04}, _study(FINALS), maximize=True)
    assert stop is not None and stop.confidence == round(1 - 0.5 / (0.81 / 0.14), 2)
    # a step of 0.2 four epochs from the end is outside the last window: no noise
    good = FinishedRun({e: 0.3 if e < 6 else 0.5 for e in range(10)}, 0.5)
    rest = [FinishedRun({e: 0.29 for e in range(10)}, 0.3)] * 6
    done = [good, FinishedRun({e: 0.3 for e in range(10)}, 0.5), *rest]
    assert judge_values({0: 0.31, 1: 0.28, 2: 0.28}, done, maximize=True) is not None


def test_projection_with_no_pace_before() -> None:
    assert projected_gain([0.1, 0.1, 0.2], 4, 1) == pytest.approx(0.4)
