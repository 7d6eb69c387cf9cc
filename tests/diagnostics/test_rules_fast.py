"""The rules of rules.md §1 (``_rules.py``) on evidence written by hand, in milliseconds.

Each rule sees a run that has its problem (the finding checked whole: words, evidence,
confidence and severity, worked out from the thresholds and ``_grading``'s arithmetic) and
runs that must not be flagged, with numbers at and just past the thresholds the rules state
(``overfit_val_rise`` 0.2, ``overfit_vs_reference`` 1.5, ``reference_ratio`` 1.5,
``mismatch_ratio`` 2 and ``mismatch_min_gap`` 0.1). The numbers are powers of two where a
threshold is met exactly, so that the comparison is exact in floating point.
"""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import FindingCode, Severity
from sweepdoctor.diagnostics._rules import (
    Mismatch,
    ModelBias,
    OptimizationFailure,
    Overfitting,
    at_epoch,
    comparison,
    fmt,
    has,
    healthy,
    hp_aside,
    hp_note,
    lacks,
    optimization_tips,
    score_impact,
    sig,
    tips,
)
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._handmade import evidence, ref, run

# ---- the small helpers --------------------------------------------------------------


def test_numbers_for_sentences_and_for_the_evidence() -> None:
    assert fmt(None) == "n/a"
    assert fmt(0.123456) == "0.1235"
    assert fmt(2.0) == "2"
    assert sig(None) is None
    assert sig(0.123456) == 0.1235
    assert sig(123456.0) == 123500.0
    assert sig(0.123456, 2) == 0.12


def test_hp_note_names_the_settings_the_run_has() -> None:
    ev = evidence(run=run(hp={"lr": 0.123456, "optimizer": "sgd", "depth": 3}))
    assert hp_note(ev, "lr", "optimizer", "width", "depth") == "lr=0.1235, optimizer=sgd, depth=3"
    assert hp_note(ev, "width") == ""
    assert hp_aside(ev, "lr", "width") == " (lr=0.1235)"
    assert hp_aside(ev, "width") == ""  # no empty "()" after a piece of advice


def test_advice_names_no_empty_settings_when_the_run_records_none() -> None:
    """A history without hyperparameters (``diagnose --history`` of another tool's run) gets advice
    without empty parentheses: "a smaller learning rate", not "a smaller learning rate ()"."""
    from sweepdoctor.diagnostics._rules_optim import Oscillation

    ev = evidence(train_first=1.0, train_final=0.75, tail_improvement=0.004, up_fraction=0.5, grad_ratio=1.0)
    found = Oscillation().check(ev)
    assert found is not None and "a smaller learning rate" in found.advice and "()" not in found.advice


def test_tips_keep_the_ones_that_apply() -> None:
    ev = evidence()
    assert tips(ev, ("a", True), ("b", False), ("c", True)) == "a; c"
    assert tips(ev, ("a", False)) == ""


def test_has_and_lacks() -> None:
    ev = evidence(run=run(hp={"optimizer": "sgd"}))
    assert has(ev, "optimizer", "adam", "sgd")
    assert not has(ev, "optimizer", "adam")
    assert not has(ev, "schedule", "constant")  # not recorded
    assert lacks(ev, "optimizer", "adam")
    assert not lacks(ev, "optimizer", "sgd")
    assert lacks(ev, "schedule", "constant")  # not recorded: the tip stays


def test_score_impact_is_the_validation_ratio_else_the_training_ratio() -> None:
    a, b = ref("a", 0.5, 0.25), ref("b", 0.25, 0.5)
    assert score_impact(evidence(val_best=1.0, train_final=2.0), []) is None
    assert score_impact(evidence(val_best=1.0, train_final=2.0), [a, b]) == 4.0  # 1 / min(0.25, 0.5)
    assert score_impact(evidence(val_best=None, train_final=2.0), [a, b]) == 8.0  # 2 / min(0.5, 0.25)
    zero_val = ref("z", 0.5, 0.0)
    assert score_impact(evidence(val_best=1.0, train_final=2.0), [zero_val]) == 4.0  # no val ratio: train
    assert score_impact(evidence(val_best=None, train_final=None), [a]) is None
    assert score_impact(evidence(val_best=None, train_final=2.0), [ref("z", 0.0, 0.0)]) is None


def test_at_epoch_and_the_comparison_like_with_like() -> None:
    assert at_epoch(ref("a", 1.0, 1.0)) == ""
    assert at_epoch(ref("a", 1.0, 1.0, epoch=2)) == " after 3 epochs"
    r = ref("mlp", 0.25, 0.5, epoch=3)
    assert comparison(evidence(train_final=1.0), r) == "final train loss 1 vs mlp's 0.25 after 4 epochs"
    pruned = evidence(train_final=1.0, n_epochs=4, run=run(state="pruned"))
    assert comparison(pruned, r) == "pruned after 4 epochs: its training loss was 1, mlp's after 4 epochs was 0.25"


def test_optimization_tips_fit_the_run() -> None:
    every = evidence(run=run(depth=4, hp={"lr": 0.5, "optimizer": "sgd", "schedule": "constant",
                                          "activation": "tanh"}))
    assert optimization_tips(every) == (
        "tune lr (lr=0.5, optimizer=sgd); try adam or rmsprop; add momentum; a warmup or decay schedule; "
        "relu instead of tanh; a shallower network (depth=4)")
    assert optimization_tips(evidence(run=run(depth=3, hp={"depth": 5, "activation": "sigmoid"}))) == (
        "tune lr (the learning rate); try adam or rmsprop; relu instead of sigmoid; a shallower network (depth=5)")
    for optimizer in ("adam", "adamw", "rmsprop", "adagrad"):
        shallow = evidence(run=run(depth=2, hp={"optimizer": optimizer, "schedule": "cosine", "activation": "relu"}))
        assert optimization_tips(shallow) == f"tune lr (optimizer={optimizer})"
    assert optimization_tips(evidence()) == "tune lr (the learning rate); try adam or rmsprop"


# ---- overfitting ----------------------------------------------------------------------

RISING = {"train_final": 0.125, "val_best": 0.5, "val_final": 0.75, "val_rise": 0.5, "val_best_epoch": 4.0,
          "train_fell_after_best": True}


def test_overfitting_by_a_rising_validation_loss() -> None:
    folds = {"val_rise": [0.5, 0.2, 0.125]}  # two folds at or past 0.2
    ev = evidence(run=run(folds=3), folds=folds, **RISING)
    f = Overfitting().check(ev)
    assert f is not None
    assert f.code is FindingCode.OVERFITTING and f.rule == "rules.md §1" and f.run == "cand"
    assert f.summary == "final train loss 0.125, best val loss 0.5 at epoch 5, then val loss rose 50% by the last epoch"
    assert f.advice == ("stop at epoch 5 (early stopping: patience > 0); raise weight_decay or dropout "
                        "(regularization); a smaller model (fewer parameters); more data or augmentation")
    # margin 0.5 / 0.2 = 2.5: 1 - 0.5 / 2.5 = 0.8; 2 of 3 folds; 10 epochs: 0.8 x 2/3 = 0.53
    assert f.confidence == 0.53
    assert f.severity is Severity.WARNING  # no impact on the score is measured: never an error
    assert f.evidence == {"train_loss": 0.125, "best_val_loss": 0.5, "best_epoch": 5, "final_val_loss": 0.75,
                          "val_rise": 0.5, "reference": None, "reference_val_loss": None, "folds_agree": 2,
                          "epochs": 10, "folds": 3}


def test_overfitting_advice_names_the_runs_settings() -> None:
    hp = {"patience": 5, "weight_decay": 0.001, "dropout": 0.5, "depth": 3, "width": 64}
    f = Overfitting().check(evidence(run=run(hp=hp), **RISING))
    assert f is not None
    assert f.advice == ("raise weight_decay or dropout (weight_decay=0.001, dropout=0.5); "
                        "a smaller model (depth=3, width=64); more data or augmentation")
    for patience in (10, 3):
        f = Overfitting().check(evidence(run=run(hp={"patience": patience}), **RISING))
        assert f is not None and f.advice.startswith("stop at epoch 5") is (patience == 3)


@pytest.mark.parametrize(("change", "fires"), [
    ({"val_rise": 0.2}, True),  # exactly the threshold
    ({"val_rise": 0.19}, False),
    ({"val_rise": None}, False),
    ({"train_fell_after_best": False}, False),  # the training loss did not keep falling
    ({"train_final": 0.5}, False),  # not small next to the validation loss (equal)
    ({"train_final": 0.499}, True),
    ({"train_final": None}, False),
    ({"val_best": None}, False),
    ({"val_final": None}, False),
])
def test_overfitting_thresholds(change: dict[str, object], fires: bool) -> None:
    assert (Overfitting().check(evidence(**(RISING | change))) is not None) is fires


LINEAR = ref("linear", 0.125, 0.25, depth=0)
WORSE = {"train_final": 0.125, "val_best": 0.375, "val_final": 0.375, "references": (LINEAR,)}


def test_overfitting_against_a_reference_that_validates_better() -> None:
    folds = {"val_best": [0.375, 0.5, 0.25]}  # 1.5 x 0.25 = 0.375: two folds at or past it
    f = Overfitting().check(evidence(run=run(folds=3), folds=folds, **WORSE))
    assert f is not None
    assert f.summary == "final train loss 0.125, best val loss 0.375; linear validates at 0.25 with a higher train loss"
    assert f.advice == ("raise weight_decay or dropout (regularization); a smaller model (fewer parameters); "
                        "more data or augmentation")
    assert f.confidence == 0.33  # margin exactly 1: 0.5 x 2/3
    assert f.evidence == {"train_loss": 0.125, "best_val_loss": 0.375, "best_epoch": None, "final_val_loss": 0.375,
                          "val_rise": None, "reference": "linear", "reference_val_loss": 0.25, "folds_agree": 2,
                          "epochs": 10, "folds": 3}


@pytest.mark.parametrize(("change", "fires"), [
    ({"val_best": 0.374}, False),  # below 1.5 x the reference's validation loss
    ({"train_final": 0.126}, False),  # fits the training data worse than the reference
    ({"references": ()}, False),
])
def test_overfitting_against_a_reference_thresholds(change: dict[str, object], fires: bool) -> None:
    assert (Overfitting().check(evidence(**(WORSE | change))) is not None) is fires


def test_overfitting_rising_and_against_a_reference() -> None:
    worse = ref("mlp", 0.25, 0.25)
    ev = evidence(**(RISING | {"val_best": 0.5, "references": (ref("good", 0.0625, 0.5), worse)}))
    f = Overfitting().check(ev)
    assert f is not None
    assert f.summary == ("final train loss 0.125, best val loss 0.5 at epoch 5, then val loss rose 50% by the last "
                         "epoch; mlp validates at 0.25 with a higher train loss")
    assert f.confidence == 0.0  # the margin of the rise (2.5), but no fold statistics: no fold agrees
    assert f.evidence["reference"] == "mlp" and f.evidence["reference_val_loss"] == 0.25


# ---- optimization failure and model bias -----------------------------------------------

SHALLOW = ref("shallow", 0.25, 0.5, depth=1, fold_train=(0.25, 0.25, 0.5))
LARGE = {"train_final": 1.0, "val_best": 1.25, "references": (SHALLOW,), "folds": {"final": [1.0, 0.375, 0.5]}}


def test_optimization_failure_against_a_model_it_can_represent() -> None:
    ev = evidence(run=run(folds=3, depth=3, hp={"lr": 0.5, "optimizer": "adam"}), **LARGE)
    f = OptimizationFailure().check(ev)
    assert f is not None
    assert f.code is FindingCode.OPTIMIZATION_FAILURE and f.rule == "rules.md §1"
    assert f.summary == ("final train loss 1 vs shallow's 0.25 (depth 3 vs 1): the model can represent the simpler "
                         "one, so training did not find a good setting")
    assert f.advice == ("fix the optimization, not the model: tune lr (lr=0.5, optimizer=adam); "
                        "a shallower network (depth=3)")
    # ratio 4: margin 4 / 1.5, part 1 - 0.5 x 1.5 / 4 = 0.8125; folds 1 (1 >= 0.375) and 2 (0.375 >= 0.375) of 3
    assert f.confidence == 0.54
    assert f.severity is Severity.WARNING
    assert f.evidence == {"val_ratio": 2.5, "train_loss": 1.0, "val_loss": 1.25, "reference": "shallow",
                          "reference_train_loss": 0.25, "reference_val_loss": 0.5, "reference_epoch": None,
                          "depth": 3, "reference_depth": 1, "loss_ratio": 4.0, "folds_agree": 2, "epochs": 10,
                          "folds": 3}


def test_optimization_failure_is_an_error_when_strong_and_costly() -> None:
    r = ref("shallow", 0.25, 0.25, depth=1, epoch=9, fold_train=(0.25,))
    ev = evidence(train_final=1.0, val_best=1.0, references=(r,), folds={"final": [1.0]}, run=run(depth=2))
    f = OptimizationFailure().check(ev)
    assert f is not None
    assert f.confidence == 0.81  # 0.8125 x 1 x 1
    assert f.severity is Severity.ERROR  # impact 1 / 0.25 = 4 >= 3
    assert f.evidence["reference_epoch"] == 10 and f.evidence["val_ratio"] == 4.0
    half = OptimizationFailure().check(evidence(**(vars(ev) | {"n_epochs": 5})))
    assert half is not None and half.confidence == 0.41  # half the epochs
    pruned = evidence(train_final=1.0, val_best=1.0, references=(r,), folds={"final": [1.0]},
                      run=run(depth=2, state="pruned"))
    f = OptimizationFailure().check(pruned)
    assert f is not None and f.severity is Severity.WARNING  # a pruned run: a warning at most
    low_impact = evidence(train_final=1.0, val_best=0.5, references=(ref("shallow", 0.25, 0.25, fold_train=(0.25,)),),
                          folds={"final": [1.0]}, run=run(depth=2))
    f = OptimizationFailure().check(low_impact)
    assert f is not None and f.severity is Severity.WARNING  # impact 2 < 3


def test_optimization_failure_picks_the_lowest_contained_reference() -> None:
    refs = (ref("a", 0.5, 0.5), ref("b", 0.25, 0.5), ref("c", 0.125, 0.25, contained=False, depth=5))
    f = OptimizationFailure().check(evidence(train_final=1.0, val_best=1.0, references=refs))
    assert f is not None and f.evidence["reference"] == "b"
    assert f.confidence == 0.0  # no fold statistics


# better_references: (1) train 1.5x the reference's, (2) at least the reference's validation loss,
# (3) the reference validates at least as well as the run
BETTER = ref("shallow", 0.25, 0.375)
TRAIN_ONLY = ref("shallow", 0.125, 0.375)  # (1) holds well below 0.375: (2) decides there


@pytest.mark.parametrize(("change", "fires"), [
    ({"train_final": 0.375}, True),  # exactly 1.5 x the reference's training loss, exactly its val loss
    ({"train_final": 0.374}, False),
    ({"train_final": 0.374, "references": (TRAIN_ONLY,)}, False),  # below the reference's val loss
    ({"train_final": 0.375, "references": (TRAIN_ONLY,)}, True),
    ({"val_best": 0.375}, True),  # the reference validates exactly as well
    ({"val_best": 0.374}, False),  # it validates worse: regularized, not failing
    ({"train_final": None}, False),
    ({"val_best": None}, False),
    ({"references": (ref("deep", 0.25, 0.375, contained=False),)}, False),  # only a more flexible model: bias
    ({"cut_short": True, "recent_fall": 0.05}, False),  # cut short while still falling fast
    ({"cut_short": True, "recent_fall": 0.04}, True),
    ({"cut_short": False, "recent_fall": 0.5}, True),
])
def test_optimization_failure_thresholds(change: dict[str, object], fires: bool) -> None:
    ev = evidence(**(LARGE | {"train_final": 0.5, "val_best": 0.5, "references": (BETTER,)} | change))
    assert (OptimizationFailure().check(ev) is not None) is fires


DEEP = ref("deep", 0.25, 0.5, depth=4, contained=False, fold_train=(0.25, 0.25, 0.5))


def test_model_bias_only_a_more_flexible_model_fits() -> None:
    ev = evidence(run=run(folds=3, depth=1, hp={"depth": 1, "width": 8, "weight_decay": 0.0, "dropout": 0.25}),
                  **(LARGE | {"references": (DEEP,)}))
    f = ModelBias().check(ev)
    assert f is not None
    assert f.code is FindingCode.MODEL_BIAS and f.rule == "rules.md §1"
    assert f.summary == "final train loss 1 vs deep's 0.25: the more flexible deep fits better, the model is too simple"
    assert f.advice == ("a more flexible model: raise depth or width (depth=1, width=8); add features; "
                        "lower weight_decay/dropout")
    assert f.confidence == 0.54
    assert f.severity is Severity.WARNING  # no impact: never an error
    assert f.evidence == {"train_loss": 1.0, "val_loss": 1.25, "reference": "deep", "reference_train_loss": 0.25,
                          "reference_val_loss": 0.5, "reference_epoch": None, "depth": 1, "reference_depth": 4,
                          "loss_ratio": 4.0, "folds_agree": 2, "epochs": 10, "folds": 3}


@pytest.mark.parametrize(("hp", "lower"), [
    ({}, False), ({"weight_decay": 0.0, "dropout": 0}, False), ({"weight_decay": 1e-4}, True),
    ({"dropout": 0.1}, True), ({"weight_decay": "1e-4"}, False), ({"weight_decay": 0.0, "dropout": 1}, True),
])
def test_model_bias_tells_to_lower_regularization_only_when_there_is_some(hp: dict[str, object],
                                                                          lower: bool) -> None:
    f = ModelBias().check(evidence(run=run(hp=hp), **(LARGE | {"references": (DEEP,)})))
    assert f is not None and f.advice.endswith("lower weight_decay/dropout") is lower


def test_model_bias_picks_the_lowest_reference_read_at_the_same_epoch() -> None:
    refs = (ref("a", 0.5, 0.5, contained=False), ref("b", 0.25, 0.5, contained=False, epoch=2))
    f = ModelBias().check(evidence(train_final=1.0, val_best=1.0, references=refs))
    assert f is not None and f.evidence["reference"] == "b" and f.evidence["reference_epoch"] == 3
    assert f.summary.startswith("final train loss 1 vs b's 0.25 after 3 epochs:")
    assert f.confidence == 0.0


DEEP_BETTER = ref("deep", 0.25, 0.375, depth=4, contained=False)


@pytest.mark.parametrize(("change", "fires"), [
    ({"train_final": 0.375}, True),
    ({"train_final": 0.374}, False),
    ({"train_final": None}, False),
    ({"references": (DEEP_BETTER, BETTER)}, False),  # a model it can represent does better: optimization
    ({"references": ()}, False),
    ({"run": run(state="pruned")}, False),  # only a finished run shows the model's limit
    ({"cut_short": True, "recent_fall": 0.05}, False),
    ({"cut_short": True, "recent_fall": 0.04}, True),
])
def test_model_bias_thresholds(change: dict[str, object], fires: bool) -> None:
    ev = evidence(**(LARGE | {"train_final": 0.5, "val_best": 0.5, "references": (DEEP_BETTER,)} | change))
    assert (ModelBias().check(ev) is not None) is fires


# ---- mismatch -------------------------------------------------------------------------


def test_mismatch_when_the_test_set_is_much_worse() -> None:
    folds = {"test": [1.0, 0.5, 0.5], "val_final": [0.25, 0.25, 0.5]}  # 4x, exactly 2x, 1x
    f = Mismatch().check(evidence(run=run(folds=3), test_loss=1.0, val_final=0.25, folds=folds))
    assert f is not None
    assert f.code is FindingCode.MISMATCH and f.rule == "rules.md §1"
    assert f.summary == ("test loss 1 is 4.0x the k-fold validation loss 0.25: training and test data come from "
                         "different distributions")
    assert f.advice == ("more training data of the same kind will not help: collect training data like the test "
                        "(deployment) data, or check the test set's preprocessing and features")
    assert f.confidence == 0.5  # margin 4 / 2: 0.75, 2 of 3 folds
    assert f.severity is Severity.WARNING
    assert f.evidence == {"test_loss": 1.0, "val_loss": 0.25, "ratio": 4.0, "folds_agree": 2, "folds": 3}


@pytest.mark.parametrize(("test", "val", "gap", "fires"), [
    (0.25, 0.125, 0.125, True),  # exactly 2x and exactly the gap
    (0.2499, 0.125, 0.1, False),  # below 2x
    (0.25, 0.125, 0.1251, False),  # below the gap
    (0.1, 0.01, 0.1, False),  # 10x, but only 0.09 above: noise of a small loss
    (None, 0.125, 0.1, False),
    (0.25, None, 0.1, False),
])
def test_mismatch_thresholds(test: float | None, val: float | None, gap: float, fires: bool) -> None:
    ev = evidence(test_loss=test, val_final=val, thresholds=Thresholds(mismatch_min_gap=gap))
    assert (Mismatch().check(ev) is not None) is fires


# ---- healthy --------------------------------------------------------------------------


def test_healthy_and_how_much_its_curves_could_show() -> None:
    ev = evidence(train_final=0.125, val_best=0.25, n_epochs=4, references=(ref("linear", 0.5, 0.5),))
    f = healthy(ev)
    assert f.code is FindingCode.HEALTHY and f.severity is Severity.INFO and f.rule == "rules.md §1"
    assert f.summary == "final train loss 0.125, best val loss 0.25: no problem found"
    assert f.advice == "nothing to fix"
    assert f.run == "cand"
    assert f.confidence == 0.4  # 4 of 10 epochs, references to compare with
    assert f.evidence == {"train_loss": 0.125, "best_val_loss": 0.25, "references": ["linear"], "epochs": 4}
    assert healthy(evidence(n_epochs=4)).confidence == 0.2  # without references: half
    assert healthy(evidence(n_epochs=20, references=(ref("linear", 0.5, 0.5),))).confidence == 1.0
    pruned = healthy(evidence(n_epochs=3, run=run(state="pruned"), train_final=0.123456))
    assert pruned.summary == "pruned after 3 epochs; final train loss 0.1235, best val loss n/a: no problem found"
    assert pruned.evidence["train_loss"] == 0.1235


# ---- what the mutation run showed untested ----------------------------------------------


def test_a_finding_rounds_its_float_evidence_and_counts_folds_only_with_agreement() -> None:
    ev = evidence(run=run(folds=3))
    f = Mismatch().finding(ev, Severity.INFO, "s", "a", conf=0.5, x=0.123456, n=123456, word="w", none=None)
    assert f.evidence == {"x": 0.1235, "n": 123456, "word": "w", "none": None}  # no fold agreement: no fold count
    assert (f.summary, f.advice, f.confidence, f.severity) == ("s", "a", 0.5, Severity.INFO)
    f = Mismatch().finding(ev, Severity.INFO, "s", "a", conf=0.5, folds_agree=2)
    assert f.evidence == {"folds_agree": 2, "folds": 3}


def test_overfitting_margin_against_a_reference() -> None:
    # best val 0.75 = 2 x (1.5 x 0.25): margin 2, 0.75; the one fold agrees
    f = Overfitting().check(evidence(**(WORSE | {"val_best": 0.75, "val_final": 0.75}), folds={"val_best": [0.75]}))
    assert f is not None and f.confidence == 0.75


def test_a_reference_that_fits_its_training_data_exactly() -> None:
    perfect = ref("perfect", 0.0, 0.0, fold_train=(0.0,))
    ev = evidence(train_final=1.0, val_best=1.0, references=(perfect,), folds={"final": [1.0]})
    f = OptimizationFailure().check(ev)
    assert f is not None and f.evidence["loss_ratio"] is None and f.evidence["val_ratio"] is None
    assert f.confidence == 0.5  # no ratio: the margin's floor; the one fold is beaten (1 >= 1.5 x 0)
    deeper = ref("perfect", 0.0, 0.0, contained=False, fold_train=(0.0,))
    f = ModelBias().check(evidence(train_final=1.0, val_best=1.0, references=(deeper,), folds={"final": [1.0]}))
    assert f is not None and f.evidence["loss_ratio"] is None and f.confidence == 0.5


def test_healthy_confidence_keeps_two_digits() -> None:
    ev = evidence(n_epochs=1, thresholds=Thresholds(confident_epochs=8))
    assert healthy(ev).confidence == 0.06  # 1/8 x 0.5 = 0.0625


def test_no_loss_ratio_means_no_margin_whatever_the_reference_ratio() -> None:
    # a lenient reference_ratio below 1 would turn a made-up ratio of 1 into a margin of 2
    th = Thresholds(reference_ratio=0.5)
    perfect = ref("perfect", 0.0, 0.0, fold_train=(0.0,))
    ev = evidence(train_final=1.0, val_best=1.0, references=(perfect,), folds={"final": [1.0]}, thresholds=th)
    f = OptimizationFailure().check(ev)
    assert f is not None and f.confidence == 0.5
    deeper = ref("perfect", 0.0, 0.0, contained=False, fold_train=(0.0,))
    f = ModelBias().check(evidence(**(vars(ev) | {"references": (deeper,)})))
    assert f is not None and f.confidence == 0.5
