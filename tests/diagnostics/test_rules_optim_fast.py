"""The rules of rules.md §2, §4 and §5 (``_rules_optim.py``) on evidence written by hand, in milliseconds.

Each rule sees a run that has its problem, checked whole (words, evidence, confidence and
severity from the thresholds and ``_grading``'s arithmetic), and runs that must not be
flagged, at and just past the thresholds: ``exploded_cross_entropy`` 50, half the folds
growing, ``bounce_up_fraction`` 0.3, ``grad_kept_ratio`` 0.5, ``grad_vanished_ratio`` 0.25,
``grad_loss_ratio`` 0.02, ``steady_down_fraction`` 0.8, ``steady_rate_fraction`` 0.5 and an
lr cut by 10x.
"""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import FindingCode, Severity, Task
from sweepdoctor.diagnostics._evidence import NonFinite
from sweepdoctor.diagnostics._rules_optim import (
    CriticalPoint,
    Divergence,
    MseForClassification,
    Oscillation,
    SlowConvergence,
    _pct,
)
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._handmade import evidence, fold, ref, run


def test_percentages_for_sentences() -> None:
    assert _pct(None) == "n/a"
    assert _pct(0.256) == "26%"
    assert _pct(1.5) == "150%"


# ---- divergence -----------------------------------------------------------------------


def test_divergence_when_the_loss_became_nan() -> None:
    ev = evidence(run=run(folds=3, hp={"lr": 2.0, "optimizer": "sgd", "schedule": "constant"}),
                  nonfinite=NonFinite(fold=1, epoch=2, field="train_loss"), train_max=4.0, train_final=3.0,
                  train_min=0.5, grew_folds=1, loss="cross_entropy")
    f = Divergence().check(ev)
    assert f is not None
    assert f.code is FindingCode.DIVERGENCE and f.rule == "rules.md §4" and f.run == "cand"
    assert f.summary == "train_loss became NaN/inf at epoch 3 (fold 1)"
    assert f.advice == ("the learning rate is too high for this model (lr=2, optimizer=sgd, schedule=constant): "
                        "lower lr by 10x or more; use an adaptive optimizer (adam, rmsprop); a warmup schedule; "
                        "clip gradients")
    assert f.confidence == 1.0 and f.severity is Severity.ERROR
    assert f.evidence == {"nonfinite_field": "train_loss", "nonfinite_epoch": 3, "nonfinite_fold": 1,
                          "max_train_loss": 4.0, "final_train_loss": 3.0, "min_train_loss": 0.5, "grew_folds": 1,
                          "growth_threshold": 2.0}


@pytest.mark.parametrize("hp", [{"optimizer": "adam", "schedule": "warmup"}, {"optimizer": "adamw"},
                                {"optimizer": "rmsprop"}])
def test_divergence_advice_fits_the_run(hp: dict[str, str]) -> None:
    f = Divergence().check(evidence(run=run(hp=hp), nonfinite=NonFinite(0, 0, "val_loss")))
    assert f is not None
    adaptive = "use an adaptive optimizer" in f.advice
    assert not adaptive
    assert ("a warmup schedule" in f.advice) is ("schedule" not in hp)
    assert f.summary == "val_loss became NaN/inf at epoch 1 (fold 0)"


def test_divergence_when_the_cross_entropy_blew_up() -> None:
    # the last training loss per fold: 100 (stayed), 1 (came back: a spike), 50 (stayed, exactly at the level)
    curves = (fold([1.0, 100.0]), fold([1.0, 100.0, 1.0]), fold([1.0, None, 50.0]))
    ev = evidence(run=run(curves=curves), loss="cross_entropy", train_max=100.0, train_final=50.0, train_min=1.0)
    f = Divergence().check(ev)
    assert f is not None
    assert f.summary == "training loss reached 100 (a trivial predictor scores a few nats)"
    assert f.confidence == 0.5  # margin 2: 0.75, 2 of 3 folds stayed up; epochs do not weigh
    assert f.severity is Severity.ERROR  # an explosion is an error at once
    assert f.evidence["nonfinite_field"] is None and f.evidence["nonfinite_epoch"] is None
    assert f.evidence["nonfinite_fold"] is None and f.evidence["max_train_loss"] == 100.0
    more_grew = evidence(run=run(curves=curves), loss="cross_entropy", train_max=100.0, grew_folds=3, n_epochs=1)
    f = Divergence().check(more_grew)
    assert f is not None and f.confidence == 0.75  # three folds grew: all agree


def test_an_explosion_that_came_back_in_every_fold_still_counts_one_fold() -> None:
    curves = (fold([1.0, 100.0, 1.0]), fold([1.0, 100.0, 1.0]))
    f = Divergence().check(evidence(run=run(curves=curves), loss="nll", train_max=100.0))
    assert f is not None and f.confidence == 0.38  # 0.75 x 1/2


@pytest.mark.parametrize(("loss", "train_max", "fires"), [
    ("cross_entropy", 50.0, True), ("bce", 60.0, True), ("nll", 60.0, True), ("log_loss", 60.0, True),
    ("cross_entropy", 49.9, False), ("mse", 1e6, False), ("cross_entropy", None, False),
])
def test_divergence_explosion_thresholds(loss: str, train_max: float | None, fires: bool) -> None:
    ev = evidence(run=run(curves=(fold([1.0, 60.0]),)), loss=loss, train_max=train_max)
    assert (Divergence().check(ev) is not None) is fires


def test_divergence_when_the_loss_grew_in_half_the_folds() -> None:
    ev = evidence(run=run(folds=4), grew_folds=2, train_final=3.0, train_min=1.0, train_max=1e6, loss="mse")
    f = Divergence().check(ev)
    assert f is not None
    assert f.summary == ("training loss grew to 3 from a minimum of 1 and ended above its first epoch in 2 of 4 "
                         "folds")
    assert f.confidence == 0.25  # no margin: 0.5, 2 of 4 folds
    assert f.severity is Severity.WARNING
    assert f.evidence["grew_folds"] == 2
    strong = evidence(run=run(folds=4), grew_folds=4, thresholds=Thresholds(error_confidence=0.5))
    f = Divergence().check(strong)
    assert f is not None and f.confidence == 0.5 and f.severity is Severity.ERROR  # at error_confidence


@pytest.mark.parametrize(("grew", "folds", "fires"), [(1, 2, True), (1, 3, False), (2, 3, True), (0, 1, False),
                                                      (2, 5, False), (3, 5, True)])
def test_divergence_needs_half_the_folds_growing(grew: int, folds: int, fires: bool) -> None:
    assert (Divergence().check(evidence(run=run(folds=folds), grew_folds=grew)) is not None) is fires


# ---- oscillation ----------------------------------------------------------------------

# a large training loss (no references: not halved from its first epoch), stalled, bouncing, gradient kept
BOUNCING = {"train_first": 1.0, "train_final": 0.75, "tail_improvement": 0.004, "up_fraction": 0.5,
            "grad_ratio": 1.0, "grad_final": 2.0}


def test_oscillation_when_the_loss_bounces_with_a_large_gradient() -> None:
    ev = evidence(run=run(folds=3, hp={"lr": 0.5, "optimizer": "sgd"}), folds={"up": [0.5, 0.3, 0.1]},
                  **BOUNCING)
    f = Oscillation().check(ev)
    assert f is not None
    assert f.code is FindingCode.OSCILLATION and f.rule == "rules.md §2"
    assert f.summary == ("training loss stalled at 0.75 (last epochs improved it by 0%), going up in 50% of the late "
                         "epochs, while the gradient norm stayed at 100% of its start (2): not a critical point, the "
                         "steps overshoot")
    assert f.advice == ("a smaller learning rate (lr=0.5, optimizer=sgd); an adaptive optimizer (adam, rmsprop); "
                        "a decay schedule (step, exponential, cosine); momentum")
    # margin min(0.5 / 0.3, 1 / 0.5) = 5/3: 0.7; 2 of 3 folds
    assert f.confidence == 0.47
    assert f.severity is Severity.WARNING  # no reference: no impact
    assert f.evidence == {"train_loss": 0.75, "tail_improvement": 0.004, "grad_norm": 2.0, "grad_ratio": 1.0,
                          "up_fraction": 0.5, "grad_to_loss": None, "folds_agree": 2, "epochs": 10, "folds": 3}


@pytest.mark.parametrize(("hp", "decay", "adaptive"), [
    ({"schedule": "constant", "optimizer": "adagrad"}, True, False),
    ({"schedule": "warmup", "optimizer": "adam"}, True, False),
    ({"schedule": "cosine", "optimizer": "adamw"}, False, False),
    ({"schedule": "step", "optimizer": "rmsprop"}, False, False),
])
def test_oscillation_advice_fits_the_run(hp: dict[str, str], decay: bool, adaptive: bool) -> None:
    f = Oscillation().check(evidence(run=run(hp=hp), **BOUNCING))
    assert f is not None
    assert ("a decay schedule" in f.advice) is decay
    assert ("an adaptive optimizer" in f.advice) is adaptive
    assert "momentum" not in f.advice


def test_oscillation_is_an_error_with_a_costly_reference_and_strong_evidence() -> None:
    r = ref("linear", 0.125, 0.25, depth=0)
    ev = evidence(train_first=1.0, train_final=1.0, val_best=1.0, tail_improvement=0.004, up_fraction=0.6,
                  grad_ratio=1.0, references=(r,), folds={"up": [0.6]})
    f = Oscillation().check(ev)
    assert f is not None
    assert f.confidence == 0.75  # margin min(2, 2)
    assert f.severity is Severity.ERROR  # impact 1 / 0.25 = 4


@pytest.mark.parametrize(("change", "fires"), [
    ({"up_fraction": 0.3}, True),  # exactly bouncing
    ({"up_fraction": 0.29}, False),
    ({"up_fraction": None}, False),
    ({"grad_ratio": 0.5}, True),  # exactly kept
    ({"grad_ratio": 0.49}, False),
    ({"grad_ratio": None}, False),
    ({"tail_improvement": 0.01}, False),  # not stalled (no reference to fall short of)
    ({"tail_improvement": None}, False),
    ({"grad_to_loss": 0.02}, False),  # the gradient is tiny on the loss's scale: not an overshoot
    ({"grad_to_loss": 0.0201}, True),
    ({"train_final": 0.5}, True),  # exactly not halved from the first epoch: still large
    ({"train_final": 0.49}, False),  # learned: no optimization problem to explain
])
def test_oscillation_thresholds(change: dict[str, object], fires: bool) -> None:
    assert (Oscillation().check(evidence(**(BOUNCING | change))) is not None) is fires


# ---- critical point -------------------------------------------------------------------

STUCK = {"train_first": 1.0, "train_final": 0.75, "tail_improvement": 0.004, "grad_final": 0.005}


def test_critical_point_when_the_gradient_is_tiny_on_the_loss_scale() -> None:
    refs = (ref("linear", 0.25, 0.5, grad_to_loss=0.5), ref("mlp", 0.25, 0.5, grad_to_loss=0.2))
    ev = evidence(run=run(folds=3, hp={"optimizer": "sgd", "activation": "sigmoid"}), grad_to_loss=0.01,
                  grad_ratio=0.5, references=refs, val_best=0.75, folds={"g2l": [0.01, 0.02, 0.03]}, **STUCK)
    f = CriticalPoint().check(ev)
    assert f is not None
    assert f.code is FindingCode.CRITICAL_POINT and f.rule == "rules.md §2"
    assert f.summary == ("training loss stalled at 0.75 (last epochs improved it by 0%) while the gradient norm is "
                         "0.01 x the loss (0.005), references 0.2 x at the same epoch: training sits at a critical "
                         "point")
    assert f.advice == ("run the Hessian analysis (sweepdoctor diagnose --study S --trial N --hessian) to tell a "
                        "saddle point (escape along its negative-curvature direction) from a local minimum; "
                        "momentum or adam; a larger initial lr with warmup; relu instead of sigmoid")
    assert f.confidence == 0.5  # margin 0.02 / 0.01 = 2: 0.75; 2 of 3 folds at or below 0.02
    assert f.severity is Severity.WARNING  # impact 0.75 / 0.5 = 1.5 < 3
    assert f.evidence == {"train_loss": 0.75, "tail_improvement": 0.004, "grad_norm": 0.005, "grad_ratio": 0.5,
                          "grad_to_loss": 0.01, "reference_grad_to_loss": 0.2, "moved": None, "never_moved": False,
                          "folds_agree": 2, "epochs": 10, "folds": 3}


def test_critical_point_when_the_gradient_vanished_from_its_start() -> None:
    ev = evidence(run=run(folds=3, hp={"optimizer": "adam", "schedule": "warmup", "activation": "relu"}),
                  grad_ratio=0.1, folds={"grad": [0.1, 0.25, 0.3]}, **STUCK)
    f = CriticalPoint().check(ev)
    assert f is not None
    assert f.summary == ("training loss stalled at 0.75 (last epochs improved it by 0%) while the gradient norm fell "
                         "to 10% of its start (0.005): training sits at a critical point")
    assert f.advice.endswith("from a local minimum")  # adam, warmup, relu: no other tip
    assert f.confidence == 0.53  # margin 0.25 / 0.1 = 2.5: 0.8; 2 of 3 folds at or below 0.25
    assert f.evidence["reference_grad_to_loss"] is None


def test_critical_point_with_a_gradient_of_zero_is_past_any_margin() -> None:
    vanished = CriticalPoint().check(evidence(grad_ratio=0.0, folds={"grad": [0.0]}, **STUCK))
    assert vanished is not None and vanished.confidence == 1.0
    on_scale = CriticalPoint().check(evidence(grad_to_loss=0.0, folds={"g2l": [0.0]}, **STUCK))
    assert on_scale is not None and on_scale.confidence == 1.0
    assert on_scale.summary.endswith("while the gradient norm is 0 x the loss (0.005): training sits at a critical "
                                     "point")


def test_critical_point_of_a_loss_that_never_moved() -> None:
    # only a more flexible reference fits better, but a loss that never moved is never the model's limit
    deep = ref("deep", 0.25, 0.25, contained=False, depth=5)
    ev = evidence(train_first=1.0, train_final=1.0, val_best=1.0, moved=0.0, grad_to_loss=0.002, references=(deep,),
                  folds={"g2l": [0.002]}, run=run(hp={"optimizer": "momentum"}))
    f = CriticalPoint().check(ev)
    assert f is not None
    assert f.summary.startswith("training loss never moved from 1 (by 0% in 10 epochs) while the gradient norm is "
                                "0.002 x the loss")
    assert ("re-initialize: weights that all start at zero (or tiny) sit at a saddle from the first step"
            in f.advice)
    assert "momentum or adam" not in f.advice
    assert f.evidence["never_moved"] is True and f.evidence["moved"] == 0.0
    assert f.confidence == 0.95  # margin 0.02 / 0.002 = 10
    assert f.severity is Severity.ERROR  # impact 1 / 0.25 = 4


@pytest.mark.parametrize(("change", "fires"), [
    ({"grad_ratio": 0.25}, True),  # exactly vanished
    ({"grad_ratio": 0.26}, False),
    ({"grad_to_loss": 0.02}, True),  # exactly tiny on scale
    ({"grad_to_loss": 0.021}, False),
    ({"grad_to_loss": 0.01, "val_best": 0.75, "references": (ref("r", 0.25, 0.5, grad_to_loss=0.1),)}, True),
    ({"grad_to_loss": 0.011, "val_best": 0.75, "references": (ref("r", 0.25, 0.5, grad_to_loss=0.1),)}, False),
    ({"grad_ratio": 0.1, "tail_improvement": 0.5}, False),  # not stuck
    ({"grad_ratio": 0.1, "tail_improvement": 0.5, "moved": 0.0099, "train_final": 1.0}, True),  # never moved
    ({"grad_ratio": 0.1, "tail_improvement": 0.5, "moved": 0.01, "train_final": 1.0}, False),
    ({"grad_ratio": 0.1, "train_final": 0.25}, False),  # learned
    ({}, False),  # the gradient is not known to be small
])
def test_critical_point_thresholds(change: dict[str, object], fires: bool) -> None:
    assert (CriticalPoint().check(evidence(**(STUCK | change))) is not None) is fires


# ---- slow convergence -----------------------------------------------------------------

FALLING = {"train_first": 1.0, "train_final": 0.75, "down_fraction": 0.8, "grad_ratio": 0.5,
           "tail_improvement": 0.5}


def test_slow_convergence_when_the_loss_still_falls_steadily() -> None:
    ev = evidence(run=run(folds=3, hp={"lr": 0.01, "optimizer": "sgd"}), folds={"down": [0.8, 0.9, 0.5]}, **FALLING)
    f = SlowConvergence().check(ev)
    assert f is not None
    assert f.code is FindingCode.SLOW_CONVERGENCE and f.rule == "rules.md §4"
    assert f.summary == ("training loss 0.75 still falling steadily after 10 epochs (80% of the last steps down, "
                         "gradient norm kept at 50%)")
    assert f.advice == ("raise the learning rate (lr=0.01, optimizer=sgd) or train for more epochs; an adaptive "
                        "optimizer (adam) or momentum speeds up flat directions")
    assert f.confidence == 0.33  # margin exactly 1: 0.5; 2 of 3 folds
    assert f.severity is Severity.WARNING
    assert f.evidence == {"train_loss": 0.75, "reference": None, "reference_train_loss": None, "lr_peak": None,
                          "lr_final": None, "epochs": 10, "down_fraction": 0.8, "rate_ratio": None,
                          "grad_ratio": 0.5, "grad_to_loss": None, "never_moved": False, "folds_agree": 2,
                          "folds": 3}


def test_slow_convergence_far_from_a_reference_with_a_decayed_lr() -> None:
    refs = (ref("a", 0.25, 0.25), ref("b", 0.125, 0.25), ref("deep", 0.0625, 0.25, contained=False))
    ev = evidence(run=run(hp={"schedule": "cosine", "optimizer": "nesterov"}), train_final=1.0, val_best=1.0,
                  down_fraction=1.0, grad_ratio=1.0, lr_peak=0.5, lr_final=0.01, references=refs,
                  folds={"down": [1.0]})
    f = SlowConvergence().check(ev)
    assert f is not None
    assert f.summary == ("training loss 1 still falling steadily after 10 epochs (100% of the last steps down, "
                         "gradient norm kept at 100%), far from b's 0.125; the schedule cut lr from its peak 0.5 "
                         "to 0.01")
    assert f.advice == ("raise the learning rate (optimizer=nesterov) or train for more epochs; decay later or "
                        "slower (schedule=cosine)")
    assert f.confidence == 0.6  # margin 1 / 0.8 = 1.25: 1 - 0.5 / 1.25
    assert f.severity is Severity.ERROR  # impact 1 / 0.25 = 4, confidence past 0.6
    assert f.evidence["reference"] == "b" and f.evidence["reference_train_loss"] == 0.125
    assert f.evidence["lr_peak"] == 0.5 and f.evidence["lr_final"] == 0.01
    # a loss that never moved is an optimization problem even when only a deeper model does better
    only_deeper = evidence(train_first=1.0, train_final=1.0, val_best=1.0, moved=0.0, references=refs[2:])
    f = SlowConvergence().check(only_deeper)
    assert f is not None and f.evidence["reference"] == "deep"  # no model it can represent: the best there is
    assert f.summary == "training loss never moved from 1 (by 0% in 10 epochs), far from deep's 0.0625"


@pytest.mark.parametrize(("peak", "final", "decayed"), [(0.5, 0.05, False), (0.5, 0.0499, True), (0.0, 0.0, False),
                                                        (None, 0.01, False), (0.5, None, False)])
def test_slow_convergence_names_an_lr_cut_by_ten(peak: float | None, final: float | None, decayed: bool) -> None:
    f = SlowConvergence().check(evidence(lr_peak=peak, lr_final=final, run=run(hp={"schedule": "step"}), **FALLING))
    assert f is not None
    assert ("the schedule cut lr" in f.summary) is decayed
    assert ("decay later or slower (schedule=step)" in f.advice) is decayed


def test_slow_convergence_of_a_loss_too_slow_to_move_at_all() -> None:
    ev = evidence(run=run(folds=2, hp={"optimizer": "adam"}), train_first=1.0, train_final=1.0, moved=0.0)
    f = SlowConvergence().check(ev)
    assert f is not None
    assert f.summary == "training loss never moved from 1 (by 0% in 10 epochs)"
    assert f.advice == "raise the learning rate (optimizer=adam) or train for more epochs"
    assert f.confidence == 0.5  # no margin: 0.5; every fold
    assert f.evidence["never_moved"] is True and f.evidence["folds_agree"] == 2


@pytest.mark.parametrize(("change", "fires"), [
    ({"down_fraction": 0.79}, False),
    ({"down_fraction": None}, False),
    ({"grad_ratio": None}, False),
    ({"grad_ratio": 0.25}, False),  # vanished: a critical point, not slow steps
    ({"grad_ratio": 0.4, "tail_improvement": 0.001}, False),  # between kept and vanished, stalled, levelling
    ({"grad_ratio": 0.4, "tail_improvement": 0.001, "rate_ratio": 0.5}, True),  # a straight line
    ({"grad_ratio": 0.4, "tail_improvement": 0.001, "rate_ratio": 0.49}, False),
    ({"grad_ratio": 0.4, "tail_improvement": 0.001, "rate_ratio": 0.5, "down_fraction": 0.79}, False),
    ({"grad_ratio": 0.4, "tail_improvement": 0.01}, True),  # not stalled
    ({"grad_ratio": 0.4, "tail_improvement": 0.001, "rate_ratio": 0.5, "grad_to_loss": 0.02}, False),
    ({"run": run(state="pruned")}, False),  # the pruner stopped it, not the budget
    ({"train_final": 0.25}, False),  # learned
    ({"train_final": 1.0, "moved": 0.0, "down_fraction": None, "grad_ratio": None}, True),  # frozen
    ({"train_final": 1.0, "moved": 0.0, "down_fraction": None, "up_fraction": 0.3}, False),  # frozen but bouncing
    ({"train_final": 1.0, "moved": 0.0, "down_fraction": None, "grad_ratio": 0.25}, False),  # frozen, vanished
    ({"train_final": 1.0, "moved": 0.0, "down_fraction": None, "grad_ratio": 0.26}, True),
])
def test_slow_convergence_thresholds(change: dict[str, object], fires: bool) -> None:
    assert (SlowConvergence().check(evidence(**(FALLING | change))) is not None) is fires


# ---- mean squared error for classification ----------------------------------------------


def test_mse_for_classification_a_note_when_it_learns() -> None:
    ev = evidence(task=Task.CLASSIFICATION, loss="mse", train_first=1.0, train_final=0.25, run=run(folds=2))
    f = MseForClassification().check(ev)
    assert f is not None
    assert f.code is FindingCode.MSE_FOR_CLASSIFICATION and f.rule == "rules.md §5"
    assert f.summary == "classification trained with mean squared error on softmax outputs"
    assert f.advice == ("use cross-entropy (loss = \"cross_entropy\"): it is the likelihood, and MSE on softmax "
                        "outputs has large flat regions at high loss where training gets stuck")
    assert f.severity is Severity.INFO and f.confidence == 1.0
    assert f.evidence == {"loss": "mse", "train_loss": 0.25, "stuck": False}


def test_mse_for_classification_a_warning_when_it_is_stuck() -> None:
    ev = evidence(task=Task.CLASSIFICATION, loss="mse", train_first=1.0, train_final=0.75, run=run(folds=2))
    f = MseForClassification().check(ev)
    assert f is not None
    assert f.summary == ("classification trained with mean squared error on softmax outputs; training loss stuck "
                         "at 0.75")
    assert f.severity is Severity.WARNING and f.confidence == 0.5  # no impact measured: margin 0.5, every fold
    assert f.evidence["stuck"] is True
    with_ref = evidence(task=Task.CLASSIFICATION, loss="mse", train_first=1.0, train_final=1.0, val_best=1.0,
                        references=(ref("linear", 0.25, 0.25),), n_epochs=5)
    f = MseForClassification().check(with_ref)
    assert f is not None and f.confidence == 0.44  # impact 4 as the margin: 0.875; half the epochs


@pytest.mark.parametrize(("task", "loss"), [(Task.REGRESSION, "mse"), (Task.CLASSIFICATION, "cross_entropy")])
def test_no_mse_finding_for_regression_or_cross_entropy(task: Task, loss: str) -> None:
    assert MseForClassification().check(evidence(task=task, loss=loss, train_first=1.0, train_final=1.0)) is None


# ---- what the mutation run showed untested ----------------------------------------------


@pytest.mark.parametrize(("optimizer", "tip"), [("adam", False), ("adamw", False), ("momentum", False),
                                                ("nesterov", False), ("sgd", True), ("rmsprop", True)])
def test_critical_point_suggests_momentum_only_without_it(optimizer: str, tip: bool) -> None:
    f = CriticalPoint().check(evidence(grad_ratio=0.1, run=run(hp={"optimizer": optimizer}), **STUCK))
    assert f is not None and ("; momentum or adam" in f.advice) is tip


@pytest.mark.parametrize(("activation", "tip"), [("tanh", True), ("sigmoid", True), ("relu", False)])
def test_critical_point_suggests_relu_for_saturating_activations(activation: str, tip: bool) -> None:
    f = CriticalPoint().check(evidence(grad_ratio=0.1, run=run(hp={"activation": activation}), **STUCK))
    assert f is not None and f.advice.endswith(f"; relu instead of {activation}") is tip


def test_critical_point_advice_for_a_loss_that_never_moved_in_full() -> None:
    ev = evidence(train_first=1.0, train_final=1.0, moved=0.0, grad_ratio=0.1,
                  run=run(hp={"optimizer": "adam", "schedule": "warmup"}))
    f = CriticalPoint().check(ev)
    assert f is not None
    assert f.advice == ("run the Hessian analysis (sweepdoctor diagnose --study S --trial N --hessian) to tell a "
                        "saddle point (escape along its negative-curvature direction) from a local minimum; "
                        "re-initialize: weights that all start at zero (or tiny) sit at a saddle from the first step")


def test_an_explosion_exactly_at_the_level_is_an_error() -> None:
    f = Divergence().check(evidence(run=run(curves=(fold([1.0, 50.0]),)), loss="bce", train_max=50.0))
    assert f is not None and f.severity is Severity.ERROR and f.confidence == 0.5  # margin 1


def test_a_grown_loss_counts_its_grown_folds_not_the_high_ones() -> None:
    # not a log loss: a level of 100 is no explosion, and only the grown fold agrees
    curves = (fold([1.0, 0.5, 100.0]), fold([200.0, 150.0, 100.0]))
    f = Divergence().check(evidence(run=run(curves=curves), loss="mse", grew_folds=1, train_max=200.0))
    assert f is not None and f.confidence == 0.25  # no margin: 0.5, 1 of 2 folds


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "adagrad", "momentum", "nesterov"])
def test_slow_convergence_suggests_an_adaptive_optimizer_only_without_one(optimizer: str) -> None:
    f = SlowConvergence().check(evidence(run=run(hp={"optimizer": optimizer}), **FALLING))
    assert f is not None and "an adaptive optimizer" not in f.advice
    f = SlowConvergence().check(evidence(run=run(hp={"optimizer": "sgd"}), **FALLING))
    assert f is not None and "an adaptive optimizer (adam) or momentum speeds up flat directions" in f.advice


def test_slow_convergence_of_a_frozen_loss_has_no_margin_whatever_its_steps() -> None:
    ev = evidence(train_first=1.0, train_final=1.0, moved=0.0, down_fraction=1.0, grad_ratio=1.0, rate_ratio=0.75,
                  grad_to_loss=0.5)
    f = SlowConvergence().check(ev)
    assert f is not None and f.confidence == 0.5  # not 1 / 0.8: the steps of a loss that never moved mean nothing
    assert f.evidence["rate_ratio"] == 0.75 and f.evidence["grad_to_loss"] == 0.5


def test_oscillation_reports_the_gradient_on_the_loss_scale() -> None:
    f = Oscillation().check(evidence(**(BOUNCING | {"grad_to_loss": 0.5})))
    assert f is not None and f.evidence["grad_to_loss"] == 0.5
