"""The reference networks of a sweep (RULES.md §1: start from simple models), trained like a candidate.

- ``baseline-shallow``: an MLP with one hidden layer of 64 units, Adam;
- ``baseline-wide``: an MLP with two hidden layers of 256 units, Adam (a more flexible
  reference, for model bias), for a table;
- ``baseline-cnn``: for images and sequences instead, a small CNN (one block of 16
  filters, batch norm, max pooling, a dense layer of 64), Adam: the more flexible reference
  there, easy to optimize.

Here, in the engine, so that the measuring helper can train them as its first job
(:func:`reference_job`) without importing Optuna or the database.
"""

from __future__ import annotations

import functools

from sweepdoctor.diagnostics import FoldHistory, Role, RunHistory
from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._fit import FitResult, fit_folds
from sweepdoctor.sweep.engine._measurer import FirstJob

__all__ = ["BASELINE_MLPS", "Scored", "mlp_baselines", "reference_job", "scored_mlp_baselines"]

BASELINE_MLPS = {"baseline-shallow": (1, 64), "baseline-wide": (2, 256)}
# For images and sequences: the shallow MLP on the pixels and a small CNN.
BASELINE_CNN = ("baseline-cnn", dict(model="cnn", conv_blocks=1, channels=16, kernel_size=3, pooling="max",
                                     batch_norm=True, depth=1, width=64))

Scored = tuple[RunHistory, list[float]]


def mlp_baselines(
    data: FoldData, *, epochs: int, loss: str, metric: str, seed: int
) -> list[tuple[RunHistory, FitResult]]:
    """The references, trained like a candidate: shallow and wide MLPs for a table; for images and
    sequences the shallow MLP (on the flattened samples) and a small CNN."""
    mlp = "mlp" if data.X.ndim > 2 else "auto"  # a table's references are stored as they always were
    plans: list[tuple[str, dict[str, object]]] = [
        (name, dict(model=mlp, depth=depth, width=width)) for name, (depth, width) in BASELINE_MLPS.items()
    ]
    if data.X.ndim > 2:
        plans = [plans[0], BASELINE_CNN]
    out = []
    for name, arch in plans:
        hp = TrialParams(lr=1e-3, batch_size=32, optimizer="adam", schedule="constant", weight_decay=0.0,
                         dropout=0.0, patience=0, activation="relu", **arch)  # type: ignore[arg-type]
        fit = fit_folds(data, hp, epochs=epochs, loss=loss, metric=metric, seed=seed)
        run = RunHistory(
            name=name,
            role=Role.BASELINE,
            folds=tuple(
                FoldHistory(epochs=tuple(c), test_loss=t) for c, t in zip(fit.curves, fit.test_losses)
            ),
            depth=hp.depth + (hp.conv_blocks if hp.model == "cnn" else 0),
            n_params=fit.n_params,
            hyperparameters=hp.as_dict(),
            state=fit.status,
        )
        out.append((run, fit))
    return out


def scored_mlp_baselines(data: FoldData, *, epochs: int, loss: str, metric: str, seed: int) -> list[Scored]:
    """:func:`mlp_baselines` as runs and their fold scores (what the helper sends back: no tensors)."""
    fits = mlp_baselines(data, epochs=epochs, loss=loss, metric=metric, seed=seed)
    return [(run, list(fit.fold_scores)) for run, fit in fits]


def reference_job(*, epochs: int, loss: str, metric: str, seed: int) -> FirstJob:
    """The measuring helper's first job: this sweep's MLP references."""
    return functools.partial(scored_mlp_baselines, epochs=epochs, loss=loss, metric=metric, seed=seed)
