"""The curve helpers at the edges of their definitions (docstrings of ``_curves``), worked out by hand:
the shortest curve each accepts, flat steps, a zero or negative start, a tail of one epoch."""

from __future__ import annotations

import math

import pytest

from sweepdoctor.diagnostics import Role, RunHistory
from sweepdoctor.diagnostics import _curves as c


def test_fall_per_epoch_over_the_window_or_the_whole_short_curve() -> None:
    assert c.fall_per_epoch([5.0, 4.0, 3.0, 2.0, 1.0], 2) == pytest.approx((3.0 - 1.0) / (2 * 3.0))
    assert c.fall_per_epoch([4.0, 2.0], 5) == pytest.approx(0.5)  # one step: the window is that step
    assert c.fall_per_epoch([1.0, 2.0], 1) == pytest.approx(-1.0)  # rose
    assert c.fall_per_epoch([4.0, None, 2.0], 1) == pytest.approx(0.5)  # missing points are skipped
    assert c.fall_per_epoch([0.5, 0.25], 1) == pytest.approx(0.5)
    assert c.fall_per_epoch([2.0], 1) is None
    assert c.fall_per_epoch([0.0, 1.0, 2.0], 5) is None  # a start of 0
    assert c.fall_per_epoch([-1.0, -2.0], 1) is None


def test_down_fraction_counts_strictly_falling_steps_of_the_tail() -> None:
    assert c.down_fraction([5.0, 4.0, 4.0, 3.0], 2) == 0.5  # steps 0 and -1: a flat step is not down
    assert c.down_fraction([3.0, 2.0, 1.0], 2) == 1.0  # tail + 1 values: enough
    assert c.down_fraction([3.0, 2.0], 2) is None


def test_up_fraction_of_the_second_half() -> None:
    assert c.up_fraction([5.0, 4.0, 3.0, 2.0, 1.0, 2.0]) == 0.5  # late 2 1 2: the shortest accepted
    assert c.up_fraction([1.0] * 6) == 0.0  # flat steps are not up
    assert c.up_fraction([1.0, 2.0, 3.0, 4.0]) is None  # late 3 4: too short


def test_rate_ratio_edges() -> None:
    assert c.rate_ratio([9.0, 7.0, 5.0, 3.0], 1) == pytest.approx(1.0)  # 2 per epoch, and 2 at the end
    assert c.rate_ratio([9.0, 8.0, 7.0, 3.0], 1) == pytest.approx(2.0)  # the end fell faster
    assert c.rate_ratio([2.0, 1.0, 2.0], 1) == 0.0  # no net fall
    assert c.rate_ratio([3.0, 2.0], 2) is None


def test_relative_improvement_edges() -> None:
    assert c.relative_improvement([4.0, 3.0, 2.0, 1.0], 1) == pytest.approx(0.5)  # (2 - 1) / 2
    assert c.relative_improvement([4.0, 1.0, 3.0, 2.0], 1) == pytest.approx(-1.0)  # (1 - 2) / 1
    assert c.relative_improvement([0.0, 1.0, 0.5], 1) == 0.0  # the best before was 0
    assert c.relative_improvement([-2.0, -1.0, -3.0], 1) == pytest.approx(0.5)  # (-2 - -3) / 2


def test_grad_ratio_edges() -> None:
    assert c.grad_ratio([2.0, 2.0, 9.0, 9.0, 4.0, 4.0], 2, 2) == pytest.approx(2.0)
    assert c.grad_ratio([2.0, 2.0, 4.0, 4.0], 2, 2) == pytest.approx(2.0)  # exactly tail + head norms
    assert c.grad_ratio([2.0, 2.0, 4.0], 2, 2) is None


def test_relative_rise_from_a_minimum_of_zero_and_of_two() -> None:
    assert c.relative_rise([1.0, 0.0, 0.0]) == (0.0, 1, 0.0)
    assert c.relative_rise([1.0, 0.0, 0.5]) == (math.inf, 1, 0.0)
    assert c.relative_rise([4.0, 2.0, 3.0]) == (pytest.approx(0.5), 1, 2.0)


def test_tail_length_is_a_whole_number_of_epochs() -> None:
    assert c.tail_length(10, 2) == 2 and isinstance(c.tail_length(10, 2), int)
    assert c.tail_length(13, 2) == 3


def test_a_run_without_folds_has_an_empty_mean_curve() -> None:
    assert c.mean_curve(RunHistory("r", Role.CANDIDATE, ()), "train_loss") == []
