"""A verdict that stops training, read while the next epoch trains in the background, ends that epoch at once.

With a measuring helper, epoch e is measured while epoch e+1 trains; when the verdict on e
stops training (pruned, early stopping, diverged), epoch e+1 is thrown away. It now stops at
its next step instead of training to its end, and the results are still those of measuring
in place, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sweepdoctor.sweep import FitResult, fit_folds, from_arrays, make_splits, prepare_folds
from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._measurer import Measurer
from sweepdoctor.sweep.engine._trainer import EPOCH_INTERRUPT, FoldTrainer

from .helpers import trial_params

BATCH = 8
EPOCHS = 6


def _table() -> FoldData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    ds = from_arrays(X, y)
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=3, seed=1), torch.device("cpu"))


def _images() -> FoldData:
    X, y = load_digits(return_X_y=True)
    keep = np.arange(0, len(y), 6)  # 300 images
    ds = from_arrays((X[keep] / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), y[keep])
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=3, seed=1), torch.device("cpu"))


CASES = {
    "mlp": (_table, dict(dropout=0.2, width=16)),
    "cnn": (_images, dict(model="cnn", conv_blocks=1, channels=4, depth=1, width=16, dropout=0.2)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[tuple[FoldData, TrialParams, Measurer]]:
    make, kw = CASES[request.param]
    data = make()
    with Measurer(data, loss="cross_entropy", metric="accuracy") as m:
        assert m.wait_until_available(60), "the measuring process did not start"
        yield data, trial_params(batch_size=BATCH, **kw), m


def _steps_per_epoch(data: FoldData) -> int:
    return math.ceil(max(data.train_n) / BATCH)


def _counting_steps(monkeypatch: pytest.MonkeyPatch, measurer: Measurer | None, hold_at: int, answers: int = 0
                    ) -> list[int]:
    """Count the training steps; at step ``hold_at`` (0-based, over the fit), unless the fit has already
    read ``answers`` of the helper's answers, wait for the next one to be there (not read), so that the
    next step sees it whatever the machine's load."""
    count = [0]
    step = FoldTrainer._train_step
    read_before = measurer.measured if measurer is not None else 0

    def counted(self: FoldTrainer, *args: object) -> None:
        if count[0] == hold_at and measurer is not None and measurer.measured - read_before < answers:
            assert measurer._conn.poll(60), "the helper did not answer"
        count[0] += 1
        step(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(FoldTrainer, "_train_step", counted)
    return count


def _fit(data: FoldData, hp: TrialParams, measurer: Measurer | None, stop: Callable[[int, float, bool], bool]
         ) -> FitResult:
    return fit_folds(data, hp, epochs=EPOCHS, loss="cross_entropy", metric="accuracy", seed=3, measurer=measurer,
                     on_epoch=stop)


def _assert_identical(a: FitResult, b: FitResult) -> None:
    assert (a.status, a.reason, a.best_epoch, a.fold_scores) == (b.status, b.reason, b.best_epoch, b.fold_scores)
    for ca, cb in zip(a.curves, b.curves, strict=True):
        assert [(e.train_loss, e.grad_norm, e.val_loss, e.val_metric, e.lr) for e in ca] == [
            (e.train_loss, e.grad_norm, e.val_loss, e.val_metric, e.lr) for e in cb]
    for sa, sb in zip(a.fold_state_dicts(), b.fold_state_dicts(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_pruned_trial_stops_the_epoch_it_was_training(case, monkeypatch: pytest.MonkeyPatch) -> None:
    data, hp, measurer = case
    spe = _steps_per_epoch(data)
    assert spe >= 5
    seen: list[int] = []

    def prune_at_1(epoch: int, value: float, stored: bool) -> bool:
        seen.append(epoch)
        return epoch == 1

    # Epoch 1 (the second) is measured while epoch 2 trains: its verdict is there by epoch 2's second step
    # (a fast helper may answer before epoch 2's first step: then none of it trains).
    steps = _counting_steps(monkeypatch, measurer, hold_at=2 * spe + 1, answers=2)
    helped = _fit(data, hp, measurer, prune_at_1)
    assert helped.status == "pruned" and seen == [0, 1]
    assert 2 * spe <= steps[0] <= 2 * spe + 2  # not all of the third epoch (it trained all of it before)
    monkeypatch.undo()
    in_place = _counting_steps(monkeypatch, None, hold_at=-1)
    alone = _fit(data, hp, None, lambda e, v, s: e == 1)
    assert in_place[0] == 2 * spe
    _assert_identical(helped, alone)


def test_a_verdict_that_goes_on_leaves_the_epoch_whole(case, monkeypatch: pytest.MonkeyPatch) -> None:
    data, hp, measurer = case
    spe = _steps_per_epoch(data)
    steps = _counting_steps(monkeypatch, measurer, hold_at=spe + 1, answers=1)  # epoch 0's read in epoch 1
    seen: list[int] = []
    helped = _fit(data, hp, measurer, lambda e, v, s: bool(seen.append(e)))
    assert helped.status == "complete" and seen == list(range(EPOCHS))
    assert steps[0] == EPOCHS * spe
    monkeypatch.undo()
    _assert_identical(helped, _fit(data, hp, None, lambda e, v, s: False))


def test_the_interrupt_is_set_only_while_a_helper_measures(case) -> None:
    data, hp, measurer = case
    asked: list[object] = []

    def note(epoch: int, value: float, stored: bool) -> bool:
        asked.append(EPOCH_INTERRUPT.get())
        return False

    _fit(data, hp, measurer, note)
    _fit(data, hp, None, note)
    assert asked[0] is not None and asked[-1] is None
    assert EPOCH_INTERRUPT.get() is None  # put back after the fit
