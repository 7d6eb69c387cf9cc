"""Real, small, seeded training runs that show each problem, and healthy runs that must not.

Every scenario trains tiny MLPs with plain torch on 2 folds (``_training.py``) next to
baselines trained on the same folds with the same loss (scikit-learn linear/logistic
regression and a shallow MLP), and returns a ``History``. They are the heart of the
diagnostics tests: each rule must fire on its problem and stay quiet on the healthy set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_circles,
    make_classification,
    make_friedman1,
    make_moons,
    make_regression,
)
from sklearn.preprocessing import StandardScaler

from sweepdoctor.diagnostics import FindingCode, History, RunHistory, Task
from tests.diagnostics._training import Config, Data, baselines, history, linear_baseline, train_run

# ---- data ---------------------------------------------------------------------------


def _std(X: np.ndarray) -> np.ndarray:
    return StandardScaler().fit_transform(X).astype(np.float32)


def _cls(X: np.ndarray, y: np.ndarray, *, test: float = 0.0, seed: int = 0) -> Data:
    """Standardized classification data; the last ``test`` share is an i.i.d. test set."""
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = _std(X)[order], y[order].astype(np.int64)
    n_test = int(test * len(X))
    n_classes = int(y.max()) + 1
    if not n_test:
        return Data(X, y, Task.CLASSIFICATION, n_classes)
    return Data(X[:-n_test], y[:-n_test], Task.CLASSIFICATION, n_classes, X[-n_test:], y[-n_test:])


@functools.lru_cache(maxsize=None)
def digits(n: int = 600) -> Data:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))[:n]
    return _cls(X[order], y[order])


@functools.lru_cache(maxsize=None)
def dataset(name: str) -> Data:
    """The healthy set's datasets (some with an i.i.d. test set, for the mismatch rule)."""
    if name == "digits_test":
        X, y = load_digits(return_X_y=True)
        return _cls(X[:750], y[:750], test=0.2)
    if name == "cancer":
        return _cls(*load_breast_cancer(return_X_y=True), test=0.2)
    if name == "iris":
        return _cls(*load_iris(return_X_y=True))
    if name == "wine":
        return _cls(*load_wine(return_X_y=True))
    if name == "moons":
        return _cls(*make_moons(400, noise=0.2, random_state=0))
    if name == "circles":
        return _cls(*make_circles(400, noise=0.05, factor=0.5, random_state=0))
    if name == "blobs20":
        return _cls(*make_classification(500, 20, n_informative=8, random_state=2), test=0.2)
    if name == "friedman":
        X, y = make_friedman1(400, n_features=8, noise=0.5, random_state=0)
        return Data(_std(X), ((y - y.mean()) / y.std()).astype(np.float32), Task.REGRESSION)
    raise KeyError(name)


# ---- problem scenarios -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A history with one candidate ``run`` that must get ``expected`` (and none of ``forbidden``)."""

    history: History
    run: str
    expected: FindingCode
    forbidden: frozenset[FindingCode] = frozenset()


def _with_baselines(data: Data, cfg: Config, loss: str = "cross_entropy", *, seed: int, wide: bool = False
) -> History:
    run, _ = train_run("candidate", data, cfg, loss=loss, seed=seed)
    return history(data, loss, [run, *baselines(data, loss=loss, wide=wide, seed=seed)])


def divergence(seed: int = 0) -> Scenario:
    """SGD with lr=50 on digits: the loss becomes NaN within the first epochs."""
    h = _with_baselines(digits(), Config(depth=2, width=64, optimizer="sgd", lr=50.0, epochs=8), seed=seed)
    return Scenario(h, "candidate", FindingCode.DIVERGENCE, frozenset({FindingCode.OVERFITTING}))


def overfitting(seed: int = 0) -> Scenario:
    """A 128x128 MLP on 60 training rows (10% flipped labels) for 150 epochs, no regularization."""
    X, y = make_classification(120, 20, n_informative=5, flip_y=0.1, random_state=0)
    cfg = Config(depth=2, width=128, optimizer="adam", lr=3e-3, epochs=150)
    return Scenario(_with_baselines(_cls(X, y), cfg, seed=seed), "candidate", FindingCode.OVERFITTING,
                    frozenset({FindingCode.HEALTHY, FindingCode.OPTIMIZATION_FAILURE, FindingCode.MODEL_BIAS}))


def optimization_failure(seed: int = 0) -> Scenario:
    """Ten sigmoid layers with plain SGD: stuck near ln 10 while logistic regression fits digits."""
    cfg = Config(depth=10, width=16, activation="sigmoid", optimizer="sgd", lr=1e-2, epochs=20)
    return Scenario(_with_baselines(digits(), cfg, seed=seed), "candidate", FindingCode.OPTIMIZATION_FAILURE,
                    frozenset({FindingCode.MODEL_BIAS, FindingCode.OVERFITTING, FindingCode.HEALTHY}))


def model_bias(seed: int = 0) -> Scenario:
    """A linear model on two moons, beside MLP baselines that bend around them."""
    X, y = make_moons(400, noise=0.1, random_state=0)
    cfg = Config(depth=0, optimizer="adam", lr=0.05, epochs=30)
    return Scenario(_with_baselines(_cls(X, y), cfg, wide=True, seed=seed), "candidate", FindingCode.MODEL_BIAS,
                    frozenset({FindingCode.OPTIMIZATION_FAILURE, FindingCode.OSCILLATION,
                               FindingCode.CRITICAL_POINT, FindingCode.HEALTHY}))


def mismatch(seed: int = 0) -> Scenario:
    """Test rows drawn from a shifted, noisier distribution than the training rows."""
    X, y = make_classification(800, 10, n_informative=5, random_state=1)
    X = _std(X)
    shift = np.random.default_rng(0).normal(0.0, 1.0, X[600:].shape).astype(np.float32) + 1.5
    data = Data(X[:600], y[:600].astype(np.int64), Task.CLASSIFICATION, 2, X[600:] + shift, y[600:].astype(np.int64))
    cfg = Config(depth=1, width=32, optimizer="adam", lr=1e-2, epochs=30, patience=5)
    return Scenario(_with_baselines(data, cfg, seed=seed), "candidate", FindingCode.MISMATCH,
                    frozenset({FindingCode.OVERFITTING, FindingCode.HEALTHY}))


def oscillation(seed: int = 0) -> Scenario:
    """SGD on an ill-conditioned regression (one feature scaled 30x): the loss bounces, the gradient stays large."""
    X, y = make_regression(400, 10, noise=5.0, random_state=0)
    X = _std(X)
    X[:, 0] *= 30.0
    data = Data(X, ((y - y.mean()) / y.std()).astype(np.float32), Task.REGRESSION)
    cfg = Config(depth=1, width=32, optimizer="sgd", lr=1e-3, epochs=30)
    return Scenario(_with_baselines(data, cfg, "mse", seed=seed), "candidate", FindingCode.OSCILLATION,
                    frozenset({FindingCode.CRITICAL_POINT, FindingCode.SLOW_CONVERGENCE, FindingCode.HEALTHY}))


_TINY_INIT = Config(depth=3, width=32, optimizer="sgd", lr=0.1, epochs=40, init_scale=1e-3)


def critical_point(seed: int = 0) -> Scenario:
    """Weights initialized 1000x too small: the net starts at a saddle and the gradient fades away."""
    return Scenario(_with_baselines(digits(), _TINY_INIT, seed=seed), "candidate", FindingCode.CRITICAL_POINT,
                    frozenset({FindingCode.OSCILLATION, FindingCode.SLOW_CONVERGENCE, FindingCode.HEALTHY}))


def critical_point_model(seed: int = 0) -> tuple[History, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The critical-point run with its fold-0 model and that fold's training rows (for the Hessian)."""
    from tests.diagnostics._training import folds_of

    data = digits()
    run, models = train_run("candidate", data, _TINY_INIT, loss="cross_entropy", seed=seed)
    tr, _ = folds_of(data, 2, seed)[0]
    h = history(data, "cross_entropy", [run, *baselines(data, loss="cross_entropy", seed=seed)])
    return h, models[0], torch.as_tensor(data.X[tr]), torch.as_tensor(data.y[tr])


def slow_convergence(seed: int = 0) -> Scenario:
    """SGD with lr=1e-4 for 10 epochs: the loss falls in a straight line, far above the baselines."""
    cfg = Config(depth=2, width=64, optimizer="sgd", lr=1e-4, epochs=10)
    return Scenario(_with_baselines(digits(), cfg, seed=seed), "candidate", FindingCode.SLOW_CONVERGENCE,
                    frozenset({FindingCode.OSCILLATION, FindingCode.CRITICAL_POINT, FindingCode.HEALTHY}))


def mse_for_classification(seed: int = 0) -> Scenario:
    """Softmax + MSE with SGD on digits: stalls near the trivial Brier score (baselines scored with MSE too)."""
    cfg = Config(depth=2, width=64, optimizer="sgd", lr=0.1, epochs=20)
    return Scenario(_with_baselines(digits(), cfg, "mse", seed=seed), "candidate", FindingCode.MSE_FOR_CLASSIFICATION,
                    frozenset({FindingCode.HEALTHY}))


PROBLEMS: dict[str, Callable[[int], Scenario]] = {
    "divergence": divergence,
    "overfitting": overfitting,
    "optimization_failure": optimization_failure,
    "model_bias": model_bias,
    "mismatch": mismatch,
    "oscillation": oscillation,
    "critical_point": critical_point,
    "slow_convergence": slow_convergence,
    "mse_for_classification": mse_for_classification,
    "zero_init": lambda seed: zero_init(seed),  # defined below: stuck at a critical point from epoch 0
}


# ---- the healthy set ---------------------------------------------------------------------

# Well-tuned configurations on different datasets and optimizers (early stopping where
# the sweep would use it). None of them may get anything but ``healthy``.
HEALTHY: dict[str, tuple[str, Config]] = {
    "digits-adam": ("digits_test", Config(depth=2, width=64, optimizer="adam", lr=3e-3, epochs=40, patience=5)),
    "digits-momentum": ("digits_test", Config(depth=1, width=128, optimizer="sgd", lr=0.05, momentum=0.9,
                                              epochs=40, patience=5)),
    "cancer-adam": ("cancer", Config(depth=1, width=32, optimizer="adam", lr=1e-3, epochs=40, patience=5)),
    "cancer-rmsprop": ("cancer", Config(depth=2, width=32, optimizer="rmsprop", lr=1e-3, weight_decay=1e-4,
                                        epochs=30, patience=5)),
    "iris-adam": ("iris", Config(depth=1, width=16, optimizer="adam", lr=1e-2, batch_size=16, epochs=60,
                                 patience=5)),
    "wine-adam": ("wine", Config(depth=1, width=32, optimizer="adam", lr=3e-3, batch_size=16, epochs=60,
                                 patience=5)),
    "moons-adam": ("moons", Config(depth=2, width=32, optimizer="adam", lr=1e-2, epochs=60, patience=5)),
    "circles-tanh": ("circles", Config(depth=2, width=32, activation="tanh", optimizer="adam", lr=1e-2,
                                       epochs=60, patience=5)),
    "blobs-adamw-dropout": ("blobs20", Config(depth=1, width=64, optimizer="adamw", lr=3e-3, weight_decay=1e-2,
                                              dropout=0.2, epochs=60, patience=5)),
    "friedman-adam": ("friedman", Config(depth=1, width=64, optimizer="adam", lr=3e-3, epochs=80,
                                             patience=5)),
    "friedman-sgd": ("friedman", Config(depth=1, width=32, optimizer="sgd", lr=0.01, momentum=0.9,
                                            epochs=80, patience=5)),
}


@functools.lru_cache(maxsize=None)
def dataset_baselines(name: str, seed: int = 0) -> tuple[RunHistory, ...]:
    data = dataset(name)
    return tuple(baselines(data, loss=_loss(data), seed=seed))


def _loss(data: Data) -> str:
    return "cross_entropy" if data.task is Task.CLASSIFICATION else "mse"


def healthy(name: str, seed: int = 0) -> History:
    """One healthy candidate (named ``name``) with its dataset's baselines (folds and init from ``seed``)."""
    ds, cfg = HEALTHY[name]
    data = dataset(ds)
    run, _ = train_run(name, data, cfg, loss=_loss(data), seed=seed)
    return history(data, _loss(data), [run, *dataset_baselines(ds, seed)])


def sharp_minimum(seeds: tuple[int, ...] = (0, 1), *, noisy: bool = True) -> tuple[History, dict[str, float]]:
    """One MLP trained with SGD at batch size 8 and with full batches (1024 > rows; more
    epochs, to a training loss as small). Returns the study and each trial's top Hessian
    eigenvalue (its fold-0 model on that fold's training rows).

    ``noisy``: 15%-flipped labels, lr 0.2: the full-batch runs end clearly sharper and
    generalize worse. Otherwise: digits, lr 0.1, where both end alike."""
    from sweepdoctor.diagnostics import top_eigenvalue
    from tests.diagnostics._training import folds_of, loss_function

    if noisy:
        data = _cls(*make_classification(300, 10, n_informative=5, flip_y=0.15, random_state=0))
        depth, width, lr, epochs_small, epochs_full = 2, 64, 0.2, 30, 600
    else:
        data, depth, width, lr, epochs_small, epochs_full = digits(300), 1, 32, 0.1, 15, 300
    loss_fn = loss_function(data.task, "cross_entropy")
    runs, sharp = [], {}
    for seed in seeds:
        tr, _ = folds_of(data, 2, seed)[0]
        X, y = torch.as_tensor(data.X[tr]), torch.as_tensor(data.y[tr])
        for bs, epochs in ((8, epochs_small), (1024, epochs_full)):
            cfg = Config(depth=depth, width=width, optimizer="sgd", lr=lr, batch_size=bs, epochs=epochs)
            name = f"trial-bs{bs}-s{seed}"
            run, models = train_run(name, data, cfg, loss="cross_entropy", seed=seed)
            runs.append(run)
            sharp[name] = top_eigenvalue(models[0], loss_fn, X, y, seed=seed)
    runs.append(linear_baseline(data, loss="cross_entropy"))
    return history(data, "cross_entropy", runs), sharp


def lr_study() -> History:
    """A small sweep over the learning rate of SGD with momentum on digits: the three
    largest learning rates blow up (a search-space pattern), the rest train."""
    data = digits(300)
    runs = []
    for i, lr in enumerate((0.01, 0.03, 0.1, 30.0, 50.0, 80.0)):
        cfg = Config(depth=1, width=32, optimizer="sgd", lr=lr, momentum=0.9, epochs=25, patience=5)
        runs.append(train_run(f"trial-{i}", data, cfg, loss="cross_entropy", seed=i)[0])
    return history(data, "cross_entropy", [*runs, *baselines(data, loss="cross_entropy")])


# ---- stuck from the first epoch (RULES.md §2: a critical point whatever it started at) ----


def zero_init(seed: int = 0, *, optimizer: str = "sgd") -> Scenario:
    """Every weight and bias of a two-layer ReLU MLP starts at zero: no hidden unit ever
    gets a gradient, only the output bias learns, and the loss sits at the class-prior
    entropy (ln 10 on digits) with a gradient norm ~1e-3 of the loss."""
    cfg = Config(depth=2, width=32, optimizer=optimizer, lr=0.1, epochs=20, init_scale=0.0)
    return Scenario(_with_baselines(digits(), cfg, seed=seed), "candidate", FindingCode.CRITICAL_POINT,
                    frozenset({FindingCode.OSCILLATION, FindingCode.SLOW_CONVERGENCE, FindingCode.HEALTHY,
                               FindingCode.MODEL_BIAS, FindingCode.OVERFITTING}))


class Product(torch.nn.Module):
    """y = w1 * w2 * x (RULES.md §2's example), started at w1 = w2 = 0: the gradient is exactly 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = torch.nn.Parameter(torch.zeros(()))
        self.w2 = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w1 * self.w2 * x[:, 0]).unsqueeze(-1)


@functools.lru_cache(maxsize=None)
def product_data(n: int = 200) -> Data:
    """x ~ N(1, 0.1²), y = x + noise: the best w1*w2 is 1, the loss at w1*w2 = 0 is ~1."""
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.1, (n, 1)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0.0, 0.05, n)).astype(np.float32)
    return Data(x, y, Task.REGRESSION)


def product_at_origin(seed: int = 0) -> tuple[History, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The w1*w2*x model trained with SGD from the origin (the loss never moves), with
    its fold-0 model and that fold's training rows (for the Hessian). No baselines."""
    from tests.diagnostics._training import folds_of

    data = product_data()
    cfg = Config(depth=0, optimizer="sgd", lr=0.1, epochs=20)
    run, models = train_run("candidate", data, cfg, loss="mse", seed=seed, make=Product)
    tr, _ = folds_of(data, 2, seed)[0]
    return history(data, "mse", [run]), models[0], torch.as_tensor(data.X[tr]), torch.as_tensor(data.y[tr])
