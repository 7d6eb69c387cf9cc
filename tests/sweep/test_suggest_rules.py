"""``diagnose --suggest``: each finding's fix, its size, its bounds and its reason, rule by rule.

The numbers are the rules' own arithmetic (docs/guided.md): a tenth of the rate after a
divergence, a third after oscillation, three times it after a stall with an adaptive optimizer,
weight decay times ten (at least 1e-4), 0.2 more dropout, twice the width (else one more layer),
all inside the ``[guide]`` limits.
"""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import FindingCode as F
from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import GuideConfig, suggest_next

STALLS = (F.SLOW_CONVERGENCE, F.CRITICAL_POINT, F.SADDLE_POINT, F.OPTIMIZATION_FAILURE)


def test_divergence_takes_a_tenth_of_the_rate_down_to_the_floor() -> None:
    s = suggest_next({"lr": 0.05}, {F.DIVERGENCE})
    assert s.changes == {"lr": pytest.approx(0.005)}
    assert s.reasons == {"lr": "the run diverged at lr 0.05: a tenth of it"}
    assert suggest_next({"lr": 5e-6}, {F.DIVERGENCE}).changes == {"lr": 1e-6}  # GuideConfig().min_lr
    assert suggest_next({"lr": 0.05}, {F.DIVERGENCE}, limits=GuideConfig(min_lr=0.01)).changes == {"lr": 0.01}
    assert suggest_next({"lr": 1e-6}, {F.DIVERGENCE}).changes == {}  # at the floor already: nothing to change


def test_oscillation_takes_a_third_and_divergence_wins_over_it() -> None:
    s = suggest_next({"lr": 0.03}, {F.OSCILLATION})
    assert s.changes == {"lr": pytest.approx(0.01)}
    assert s.reasons == {"lr": "the loss oscillated with a large gradient at lr 0.03: a third of it"}
    assert suggest_next({"lr": 2e-6}, {F.OSCILLATION}).changes == {"lr": 1e-6}
    assert suggest_next({"lr": 0.03}, {F.OSCILLATION}, limits=GuideConfig(min_lr=0.02)).changes == {"lr": 0.02}
    assert suggest_next({"lr": 0.03}, {F.OSCILLATION, F.DIVERGENCE}).changes == {"lr": pytest.approx(0.003)}
    assert suggest_next({}, {F.OSCILLATION}).changes == {}


@pytest.mark.parametrize("code", STALLS)
@pytest.mark.parametrize("optimizer", ["sgd", None, "lion"])
def test_a_stall_without_an_adaptive_optimizer_goes_to_adam(code: F, optimizer: str | None) -> None:
    params = {"lr": 0.01} if optimizer is None else {"lr": 0.01, "optimizer": optimizer}
    s = suggest_next(params, {code})
    assert s.changes == {"optimizer": "adam"}
    assert s.reasons == {"optimizer": "the loss stalled or fell slowly with plain SGD: an adaptive optimizer"}


@pytest.mark.parametrize("code", STALLS)
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "adagrad", "momentum", "nesterov"])
def test_a_stall_with_an_adaptive_or_momentum_optimizer_triples_the_rate(code: F, optimizer: str) -> None:
    s = suggest_next({"lr": 0.02, "optimizer": optimizer}, {code})
    assert s.changes == {"lr": pytest.approx(0.06)}
    assert s.reasons == {"lr": "the loss stalled or fell slowly at lr 0.02: three times it"}


def test_a_tripled_rate_stops_at_the_ceiling_and_a_divergence_keeps_its_tenth() -> None:
    assert suggest_next({"lr": 0.4, "optimizer": "adam"}, {F.SLOW_CONVERGENCE}).changes == {"lr": 1.0}
    capped = suggest_next({"lr": 0.02, "optimizer": "adam"}, {F.CRITICAL_POINT}, limits=GuideConfig(max_lr=0.05))
    assert capped.changes == {"lr": 0.05}
    both = suggest_next({"lr": 0.02, "optimizer": "adam"}, {F.CRITICAL_POINT, F.DIVERGENCE})
    assert both.changes == {"lr": pytest.approx(0.002)}


def test_only_slow_convergence_asks_for_more_epochs() -> None:
    s = suggest_next({"lr": 0.01, "optimizer": "adam"}, {F.SLOW_CONVERGENCE}, epochs=15)
    assert s.changes["epochs"] == 30
    assert s.reasons["epochs"] == "still improving when training stopped after 15 epochs"
    for code in (F.CRITICAL_POINT, F.SADDLE_POINT, F.OPTIMIZATION_FAILURE):
        assert "epochs" not in suggest_next({"lr": 0.01, "optimizer": "adam"}, {code}, epochs=15).changes
    assert "epochs" not in suggest_next({"lr": 0.01, "optimizer": "adam"}, {F.SLOW_CONVERGENCE}).changes


def test_overfitting_strengthens_weight_decay_and_dropout_and_turns_on_early_stopping() -> None:
    why = "validation loss rose while training fell"
    s = suggest_next({"weight_decay": 1e-3, "dropout": 0.1, "patience": 0}, {F.OVERFITTING})
    assert s.changes == {"weight_decay": pytest.approx(1e-2), "dropout": 0.3, "patience": 5}
    assert s.reasons == {"weight_decay": why, "dropout": why,
                         "patience": "stop when validation loss has not improved for 5 epochs"}
    fresh = suggest_next({}, {F.OVERFITTING})  # none given: no weight decay, no dropout, no early stopping
    assert fresh.changes == {"weight_decay": 1e-4, "dropout": 0.2, "patience": 5}
    assert suggest_next({"weight_decay": 1e-6}, {F.OVERFITTING}).changes["weight_decay"] == 1e-4  # at least 1e-4
    assert "patience" not in suggest_next({"patience": 10}, {F.OVERFITTING}).changes  # on already


def test_the_suggested_dropout_has_two_decimals() -> None:
    """0.1 + 0.2 is 0.30000000000000004 in floating point; the snippet says 0.3 (and 0.125 + 0.2: 0.33)."""
    assert suggest_next({"dropout": 0.1, "patience": 5}, {F.OVERFITTING}).changes["dropout"] == 0.3
    assert suggest_next({"dropout": 0.125, "patience": 5}, {F.OVERFITTING}).changes["dropout"] == 0.33


def test_overfitting_fixes_stop_at_the_limits() -> None:
    s = suggest_next({"weight_decay": 0.05, "dropout": 0.6, "patience": 3}, {F.OVERFITTING})
    assert s.changes == {"weight_decay": 0.1, "dropout": 0.7}
    g = GuideConfig(max_weight_decay=0.01, max_dropout=0.3)
    assert suggest_next({"weight_decay": 0.01, "dropout": 0.3, "patience": 3}, {F.OVERFITTING}, limits=g).changes == {}
    assert suggest_next({"dropout": 0.25, "patience": 3}, {F.OVERFITTING}, limits=g).changes == {
        "weight_decay": 1e-4, "dropout": 0.3}


def test_model_bias_doubles_the_width_else_adds_a_layer() -> None:
    why = "a wider reference fits the training data better (model bias)"
    s = suggest_next({"width": 64, "depth": 2}, {F.MODEL_BIAS})
    assert s.changes == {"width": 128} and s.reasons == {"width": why}
    assert suggest_next({"width": 512, "depth": 2}, {F.MODEL_BIAS}).changes == {"width": 1024}  # at the limit
    deeper = suggest_next({"width": 1024, "depth": 2}, {F.MODEL_BIAS})
    assert deeper.changes == {"depth": 3} and deeper.reasons == {"depth": why}
    assert suggest_next({"depth": 5}, {F.MODEL_BIAS}).changes == {"depth": 6}
    assert suggest_next({"width": 1024, "depth": 6}, {F.MODEL_BIAS}).changes == {}  # both at their limits
    assert suggest_next({"width": 64, "depth": 2}, {F.MODEL_BIAS},
                        limits=GuideConfig(max_width=100, max_depth=2)).changes == {}


def test_mse_on_classification_suggests_cross_entropy() -> None:
    s = suggest_next({}, {F.MSE_FOR_CLASSIFICATION})
    assert s.changes == {"loss": "cross_entropy"}
    assert s.reasons == {"loss": "mean squared error on a classification task: cross-entropy"}
    assert suggest_next({"loss": "cross_entropy"}, {F.MSE_FOR_CLASSIFICATION}).changes == {}


def test_the_mismatch_note_and_nothing_else() -> None:
    s = suggest_next({"lr": 0.01}, {F.MISMATCH})
    assert s.changes == {} and s.notes == ("the run scores worse on the test set than in validation (mismatch): no "
                                           "hyper-parameter fixes that; look at the data",)
    assert suggest_next({"lr": 0.01}, {F.HEALTHY}).notes == ()


def test_the_toml_comment_of_each_change_is_its_reason() -> None:
    s = suggest_next({"lr": 0.05, "optimizer": "sgd"}, {F.DIVERGENCE, F.SLOW_CONVERGENCE})
    lines = s.to_toml().splitlines()
    assert lines[1:] == ["[space]", "lr = 0.005  # the run diverged at lr 0.05: a tenth of it",
                         'optimizer = "adam"  # the loss stalled or fell slowly with plain SGD: an adaptive optimizer']


def test_the_missing_hyperparameters_come_in_the_order_of_the_rules() -> None:
    assert suggest_next({}, {F.DIVERGENCE, F.SLOW_CONVERGENCE, F.MODEL_BIAS}).missing == ("lr", "optimizer", "width")
    assert suggest_next({"lr": 0.01, "optimizer": "sgd", "width": 64}, {F.DIVERGENCE, F.MODEL_BIAS}).missing == ()
    for optimizer in ("adam", "adamw", "rmsprop", "adagrad", "momentum", "nesterov"):
        assert suggest_next({"optimizer": optimizer}, {F.CRITICAL_POINT}).missing == ("lr",)
    for code in STALLS:
        assert suggest_next({"lr": 0.01}, {code}).missing == ("optimizer",)


def test_a_rate_that_is_not_positive_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as e:
        suggest_next({"lr": -0.5}, {F.DIVERGENCE})
    assert str(e.value) == ("lr must be a positive number to suggest the next run, got -0.5: "
                            "give the learning rate the run trained with")
    assert suggest_next({"lr": "0.1"}, {F.DIVERGENCE}).missing == ("lr",)  # not a number: not read, not refused
