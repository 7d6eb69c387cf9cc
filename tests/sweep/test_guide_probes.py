"""Repair probes: a trial's values as Optuna would have sampled them in a space, and the probes made from them.

Checked against the space's own definition: a value a choice does not offer or that is not a
finite number is left to the sampler, a range clamps, an integer range rounds, a fixed parameter
is not Optuna's, a weight decay of 0 in a range with zero is ``use_weight_decay = False``.
"""

from __future__ import annotations

import math

import pytest

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.sweep import Choice, Fixed, FloatRange, GuideConfig, IntRange, SearchSpace
from sweepdoctor.sweep.guide import TrialOutcome, optuna_params, repair_probes

SPACE = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("sgd", "momentum", "adam")),
                    batch_size=IntRange(16, 256), dropout=FloatRange(0.0, 0.5), patience=Choice((0, 5)))
TRIAL = {"optimizer": "adam", "lr": 3e-3, "batch_size": 32, "schedule": "cosine", "weight_decay": 1e-4,
         "dropout": 0.2, "patience": 0, "width": 128, "beta1": 0.9, "momentum": 0.95}


def test_a_trials_values_as_optuna_samples_them() -> None:
    assert optuna_params(SPACE, TRIAL) == {"optimizer": "adam", "lr": 3e-3, "batch_size": 32, "schedule": "cosine",
                                           "use_weight_decay": True, "weight_decay": 1e-4, "dropout": 0.2,
                                           "patience": 0, "beta1": 0.9}
    momentum = optuna_params(SPACE, {**TRIAL, "optimizer": "momentum", "weight_decay": 0.0})
    assert momentum == {"optimizer": "momentum", "lr": 3e-3, "batch_size": 32, "schedule": "cosine",
                        "use_weight_decay": False, "dropout": 0.2, "patience": 0, "momentum": 0.95}
    assert optuna_params(SPACE, {**TRIAL, "optimizer": "adamw"}) is None  # not offered


def test_values_are_fitted_into_the_space_or_left_to_the_sampler() -> None:
    fitted = optuna_params(SPACE, {**TRIAL, "lr": 0.9, "batch_size": 300.4, "dropout": -0.1})
    assert fitted is not None
    assert (fitted["lr"], fitted["batch_size"], fitted["dropout"]) == (0.3, 256, 0.0)
    assert optuna_params(SPACE, {**TRIAL, "batch_size": 20.6})["batch_size"] == 21  # type: ignore[index]
    assert optuna_params(SPACE, {**TRIAL, "batch_size": 3})["batch_size"] == 16  # type: ignore[index]
    for odd in ({"batch_size": "big"}, {"batch_size": True}, {"dropout": math.nan}, {"dropout": math.inf},
                {"schedule": "never"}, {"patience": 3}):
        left = optuna_params(SPACE, {**TRIAL, **odd})
        (name,) = odd
        assert left is not None and name not in left  # the sampler chooses it ...
        assert left["beta1"] == 0.9 and left["optimizer"] == "adam"  # ... and the rest is read on
    assert optuna_params(SPACE, {**TRIAL, "beta1": 2.0})["beta1"] == 0.99  # type: ignore[index]


def test_the_rate_is_fitted_into_the_optimizers_window() -> None:
    windowed = SPACE.with_lr_window(["adam"], FloatRange(1e-3, 1e-2, log=True))
    assert optuna_params(windowed, {**TRIAL, "lr": 0.05})["lr"] == 1e-2  # type: ignore[index]
    assert optuna_params(windowed, {**TRIAL, "optimizer": "sgd", "lr": 0.05})["lr"] == 0.05  # type: ignore[index]
    assert "lr" not in optuna_params(SearchSpace(lr=Fixed(0.01)), TRIAL)  # type: ignore[operator]


def _o(n: int, *codes: F, **params: object) -> TrialOutcome:
    return TrialOutcome(n, "complete", 0.9, {**TRIAL, **params}, frozenset(codes))


def test_a_probe_records_each_change_from_the_trials_own_values() -> None:
    (probe,) = repair_probes(SPACE, [_o(7, F.OVERFITTING)])
    assert probe.source == 7 and probe.codes == ("overfitting",)
    assert dict(probe.changes) == {"weight_decay": (1e-4, pytest.approx(1e-3)), "dropout": (0.2, 0.4),
                                   "patience": (0, 5)}
    no_wd = repair_probes(SPACE, [_o(8, F.OVERFITTING, weight_decay=0.0)])[0]
    assert dict(no_wd.changes) == {"use_weight_decay": (False, True), "weight_decay": (None, 1e-4),
                                   "dropout": (0.2, 0.4), "patience": (0, 5)}
    assert no_wd.reason == ("trial 8 (validation loss rose while training fell; stop when validation loss has not "
                            "improved for 5 epochs)")


def test_a_probe_follows_the_limits_and_names_only_the_changes_the_space_kept() -> None:
    (probe,) = repair_probes(SPACE, [_o(7, F.OVERFITTING)], limits=GuideConfig(max_dropout=0.3))
    assert probe.params["dropout"] == pytest.approx(0.3)
    fixed_lr = SearchSpace(lr=Fixed(0.01), optimizer=Choice(("sgd", "adam")), patience=Fixed(0))
    (probe,) = repair_probes(fixed_lr, [_o(7, F.DIVERGENCE, F.OVERFITTING)])
    assert "lr" not in probe.changes and "diverged" not in probe.reason  # the space keeps lr fixed
    assert probe.reason == "trial 7 (validation loss rose while training fell)"
    assert probe.codes == ("divergence", "overfitting")


def test_trials_without_a_fix_are_passed_over_not_the_end() -> None:
    probes = repair_probes(SPACE, [_o(1, F.HEALTHY), _o(2, F.MISMATCH), _o(3, F.OVERFITTING)])
    assert [p.source for p in probes] == [3]
    elsewhere = _o(4, F.OVERFITTING, optimizer="adamw")  # an optimizer the space no longer offers
    assert [p.source for p in repair_probes(SPACE, [elsewhere, _o(5, F.OVERFITTING)])] == [5]


def test_the_same_probe_is_queued_once() -> None:
    """Two best trials with the same values give one probe; a known trial equal to six digits is a repeat,
    one with another batch size is not."""
    assert [p.source for p in repair_probes(SPACE, [_o(1, F.OVERFITTING), _o(2, F.OVERFITTING)])] == [1]
    (probe,) = repair_probes(SPACE, [_o(1, F.OVERFITTING)])
    near = {**probe.params, "lr": probe.params["lr"] * (1 + 1e-9)}
    assert repair_probes(SPACE, [_o(1, F.OVERFITTING)], known=[near]) == ()
    other = {**probe.params, "batch_size": 64}
    assert [p.source for p in repair_probes(SPACE, [_o(1, F.OVERFITTING)], known=[other])] == [1]
