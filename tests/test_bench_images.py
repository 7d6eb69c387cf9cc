"""The image benchmark's own parts: the generated shapes task and the hand-written CNN baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from benchmarks.baseline_handwritten_cnn import run_baseline_cnn
from benchmarks.bench_images import SHAPES, digits_images, make_shapes


def test_shapes_are_deterministic() -> None:
    X1, y1 = make_shapes(300, seed=3)
    X2, y2 = make_shapes(300, seed=3)
    X3, _ = make_shapes(300, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_shapes_have_ten_balanced_classes_as_images() -> None:
    X, y = make_shapes(500, seed=0)
    assert X.shape == (500, 1, 28, 28) and X.dtype == np.float32 and np.isfinite(X).all()
    assert len(SHAPES) == 10
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 50))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_shapes_are_learnable() -> None:
    X, y = make_shapes(2000, seed=1)
    flat = X.reshape(len(X), -1)
    model = LogisticRegression(C=0.01, max_iter=100).fit(flat[:1500], y[:1500])
    assert model.score(flat[1500:], y[1500:]) > 0.25  # chance is 0.10; a CNN does far better


def test_handwritten_cnn_baseline_runs_on_digit_images() -> None:
    X, y = digits_images()
    assert X.shape[1:] == (1, 8, 8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = run_baseline_cnn(X[:200], y[:200], trials=1, epochs=1, folds=2, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert 0.0 <= res.best_value <= 1.0
    assert res.n_trials == 1
