"""The evidence the rules read (``_evidence.py``), gathered from hand-made curves, in milliseconds.

``gather`` computes each statistic on every fold's own curve and averages the folds; the
references are the history's baselines read at the candidate's last epoch (a one-epoch
converged fit only for runs that finished). The expected numbers below are worked out by
hand from the curves (the comments show the arithmetic); the derived verdicts (stalled,
bouncing, steady, gradient vanished or kept, large, cut short, falling fast) are checked at
and just past their thresholds.
"""

from __future__ import annotations

import math

import pytest

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, Task
from sweepdoctor.diagnostics._evidence import (
    NonFinite,
    Reference,
    _contained,
    _depth,
    _fast,
    _grad_to_loss,
    _nonfinite,
    _reference,
    gather,
    is_cut_short,
)
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._handmade import evidence, fold, ref, run

TH = Thresholds()

# ---- gather: a finished candidate and two baselines -------------------------------------

CAND = run("cand", depth=3, hp={"patience": 5, "loss": "mse", "lr": 0.1}, state="complete", curves=(
    fold([2.0, 1.0, 0.5, 0.25], [3.0, 1.0, 1.5, 2.0], grads=[4.0, 4.0, 0.5, 0.25], lrs=[0.1, 0.2, 0.05, 0.01],
         test=4.0),
    fold([2.0, 1.5, 1.0, 0.5], [2.0, 1.5, 1.0, 1.25], grads=[2.0, 1.0, 1.0, 1.0], lrs=[0.1, 0.2, 0.05, 0.01],
         test=2.0),
))
LINEAR = run("linear", role=Role.BASELINE, depth=0, curves=(fold([0.5], [0.75]), fold([0.25], [0.25])))
MLP = run("mlp", role=Role.BASELINE, depth=2, curves=(
    fold([3.0, 2.0, 1.0, 0.5, 0.4], [3.0, 2.0, 1.5, 1.0, 0.5], grads=[1.0, 1.0, 1.0, 0.5, 0.5]),
    fold([3.0, 2.0, 1.0, 0.25, 0.2], [3.0, 2.0, 1.5, 0.75, 0.5], grads=[1.0, 1.0, 1.0, 0.5, 0.5]),
))
BROKEN = run("broken", role=Role.BASELINE, depth=1, curves=(fold([1.0, None], [1.0, 1.0]),))  # non-finite: none
NO_VAL = run("noval", role=Role.BASELINE, depth=1, curves=(fold([1.0, 0.5]),))  # no validation loss: none
HISTORY = History(Task.REGRESSION, "huber", (CAND, LINEAR, BROKEN, MLP, NO_VAL))


def test_gather_averages_each_folds_own_statistics() -> None:
    ev = gather(CAND, HISTORY, TH)
    assert ev.run is CAND and ev.task is Task.REGRESSION and ev.thresholds is TH
    assert ev.loss == "mse"  # the run's own loss, over the history's
    assert ev.n_epochs == 4 and ev.nonfinite is None
    assert (ev.train_first, ev.train_final, ev.train_min, ev.train_max) == (2.0, 0.375, 0.375, 2.0)
    assert ev.grew_folds == 0
    # validation: fold 1 best 1 at epoch 1, ends at min(2, median(1, 1.5, 2)) = 1.5: +50%;
    # fold 2 best 1 at epoch 2, ends at 1.25: +25%
    assert (ev.val_best, ev.val_best_epoch, ev.val_final, ev.val_rise) == (1.0, 1.5, 1.625, 0.375)
    assert ev.train_fell_after_best is True
    assert ev.test_loss == 3.0
    # the tail is 3 epochs: (2 - 0.25) / 2 and (2 - 0.5) / 2
    assert ev.tail_improvement == pytest.approx(0.8125)
    assert ev.recent_fall == pytest.approx((1.75 / 6 + 1.5 / 6) / 2)  # per epoch over the last 3
    assert ev.last_fall == 0.5  # 0.5 -> 0.25 and 1 -> 0.5
    assert ev.down_fraction == 1.0 and ev.rate_ratio == pytest.approx(1.0)
    assert ev.up_fraction is None and ev.grad_ratio is None  # too short to tell
    assert ev.grad_final == 0.625  # 0.25 and 1
    # gradient / loss over the last 3 epochs: (4, 1, 1) and (2/3, 1, 2), medians 1 and 1
    assert ev.grad_to_loss == 1.0
    assert ev.moved == pytest.approx(0.8125)  # (2 - 0.25) / 2 and (2 - 0.5) / 2
    assert (ev.lr_peak, ev.lr_final) == (0.2, 0.01)
    assert ev.cut_short is False  # it stops early by itself (patience)
    assert ev.folds is not None and ev.folds["final"] == [0.25, 0.5] and ev.folds["val_epoch"] == [1, 2]
    assert ev.folds["fell_after"] == [True, True] and ev.folds["grew"] == [False, False]


def test_gather_reads_the_references_at_the_candidates_last_epoch() -> None:
    ev = gather(CAND, HISTORY, TH)
    linear, mlp = ev.references
    assert linear == Reference("linear", 0, 0.375, 0.5, True, epoch=None, fold_train=(0.5, 0.25), grad_norm=None,
                               grad_to_loss=None)
    # mlp at epoch index 3 (the candidate's 4th): train 0.5 and 0.25, best val so far 1 and 0.75,
    # gradient 0.5 over the loss: 1 and 2
    assert mlp == Reference("mlp", 2, 0.375, 0.875, True, epoch=3, fold_train=(0.5, 0.25), grad_norm=0.5,
                            grad_to_loss=1.5)
    assert ev.linear_val == 0.5
    assert ev.reference_grad_to_loss == 1.5


def test_a_baseline_has_no_references_and_is_never_cut_short() -> None:
    pruned_baseline = run("b", role=Role.BASELINE, state="pruned", curves=(fold([1.0, 0.5]),))
    ev = gather(pruned_baseline, History(Task.REGRESSION, "mse", (pruned_baseline, MLP)), TH)
    assert ev.references == () and ev.linear_val is None and ev.cut_short is False
    assert ev.loss == "mse"


def test_a_cut_short_candidate_still_falling_gets_no_converged_fit() -> None:
    short = run("cand", depth=3, state="complete", hp={"loss": 3}, curves=CAND.folds)  # 4 epochs, mlp has 5
    ev = gather(short, HISTORY, TH)
    assert ev.cut_short is True and ev.falling_fast is True  # 27% per epoch
    assert [r.name for r in ev.references] == ["mlp"] and ev.linear_val is None
    assert ev.loss == "huber"  # a loss that is not a word: the history's
    pruned = run("cand", depth=3, state="pruned", curves=(fold([1.0, 1.0, 1.0, 1.0]),))
    ev = gather(pruned, HISTORY, TH)
    assert ev.cut_short is True and ev.falling_fast is False  # pruned, but flat: not falling fast
    assert [r.name for r in ev.references] == ["mlp"]  # pruned: no converged fit, however flat
    levelled = run("cand", depth=3, state="complete", curves=(fold([1.0, 1.0, 1.0, 1.0]),))
    ev = gather(levelled, HISTORY, TH)
    assert ev.cut_short is True and [r.name for r in ev.references] == ["linear", "mlp"]


def test_a_run_of_a_depth_zero_baseline_is_the_linear_value() -> None:
    other = run("other", role=Role.BASELINE, depth=1, curves=(fold([0.5], [0.125]),))
    h = History(Task.REGRESSION, "mse", (CAND, other, LINEAR))
    ev = gather(CAND, h, TH)
    assert [r.name for r in ev.references] == ["other", "linear"] and ev.linear_val == 0.5


# ---- gather: the statistics long curves need ----------------------------------------------


def test_gradient_ratio_up_fraction_and_growth_on_longer_curves() -> None:
    # six epochs: the tail is 3; gradients 2, 2, 2 at the start and 1, 1, 1 at the end
    bouncing = fold([2.0, 1.0, 1.5, 1.0, 1.5, 2.0], grads=[2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    flat = fold([2.0, 1.0, 1.0, 1.0, 1.0, 1.0], grads=[2.0, 2.0, 2.0, 0.5, 0.5, 0.5])
    ev = gather(run(curves=(bouncing, flat)), History(Task.REGRESSION, "mse", ()), TH)
    assert ev.grad_ratio == pytest.approx(0.375)  # 0.5 and 0.25
    assert ev.up_fraction == 0.5  # the second halves: 1 -> 1.5 -> 2 (2 of 2 up) and flat (0 of 2)
    assert ev.grew_folds == 0  # the first fold ends at its first value, not above it


@pytest.mark.parametrize(("curve", "grew"), [
    ([1.0, 0.5, 2.0], True),
    ([1.0, 0.75, 1.5], True),  # exactly 2x its minimum
    ([1.0, 0.75, 1.49], False),
    ([1.0, 0.5, 1.0], False),  # not above its first epoch
])
def test_a_loss_grew_when_it_ends_above_its_start_and_at_twice_its_minimum(curve: list[float], grew: bool) -> None:
    ev = gather(run(curves=(fold(curve), fold([1.0, 0.5, 0.25]))), History(Task.REGRESSION, "mse", ()), TH)
    assert ev.grew_folds == int(grew)


def test_the_training_loss_fell_after_the_best_epoch_in_most_folds() -> None:
    fell = fold([2.0, 1.0, 0.5], [2.0, 1.0, 1.5])
    rose = fold([2.0, 1.0, 1.5], [2.0, 1.0, 1.5])
    h = History(Task.REGRESSION, "mse", ())
    assert gather(run(curves=(fell, fell, rose)), h, TH).train_fell_after_best is True
    assert gather(run(curves=(fell, rose)), h, TH).train_fell_after_best is False  # one of two: no majority
    no_val = gather(run(curves=(fold([2.0, 1.0, 0.5]),)), h, TH)
    assert no_val.train_fell_after_best is False and no_val.val_rise is None and no_val.val_best is None


def test_moved_needs_three_epochs_and_a_nonzero_start() -> None:
    h = History(Task.REGRESSION, "mse", ())
    assert gather(run(curves=(fold([2.0, 1.0]),)), h, TH).moved is None
    assert gather(run(curves=(fold([0.0, 1.0, 0.5]),)), h, TH).moved is None
    assert gather(run(curves=(fold([-2.0, -1.0, -1.5]),)), h, TH).moved == 0.5  # on the size of the start
    assert gather(run(curves=(fold([2.0, 1.0, 1.5]),)), h, TH).moved == 0.5


def test_learning_rates_that_are_not_finite_are_left_out() -> None:
    f = fold([1.0, 0.5, 0.25], lrs=[0.1, math.inf, 0.01])
    ev = gather(run(curves=(f,)), History(Task.REGRESSION, "mse", ()), TH)
    assert (ev.lr_peak, ev.lr_final) == (0.1, 0.01)
    ev = gather(run(curves=(fold([1.0], lrs=[math.nan]),)), History(Task.REGRESSION, "mse", ()), TH)
    assert (ev.lr_peak, ev.lr_final) == (None, None)


def test_gather_of_a_run_without_folds() -> None:
    ev = gather(run(curves=()), History(Task.REGRESSION, "mse", (MLP,)), TH)
    assert ev.n_epochs == 0 and ev.train_final is None and ev.train_max is None and ev.grew_folds == 0


def test_the_first_non_finite_value() -> None:
    assert _nonfinite(run(curves=(fold([1.0, 0.5]), fold([1.0, 0.5, None], [1.0, 1.0, 1.0])))) == \
        NonFinite(1, 2, "train_loss")
    assert _nonfinite(run(curves=(fold([1.0, 0.5], [1.0, None]),))) == NonFinite(0, 1, "val_loss")
    assert _nonfinite(run(curves=(fold([1.0, None], [None, 1.0]),))) == NonFinite(0, 1, "train_loss")
    assert _nonfinite(run(curves=(fold([1.0, 0.5]),))) is None  # no validation loss recorded: not NaN
    records = (EpochRecord(4, 1.0, None, None, 0.1), EpochRecord(7, None, None, None, 0.1))
    assert _nonfinite(run(curves=(FoldHistory(records),))) == NonFinite(0, 7, "train_loss")  # the record's epoch
    ev = gather(run(curves=(fold([1.0, None]),)), History(Task.REGRESSION, "mse", ()), TH)
    assert ev.nonfinite == NonFinite(0, 1, "train_loss")


# ---- references -----------------------------------------------------------------------


def test_depth_from_the_run_or_its_hyperparameters() -> None:
    assert _depth(run(depth=2, hp={"depth": 5})) == 2
    assert _depth(run(hp={"depth": 5})) == 5
    assert _depth(run(hp={"depth": True})) is None
    assert _depth(run(hp={"depth": 5.0})) is None
    assert _depth(run()) is None
    assert evidence(run=run(hp={"depth": 4})).depth == 4


@pytest.mark.parametrize(("ref_depth", "ref_params", "cand_depth", "cand_params", "contained"), [
    (0, None, None, None, True),  # a linear model: any network can represent it
    (None, None, 2, None, False),
    (2, None, None, None, False),
    (1, 1000, 2, 10, True),  # shallower
    (3, 10, 2, 1000, False),  # deeper
    (2, 100, 2, 100, True),  # as deep and not larger
    (2, 101, 2, 100, False),
    (2, None, 2, 100, True),
    (2, 100, 2, None, True),
])
def test_which_references_the_candidate_can_represent(ref_depth: int | None, ref_params: int | None,
                                                      cand_depth: int | None, cand_params: int | None,
                                                      contained: bool) -> None:
    r = run("r", role=Role.BASELINE, depth=ref_depth, n_params=ref_params)
    c = run("c", depth=cand_depth, n_params=cand_params)
    assert _contained(r, c) is contained


def test_a_reference_is_read_at_the_candidates_epoch_or_at_its_end() -> None:
    cand = run(depth=3)
    r = _reference(MLP, cand, 2, unfinished=True)
    assert r is not None and r.epoch == 1 and r.train_loss == 2.0 and r.val_loss == 2.0
    r = _reference(MLP, cand, 9, unfinished=False)  # the candidate ran longer: the reference's last epoch
    assert r is not None and r.epoch == 4 and r.train_loss == pytest.approx(0.3) and r.val_loss == 0.5
    assert _reference(LINEAR, cand, 2, unfinished=True) is None  # a converged fit: finished runs only
    r = _reference(LINEAR, cand, 2, unfinished=False)
    assert r is not None and r.epoch is None and r.fold_train == (0.5, 0.25)
    assert _reference(run("e", role=Role.BASELINE, curves=()), cand, 2, unfinished=False) is None
    assert _reference(BROKEN, cand, 1, unfinished=False) is None
    assert _reference(NO_VAL, cand, 2, unfinished=False) is None


def test_a_reference_with_folds_of_different_lengths() -> None:
    b = run("b", role=Role.BASELINE, depth=1, curves=(
        fold([4.0, 2.0, 1.0], [4.0, 2.0, 3.0], grads=[1.0, 1.0, 0.5]),
        fold([4.0, 3.0], [2.0, 2.5], grads=[4.0, 4.0]),  # stops just before the epoch compared at
    ))
    r = _reference(b, run(depth=3), 3, unfinished=False)
    assert r is not None
    assert r.epoch == 2 and r.fold_train == (1.0, None) and r.train_loss == 1.0
    assert r.val_loss == 2.0  # the best so far of each fold: 2 and 2
    assert r.grad_norm == 0.5 and r.grad_to_loss == 0.5


def test_gradient_to_loss_is_the_median_over_the_tail() -> None:
    train = [1.0, 0.0, 2.0, 4.0, None, 1.0]
    grads = [9.0, 1.0, 1.0, 1.0, 1.0, None]
    assert _grad_to_loss(train, grads, 3) == 0.5  # pairs (9, 1), (1, 2), (1, 4): 9, 0.5, 0.25
    assert _grad_to_loss(train, grads, 2) == 0.375
    assert _grad_to_loss([0.0, None], [1.0, 1.0], 3) is None
    assert _grad_to_loss([1.0, -1.0], [1.0, 1.0], 3) == 1.0  # a loss <= 0 is left out


# ---- cut short and falling fast -------------------------------------------------------


@pytest.mark.parametrize(("fall", "last", "fast"), [
    (0.05, None, True),  # exactly fast_fall
    (0.049, None, False),
    (0.02, 0.02, True),  # more than a stall and no slower at the last step
    (0.02, 0.019, False),
    (0.01, 0.5, False),  # a stall's pace, however fast its last step
    (0.0101, 0.5, True),
    (None, 0.5, False),
])
def test_falling_fast(fall: float | None, last: float | None, fast: bool) -> None:
    assert _fast(fall, last, TH) is fast
    assert evidence(cut_short=True, recent_fall=fall, last_fall=last).falling_fast is fast
    assert evidence(cut_short=False, recent_fall=fall, last_fall=last).falling_fast is False


def test_a_run_is_cut_short_when_stopped_before_its_references() -> None:
    h = History(Task.REGRESSION, "mse", (MLP,))  # 5 epochs
    assert is_cut_short(run(state="pruned"), h, 9)
    assert is_cut_short(run(state="running"), h, 9)
    assert is_cut_short(run(state="complete"), h, 4)
    assert not is_cut_short(run(state="complete"), h, 5)
    assert is_cut_short(run(hp={"patience": 0}), h, 4)
    assert is_cut_short(run(hp={"patience": None}), h, 4)
    assert not is_cut_short(run(hp={"patience": 3}), h, 4)  # early stopping ends it where it should
    assert is_cut_short(run(hp={"patience": 3}, state="pruned"), h, 4)
    assert not is_cut_short(run(), History(Task.REGRESSION, "mse", (LINEAR,)), 0)  # a converged fit sets no budget
    assert not is_cut_short(run(), History(Task.REGRESSION, "mse", ()), 0)


# ---- the verdicts derived from the evidence ------------------------------------------------


def test_per_fold_leaves_out_the_unknown() -> None:
    assert evidence(folds={"up": [0.5, None, 0.25]}).per_fold("up") == [0.5, 0.25]
    assert evidence(folds={"up": [0.5]}).per_fold("down") == []
    assert evidence().per_fold("up") == []


def test_pruned_hp_and_never_moved() -> None:
    assert evidence(run=run(state="pruned")).pruned and not evidence(run=run(state="running")).pruned
    ev = evidence(run=run(hp={"lr": 0.1}))
    ev.hp["lr"] = 1.0
    assert ev.hp == {"lr": 0.1}  # a copy
    assert evidence(moved=0.0099).never_moved and not evidence(moved=0.01).never_moved
    assert not evidence(moved=None).never_moved


@pytest.mark.parametrize(("g2l", "refs", "small"), [
    (None, (), False),
    (0.02, (), True),  # exactly grad_loss_ratio
    (0.021, (), False),
    (0.01, (0.1, None), True),  # exactly 0.1 x the references' smallest ratio
    (0.01, (0.5, 0.09), False),
    (0.01, (None,), True),  # no reference records it
])
def test_a_gradient_small_on_the_loss_scale(g2l: float | None, refs: tuple[float | None, ...], small: bool) -> None:
    references = tuple(ref(f"r{i}", 1.0, 1.0, grad_to_loss=g) for i, g in enumerate(refs))
    assert evidence(grad_to_loss=g2l, references=references).grad_small_on_scale is small


def test_folds_beaten_by_a_reference() -> None:
    r = ref("r", 0.5, 0.5, fold_train=(0.5, 0.5, None, 0.5, 1.0))
    ev = evidence(folds={"final": [0.75, 0.74, 9.0, None, 1.5]})
    assert ev.folds_beaten_by(r) == 2  # 0.75 = 1.5 x 0.5 and 1.5 = 1.5 x 1; unknowns left out
    assert evidence().folds_beaten_by(r) == 0


def test_stalled_by_its_tail_or_too_slow_to_reach_a_reference() -> None:
    assert evidence(tail_improvement=0.0099, train_final=1.0).stalled
    assert not evidence(tail_improvement=0.01, train_final=1.0).stalled  # no reference to fall short of
    assert not evidence(tail_improvement=None, train_final=1.0).stalled
    assert not evidence(tail_improvement=0.001, train_final=None).stalled
    better = (ref("r", 0.25, 0.25),)
    # 16 epochs: a tail of 4; at 0.0625 / 4 per epoch the 0.75 to go takes 48 = 3 x 16 epochs: not over
    at = {"train_final": 1.0, "val_best": 1.0, "references": better, "n_epochs": 16}
    assert not evidence(tail_improvement=0.0625, **at).stalled
    assert evidence(tail_improvement=0.06, **at).stalled
    # 8 epochs: a tail of 3 (the minimum, not 8 // 4): 0.75 / (0.09 / 3) = 25 > 24
    assert evidence(tail_improvement=0.09, **(at | {"n_epochs": 8})).stalled
    assert not evidence(tail_improvement=0.1, **(at | {"n_epochs": 8})).stalled  # 22.5


def test_bouncing_steady_vanished_and_kept() -> None:
    assert evidence(up_fraction=0.3).bouncing and not evidence(up_fraction=0.29).bouncing
    assert not evidence().bouncing
    assert evidence(down_fraction=0.8, rate_ratio=0.5).steady_falling
    assert not evidence(down_fraction=0.79, rate_ratio=0.5).steady_falling
    assert not evidence(down_fraction=0.8, rate_ratio=0.49).steady_falling
    assert not evidence(down_fraction=None, rate_ratio=0.5).steady_falling
    assert not evidence(down_fraction=0.8, rate_ratio=None).steady_falling
    assert evidence(grad_ratio=0.25).grad_vanished and not evidence(grad_ratio=0.26).grad_vanished
    assert evidence(grad_ratio=0.5).grad_kept and not evidence(grad_ratio=0.49).grad_kept
    assert not evidence().grad_vanished and not evidence().grad_kept


def test_better_references_need_all_three_conditions() -> None:
    refs = (ref("ok", 0.5, 0.75), ref("train", 0.51, 0.75), ref("val", 0.5, 0.76), ref("held", 0.25, 0.8))
    ev = evidence(train_final=0.75, val_best=0.75, references=refs)
    # "train": 0.51 x 1.5 > 0.75; "val": validates worse than the run; "held": 0.8 above the run's train loss
    assert [r.name for r in ev.better_references()] == ["ok"]
    assert evidence(train_final=None, val_best=0.75, references=refs).better_references() == []
    assert evidence(train_final=0.75, val_best=None, references=refs).better_references() == []


def test_training_loss_large_by_reference_or_by_its_first_epoch() -> None:
    better = (ref("r", 0.25, 0.25),)
    assert evidence(train_final=1.0, val_best=1.0, references=better).training_loss_large
    assert not evidence(train_final=0.25, val_best=1.0, train_first=1.0, references=better).training_loss_large
    # a loss that never moved is judged on its first epoch even with references
    assert evidence(train_final=0.25, train_first=0.25, moved=0.0, references=better).training_loss_large
    assert evidence(train_final=0.5, train_first=1.0).training_loss_large  # not even halved
    assert not evidence(train_final=0.49, train_first=1.0).training_loss_large
    assert not evidence(train_final=None, train_first=1.0).training_loss_large
    assert not evidence(train_final=1.0, train_first=None).training_loss_large


def test_optimization_context() -> None:
    shallow, deep = ref("s", 0.25, 0.25), ref("d", 0.25, 0.25, contained=False)
    large = {"train_final": 1.0, "val_best": 1.0}
    assert evidence(references=(shallow,), **large).optimization_context
    assert not evidence(references=(deep,), **large).optimization_context  # model bias
    assert evidence(references=(deep, shallow), **large).optimization_context
    assert evidence(train_first=1.0, **large).optimization_context  # no references: barely learned
    assert not evidence(train_first=4.0, **large).optimization_context  # learned
    assert evidence(references=(deep,), train_first=1.0, moved=0.0, **large).optimization_context  # never moved


# ---- what the mutation run showed untested ----------------------------------------------


@pytest.mark.parametrize(("train", "val", "fell"), [
    ([2.0, 1.0, 0.5, 1.5], [2.0, 1.0, 1.5, 2.0], False),  # down, then back up above the best epoch's
    ([2.0, 1.0, 1.0], [2.0, 1.0, 1.5], False),  # flat after the best epoch
    ([2.0, 1.0, 0.5], [2.0, 1.5, 1.0], False),  # the best epoch is the last: nothing after it
    ([2.0, 1.0, 1.5, 0.5], [2.0, 1.0, 1.5, 2.0], True),
])
def test_fell_after_the_best_epoch_compares_its_ends(train: list[float], val: list[float], fell: bool) -> None:
    ev = gather(run(curves=(fold(train, val),)), History(Task.REGRESSION, "mse", ()), TH)
    assert ev.train_fell_after_best is fell


def test_a_training_loss_never_finite_is_reported() -> None:
    assert _nonfinite(run(curves=(fold([None, None], [1.0, 1.0]),))) == NonFinite(0, 0, "train_loss")


def test_a_running_candidate_gets_no_converged_fit() -> None:
    running = run("cand", depth=3, state="running", curves=(fold([1.0, 1.0, 1.0, 1.0]),))
    ev = gather(running, HISTORY, TH)
    assert ev.cut_short is True and ev.falling_fast is False
    assert [r.name for r in ev.references] == ["mlp"]


def test_a_slow_start_speeding_up_is_still_falling() -> None:
    # 2% per epoch over the last 3 (less than fast_fall), but 3.1% at the last step: faster, so not finished
    speeding = run("cand", depth=3, state="complete", curves=(fold([1.0, 0.99, 0.97, 0.94]),))
    ev = gather(speeding, HISTORY, TH)
    assert ev.recent_fall == pytest.approx(0.02) and ev.last_fall == pytest.approx(0.03 / 0.97)
    assert ev.cut_short is True and [r.name for r in ev.references] == ["mlp"]


def test_a_two_epoch_reference_sets_a_budget() -> None:
    two = run("b", role=Role.BASELINE, curves=(fold([1.0, 0.5]),))
    assert is_cut_short(run(), History(Task.REGRESSION, "mse", (two,)), 1)
    assert not is_cut_short(run(), History(Task.REGRESSION, "mse", (two,)), 2)
