"""Saving trained weights: a trial's best fold (for Hessian analysis) and the refit model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sqlalchemy.engine import make_url

from sweepdoctor.sweep._fit import FitResult
from sweepdoctor.sweep._space import TrialParams
from sweepdoctor.sweep._tensors import FoldData

__all__ = ["WEIGHTS_DIR", "save_trial_weights", "weights_dir"]

WEIGHTS_DIR = "sweepdoctor-weights"


def weights_dir(storage_url: str, study: str) -> Path:
    """Beside the SQLite file, or under the working directory for a server database."""
    url = make_url(storage_url)
    base = Path.cwd()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        base = Path(url.database).resolve().parent
    return base / WEIGHTS_DIR / study


def save_trial_weights(
    fit: FitResult,
    hp: TrialParams,
    data: FoldData,
    study: str,
    number: int,
    storage_url: str,
    *,
    maximize: bool,
) -> Path:
    """Save the best fold's weights and what is needed to rebuild and score it.

    The file loads with ``torch.load(path, weights_only=True)``: a dict with
    ``state_dict``, ``hyperparameters``, ``fold``, ``n_inputs``, ``n_outputs``,
    ``task`` and ``builtin`` (True when it is :func:`build_mlp`'s module).
    """
    scores = np.asarray(fit.fold_scores, dtype=float)
    sign = 1.0 if maximize else -1.0
    best = int(np.nanargmax(sign * scores)) if np.isfinite(scores).any() else 0
    out = weights_dir(storage_url, study)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"trial-{number}.pt"
    torch.save(
        {
            "state_dict": fit.fold_state_dicts()[best],
            "hyperparameters": hp.as_dict(),
            "fold": best,
            "n_inputs": int(data.X.shape[-1]),
            "n_outputs": data.n_outputs,
            "task": data.task.value,
            "builtin": fit.depth is not None,
        },
        path,
    )
    return path
