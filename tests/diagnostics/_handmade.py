"""Hand-made inputs for the fast rule tests: a run's evidence built field by field, and small runs.

``evidence(**fields)`` is a :class:`RunEvidence` of a healthy-looking, finished, one-fold
regression run that knows nothing (every statistic ``None``), with the given fields
replaced: each test sets exactly the numbers its rule reads, so the expected finding can be
worked out by hand from ``rules.md`` and the thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory, Task
from sweepdoctor.diagnostics._evidence import Reference, RunEvidence
from sweepdoctor.diagnostics._thresholds import Thresholds


def fold(train: Sequence[float | None], val: Sequence[float | None] | None = None, *,
         grads: Sequence[float | None] | None = None, lrs: Sequence[float] | None = None,
         test: float | None = None) -> FoldHistory:
    """One fold's curve; the validation loss, gradient norm and lr default to None, None and 0.1."""
    n = len(train)
    val = val if val is not None else [None] * n
    grads = grads if grads is not None else [None] * n
    lrs = lrs if lrs is not None else [0.1] * n
    records = tuple(EpochRecord(i, t, v, g, lr) for i, (t, v, g, lr) in enumerate(zip(train, val, grads, lrs)))
    return FoldHistory(records, test_loss=test)


def run(name: str = "cand", *, folds: int = 1, hp: dict[str, Any] | None = None, state: str | None = None,
        depth: int | None = None, role: Role = Role.CANDIDATE, n_params: int | None = None,
        curves: tuple[FoldHistory, ...] | None = None) -> RunHistory:
    """A run of ``folds`` identical one-epoch folds (or the folds given)."""
    curves = curves if curves is not None else (fold([1.0]),) * folds
    return RunHistory(name, role, curves, depth=depth, n_params=n_params, hyperparameters=hp or {}, state=state)


def ref(name: str, train_loss: float, val_loss: float, *, contained: bool = True, depth: int | None = 1,
        epoch: int | None = None, fold_train: tuple[float | None, ...] = (),
        grad_to_loss: float | None = None) -> Reference:
    return Reference(name, depth, train_loss, val_loss, contained, epoch=epoch, fold_train=fold_train,
                     grad_to_loss=grad_to_loss)


def evidence(**fields: Any) -> RunEvidence:
    base: dict[str, Any] = {
        "run": run(), "task": Task.REGRESSION, "loss": "mse", "thresholds": Thresholds(), "n_epochs": 10,
        "nonfinite": None, "train_first": None, "train_final": None, "train_min": None, "grew_folds": 0,
        "train_max": None, "val_best": None, "val_best_epoch": None, "val_final": None, "val_rise": None,
        "train_fell_after_best": False, "test_loss": None, "tail_improvement": None, "down_fraction": None,
        "up_fraction": None, "rate_ratio": None, "grad_ratio": None, "grad_final": None, "lr_peak": None,
        "lr_final": None, "references": (), "linear_val": None,
    }
    return RunEvidence(**(base | fields))
