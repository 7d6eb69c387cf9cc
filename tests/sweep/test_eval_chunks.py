"""The evaluation chunks of images: at most EVAL_SHAPED_ROWS rows in all, and the same numbers as one pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sweepdoctor.sweep import from_arrays, make_splits, prepare_folds
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine import StackedCNN
from sweepdoctor.sweep.engine._evaluate import EVAL_SHAPED_ROWS, EvalRows, measure_stack

ARCH = dict(conv_blocks=2, channels=4, kernel_size=3, pooling="max", batch_norm=True, depth=1, width=16,
            activation="relu", dropout=0.0)


def _folds(X: np.ndarray, y: np.ndarray, k: int) -> FoldData:
    ds = from_arrays(X, y)
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=k), torch.device("cpu"))


@pytest.fixture(scope="module")
def digits() -> FoldData:
    X, y = load_digits(return_X_y=True)
    return _folds((X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), y, 5)


def test_small_images_are_measured_in_chunks_of_at_most_1024_rows_in_all(digits: FoldData) -> None:
    rows = EvalRows(digits)
    assert rows.n_max == 512  # the training sample
    assert rows.chunk_rows(5) == EVAL_SHAPED_ROWS // 5 == 204  # was 512: the whole sample at once
    assert rows.chunk_rows(1) == EVAL_SHAPED_ROWS


def test_large_images_keep_their_byte_bound() -> None:
    rng = np.random.default_rng(0)
    data = _folds(rng.normal(size=(100, 1, 28, 28)).astype(np.float32), np.arange(100) % 2, 5)
    assert EvalRows(data).chunk_rows(5) == (32 << 20) // (5 * 784 * 4 * 32) == 66


def test_chunks_give_the_numbers_of_one_pass(digits: FoldData, monkeypatch: pytest.MonkeyPatch) -> None:
    cnn = StackedCNN(digits.sample_shape, digits.n_outputs, seeds=[1, 2, 3, 4, 5], device=torch.device("cpu"),
                     **ARCH)
    rows = EvalRows(digits)
    chunked = measure_stack(cnn, rows, loss="cross_entropy", metric="accuracy")
    monkeypatch.setattr(EvalRows, "chunk_rows", lambda self, models: 4096)  # every row at once
    whole = measure_stack(cnn, rows, loss="cross_entropy", metric="accuracy")
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6, equal_nan=True)  # no test set: NaN
