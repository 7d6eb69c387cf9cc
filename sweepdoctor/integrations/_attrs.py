"""Small pure helpers of the recorder: numbers in, the gradient norm of a model, a trial's attributes.

``trial_attrs`` writes the user attributes a sweep's trial carries (``split{i}_score``,
``mean_score``, ``std_score``, ``hyperparameters``, ``epochs_trained``, ``stop_reason`` or
``fail_reason``), so that the ``studies`` views and the service read a recorded trial as
they read a sweep's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, RunHistory, RunState, finite_or_none
from sweepdoctor.errors import ConfigError

__all__ = ["fold_scores_of", "grad_norm_of", "number_or_none", "param_count", "reference_run", "trial_attrs"]


def number_or_none(name: str, value: Any) -> float | None:
    """``float(value)`` (a Python number, a numpy scalar, a 0-d tensor), ``None`` for ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"record: {name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one element
        raise ConfigError(f"record: {name} must be a number (or a 0-d tensor), got {_short(value)}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def grad_norm_of(model: Any) -> float | None:
    """The L2 norm of all of ``model``'s parameter gradients (``None`` when none has a gradient)."""
    import torch

    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.nn.utils.get_total_norm(grads))


def param_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def reference_run(name: str, train_loss: float | Sequence[float], val_loss: float | Sequence[float]) -> FoldHistory:
    """One fold of a reference: its curves, or one number each for one converged fit."""
    train = [train_loss] if isinstance(train_loss, (int, float)) else list(train_loss)
    val = [val_loss] if isinstance(val_loss, (int, float)) else list(val_loss)
    if not train or len(train) != len(val):
        raise ConfigError(f"record: reference {name!r} needs as many val_loss values as train_loss values "
                          f"(at least one), got {len(train)} and {len(val)}")
    return FoldHistory(epochs=tuple(
        EpochRecord(epoch=i, train_loss=finite_or_none(number_or_none("train_loss", t)),
                    val_loss=finite_or_none(number_or_none("val_loss", v)), grad_norm=None, lr=math.nan)
        for i, (t, v) in enumerate(zip(train, val))))


def fold_scores_of(run: RunHistory) -> list[float | None]:
    """Each fold's last validation metric, else its last validation loss (``None`` where neither is known)."""
    field = "val_metric" if any(e.val_metric is not None for f in run.folds for e in f.epochs) else "val_loss"
    out: list[float | None] = []
    for fold in run.folds:
        known = [v for e in fold.epochs if (v := getattr(e, field)) is not None]
        out.append(known[-1] if known else None)
    return out


def trial_attrs(run: RunHistory, fold_scores: Sequence[float | None], score: Any, *, state: str,
                reason: str | None) -> dict[str, Any]:
    """The user attributes of a recorded trial, as a sweep writes them (see the module's docstring)."""
    attrs: dict[str, Any] = {f"split{i}_score": finite_or_none(v) for i, v in enumerate(fold_scores)}
    known = [v for v in (finite_or_none(s) for s in fold_scores) if v is not None]
    single = isinstance(score, (int, float)) and not isinstance(score, bool)
    attrs["mean_score"] = finite_or_none(score) if single else (statistics.fmean(known) if known else None)
    attrs["std_score"] = statistics.pstdev(known) if known and state != RunState.FAIL else None
    attrs["hyperparameters"] = dict(run.hyperparameters)
    attrs["epochs_trained"] = max((len(f.epochs) for f in run.folds), default=0)
    if reason:
        attrs["fail_reason" if state == RunState.FAIL else "stop_reason"] = reason
    return attrs
