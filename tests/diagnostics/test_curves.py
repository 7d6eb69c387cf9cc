"""The pure curve helpers, on curves whose answers can be worked out by hand."""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory
from sweepdoctor.diagnostics import _curves as c


def test_tail_length_is_a_quarter_but_at_least_the_minimum() -> None:
    assert c.tail_length(40, 3) == 10
    assert c.tail_length(8, 3) == 3


def test_relative_improvement_of_a_plateau_and_a_fall() -> None:
    assert c.relative_improvement([4.0, 2.0, 2.0, 2.0, 2.0], 2) == 0.0
    assert c.relative_improvement([4.0, 2.0, 1.5, 1.0], 2) == pytest.approx(0.5)
    assert c.relative_improvement([2.0, 4.0, 3.0], 2) == pytest.approx(-0.5)  # the tail got worse
    assert c.relative_improvement([1.0, 2.0], 2) is None  # too short


def test_down_fraction_and_up_fraction() -> None:
    assert c.down_fraction([5.0, 4.0, 3.0, 3.5, 2.0], 4) == 0.75
    assert c.up_fraction([1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0]) == pytest.approx(2 / 3)  # late: 1 2 1 2
    assert c.up_fraction([3.0, 2.0]) is None


def test_rate_ratio_tells_a_line_from_a_levelling_curve() -> None:
    line = [10.0 - i for i in range(9)]
    assert c.rate_ratio(line, 4) == pytest.approx(1.0)
    levelled = [10.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    assert c.rate_ratio(levelled, 3) == 0.0
    assert c.rate_ratio([1.0, 2.0, 3.0, 4.0], 2) == 0.0  # never fell


def test_grad_ratio_uses_medians() -> None:
    grads = [10.0, 1.0, 10.0, 10.0, 5.0, 0.5, 5.0, 100.0]  # spikes do not move medians
    assert c.grad_ratio(grads, 3, 3) == pytest.approx(5.0 / 10.0)
    assert c.grad_ratio([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, 3) is None
    assert c.grad_ratio([1.0, None, 1.0], 3, 3) is None


def test_relative_rise_and_the_early_stopping_epoch() -> None:
    rise, i_min, v_min = c.relative_rise([3.0, 1.0, 1.2, 1.5])  # type: ignore[misc]
    assert (i_min, v_min) == (1, 1.0) and rise == pytest.approx(0.5)
    # the median of the tail damps one noisy last epoch; a falling curve never "rises"
    rise, _, _ = c.relative_rise([3.0, 1.0, 1.1, 1.1, 3.0], tail=3)  # type: ignore[misc]
    assert rise == pytest.approx(0.1)
    rise, _, _ = c.relative_rise([3.0, 2.0, 1.5, 1.0], tail=3)  # type: ignore[misc]
    assert rise == 0.0
    assert c.relative_rise([None, None]) is None


def test_nonfinite_and_fold_means() -> None:
    assert c.first_nonfinite([1.0, None, 2.0]) == 1
    assert c.first_nonfinite([1.0]) is None
    assert c.mean([1.0, None, 3.0]) == 2.0 and c.mean([None]) is None
    folds = (
        FoldHistory((EpochRecord(0, 2.0, 3.0, None, 0.1), EpochRecord(1, 1.0, 2.0, None, 0.1))),
        FoldHistory((EpochRecord(0, 4.0, 5.0, None, 0.1),)),  # stopped early
    )
    run = RunHistory("r", Role.CANDIDATE, folds)
    assert c.mean_curve(run, "train_loss") == [3.0, 1.0]
    nan_fold = FoldHistory((EpochRecord(0, None, 1.0, None, 0.1),))
    assert c.mean_curve(RunHistory("n", Role.CANDIDATE, (*folds, nan_fold)), "train_loss") == [None, 1.0]
    assert c.finite(c.fold_curve(folds[0], "grad_norm")) == []
