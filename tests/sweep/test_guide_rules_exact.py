"""Each rule of a guided round on its own, at the edges of its conditions, with the whole edit it makes.

The expected numbers are worked out by hand from the rules as docs/guided.md states them (the cap at
0.8 x the smallest diverged rate and never below 1.5 x the floor, the floor at the geometric mean,
10x weight decay, 0.2 more dropout, twice the width or one more layer, 3x or half a range's width
past a boundary), so a changed constant, comparison or branch changes a number or a decision here.
"""

from __future__ import annotations

import math

import pytest

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.sweep import Choice, Fixed, FloatRange, IntRange, SearchSpace
from sweepdoctor.sweep.guide import Edit, GuideLimits, TrialOutcome, plan_round
from sweepdoctor.sweep.guide._plan import (
    _failed_set,
    best_trials,
    cap_divergence,
    drop_failing_optimizers,
    grow_model,
    raise_lr_floor,
    regularize,
    widen_at_boundary,
    window_family_lr,
)

SPACE = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("sgd", "momentum", "adam")))
LIMITS = GuideLimits()


def _t(n: int, value: float | None, lr: float | None, *codes: F, state: str = "complete",
       **params: object) -> TrialOutcome:
    base: dict[str, object] = {"optimizer": "adam", "weight_decay": 1e-4, "dropout": 0.2}
    if lr is not None:
        base["lr"] = lr
    return TrialOutcome(n, state, value, {**base, **params}, frozenset(codes))


def _diverged(n0: int, *lrs: float) -> list[TrialOutcome]:
    return [_t(n0 + i, None, lr, F.DIVERGENCE, state="fail") for i, lr in enumerate(lrs)]


def _fine(n0: int, *lrs: float) -> list[TrialOutcome]:
    return [_t(n0 + i, 0.9, lr, F.HEALTHY) for i, lr in enumerate(lrs)]


# ---- rule 1: the divergence cap -------------------------------------------------------------------


def test_the_divergence_cap_is_the_whole_edit() -> None:
    found = cap_divergence(SPACE, _fine(0, 1e-3, 2e-3, 0.01, 0.02) + _diverged(20, 0.09, 0.15, 0.28), True, LIMITS)
    assert found is not None
    space, edit = found
    assert space == SearchSpace(lr=FloatRange(1e-4, 0.072, log=True), optimizer=SPACE.optimizer)
    assert edit == Edit("lr", "0.0001..0.3 (log)", "0.0001..0.072 (log)",
                        "3 trials with lr >= 0.09 diverged and 0 at or above it did not: cap lr at 0.072",
                        ("divergence",), (20, 21, 22))


def test_two_diverged_trials_are_enough_one_is_not() -> None:
    fine = _fine(0, 1e-3, 2e-3)
    found = cap_divergence(SPACE, fine + _diverged(20, 0.1, 0.2), True, LIMITS)
    assert found is not None and found[0].lr == FloatRange(1e-4, pytest.approx(0.08), log=True)
    assert cap_divergence(SPACE, fine + _diverged(20, 0.1), True, LIMITS) is None


def test_trials_that_trained_at_or_above_the_edge_count_against_the_cap() -> None:
    """One trained at exactly the smallest diverged rate: 1 x 3 > 2 diverged, no cap; with three
    diverged, 1 x 3 is not more than 3: capped. A trial with no recorded rate is no evidence."""
    assert cap_divergence(SPACE, _fine(0, 0.1) + _diverged(20, 0.1, 0.2), True, LIMITS) is None
    found = cap_divergence(SPACE, _fine(0, 0.1) + _diverged(20, 0.1, 0.2, 0.25), True, LIMITS)
    assert found is not None and found[1].reason.startswith("3 trials with lr >= 0.1 diverged and 1 at or above")
    no_rate = [_t(5, 0.9, None, F.HEALTHY)]
    assert cap_divergence(SPACE, no_rate + _diverged(20, 0.1, 0.2), True, LIMITS) is not None


def test_the_cap_stays_above_every_rate_that_trained_below_the_edge_only() -> None:
    """Six diverged from 0.09, two trained at 0.09 and 0.25 (2 x 3 = 6, not more: capped): the cap is
    0.8 x 0.09, above the rates that trained below 0.09 (0.05), not those at or above it."""
    outcomes = _fine(0, 1e-3, 0.05, 0.09, 0.25) + _diverged(20, 0.09, 0.1, 0.12, 0.15, 0.2, 0.28)
    found = cap_divergence(SPACE, outcomes, True, LIMITS)
    assert found is not None and found[0].lr == FloatRange(1e-4, pytest.approx(0.072), log=True)
    above = cap_divergence(SPACE, _fine(0, 1e-3, 0.08) + _diverged(20, 0.09, 0.15), True, LIMITS)
    assert above is not None and above[0].lr == FloatRange(1e-4, 0.08, log=True)  # 0.08 > 0.8 x 0.09
    pruned = [_t(9, 0.5, 0.085, F.HEALTHY, state="pruned")]  # not complete: not "trained well"
    capped = cap_divergence(SPACE, _fine(0, 1e-3) + pruned + _diverged(20, 0.09, 0.15), True, LIMITS)
    assert capped is not None and capped[0].lr == FloatRange(1e-4, pytest.approx(0.072), log=True)


def test_the_cap_leaves_at_least_half_again_the_floor() -> None:
    found = cap_divergence(SPACE, _diverged(20, 1.6e-4, 2e-4), True, LIMITS)
    assert found is not None and found[0].lr == FloatRange(1e-4, pytest.approx(1.5e-4), log=True)
    assert cap_divergence(SPACE, _diverged(20, 1.4e-4, 2e-4), True, LIMITS) is None  # too near the floor
    assert cap_divergence(SPACE, _diverged(20, 0.3, 0.3), True, LIMITS) is None  # only at the top: nothing to cap
    assert cap_divergence(SearchSpace(lr=Fixed(0.1)), _diverged(20, 0.1, 0.2), True, LIMITS) is None


# ---- which trials failed to optimize -----------------------------------------------------------------


def test_failed_trials_are_the_failures_and_the_flagged_ones_not_in_the_better_half() -> None:
    """Scores 0.2, 0.7, 0.75, 0.8, 0.9, 0.95: the median (the upper middle) is 0.8. A flagged trial
    counts as failed unless it scored strictly better than that."""
    outcomes = [_t(0, 0.9, 1e-3), _t(1, 0.7, 1e-3), _t(2, 0.2, 1e-3, F.OPTIMIZATION_FAILURE),
                _t(3, 0.95, 1e-3, F.OSCILLATION), _t(4, 0.75, 1e-3, F.CRITICAL_POINT),
                _t(5, 0.8, 1e-3, F.DIVERGENCE), _t(6, None, 1e-3, state="fail"),
                _t(7, 0.99, 1e-3, F.OPTIMIZATION_FAILURE, state="pruned"), _t(8, 0.85, 1e-3, F.SLOW_CONVERGENCE)]
    assert _failed_set(outcomes, True) == {2, 4, 5, 6, 7}


def test_failed_trials_when_minimizing() -> None:
    """Losses 0.0, 0.0, 0.0, 0.4, 0.6: the median is 0.0 and nothing flagged is strictly below it."""
    zeros = [_t(0, 0.0, 1e-3), _t(1, 0.0, 1e-3), _t(2, 0.0, 1e-3, F.OPTIMIZATION_FAILURE)]
    outcomes = zeros + [_t(3, 0.4, 1e-3, F.OSCILLATION), _t(4, 0.6, 1e-3)]
    assert _failed_set(outcomes, False) == {2, 3}
    losses = [_t(0, 0.5, 1e-3), _t(1, 0.5, 1e-3), _t(2, 0.9, 1e-3), _t(3, 0.0, 1e-3, F.CRITICAL_POINT),
              _t(4, 0.5, 1e-3, F.CRITICAL_POINT), _t(5, 0.9, 1e-3, F.CRITICAL_POINT),
              _t(6, None, 1e-3, F.CRITICAL_POINT, state="pruned")]
    assert _failed_set(losses, False) == {4, 5, 6}  # a loss of 0.0 beats the median 0.5: trained
    assert _failed_set([_t(0, 0.0, 1e-3, F.CRITICAL_POINT), _t(1, 0.1, 1e-3), _t(2, 0.2, 1e-3)], True) == {0}


def test_with_no_complete_trial_every_flagged_one_failed() -> None:
    outcomes = [_t(0, None, 1e-3, F.OPTIMIZATION_FAILURE, state="pruned"), _t(1, None, 1e-3, state="fail"),
                _t(2, None, 1e-3, state="pruned")]
    assert _failed_set(outcomes, True) == {0, 1}


# ---- the best trials ---------------------------------------------------------------------------------


def test_the_best_quarter_at_least_two_best_first() -> None:
    outcomes = [_t(i, v, 1e-3) for i, v in enumerate((0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.0, 0.4))]
    assert [o.number for o in best_trials(outcomes, maximize=True)] == [2, 4]
    assert [o.number for o in best_trials(outcomes, maximize=False)] == [6, 1]
    nine = [*outcomes, _t(8, 0.8, 1e-3)]
    assert [o.number for o in best_trials(nine, maximize=True)] == [2, 8, 4]  # ceil(9 / 4) = 3
    with_failures = [*outcomes, _t(9, None, 1e-3, state="fail"), _t(10, math.nan, 1e-3), _t(11, 2.0, 1e-3,
                                                                                              state="pruned")]
    assert [o.number for o in best_trials(with_failures, maximize=True)] == [2, 4]


# ---- rule 3: the lr floor ---------------------------------------------------------------------------


def _slow_best(lr: float, n: int = 3) -> list[TrialOutcome]:
    return [_t(50 + i, 0.99, lr, F.SLOW_CONVERGENCE if i else F.CRITICAL_POINT) for i in range(n)]


def test_the_floor_is_the_geometric_mean_of_the_floor_and_the_slowest_rate() -> None:
    found = raise_lr_floor(SPACE, _fine(0, *[1e-3] * 8) + _slow_best(1e-2), True, LIMITS)
    assert found is not None
    space, edit = found
    assert space.lr == FloatRange(pytest.approx(1e-3), 0.3, log=True)
    assert edit == Edit("lr", "0.0001..0.3 (log)", "0.001..0.3 (log)",
                        "3 of the 3 best trials learned slowly or stalled: raise the lr floor",
                        ("critical_point", "slow_convergence"), (50, 51, 52))


def test_the_floor_is_raised_only_by_a_real_step_and_not_near_the_top() -> None:
    """sqrt(1e-4 x 2.25e-4) = 1.5e-4 is not more than 1.5 x the floor; in the range 1e-4..0.01,
    sqrt(1e-4 x 0.2) = 4.5e-3 is below half the top, sqrt(1e-4 x 0.3) = 5.5e-3 above it."""
    assert raise_lr_floor(SPACE, _fine(0, *[1e-3] * 8) + _slow_best(2.25e-4), True, LIMITS) is None
    assert raise_lr_floor(SPACE, _fine(0, *[1e-3] * 8) + _slow_best(2.4e-4), True, LIMITS) is not None
    narrow = SearchSpace(lr=FloatRange(1e-4, 0.01, log=True))
    assert raise_lr_floor(narrow, _fine(0, *[1e-3] * 8) + _slow_best(0.3), True, LIMITS) is None
    raised = raise_lr_floor(narrow, _fine(0, *[1e-3] * 8) + _slow_best(0.2), True, LIMITS)
    assert raised is not None and raised[0].lr == FloatRange(pytest.approx(math.sqrt(2e-5)), 0.01, log=True)
    linear = SearchSpace(lr=FloatRange(1e-4, 0.3))
    assert raise_lr_floor(linear, _fine(0, *[1e-3] * 8) + _slow_best(1e-2), True, LIMITS) is None


def test_half_of_the_best_trials_is_enough() -> None:
    """12 complete trials: the best 3. Two slow of four best (16 trials) is half: enough; one is not."""
    four_best = [_t(50, 0.99, 1e-2, F.SLOW_CONVERGENCE), _t(51, 0.99, 1e-2, F.SLOW_CONVERGENCE),
                 _t(52, 0.99, 1e-2, F.HEALTHY), _t(53, 0.99, 1e-2, F.HEALTHY)]
    assert raise_lr_floor(SPACE, _fine(0, *[1e-3] * 12) + four_best, True, LIMITS) is not None
    one = [four_best[0], *four_best[2:], _t(54, 0.99, 1e-2, F.HEALTHY)]
    assert raise_lr_floor(SPACE, _fine(0, *[1e-3] * 12) + one, True, LIMITS) is None
    # 20 complete trials: the best 5; two slow of five is less than half
    five_best = [*four_best, _t(54, 0.99, 1e-2, F.HEALTHY)]
    assert raise_lr_floor(SPACE, _fine(0, *[1e-3] * 15) + five_best, True, LIMITS) is None


# ---- rule 5: regularization -----------------------------------------------------------------------


def _overfit(space: SearchSpace, limits: GuideLimits = LIMITS) -> tuple[SearchSpace, Edit] | None:
    outcomes = _fine(0, *[1e-3] * 8) + [_t(60 + i, 0.99, 3e-3, F.OVERFITTING) for i in range(3)]
    return regularize(space, outcomes, True, limits)


def test_overfitting_gives_ten_times_the_weight_decay() -> None:
    found = _overfit(SearchSpace(weight_decay=FloatRange(1e-6, 1e-3, log=True)))
    assert found is not None
    assert found[1] == Edit("weight_decay", "1e-06..0.001 (log)", "1e-06..0.01 (log)",
                            "3 of the 3 best trials overfit: up to 10x stronger weight decay", ("overfitting",),
                            (60, 61, 62))


def test_without_room_for_weight_decay_overfitting_gives_more_dropout() -> None:
    for wd in (FloatRange(1e-6, 0.1, log=True), FloatRange(0.0, 0.01), Fixed(0.0)):
        found = _overfit(SearchSpace(weight_decay=wd, dropout=FloatRange(0.0, 0.3)))
        assert found is not None
        assert found[1] == Edit("dropout", "0..0.3", "0..0.5",
                                "3 of the 3 best trials overfit: up to 0.2 more dropout", ("overfitting",),
                                (60, 61, 62))
        assert found[0].weight_decay == wd and found[0].dropout == FloatRange(0.0, pytest.approx(0.5))
    capped = _overfit(SearchSpace(weight_decay=Fixed(0.0), dropout=FloatRange(0.0, 0.6)))
    assert capped is not None and capped[0].dropout == FloatRange(0.0, 0.7)
    assert _overfit(SearchSpace(weight_decay=Fixed(0.0), dropout=FloatRange(0.0, 0.7))) is None
    assert _overfit(SearchSpace(weight_decay=Fixed(0.0), dropout=FloatRange(0.0, 0.3)),
                    GuideLimits(dropout=(0.0, 0.3))) is None
    assert _overfit(SearchSpace(weight_decay=Fixed(0.0), dropout=Fixed(0.2))) is None


# ---- rule 6: a bigger model ---------------------------------------------------------------------


def _biased(space: SearchSpace, limits: GuideLimits = LIMITS) -> tuple[SearchSpace, Edit] | None:
    outcomes = _fine(0, *[1e-3] * 8) + [_t(80 + i, 0.99, 3e-3, F.MODEL_BIAS) for i in range(3)]
    return grow_model(space, outcomes, True, limits)


def test_model_bias_doubles_the_width_or_adds_a_layer() -> None:
    found = _biased(SearchSpace(width=IntRange(32, 128), depth=Fixed(2)))
    assert found is not None and found[0].width == Fixed(256)
    assert found[1] == Edit("width", "32..128", "256", "3 of the 3 best trials fit the training data worse than a "
                            "wider reference: width 128 -> 256", ("model_bias",), (80, 81, 82))
    for width in (Fixed(1024), Choice((64, 128))):
        deeper = _biased(SearchSpace(width=width, depth=Fixed(2)))
        assert deeper is not None and deeper[0].depth == Fixed(3) and deeper[0].width == width
        assert deeper[1].reason.endswith(": depth 2 -> 3")
    assert _biased(SearchSpace(width=Fixed(1024), depth=Fixed(6))) is None
    assert _biased(SearchSpace(width=Fixed(600), depth=Fixed(6))) == _biased(SearchSpace(width=Fixed(600),
                                                                                          depth=Fixed(6)))
    limited = _biased(SearchSpace(width=Fixed(600), depth=Fixed(6)))
    assert limited is not None and limited[0].width == Fixed(1024)  # twice 600 stops at the limit


# ---- rule 7: a boundary ----------------------------------------------------------------------------


def _at(space: SearchSpace, limits: GuideLimits = LIMITS, **values: float) -> tuple[SearchSpace, Edit] | None:
    outcomes = _fine(0, *[1e-3] * 8) + [_t(90 + i, 0.99, values.get("lr", 1e-3),
                                            **{k: v for k, v in values.items() if k != "lr"}) for i in range(3)]
    return widen_at_boundary(space, outcomes, True, limits)


def test_a_log_range_widens_three_times_at_either_end_of_lr() -> None:
    high = _at(SearchSpace(lr=FloatRange(1e-4, 0.1, log=True)), lr=0.08)
    assert high is not None and high[0].lr == FloatRange(1e-4, pytest.approx(0.3), log=True)
    assert high[1] == Edit("lr", "0.0001..0.1 (log)", "0.0001..0.3 (log)",
                           "the 3 best trials all have lr at the high end of its range: widen it that way", (),
                           (90, 91, 92))
    low = _at(SearchSpace(lr=FloatRange(1e-4, 0.1, log=True)), lr=1.5e-4)
    assert low is not None and low[0].lr == FloatRange(pytest.approx(1e-4 / 3), 0.1, log=True)
    assert "at the low end" in low[1].reason
    floor = _at(SearchSpace(lr=FloatRange(1e-4, 0.1, log=True)), GuideLimits(lr=(5e-5, 1.0)), lr=1.5e-4)
    assert floor is not None and floor[0].lr == FloatRange(5e-5, 0.1, log=True)
    assert _at(SearchSpace(lr=FloatRange(1e-4, 0.1, log=True)), GuideLimits(lr=(1e-4, 1.0)), lr=1.5e-4) is None


def test_a_linear_range_widens_by_half_its_width() -> None:
    """Dropout 0.1..0.5 with every best trial at 0.48 (the top tenth): up to 0.5 + 0.2 = 0.7; lr 0.01..0.1
    (linear) with every best trial at 0.011: down to 0.01 - 0.045, at the floor 1e-6."""
    found = _at(SearchSpace(dropout=FloatRange(0.1, 0.5)), dropout=0.48)
    assert found is not None and found[0].dropout == FloatRange(0.1, pytest.approx(0.7))
    half = _at(SearchSpace(dropout=FloatRange(0.1, 0.3)), dropout=0.29)
    assert half is not None and half[0].dropout == FloatRange(0.1, pytest.approx(0.4))
    low = _at(SearchSpace(lr=FloatRange(0.05, 0.1)), lr=0.051)
    assert low is not None and low[0].lr == FloatRange(pytest.approx(0.025), 0.1)


def test_the_outer_tenth_includes_its_edge() -> None:
    """0.45 in 0..0.5 is exactly at nine tenths; 0.05 exactly at one tenth (a linear range)."""
    assert _at(SearchSpace(dropout=FloatRange(0.0, 0.5)), dropout=0.45) is not None
    assert _at(SearchSpace(dropout=FloatRange(0.0, 0.5)), dropout=0.44) is None
    assert _at(SearchSpace(lr=FloatRange(0.0, 0.5)), lr=0.05) is None  # low end, but 0 is below the floor already
    low = _at(SearchSpace(lr=FloatRange(0.01, 0.11)), lr=0.02)
    assert low is not None and low[1].reason.endswith("at the low end of its range: widen it that way")


def test_weight_decay_and_dropout_never_widen_down_and_stop_at_their_limits() -> None:
    assert _at(SearchSpace(dropout=FloatRange(0.1, 0.5)), dropout=0.11) is None
    assert _at(SearchSpace(dropout=FloatRange(0.1, 0.7)), dropout=0.69) is None  # at the limit 0.7
    assert _at(SearchSpace(dropout=FloatRange(0.0, 0.5)), dropout=0.0) is None  # 0 is "off", not a value
    wd = _at(SearchSpace(weight_decay=FloatRange(1e-6, 0.05, log=True)), weight_decay=0.04)
    assert wd is not None and wd[0].weight_decay == FloatRange(1e-6, 0.1, log=True)


def test_the_next_parameter_is_read_when_one_is_not_a_range() -> None:
    """lr fixed, weight decay not at a boundary: dropout at its top is still widened."""
    found = _at(SearchSpace(lr=Fixed(1e-3), weight_decay=FloatRange(1e-6, 1e-2, log=True),
                            dropout=FloatRange(0.0, 0.3)), weight_decay=1e-4, dropout=0.29)
    assert found is not None and found[1].param == "dropout"
    mixed = _at(SearchSpace(lr=FloatRange(1e-4, 0.1, log=True), dropout=FloatRange(0.0, 0.3)), lr=1e-3,
                dropout=0.29)
    assert mixed is not None and mixed[1].param == "dropout"
    none_lr = widen_at_boundary(SearchSpace(dropout=FloatRange(0.0, 0.3)),
                                _fine(0, *[1e-3] * 8) + [_t(90 + i, 0.99, None, dropout=0.29) for i in range(3)],
                                True, LIMITS)
    assert none_lr is not None and none_lr[1].param == "dropout"
    assert widen_at_boundary(SearchSpace(dropout=FloatRange(0.2, 0.2)),
                             _fine(0, *[1e-3] * 8) + [_t(90 + i, 0.99, 1e-3, dropout=0.2) for i in range(3)], True,
                             LIMITS) is None  # a range of one value has no ends
    assert widen_at_boundary(SPACE, [_t(90 + i, 0.99, 0.29) for i in range(2)], True, LIMITS) is None  # two


# ---- rule 4: dropping an optimizer ---------------------------------------------------------------------


def _opt(n: int, value: float | None, lr: float, optimizer: str, *codes: F, state: str = "complete") -> TrialOutcome:
    return _t(n, value, lr, *codes, state=state, optimizer=optimizer)


def test_dropping_momentum_is_the_whole_edit() -> None:
    adam = [_opt(300, 0.9, 1e-3, "adam", F.HEALTHY), _opt(301, 0.91, 2e-3, "adam", F.HEALTHY)]
    momentum = [_opt(100, 0.2, 3e-4, "momentum", F.OPTIMIZATION_FAILURE), _opt(101, 0.2, 3e-3, "momentum",
                                                                               F.CRITICAL_POINT),
                _opt(102, None, 0.03, "momentum", F.DIVERGENCE, state="fail")]
    found = drop_failing_optimizers(SPACE, adam + momentum, True, LIMITS)
    assert found is not None
    assert found[1] == Edit("optimizer", "[sgd, momentum, adam]", "[sgd, adam]",
                            "all 3 momentum trials (lr 0.0003..0.03) failed to optimize, while 2 trials of other "
                            "optimizers trained well: drop momentum",
                            ("critical_point", "divergence", "optimization_failure"), (100, 101, 102))
    exactly_ten = [_opt(100 + i, 0.2, lr, "momentum", F.OPTIMIZATION_FAILURE) for i, lr in
                   enumerate((1e-3, 3e-3, 1e-2))]
    assert drop_failing_optimizers(SPACE, adam + exactly_ten, True, LIMITS) is not None  # 10x apart is enough
    pruned = [*momentum[:2], _opt(102, 0.1, 0.03, "momentum", F.OPTIMIZATION_FAILURE, state="pruned")]
    assert drop_failing_optimizers(SPACE, adam + pruned, True, LIMITS) is None  # a pruned trial did not finish
    one_other = [adam[0], _opt(301, None, 2e-3, "adam", state="fail")]
    assert drop_failing_optimizers(SPACE, one_other + momentum, True, LIMITS) is None  # one trained: not enough
    assert drop_failing_optimizers(SearchSpace(optimizer=Choice(("momentum",))), adam + momentum, True,
                                   LIMITS) is None
    assert drop_failing_optimizers(SearchSpace(optimizer=Fixed("momentum")), adam + momentum, True, LIMITS) is None


def test_plain_sgd_is_dropped_after_two_slow_trials_none_among_the_best() -> None:
    adam = [_opt(10 + i, 0.9 + 0.01 * i, 1e-3, "adam", F.HEALTHY) for i in range(6)]
    sgd = [_opt(0, 0.5, 0.01, "sgd", F.SLOW_CONVERGENCE), _opt(1, 0.4, 0.05, "sgd", F.CRITICAL_POINT)]
    found = drop_failing_optimizers(SPACE, adam + sgd, True, LIMITS)
    assert found is not None
    assert found[1] == Edit("optimizer", "[sgd, momentum, adam]", "[momentum, adam]",
                            "all 2 sgd trials (lr 0.01..0.05) learned slowly or failed to optimize, while 6 "
                            "trials of other optimizers trained well: drop sgd",
                            ("critical_point", "slow_convergence"), (0, 1))
    assert drop_failing_optimizers(SPACE, adam + sgd[:1], True, LIMITS) is None  # one trial
    healthy = [sgd[0], _opt(1, 0.4, 0.05, "sgd", F.HEALTHY)]
    assert drop_failing_optimizers(SPACE, adam + healthy, True, LIMITS) is None  # one trained as it should
    best = [sgd[0], _opt(1, 0.99, 0.05, "sgd", F.SLOW_CONVERGENCE)]
    assert drop_failing_optimizers(SPACE, adam + best, True, LIMITS) is None  # slow, but among the best


def test_two_optimizers_dropped_at_once_are_both_named() -> None:
    adam = [_opt(10 + i, 0.9 + 0.01 * i, 1e-3, "adam", F.HEALTHY) for i in range(6)]
    sgd = [_opt(0, 0.5, 0.01, "sgd", F.SLOW_CONVERGENCE), _opt(1, 0.4, 0.05, "sgd", F.SLOW_CONVERGENCE)]
    momentum = [_opt(100 + i, 0.2, lr, "momentum", F.OSCILLATION) for i, lr in enumerate((1e-3, 1e-2, 0.1))]
    found = drop_failing_optimizers(SPACE, adam + sgd + momentum, True, LIMITS)
    assert found is not None and found[0].optimizer == Fixed("adam")
    assert found[1].reason.endswith("while 6 trials of other optimizers trained well: drop sgd, momentum")
    assert "; all 3 momentum trials (lr 0.001..0.1) failed to optimize" in found[1].reason
    assert found[1].codes == ("oscillation", "slow_convergence")


# ---- rule 2: a family's window ----------------------------------------------------------------------


def _fam(lrs_codes: list[tuple[float, F]], optimizer: str = "adam", n0: int = 100,
         state: str = "complete") -> list[TrialOutcome]:
    return [_t(n0 + i, 0.2 if c is not F.HEALTHY else 0.9 + 0.001 * i, lr, c, optimizer=optimizer, state=state)
            for i, (lr, c) in enumerate(lrs_codes)]


ADAM = ("rmsprop", "adam", "adamw")


def test_a_window_above_is_the_whole_edit() -> None:
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True), optimizer=Choice(("momentum", "adam")))
    outcomes = _fam([(1e-3, F.HEALTHY), (2.5e-3, F.HEALTHY), (0.01, F.OPTIMIZATION_FAILURE),
                     (0.04, F.OSCILLATION)])
    found = window_family_lr(ADAM, space, outcomes, True, LIMITS)
    assert found is not None
    new, edit = found
    high = math.sqrt(2.5e-3 * 0.01)
    assert new.lr_for("adam") == FloatRange(1e-5, pytest.approx(high), log=True)
    assert new.lr_for("momentum") == space.lr and new.lr == space.lr
    assert edit == Edit("lr (adam)", "1e-05..0.3 (log)", "1e-05..0.005 (log)",
                        "adam: 2 failed at lr >= 0.01, 2 trained well at 0.001..0.0025: lr 1e-05..0.005 (log) for "
                        "adam", ("optimization_failure", "oscillation"), (102, 103))


def test_failures_count_from_exactly_four_times_a_good_rate() -> None:
    """Good at 1e-3..2.5e-3: a failure at exactly 4 x 2.5e-3 = 0.01 is evidence above; at 4e-3 x ... below:
    one at exactly 1e-3 / 4 = 2.5e-4 is evidence below, one at 3e-4 is not."""
    good = [(1e-3, F.HEALTHY), (2.5e-3, F.HEALTHY)]
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True))
    below = window_family_lr(ADAM, space, _fam(good + [(2.5e-4, F.OPTIMIZATION_FAILURE),
                                                       (1e-4, F.CRITICAL_POINT)]), True, LIMITS)
    assert below is not None and below[0].lr_for("adam") == FloatRange(pytest.approx(math.sqrt(2.5e-4 * 1e-3)), 0.3,
                                                                       log=True)
    assert below[1].reason == ("rmsprop, adam, adamw: 2 failed at lr <= 0.00025, 2 trained well at 0.001..0.0025: "
                               "lr 0.0005..0.3 (log) for rmsprop, adam, adamw")
    near = window_family_lr(ADAM, space, _fam(good + [(3e-4, F.OPTIMIZATION_FAILURE), (1e-4, F.CRITICAL_POINT)]),
                            True, LIMITS)
    assert near is None  # one failure below is not enough (none diverged)
    pruned = _fam(good) + _fam([(2e-4, F.OPTIMIZATION_FAILURE), (1e-4, F.CRITICAL_POINT)], n0=110, state="pruned")
    assert window_family_lr(ADAM, space, pruned, True, LIMITS) is None  # pruned below: a slow start
    one_diverged = _fam(good) + [_t(120, None, 0.2, F.DIVERGENCE, state="fail")]
    capped = window_family_lr(ADAM, space, one_diverged, True, LIMITS)
    assert capped is not None and capped[0].lr_for("adam").high == pytest.approx(math.sqrt(2.5e-3 * 0.2))


def test_a_window_that_narrows_too_little_or_closes_is_not_made() -> None:
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True))
    # failures at rates above the range (an earlier round's): sqrt(0.15 x 0.6) = 0.3 cuts nothing off
    outside = _fam([(0.15, F.HEALTHY), (0.6, F.OPTIMIZATION_FAILURE), (0.7, F.OPTIMIZATION_FAILURE)])
    assert window_family_lr(ADAM, space, outside, True, LIMITS) is None
    # no rate trained; divergence at 1.2e-5 would cap at 9.6e-6, below the floor 1e-5: the window closes
    closed = [_t(100 + i, None, lr, F.DIVERGENCE, state="fail") for i, lr in enumerate((1.2e-5, 1.3e-5))]
    assert window_family_lr(ADAM, space, closed, True, LIMITS) is None
    wide = [_t(100 + i, None, lr, F.DIVERGENCE, state="fail") for i, lr in enumerate((0.02, 0.03))]
    capped = window_family_lr(ADAM, space, wide, True, LIMITS)
    assert capped is not None and capped[0].lr_for("adam") == FloatRange(1e-5, pytest.approx(0.016), log=True)
    assert capped[1].reason == "rmsprop, adam, adamw: 2 failed at lr >= 0.02: lr 1e-05..0.016 (log) for rmsprop, " \
                               "adam, adamw"
    linear = SearchSpace(lr=FloatRange(1e-5, 0.3))
    outcomes = _fam([(1e-3, F.HEALTHY), (0.1, F.OPTIMIZATION_FAILURE), (0.2, F.OPTIMIZATION_FAILURE)])
    assert window_family_lr(ADAM, linear, outcomes, True, LIMITS) is None  # only log ranges get windows
    assert window_family_lr(ADAM, SearchSpace(lr=FloatRange(1e-5, 0.3, log=True), optimizer=Fixed("sgd")), outcomes,
                            True, LIMITS) is None  # the family is not offered
    found = window_family_lr(ADAM, SearchSpace(lr=FloatRange(1e-5, 0.3, log=True)), outcomes, True, LIMITS)
    assert found is not None and found[0].lr_for("adamw") == FloatRange(1e-5, pytest.approx(0.01), log=True)


def test_a_narrower_window_of_the_users_stays() -> None:
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True)).with_lr_window(["adamw"], FloatRange(1e-4, 1e-3,
                                                                                                 log=True))
    outcomes = _fam([(1e-3, F.HEALTHY), (0.1, F.OPTIMIZATION_FAILURE), (0.2, F.OPTIMIZATION_FAILURE)])
    found = window_family_lr(ADAM, space, outcomes, True, LIMITS)
    assert found is not None
    assert found[0].lr_for("adam") == FloatRange(1e-5, pytest.approx(0.01), log=True)
    assert found[0].lr_for("adamw") == FloatRange(1e-4, 1e-3, log=True)


# ---- the round ---------------------------------------------------------------------------------------


def test_a_rounds_probes_use_the_users_limits_and_skip_trials_already_run() -> None:
    """The best trial overfit at dropout 0.2: the probe's dropout is min(0.2 + 0.2, 0.3) under a 0.3 limit."""
    space = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), dropout=FloatRange(0.0, 0.5), patience=Fixed(0))
    outcomes = _fine(0, *[10 ** (-3.5 + 0.25 * i) for i in range(8)]) + [_t(40, 0.99, 3e-3, F.OVERFITTING)]
    (probe,) = plan_round(space, outcomes, maximize=True, limits=GuideLimits(dropout=(0.0, 0.3))).probes
    assert probe.params["dropout"] == pytest.approx(0.3)
    again = [*outcomes, _t(41, 0.5, 3e-3, dropout=0.3, weight_decay=1e-3)]  # the probe, run already
    assert plan_round(space, again, maximize=True, limits=GuideLimits(dropout=(0.0, 0.3))).probes == ()


def test_failures_between_the_good_rates_or_within_four_times_of_them_are_no_window() -> None:
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True))
    near_above = _fam([(1e-3, F.HEALTHY), (2.5e-3, F.HEALTHY), (3e-3, F.OPTIMIZATION_FAILURE),
                       (5e-3, F.OPTIMIZATION_FAILURE)])
    assert window_family_lr(ADAM, space, near_above, True, LIMITS) is None
    between = _fam([(1e-3, F.HEALTHY), (1e-2, F.HEALTHY), (2e-3, F.OPTIMIZATION_FAILURE),
                    (3e-3, F.OPTIMIZATION_FAILURE)])
    assert window_family_lr(ADAM, space, between, True, LIMITS) is None


def test_a_window_on_both_sides_and_from_the_familys_own_window() -> None:
    """The family already has a window 1e-4..0.1: the edit starts from it, the new window is log."""
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True)).with_lr_window(list(ADAM), FloatRange(1e-4, 0.1,
                                                                                                 log=True))
    outcomes = _fam([(1e-4, F.OPTIMIZATION_FAILURE), (1.5e-4, F.CRITICAL_POINT), (1e-3, F.HEALTHY),
                     (2e-3, F.HEALTHY), (0.05, F.OSCILLATION), (0.09, F.OPTIMIZATION_FAILURE)])
    found = window_family_lr(ADAM, space, outcomes, True, LIMITS)
    assert found is not None
    new, edit = found
    assert edit.before == "0.0001..0.1 (log)" and edit.after == "0.0003873..0.01 (log)"
    assert edit.reason == ("rmsprop, adam, adamw: 2 failed at lr >= 0.05 and 2 failed at lr <= 0.00015, 2 trained "
                           "well at 0.001..0.002: lr 0.0003873..0.01 (log) for rmsprop, adam, adamw")
    window = dict(new.optimizer_lr)["adamw"]
    assert window == FloatRange(pytest.approx(math.sqrt(1.5e-4 * 1e-3)), pytest.approx(0.01), log=True)


def test_slow_sgd_trials_that_scored_do_not_count_as_other_optimizers_training() -> None:
    """Two slow SGD trials and one Adam trial that trained: only one trial of another optimizer."""
    outcomes = [_opt(0, 0.5, 0.01, "sgd", F.SLOW_CONVERGENCE), _opt(1, 0.4, 0.05, "sgd", F.SLOW_CONVERGENCE),
                _opt(2, 0.9, 1e-3, "adam", F.HEALTHY), _opt(3, 0.95, 1e-3, "adam", F.HEALTHY),
                _opt(4, 0.97, 1e-3, "adam", F.HEALTHY), _opt(5, None, 1e-3, "adam", state="fail")]
    assert drop_failing_optimizers(SPACE, outcomes, True, LIMITS) is not None  # three Adam trials trained
    assert drop_failing_optimizers(SPACE, [*outcomes[:2], *outcomes[4:]], True, LIMITS) is None  # one did


def test_a_log_range_is_not_read_at_zero() -> None:
    """Weight decay off (0) in every best trial: no boundary of the log range is read (log 0 is no value)."""
    wd = SearchSpace(weight_decay=FloatRange(1e-6, 1e-2, log=True, include_zero=True))
    assert _at(wd, weight_decay=0.0) is None
