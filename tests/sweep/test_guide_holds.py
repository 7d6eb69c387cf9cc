"""plan_round makes no edit that would leave the best trial so far outside the space.

The divergence cap keeps every rate that trained well by its own clamp, so a test built
on it passes without the check. Here the lr-floor rule alone would cut the best trial
off: the slow trials are among the best, but the very best trained well below them.
"""

from __future__ import annotations

from dataclasses import replace

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.sweep import Choice, Fixed, FloatRange, GuideConfig, SearchSpace
from sweepdoctor.sweep.guide import GuideLimits, TrialOutcome, plan_round
from sweepdoctor.sweep.guide._plan import _squeezes, holds, raise_lr_floor

SPACE = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("sgd", "adam")))


def _t(n: int, value: float, lr: float, *codes: F) -> TrialOutcome:
    return TrialOutcome(n, "complete", value, {"lr": lr, "optimizer": "adam", "weight_decay": 1e-4, "dropout": 0.2},
                        frozenset(codes))


def _outcomes() -> tuple[list[TrialOutcome], TrialOutcome]:
    middling = [_t(i, 0.80 + 0.01 * i, 10 ** (-3.5 + 0.25 * i), F.HEALTHY) for i in range(8)]
    slow = [_t(10 + i, 0.97, 1e-2, F.SLOW_CONVERGENCE) for i in range(3)]
    best = _t(20, 0.99, 2e-4, F.HEALTHY)  # the best, trained well at a small rate
    return [*middling, *slow, best], best


def test_the_lr_floor_rule_alone_would_exclude_the_best_trial() -> None:
    """The premise: without the check, this plan's only edit moves the space off the best trial."""
    outcomes, best = _outcomes()
    found = raise_lr_floor(SPACE, outcomes, True, GuideLimits())
    assert found is not None
    space, edit = found
    assert edit.param == "lr" and isinstance(space.lr, FloatRange) and space.lr.low > best.params["lr"]
    assert not holds(space, best.params)


def test_an_edit_that_would_exclude_the_best_trial_is_not_made() -> None:
    outcomes, best = _outcomes()
    plan = plan_round(SPACE, outcomes, maximize=True)
    assert holds(plan.space, best.params)
    assert plan.space.lr == SPACE.lr and not [e for e in plan.edits if e.param == "lr"]


def test_the_same_slow_trials_raise_the_floor_when_the_best_trial_is_above_it() -> None:
    """The control: with the best trial at a rate inside the raised floor, the edit is made."""
    outcomes, _ = _outcomes()
    best = _t(20, 0.99, 2e-2, F.HEALTHY)
    plan = plan_round(SPACE, [*outcomes[:-1], best], maximize=True)
    assert isinstance(plan.space.lr, FloatRange) and plan.space.lr.low > SPACE.lr.low  # type: ignore[union-attr]
    assert holds(plan.space, best.params)


def test_holds_reads_the_lr_window_of_the_trials_optimizer() -> None:
    windowed = SPACE.with_lr_window(["adam"], FloatRange(1e-3, 1e-2, log=True))
    assert holds(windowed, {"optimizer": "adam", "lr": 5e-3})
    assert not holds(windowed, {"optimizer": "adam", "lr": 5e-2})  # inside lr, outside adam's window
    assert holds(windowed, {"optimizer": "sgd", "lr": 5e-2})
    assert not holds(windowed, {"optimizer": "lion", "lr": 5e-3})  # an optimizer the space no longer offers
    assert not holds(windowed, {"optimizer": "sgd", "lr": 5e-3, "dropout": 0.9})


def test_an_edit_that_leaves_an_optimizer_one_learning_rate_squeezes() -> None:
    narrow = FloatRange(1e-4, 1e-2, log=True)
    for optimizer in (Fixed("adam"), Choice(("sgd", "adam"))):
        before = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=optimizer).with_lr_window(["adam"], narrow)
        after = replace(before, lr=FloatRange(0.1, 0.3, log=True))  # adam's window now misses lr
        assert _squeezes(before, after) and not _squeezes(before, before)


def test_limits_round_trip_through_the_guide_table() -> None:
    g = GuideConfig(min_lr=1e-5, max_lr=0.5, max_weight_decay=0.05, max_dropout=0.6, max_depth=4, max_width=256)
    assert GuideLimits.from_config(g).to_config() == g
