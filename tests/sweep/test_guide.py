"""The rules of guided search, without training: outcomes and a space in, edits and reasons out."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.sweep import Choice, Fixed, FloatRange, SearchSpace, load_config
from sweepdoctor.sweep.guide import GuideLimits, TrialOutcome, optuna_params, plan_round, repair_probes, space_toml
from sweepdoctor.sweep.guide._plan import holds

SPACE = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("sgd", "momentum", "adam")))


def _t(n: int, value: float | None, lr: float, *codes: F, state: str = "complete", **params: object) -> TrialOutcome:
    return TrialOutcome(n, state, value, {"lr": lr, "optimizer": "adam", "weight_decay": 1e-4, "dropout": 0.2,
                                          **params}, frozenset(codes))


def _healthy(n0: int = 0, k: int = 8) -> list[TrialOutcome]:
    """Trials spread over the middle of the lr range, none flagged: nothing to re-plan."""
    lrs = [10 ** (-3.5 + 0.25 * i) for i in range(k)]  # 3e-4 .. 0.018
    return [_t(n0 + i, 0.9 + 0.005 * math.sin(i), lr, F.HEALTHY) for i, lr in enumerate(lrs)]


def test_a_healthy_study_keeps_its_space() -> None:
    plan = plan_round(SPACE, _healthy(), maximize=True)
    assert plan.edits == () and plan.space == SPACE


def test_too_few_complete_trials_plan_nothing() -> None:
    plan = plan_round(SPACE, _healthy(k=3), maximize=True)
    assert plan.edits == () and "too few" in plan.notes[0]


def test_divergence_concentrated_above_an_lr_caps_the_range() -> None:
    diverged = [_t(20 + i, None, lr, F.DIVERGENCE, state="fail") for i, lr in enumerate((0.09, 0.15, 0.28))]
    plan = plan_round(SPACE, _healthy() + diverged, maximize=True)
    (edit,) = [e for e in plan.edits if e.param == "lr"]
    assert isinstance(plan.space.lr, FloatRange) and 0.05 < plan.space.lr.high < 0.09
    assert edit.codes == ("divergence",) and edit.trials == (20, 21, 22) and "3 trials with lr >= 0.09" in edit.reason


def test_divergence_spread_over_the_range_is_left_alone() -> None:
    """Trials diverged at 0.02 while many others trained fine above it: no region to cap."""
    fine_high = [_t(30 + i, 0.9, lr, F.HEALTHY) for i, lr in enumerate((0.03, 0.05, 0.1, 0.2))]
    diverged = [_t(40 + i, None, lr, F.DIVERGENCE, state="fail") for i, lr in enumerate((0.02, 0.25))]
    plan = plan_round(SPACE, _healthy() + fine_high + diverged, maximize=True)
    assert not [e for e in plan.edits if e.param == "lr" and "diverged" in e.reason]


def test_slow_best_trials_raise_the_lr_floor() -> None:
    outcomes = _healthy()
    best = [_t(50 + i, 0.97, 2e-3, F.SLOW_CONVERGENCE) for i in range(3)]
    plan = plan_round(SPACE, outcomes + best, maximize=True)
    (edit,) = [e for e in plan.edits if e.param == "lr"]
    assert isinstance(plan.space.lr, FloatRange) and 1e-4 * 1.5 < plan.space.lr.low < 2e-3
    assert "slow_convergence" in edit.codes and set(edit.trials) == {50, 51, 52}


def _sgd_study(choices: tuple[str, ...]) -> tuple[SearchSpace, list[TrialOutcome]]:
    space = SearchSpace(lr=Fixed(0.01), optimizer=Choice(choices))
    outcomes = [_t(i, 0.95, 0.01, F.SLOW_CONVERGENCE, optimizer="sgd") for i in range(3)]
    outcomes += [_t(10 + i, 0.96 - 0.001 * i, 0.01, F.HEALTHY, optimizer="adam") for i in range(5)]
    outcomes += [_t(20 + i, 0.97, 0.01, F.SLOW_CONVERGENCE, optimizer=choices[-1]) for i in range(3)]
    return space, outcomes


def test_slow_plain_sgd_is_dropped_when_one_optimizer_is_left() -> None:
    space, outcomes = _sgd_study(("sgd", "adam"))
    plan = plan_round(space, outcomes, maximize=True)
    assert plan.space.optimizer == Fixed("adam")
    assert [e.trials for e in plan.edits if e.param == "optimizer"] == [(0, 1, 2)]


def test_slow_plain_sgd_among_several_choices_is_dropped() -> None:
    """The choice is narrowed (the search room's NarrowedSampler keeps Optuna's draws inside it)."""
    space, outcomes = _sgd_study(("sgd", "momentum", "adam"))
    plan = plan_round(space, outcomes, maximize=True)
    assert plan.space.optimizer == Choice(("momentum", "adam"))
    (edit,) = [e for e in plan.edits if e.param == "optimizer"]
    assert edit.trials == (0, 1, 2) and "drop sgd" in edit.reason and "slow_convergence" in edit.codes


def _family(lrs_codes: list[tuple[float, F]], optimizer: str = "adam", n0: int = 100) -> list[TrialOutcome]:
    return [_t(n0 + i, 0.2 if c is not F.HEALTHY else 0.9 + 0.001 * i, lr, c, optimizer=optimizer)
            for i, (lr, c) in enumerate(lrs_codes)]


def test_failures_on_both_sides_of_an_optimizers_good_rates_window_its_family() -> None:
    """Adam failed twice below 2.5e-4 and twice above 0.012, trained at 1e-3..3e-3: Adam, AdamW and RMSProp
    get a window between them (geometric means), SGD with momentum keeps the whole range."""
    space = SearchSpace(lr=FloatRange(1e-5, 0.3, log=True), optimizer=Choice(("momentum", "rmsprop", "adam", "adamw")))
    outcomes = _family([(1e-4, F.OPTIMIZATION_FAILURE), (2e-4, F.CRITICAL_POINT), (1e-3, F.HEALTHY), (3e-3, F.HEALTHY),
                        (0.1, F.OPTIMIZATION_FAILURE), (0.2, F.OSCILLATION)])
    outcomes += _family([(0.03, F.HEALTHY), (0.05, F.HEALTHY)], optimizer="momentum", n0=200)
    plan = plan_round(space, outcomes, maximize=True)
    (edit,) = [e for e in plan.edits if e.param.startswith("lr (")]
    window = plan.space.lr_for("adamw")
    assert isinstance(window, FloatRange)
    assert window.low == pytest.approx(math.sqrt(2e-4 * 1e-3)) and window.high == pytest.approx(math.sqrt(3e-3 * 0.1))
    assert plan.space.lr_for("rmsprop") == window and plan.space.lr_for("momentum") == space.lr
    assert edit.param == "lr (rmsprop, adam, adamw)" and edit.trials == (100, 101, 104, 105)
    assert edit.codes == ("critical_point", "optimization_failure", "oscillation")
    assert "2 failed at lr >= 0.1" in edit.reason and "2 failed at lr <= 0.0002" in edit.reason
    assert "2 trained well at 0.001..0.003" in edit.reason
    # one failure on a side is not enough: it could owe its failure to its other settings
    one = plan_round(space, [o for o in outcomes if o.number not in (101, 105)], maximize=True).space.lr_for("adam")
    assert one == space.lr


def test_a_family_with_no_good_trial_is_capped_only_by_divergence() -> None:
    """Momentum failed at 3e-4 (too low? too high? unknown) and diverged at 0.2: capped below 0.2 only."""
    space = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("momentum", "adam")))
    outcomes = _family([(3e-4, F.OPTIMIZATION_FAILURE)], optimizer="momentum")
    outcomes += [_t(110, None, 0.2, F.DIVERGENCE, state="fail", optimizer="momentum")]
    outcomes += _family([(1e-3, F.HEALTHY), (2e-3, F.HEALTHY), (4e-3, F.HEALTHY)], n0=120)
    window = plan_round(space, outcomes, maximize=True).space.lr_for("momentum")
    assert isinstance(window, FloatRange) and (window.low, window.high) == pytest.approx((1e-4, 0.16))


def test_healthy_families_and_unfailed_extremes_get_no_window() -> None:
    """Trials that trained everywhere, a slow (not failed) trial at a low rate, a pruned one at a low rate
    (a slow start) and failures within 4x of a good rate (other settings differ) narrow nothing."""
    outcomes = _family([(1e-4, F.SLOW_CONVERGENCE), (1e-3, F.HEALTHY), (0.1, F.HEALTHY), (0.25, F.HEALTHY)])
    pruned = [_t(120, 0.1, 1e-4, F.OPTIMIZATION_FAILURE, state="pruned")]
    close = _family([(3e-4, F.OPTIMIZATION_FAILURE), (0.29, F.OPTIMIZATION_FAILURE)], n0=130)
    for extra in ([], pruned, close):
        plan = plan_round(SPACE, outcomes + extra, maximize=True)
        assert plan.space.optimizer_lr == () and not [e for e in plan.edits if e.param.startswith("lr (")]


def test_a_window_never_excludes_the_best_trial() -> None:
    """The best trial is flagged (optimization failure beside a strong baseline) at the highest rate:
    a window that would cut it off is not made."""
    outcomes = _family([(1e-3, F.HEALTHY), (2e-3, F.HEALTHY)])
    outcomes += [_t(150, 0.99, 0.05, F.OPTIMIZATION_FAILURE)]
    plan = plan_round(SPACE, outcomes + _family([(0.01, F.HEALTHY)], optimizer="sgd", n0=160), maximize=True)
    assert holds(plan.space, outcomes[-1].params)
    assert plan.space.lr_for("adam") == SPACE.lr


def test_an_optimizer_that_failed_at_every_rate_is_dropped() -> None:
    """Momentum failed at 3 rates 100x apart, Adam trained: momentum is dropped; with two failures, or
    three at nearby rates (one bad rate, not a bad optimizer), it is kept."""
    adam = _family([(1e-3, F.HEALTHY), (2e-3, F.HEALTHY)], n0=300)
    spread = _family([(3e-4, F.OPTIMIZATION_FAILURE), (3e-3, F.CRITICAL_POINT), (0.03, F.OPTIMIZATION_FAILURE)],
                     optimizer="momentum")
    plan = plan_round(SPACE, adam + spread, maximize=True)
    assert plan.space.optimizer == Choice(("sgd", "adam"))
    assert [e.trials for e in plan.edits if e.param == "optimizer"] == [(100, 101, 102)]
    assert plan_round(SPACE, adam + spread[:2], maximize=True).space.optimizer == SPACE.optimizer
    close = _family([(0.02, F.OPTIMIZATION_FAILURE), (0.03, F.OPTIMIZATION_FAILURE), (0.05, F.OPTIMIZATION_FAILURE)],
                    optimizer="momentum")
    assert plan_round(SPACE, adam + close, maximize=True).space.optimizer == SPACE.optimizer


def test_overfitting_best_trials_get_stronger_regularization() -> None:
    best = [_t(60 + i, 0.99, 3e-3, F.OVERFITTING) for i in range(3)]
    plan = plan_round(SPACE, _healthy() + best, maximize=True)
    wd, before = plan.space.weight_decay, SPACE.weight_decay
    assert isinstance(wd, FloatRange) and isinstance(before, FloatRange)
    assert wd.high == pytest.approx(10 * before.high)  # room for stronger weight decay ...
    assert (wd.low, wd.include_zero) == (before.low, before.include_zero)  # ... where the best trials still are
    assert [e.codes for e in plan.edits if e.param == "weight_decay"] == [("overfitting",)]


def test_no_edit_leaves_the_best_trial_outside_the_space() -> None:
    """Three diverged trials at lr >= 0.05, but the best trial trained well at 0.045: the cap stays above it."""
    diverged = [_t(80 + i, None, 0.05 * (1 + i), F.DIVERGENCE, state="fail") for i in range(3)]
    best = _t(90, 0.999, 0.045, F.HEALTHY)
    plan = plan_round(SPACE, [*_healthy(), *diverged, best], maximize=True)
    lr = plan.space.lr
    assert isinstance(lr, FloatRange) and 0.045 <= lr.high < 0.05
    assert holds(plan.space, best.params)
    over = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), weight_decay=FloatRange(1e-3, 1e-2, log=True))
    assert not holds(over, {"lr": 1e-3, "weight_decay": 0.0})  # no zero in that range


def test_overfitting_among_the_worst_trials_only_changes_nothing() -> None:
    worst = [_t(70 + i, 0.5, 3e-3, F.OVERFITTING) for i in range(3)]
    plan = plan_round(SPACE, _healthy() + worst, maximize=True)
    assert plan.space.weight_decay == SPACE.weight_decay


def test_model_bias_among_the_best_trials_widens_the_model_within_limits() -> None:
    best = [_t(80 + i, 0.99, 3e-3, F.MODEL_BIAS) for i in range(3)]
    plan = plan_round(SPACE, _healthy() + best, maximize=True)
    assert plan.space.width == Fixed(256)
    capped = plan_round(SPACE, _healthy() + best, maximize=True, limits=GuideLimits(width=(8, 128), depth=(1, 2)))
    assert capped.space.width == SPACE.width and capped.space.depth == SPACE.depth  # at the user's limits


def test_best_trials_at_the_top_of_the_lr_range_widen_it() -> None:
    best = [_t(90 + i, 0.99, lr, F.HEALTHY) for i, lr in enumerate((0.2, 0.25, 0.29))]
    plan = plan_round(SPACE, _healthy() + best, maximize=True)
    (edit,) = [e for e in plan.edits if e.param == "lr"]
    assert isinstance(plan.space.lr, FloatRange) and math.isclose(plan.space.lr.high, 0.9)
    assert "high end" in edit.reason
    limited = plan_round(SPACE, _healthy() + best, maximize=True, limits=GuideLimits(lr=(1e-6, 0.3)))
    assert limited.space.lr == SPACE.lr


def test_minimizing_reads_the_smallest_values_as_best() -> None:
    best = [_t(90 + i, 0.01, lr, F.HEALTHY) for i, lr in enumerate((0.2, 0.25, 0.29))]
    worse = [_t(i, 1.0 + i, 1e-3 * (1 + i), F.HEALTHY) for i in range(9)]  # the best quarter: the 3 above
    assert [e.param for e in plan_round(SPACE, best + worse, maximize=False).edits] == ["lr"]
    assert plan_round(SPACE, best + worse, maximize=True).edits == ()


def test_mismatch_is_reported_not_edited() -> None:
    best = [_t(95 + i, 0.99, 3e-3, F.MISMATCH) for i in range(3)]
    plan = plan_round(SPACE, _healthy() + best, maximize=True)
    assert plan.edits == () and "mismatch" in plan.notes[0]


def test_the_planned_space_round_trips_through_toml(tmp_path: Path) -> None:
    best = [_t(60 + i, 0.99, 3e-3, F.OVERFITTING) for i in range(3)]
    plan = plan_round(SPACE, _healthy() + best, maximize=True)
    path = tmp_path / "next.toml"
    path.write_text(space_toml(plan.space))
    assert load_config(path).space == plan.space


# ---- the next run after one run (diagnose --history --suggest) ---------------------------

_RUN = {"lr": 0.05, "optimizer": "sgd", "weight_decay": 0.0, "dropout": 0.0, "patience": 0, "width": 64,
        "depth": 2}


def test_a_healthy_run_needs_no_change() -> None:
    from sweepdoctor.sweep import suggest_next

    assert suggest_next(_RUN, {F.HEALTHY}, epochs=20).changes == {}


def test_divergence_lowers_the_lr_and_slow_sgd_goes_adaptive() -> None:
    from sweepdoctor.sweep import suggest_next

    assert suggest_next(_RUN, {F.DIVERGENCE}).changes == {"lr": 0.005}
    slow = suggest_next(_RUN, {F.SLOW_CONVERGENCE}, epochs=10)
    assert slow.changes == {"optimizer": "adam", "epochs": 20}
    adam_slow = suggest_next({**_RUN, "optimizer": "adam"}, {F.SLOW_CONVERGENCE})
    assert adam_slow.changes == {"lr": pytest.approx(0.15)}


def test_overfitting_regularizes_and_the_snippet_loads_as_toml(tmp_path: Path) -> None:
    import tomllib

    from sweepdoctor.sweep import suggest_next

    s = suggest_next(_RUN, {F.OVERFITTING, F.MISMATCH})
    assert s.changes == {"weight_decay": 1e-4, "dropout": 0.2, "patience": 5}
    doc = tomllib.loads(s.to_toml())
    assert doc["space"] == {"weight_decay": 1e-4, "dropout": 0.2, "patience": 5}
    assert "mismatch" in s.notes[0]
    path = tmp_path / "next.toml"
    path.write_text(s.to_toml())
    assert load_config(path).space.weight_decay == Fixed(1e-4)


def test_limits_bound_the_suggestion() -> None:
    from sweepdoctor.sweep import GuideConfig, suggest_next

    s = suggest_next({**_RUN, "width": 512}, {F.MODEL_BIAS}, limits=GuideConfig(max_width=512, max_depth=3))
    assert s.changes == {"depth": 3}


# ---- repair probes: the best trials' own findings, queued as the next trials ----------------


def test_a_healthy_study_queues_no_probe() -> None:
    assert plan_round(SPACE, _healthy(), maximize=True).probes == ()


def test_an_overfitting_best_trial_is_probed_with_its_fix_inside_the_new_space() -> None:
    best = _t(40, 0.99, 3e-3, F.OVERFITTING, patience=0, batch_size=32)
    plan = plan_round(SPACE, [*_healthy(), best], maximize=True)
    (probe,) = plan.probes
    assert probe.source == 40 and probe.codes == ("overfitting",)
    p = probe.params
    assert p["optimizer"] == "adam" and p["lr"] == pytest.approx(3e-3)  # the rest of the trial kept
    assert p["weight_decay"] == pytest.approx(1e-3) and p["dropout"] == pytest.approx(0.4) and p["patience"] == 5
    assert p["use_weight_decay"] is True  # the default space tries weight decay 0 as a separate choice
    assert set(probe.changes) == {"weight_decay", "dropout", "patience"}
    assert "validation loss rose" in probe.reason and probe.reason.count("validation loss rose") == 1


def test_a_probe_is_fitted_into_the_space_or_not_made() -> None:
    capped = SearchSpace(lr=FloatRange(1e-4, 0.01, log=True), optimizer=Choice(("sgd", "momentum")))
    slow_sgd = _t(41, 0.97, 5e-3, F.SLOW_CONVERGENCE, optimizer="sgd")
    assert optuna_params(capped, {"optimizer": "adam", "lr": 1e-3}) is None  # not one of the space's choices
    # the fix would be Adam, which this space does not offer: no probe
    assert repair_probes(capped, [slow_sgd]) == ()
    slow_adam = _t(42, 0.97, 5e-3, F.SLOW_CONVERGENCE, optimizer="momentum", momentum=0.9)
    (probe,) = repair_probes(capped, [slow_adam])
    assert probe.params["lr"] == pytest.approx(0.01)  # three times 5e-3, clipped to the range
    assert probe.params["momentum"] == pytest.approx(0.9)


def test_probes_skip_what_was_run_and_stop_at_the_limit() -> None:
    over = [_t(50 + i, 0.99 - 0.001 * i, 3e-3 * (1 + i), F.OVERFITTING, patience=0) for i in range(4)]
    probes = repair_probes(SPACE, over)
    assert [p.source for p in probes] == [50, 51]  # the best first, two at most
    again = repair_probes(SPACE, over, known=[p.params for p in probes])
    assert [p.source for p in again] == [52, 53]  # the same fixes were queued already


def test_findings_without_a_fix_queue_nothing() -> None:
    best = [_t(60 + i, 0.99, 3e-3, F.MISMATCH) for i in range(3)]
    assert plan_round(SPACE, [*_healthy(), *best], maximize=True).probes == ()


def test_a_flagged_trial_that_scored_in_the_better_half_counts_as_trained() -> None:
    """An optimization-failure finding beside a strong baseline, on a trial that scored above the
    median, is not evidence that its rate fails: no window is cut below it."""
    outcomes = _family([(1e-3, F.HEALTHY), (2e-3, F.HEALTHY), (1e-4, F.OPTIMIZATION_FAILURE),
                        (1.5e-4, F.OPTIMIZATION_FAILURE)])
    flagged = _t(130, 0.95, 0.05, F.OPTIMIZATION_FAILURE)  # the best score, at the highest rate
    high = _family([(0.2, F.OPTIMIZATION_FAILURE), (0.25, F.OPTIMIZATION_FAILURE)], n0=140)  # scored 0.2: failures
    plan = plan_round(SPACE, [*outcomes, flagged], maximize=True)
    window = plan.space.lr_for("adam")
    assert isinstance(window, FloatRange) and window.high == SPACE.lr.high  # type: ignore[union-attr]
    assert window.low == pytest.approx(math.sqrt(1.5e-4 * 1e-3))  # the real failures below still count
    capped = plan_round(SPACE, [*outcomes, flagged, *high], maximize=True).space.lr_for("adam")
    assert isinstance(capped, FloatRange) and capped.high == pytest.approx(math.sqrt(0.05 * 0.2))
