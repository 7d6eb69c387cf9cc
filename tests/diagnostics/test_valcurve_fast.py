"""The validation curve alone (``valcurve/_rules.py``) on hand-made runs, in milliseconds.

Each rule sees a run of plain Optuna trials (a validation value per epoch, no training loss,
no gradient norm, lr NaN) that has its problem, with the finding checked whole (words,
evidence, confidence worked out from ``_grading.confidence``), and runs just short of it:
``divergence_growth`` 2, ``no_progress`` (set to 0.25 where it is met exactly), the
``2 * tail_min_epochs`` epochs oscillation and a stall need. Values are sums of powers of
two where a threshold is met exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sweepdoctor.diagnostics import EpochRecord, FindingCode, FoldHistory, Role, RunHistory, Severity
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.diagnostics.valcurve import HOW_TO_ADD, ValEvidence, has_train_curve, val_findings
from sweepdoctor.diagnostics.valcurve._rules import divergence, never_moved, oscillation, still_falling

TH = Thresholds()


def vfold(values: Sequence[float | None], *, metric: bool = False, grads: bool = False) -> FoldHistory:
    """One fold of a plain Optuna trial: ``val_loss`` (or ``val_metric``) per epoch, lr NaN."""
    return FoldHistory(tuple(
        EpochRecord(i, None, None if metric else v, 1.0 if grads else None, math.nan, val_metric=v if metric else None)
        for i, v in enumerate(values)))


def vrun(*curves: Sequence[float | None], metric: bool = False, state: str | None = None,
         grads: bool = False) -> RunHistory:
    folds = tuple(vfold(v, metric=metric, grads=grads) for v in curves)
    return RunHistory("t0", Role.CANDIDATE, folds, state=state)


def ev(*curves: Sequence[float | None], metric: bool = False, state: str | None = None,
       th: Thresholds = TH) -> ValEvidence:
    return ValEvidence.of(vrun(*curves, metric=metric, state=state), th)


# ---- what the run records --------------------------------------------------------------------


def test_a_plain_trial_has_no_training_curve() -> None:
    assert not has_train_curve(vrun([1.0, 0.5]))
    assert not has_train_curve(RunHistory("empty", Role.CANDIDATE, (FoldHistory(()),)))
    assert has_train_curve(vrun([1.0, 0.5], grads=True))
    lr_only = FoldHistory((EpochRecord(0, None, 1.0, None, 0.1), EpochRecord(1, None, 0.5, None, math.nan)))
    assert has_train_curve(RunHistory("lr", Role.CANDIDATE, (vfold([1.0]), lr_only)))
    train_only = FoldHistory((EpochRecord(0, None, 1.0, None, math.nan), EpochRecord(1, 0.5, 0.5, None, math.nan)))
    assert has_train_curve(RunHistory("train", Role.CANDIDATE, (train_only,)))


def test_the_evidence_of_a_loss_and_of_a_metric() -> None:
    e = ev([1.0, None, 0.5], [2.0])
    assert (e.field, e.curves, e.missing, e.n_epochs, e.words) == (
        "val_loss", ((1.0, None, 0.5), (2.0,)), ("train_loss", "grad_norm"), 3, "validation loss")
    m = ValEvidence.of(vrun([0.5, 0.75], metric=True, grads=True), TH)
    assert (m.field, m.curves, m.missing, m.words) == ("val_metric", ((-0.5, -0.75),), ("train_loss",),
                                                       "validation metric")
    assert ev([None, None]).words == "every reported validation value"
    assert ev().n_epochs == 0
    assert e.stat(lambda v: v[-1] if len(v) > 1 else None) == [0.5]


# ---- divergence ------------------------------------------------------------------------------


def test_a_value_that_became_nan_is_divergence() -> None:
    f = divergence(ev([1.0, 0.5], [1.0, 0.75, None, 2.0]))
    assert f is not None
    assert (f.code, f.severity, f.rule, f.run, f.confidence) == (
        FindingCode.DIVERGENCE, Severity.ERROR, "rules.md §4", "t0", 1.0)
    assert f.summary == "validation loss became NaN/inf at epoch 3 (fold 1): training blew up"
    assert f.advice == f"lower the learning rate by 10x or more; clip gradients; a warmup schedule; {HOW_TO_ADD}"
    assert f.evidence == {"nonfinite_fold": 1, "nonfinite_epoch": 3, "curve": "val_loss",
                          "missing": ["train_loss", "grad_norm"], "epochs": 4}
    g = divergence(ev([None, None], metric=True))
    assert g is not None and g.summary.startswith("every reported validation value became NaN/inf at epoch 1 (fold 0)")
    assert g.evidence["curve"] == "val_metric"


def test_a_loss_that_ended_above_its_start_at_twice_its_minimum() -> None:
    f = divergence(ev([0.75, 0.5, 1.0]))  # 1.0 / 0.5 = 2 exactly: margin 1, confidence 0.5
    assert f is not None and (f.severity, f.confidence) == (Severity.WARNING, 0.5)
    assert f.evidence == {"growth": 2.0, "grew_folds": 1, "growth_threshold": 2.0, "curve": "val_loss",
                          "missing": ["train_loss", "grad_norm"], "epochs": 3}
    assert f.summary.startswith("validation loss ended above its first epoch at 2 x its minimum in 1 of 1 folds: ")
    g = divergence(ev([1.0, 0.5, 1.25]))  # growth 2.5: margin 1.25, confidence 0.6 = error_confidence
    assert g is not None and (g.severity, g.confidence, g.evidence["growth"]) == (Severity.ERROR, 0.6, 2.5)


def test_no_divergence_short_of_the_growth_or_without_a_rise() -> None:
    assert divergence(ev([0.75, 0.5, 0.9921875])) is None  # 1.984 x its minimum
    assert divergence(ev([1.0, 0.25, 1.0])) is None  # 4 x its minimum, but back at its start
    assert divergence(ev([1.0, 0.0, 3.0])) is None  # a minimum of 0: no ratio
    assert divergence(ev([-1.0, -2.0, 3.0])) is None
    assert divergence(ev([1.0])) is None
    assert divergence(ev([-1.0, -4.0, -3.0], metric=True)) is None  # a metric fell: not known how far is too far


def test_divergence_needs_half_the_folds() -> None:
    f = divergence(ev([0.75, 0.5, 1.0], [1.0, 0.5, 0.75]))  # one of two folds
    assert f is not None and (f.confidence, f.evidence["grew_folds"]) == (0.25, 1)
    assert "in 1 of 2 folds" in f.summary
    assert divergence(ev([0.75, 0.5, 1.0], [1.0, 0.5, 0.75], [1.0, 0.5, 0.75])) is None
    two = divergence(ev([0.75, 0.5, 1.0], [1.0, 0.25, 1.5], [1.0, 0.5, 0.75]))  # growths 2 and 6: the smaller
    assert two is not None and (two.evidence["growth"], two.evidence["grew_folds"]) == (2.0, 2)


# ---- oscillation -----------------------------------------------------------------------------

BOUNCE = [1.0, 0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.5]


def test_a_curve_that_bounces_without_improving_oscillates() -> None:
    f = oscillation(ev(BOUNCE))
    # late half 0.75 0.5 0.75 0.5: up 1 of 3 steps, steps 0.25 of level 0.625 = 0.4; no new best in the last 3
    assert f is not None and (f.code, f.severity, f.rule) == (FindingCode.OSCILLATION, Severity.WARNING, "rules.md §2")
    # margin min(0.3333 / 0.3, 0.4 / 0.15) = 1.111: 0.55, one fold of one, 8 of 10 epochs: 0.44
    assert f.confidence == 0.44
    assert f.evidence == {"up_fraction": 0.3333, "late_step": 0.4, "tail_improvement": 0.0, "folds_agree": 1,
                          "curve": "val_loss", "missing": ["train_loss", "grad_norm"], "epochs": 8}
    assert f.summary.startswith("validation loss stopped improving and jumps by 40% of its level from epoch to "
                                "epoch (up in 33% of the late epochs): the steps overshoot")
    assert f.advice.startswith("a smaller learning rate or a decay schedule; an adaptive optimizer (adam); ")


def test_oscillation_needs_twice_the_tail_and_every_sign() -> None:
    assert oscillation(ev(BOUNCE[2:])) is not None  # 6 epochs: 2 x tail_min_epochs
    assert oscillation(ev(BOUNCE[3:])) is None
    assert oscillation(ev([1.0, 0.5, 0.54, 0.5, 0.54, 0.5, 0.54, 0.5])) is None  # steps 8% of the level
    assert oscillation(ev([1.0, 0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.25])) is None  # a new best at the end
    assert oscillation(ev([1.0, 0.5, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75])) is None  # flat late: never up
    assert oscillation(ev([0.0] * 8)) is None  # no level to measure steps against


def test_oscillation_counts_the_folds_that_bounce() -> None:
    f = oscillation(ev(BOUNCE, [1.0, 0.5, 0.55, 0.5, 0.55, 0.5, 0.55, 0.5]))
    assert f is not None and f.evidence["folds_agree"] == 1


# ---- never moved -----------------------------------------------------------------------------


def test_a_curve_that_never_moved() -> None:
    f = never_moved(ev([1.0, 1.0, 1.0]))
    assert f is not None and (f.code, f.severity, f.rule) == (
        FindingCode.OPTIMIZATION_FAILURE, Severity.WARNING, "rules.md §1")
    assert f.confidence == 0.15  # margin unknown (0.5), 3 of 10 epochs
    assert f.evidence == {"moved": 0.0, "folds_agree": 1, "curve": "val_loss",
                          "missing": ["train_loss", "grad_norm"], "epochs": 3}
    assert f.summary.startswith("validation loss never moved (by 0.0% in 3 epochs): training is stuck")
    assert f.advice.startswith("check that the optimizer steps the model's parameters; re-initialize; ")


def test_never_moved_at_and_past_no_progress() -> None:
    loose = Thresholds.from_mapping({"no_progress": 0.25})
    f = never_moved(ev([1.0, 1.125, 1.0, 1.0], th=loose))  # moved 0.125: margin 2 (0.75), 4 of 10 epochs
    assert f is not None and (f.confidence, f.evidence["moved"]) == (0.3, 0.125)
    assert never_moved(ev([1.0, 1.25, 1.0], th=loose)) is None  # moved exactly 0.25
    assert never_moved(ev([-2.0, -2.25, -2.0], th=loose)) is not None  # relative to |first|
    # two folds: moved 0 and 0.375, mean 0.1875 < 0.25; one fold agrees
    two = never_moved(ev([1.0, 1.0, 1.0], [1.0, 1.375, 1.0], th=loose))
    assert two is not None and two.evidence["folds_agree"] == 1 and two.evidence["moved"] == 0.1875


def test_never_moved_needs_three_epochs_and_a_first_value() -> None:
    assert never_moved(ev([1.0, 1.0])) is None
    assert never_moved(ev([0.0, 0.0, 0.0])) is None
    assert never_moved(ev([1.0, 1.0, 1.0], th=Thresholds.from_mapping({"tail_min_epochs": 4}))) is None
    assert never_moved(ev([1.0, 1.0, 1.0, 1.0], th=Thresholds.from_mapping({"tail_min_epochs": 4}))) is not None


# ---- still falling ---------------------------------------------------------------------------

LINE = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


def test_a_curve_still_falling_at_the_end() -> None:
    f = still_falling(ev(LINE))
    assert f is not None and (f.code, f.severity, f.rule) == (
        FindingCode.SLOW_CONVERGENCE, Severity.WARNING, "rules.md §4")
    assert f.confidence == 0.48  # margin 1 / 0.8 = 1.25: 0.6, 8 of 10 epochs
    assert f.evidence == {"down_fraction": 1.0, "rate_ratio": 1.0, "folds_agree": 1, "curve": "val_loss",
                          "missing": ["train_loss", "grad_norm"], "epochs": 8}
    assert f.summary == ("validation loss still improving steadily after 8 epochs (100% of the last steps better, "
                         "at 100% of the run's average pace)")
    assert f.advice == f"train for more epochs or raise the learning rate; {HOW_TO_ADD}"


def test_not_still_falling_when_pruned_short_flattened_or_bouncing() -> None:
    assert still_falling(ev(LINE, state="pruned")) is None
    assert still_falling(ev(LINE, state="complete")) is not None
    assert still_falling(ev(LINE[2:])) is not None
    assert still_falling(ev(LINE[3:])) is None
    assert still_falling(ev([8.0, 4.0, 2.0, 1.875, 1.75, 1.625, 1.5, 1.375])) is None  # tail pace 0.125 of 0.946
    assert still_falling(ev([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 3.5, 1.0])) is None  # 2 of 3 last steps down


def test_still_falling_at_its_thresholds() -> None:
    # the run's pace 1 per epoch, the tail's 0.5 exactly: steady_rate_fraction
    assert still_falling(ev([9.5, 8.0, 7.0, 5.5, 4.0, 3.5, 3.0, 2.5])) is not None
    assert still_falling(ev([9.5, 8.0, 7.0, 5.5, 3.9375, 3.5, 3.0, 2.5])) is None  # the tail's 0.479
    th = Thresholds.from_mapping({"steady_down_fraction": 0.5})
    # a 16-epoch run has a tail of 4: 2 of its 4 steps down, then 1
    f = still_falling(ev([16.0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 7, 7, 3, 3, 2, 2], th=th))
    assert f is not None and f.evidence["down_fraction"] == 0.5
    assert still_falling(ev([16.0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 7, 7, 3, 3, 3, 3], th=th)) is None


def test_still_falling_counts_the_folds_that_agree() -> None:
    f = still_falling(ev(LINE, LINE, [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 3.5, 1.0]))
    # down 1, 1, 2/3: mean 0.889; rate 1, 1, 1: two folds agree
    assert f is not None and f.evidence["folds_agree"] == 2


# ---- the findings of a run -------------------------------------------------------------------


def test_a_healthy_curve() -> None:
    (f,) = val_findings(vrun([0.5, 0.75, 0.625], metric=True), TH)
    assert (f.code, f.severity, f.rule, f.confidence) == (FindingCode.HEALTHY, Severity.INFO, "rules.md §1", 0.15)
    assert f.summary.startswith("best validation metric 0.75: the validation curve alone shows no divergence")
    assert f.advice == HOW_TO_ADD
    assert f.evidence == {"best": 0.75, "curve": "val_metric", "missing": ["train_loss", "grad_norm"], "epochs": 3}
    (g,) = val_findings(vrun([1.0] + [0.5] * 11), TH)
    assert g.code is FindingCode.HEALTHY and g.evidence["best"] == 0.5 and g.confidence == 0.5
    (e,) = val_findings(vrun([]), TH)
    assert e.code is FindingCode.HEALTHY and e.evidence["best"] is None and e.confidence == 0.0


def test_divergence_comes_alone_and_the_rest_in_order() -> None:
    (f,) = val_findings(vrun([1.0, 1.0, 1.0, None]), TH)  # a flat curve that then blew up
    assert f.code is FindingCode.DIVERGENCE
    found = val_findings(vrun(LINE), TH)
    assert isinstance(found, tuple) and [x.code for x in found] == [FindingCode.SLOW_CONVERGENCE]
    assert [x.code for x in val_findings(vrun([1.0, 1.0, 1.0]), TH)] == [FindingCode.OPTIMIZATION_FAILURE]
    assert [x.code for x in val_findings(vrun(BOUNCE), TH)] == [FindingCode.OSCILLATION]


# ---- sentences, edges and thresholds met exactly (the survivors of a first mutation run) ----------------


def test_the_sentences_whole() -> None:
    g = divergence(ev([1.0, 0.5, 1.25]))
    assert g is not None and g.summary == (
        "validation loss ended above its first epoch at 2.5 x its minimum in 1 of 1 folds: training blew up (or, "
        "without the training loss, cannot be told from severe overfitting)")
    assert g.advice == f"lower the learning rate by 10x or more; clip gradients; a warmup schedule; {HOW_TO_ADD}"
    n = never_moved(ev([1.0, 1.0, 1.0]))
    assert n is not None and n.summary == (
        "validation loss never moved (by 0.0% in 3 epochs): training is stuck from the start, which no model's limit "
        "explains (model bias still lowers the loss a little); whether it is a critical point or steps too small "
        "needs the gradient norm")
    o = oscillation(ev(BOUNCE))
    assert o is not None and o.summary.endswith(
        "the steps overshoot; without the gradient norm this is the likely reading, not a measured one")
    (h,) = val_findings(vrun([0.5]), Thresholds.from_mapping({"confident_epochs": 3}))
    assert h.summary == ("best validation loss 0.5: the validation curve alone shows no divergence, oscillation or "
                         "stall (overfitting, model bias and optimization failure need the training loss)")
    assert h.confidence == 0.17  # 1 of 3 epochs, half: rounded to 2 digits
    assert type(o.evidence["folds_agree"]) is int


def test_edges_of_the_curve_statistics() -> None:
    assert divergence(ev([0.5, 1.0])) is not None  # two epochs are enough to have grown
    assert never_moved(ev([0.0, 1.0, 1.0])) is None  # no first value to be relative to
    # a second, short fold has no late half: it neither counts nor breaks the bouncing one
    f = oscillation(ev(BOUNCE, [1.0, 0.5]))
    assert f is not None and f.evidence["folds_agree"] == 1 and f.confidence == 0.22
    # late half 0.5 0.75 0.5 1.5 0.5: steps 0.25 0.25 1 1, median 0.625 of level 0.5
    g = oscillation(ev([1.0, 0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.5, 1.5, 0.5]))
    assert g is not None and g.evidence["late_step"] == 1.25
    # a late half centred on 0: no level to measure the steps against
    assert oscillation(ev([0.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])) is None


def test_oscillation_at_its_thresholds() -> None:
    # BOUNCE: up 1/3 of the late steps, steps 0.25 / 0.625 = 0.4, no improvement
    f = oscillation(ev(BOUNCE, th=Thresholds.from_mapping({"val_bounce_step": 0.4})))
    assert f is not None and f.evidence["folds_agree"] == 1
    assert oscillation(ev(BOUNCE, th=Thresholds.from_mapping({"bounce_up_fraction": 1 / 3}))) is not None
    # a tail that improved by 0.25 exactly
    improved = [1.0, 0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.375]
    assert oscillation(ev(improved, th=Thresholds.from_mapping({"stall_rel_improvement": 0.25}))) is None
    assert oscillation(ev(improved, th=Thresholds.from_mapping({"stall_rel_improvement": 0.2578125}))) is not None


def test_folds_that_agree_at_the_threshold() -> None:
    loose = Thresholds.from_mapping({"no_progress": 0.25})
    two = never_moved(ev([1.0, 1.0, 1.0], [1.0, 1.25, 1.0], th=loose))  # the second moved exactly 0.25
    assert two is not None and two.evidence["folds_agree"] == 1
    # 20 epochs, a tail of 5: 4 of 5 steps down, exactly steady_down_fraction
    f = still_falling(ev([float(v) for v in range(20, 6, -1)] + [6.0, 5.0, 5.0, 3.0, 2.0, 1.0]))
    assert f is not None and f.evidence["down_fraction"] == 0.8 and f.evidence["folds_agree"] == 1
