"""Refit: train the best configuration on all the data and save it for use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sweepdoctor.errors import SweepdoctorError
from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.data import Dataset, Split, prepare_folds, scaler_stats
from sweepdoctor.sweep.engine import ModelFn, fit_folds

__all__ = ["refit"]


def refit(
    ds: Dataset,
    hp: TrialParams,
    *,
    epochs: int,
    loss: str,
    metric: str,
    out_dir: str | Path,
    seed: int = 0,
    model_fn: ModelFn | None = None,
    device: torch.device | None = None,
) -> Path:
    """Train ``hp`` on every row of ``ds``; write ``model.pt`` and ``model.json``.

    ``model.pt`` is a ``state_dict`` (load it with ``torch.load(..., weights_only=True)``
    into ``build_mlp(**json["architecture"])`` for the built-in model); ``model.json``
    holds the hyper-parameters, the feature scaler, the class labels and the task.
    With early stopping the number of epochs is the best epoch found in the sweep.
    """
    everything = np.arange(len(ds.y))
    data = prepare_folds(ds, [Split(everything, everything)], device or torch.device("cpu"))
    fit = fit_folds(data, hp, epochs=epochs, loss=loss, metric=metric, seed=seed, model_fn=model_fn, vectorize=False)
    if fit.status == "failed":
        raise SweepdoctorError(f"refit: training on all the data failed ({fit.reason})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(fit.fold_state_dicts()[0], out / "model.pt")
    mu, sd = scaler_stats(ds.X)
    meta: dict[str, Any] = {
        "task": ds.task.value,
        "hyperparameters": hp.as_dict(),
        "architecture": None
        if model_fn is not None
        else {
            "n_in": ds.n_features,
            "n_out": data.n_outputs,
            "depth": hp.depth,
            "width": hp.width,
            "activation": hp.activation,
            "dropout": hp.dropout,
        },
        "scaler": {"mean": mu.tolist(), "scale": sd.tolist()},
        "classes": list(ds.classes),
        "epochs": epochs,
        "train_loss": fit.curves[0][-1].train_loss,
    }
    if ds.task.value == "regression":
        ymu, ysd = scaler_stats(ds.y[:, None])
        meta["target_scaler"] = {"mean": float(ymu[0]), "scale": float(ysd[0])}
    (out / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return out
