"""The reference MLPs of a sweep (RULES.md §1: start from simple models), trained like a candidate.

- ``baseline-shallow``: one hidden layer of 64 units, Adam;
- ``baseline-wide``: two hidden layers of 256 units, Adam (a more flexible reference,
  for model bias).

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

Scored = tuple[RunHistory, list[float]]


def mlp_baselines(
    data: FoldData, *, epochs: int, loss: str, metric: str, seed: int
) -> list[tuple[RunHistory, FitResult]]:
    """The shallow and wide MLP references, trained like a candidate."""
    out = []
    for name, (depth, width) in BASELINE_MLPS.items():
        hp = TrialParams(
            lr=1e-3,
            batch_size=32,
            optimizer="adam",
            schedule="constant",
            weight_decay=0.0,
            dropout=0.0,
            patience=0,
            depth=depth,
            width=width,
            activation="relu",
        )
        fit = fit_folds(data, hp, epochs=epochs, loss=loss, metric=metric, seed=seed)
        run = RunHistory(
            name=name,
            role=Role.BASELINE,
            folds=tuple(
                FoldHistory(epochs=tuple(c), test_loss=t) for c, t in zip(fit.curves, fit.test_losses)
            ),
            depth=depth,
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
