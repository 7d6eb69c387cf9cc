"""Early verdicts (the diagnosis pruner's rules) on real runs of the test trainer, cut at each epoch:
each rule stops the run that has its problem, and no rule stops a healthy run at any epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine

from sweepdoctor.diagnostics import FindingCode, RunHistory
from sweepdoctor.diagnostics.early import FinishedRun, Stop, StopRules, judge_curves, judge_values
from sweepdoctor.diagnostics.early._value_rules import projected_gain
from sweepdoctor.errors import ConfigError
from tests.diagnostics._training import Config, Data, train_run
from tests.diagnostics.scenarios import _cls, _std, digits


def _wine() -> Data:
    X, y = load_wine(return_X_y=True)
    return _cls(X, y)


def _diabetes() -> Data:
    X, y = load_diabetes(return_X_y=True)
    return Data(_std(X), ((y - y.mean()) / y.std()).astype(np.float32), digits().task.REGRESSION)


def _prior(data: Data) -> tuple[float, float]:
    p = np.bincount(data.y) / len(data.y)
    return float(-(p * np.log(p)).sum()), float(p.max())


def _first_stop(run: RunHistory, *, loss: str, prior: tuple[float, float] | None) -> Stop | None:
    """The first verdict as the run's epochs come in (what the pruner sees after each epoch)."""
    n = min(len(f.epochs) for f in run.folds)
    for e in range(1, n + 1):
        stop = judge_curves([f.epochs[:e] for f in run.folds], loss=loss,
                            prior_loss=prior[0] if prior and loss == "cross_entropy" else None,
                            chance=prior[1] if prior else None)
        if stop is not None:
            return stop
    return None


def test_divergence_is_seen_while_the_loss_is_finite() -> None:
    cfg = Config(depth=1, width=64, optimizer="sgd", lr=0.6, batch_size=512, epochs=10)
    run, _ = train_run("candidate", _diabetes(), cfg, loss="mse", k=3)
    stop = _first_stop(run, loss="mse", prior=None)
    assert stop is not None and stop.code is FindingCode.DIVERGENCE, stop
    first_nan = min(next((e.epoch for e in f.epochs if e.train_loss is None), 99) for f in run.folds)
    assert stop.epoch < first_nan and stop.confidence >= StopRules().confidence


def test_a_run_at_the_prior_with_a_vanishing_gradient_is_stuck() -> None:
    # every weight starts at zero: the hidden units stay equal, only the output bias learns
    data = _wine()
    cfg = Config(optimizer="sgd", lr=0.05, init_scale=0.0, epochs=6)
    run, _ = train_run("candidate", data, cfg, loss="cross_entropy", k=3)
    stop = _first_stop(run, loss="cross_entropy", prior=_prior(data))
    assert stop is not None and stop.code is FindingCode.CRITICAL_POINT and stop.epoch == 1, stop
    assert stop.message.startswith("pruned by the diagnosis at epoch 2: stuck at the class-prior loss")


@pytest.mark.parametrize("cfg", [
    Config(optimizer="adam", lr=1e-2, epochs=15),
    Config(optimizer="sgd", lr=0.05, epochs=15),
    Config(optimizer="sgd", lr=0.1, momentum=0.9, epochs=15),
    Config(depth=3, width=16, activation="tanh", optimizer="sgd", lr=0.02, epochs=15),
], ids=["adam", "sgd", "momentum", "deep-tanh"])
def test_healthy_runs_are_never_stopped(cfg: Config) -> None:
    data = _wine()
    run, _ = train_run("candidate", data, cfg, loss="cross_entropy", k=3)
    assert _first_stop(run, loss="cross_entropy", prior=_prior(data)) is None


# ---- from reported values alone ---------------------------------------------------------------------


def test_values_non_finite_stops_at_once_and_nothing_before_the_minimum() -> None:
    stop = judge_values({0: 1.0, 1: math.inf}, maximize=False)
    assert stop is not None and stop.code is FindingCode.DIVERGENCE and stop.confidence == 1.0
    assert judge_values({0: 9.0}, maximize=False) is None  # one epoch: no trend yet
    assert judge_values({0: 1.0, 1: 2.0, 2: 1.5}, maximize=False) is None  # it came down again
    stop = judge_values({0: 1.0, 1: 2.0, 2: 9.0}, maximize=False)
    assert stop is not None and "value x9 in 2 epochs" in stop.reason


def test_values_slowness_compares_at_the_same_epoch_not_with_final_values() -> None:
    # good trials reach 0.9 at the end but were at 0.3 after three epochs: a trial at 0.31 goes on
    good = [FinishedRun({e: 0.1 + 0.8 * e / 19 for e in range(20)}, 0.9) for _ in range(6)]
    assert judge_values({0: 0.1, 1: 0.2, 2: 0.31}, good, maximize=True) is None
    stop = judge_values({0: 0.1, 1: 0.1, 2: 0.1}, good, maximize=True)
    assert stop is not None and stop.code is FindingCode.SLOW_CONVERGENCE


def test_the_projection_keeps_a_steady_pace_and_lets_a_shrinking_one_shrink() -> None:
    assert projected_gain([0.1, 0.2, 0.3, 0.4], 5, 3) == pytest.approx(0.5)  # linear: 0.1 per epoch
    assert projected_gain([0.1, 0.2, 0.4, 0.8], 5, 3) == pytest.approx(5 * 0.7 / 3)  # faster: still linear
    # increments 0.08, 0.04, 0.02, 0.01: the pace halves each epoch, the rest sums to ~0.01
    curve = [0.1, 0.18, 0.22, 0.24, 0.25]
    assert projected_gain(curve, 10, 2) == pytest.approx(0.015 * 0.5 * (1 - 0.5 ** 10) / 0.5, rel=1e-6)
    assert projected_gain([0.5, 0.4, 0.3], 5, 3) == 0.0  # falling: no gain


def test_stop_rules_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match="confidence must be <= 1"):
        StopRules(confidence=1.5)
    with pytest.raises(ConfigError, match="min_epochs and window must be >= 2"):
        StopRules(min_epochs=1)
    with pytest.raises(ConfigError, match="growth must be > 1"):
        StopRules(growth=1.0)
