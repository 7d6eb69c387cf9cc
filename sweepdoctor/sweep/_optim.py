"""Losses, metrics and optimizers for the trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.nn import functional as F

from sweepdoctor.diagnostics import Task

if TYPE_CHECKING:
    from sweepdoctor.sweep._space import TrialParams

__all__ = ["LOSSES", "MAXIMIZED_METRICS", "METRICS", "make_optimizer", "row_loss"]

LOSSES = {Task.CLASSIFICATION: ("cross_entropy", "mse"), Task.REGRESSION: ("mse",)}
METRICS = {Task.CLASSIFICATION: ("accuracy", "log_loss"), Task.REGRESSION: ("rmse", "r2")}
MAXIMIZED_METRICS = frozenset({"accuracy", "r2"})


def row_loss(out: Tensor, y: Tensor, task: Task, loss: str) -> Tensor:
    """Per-row loss, shape ``(k, b)``, for outputs ``(k, b, c)`` and targets ``(k, b)``.

    Classification with ``mse`` compares softmax probabilities with one-hot targets
    (the setting RULES.md §5 warns against; kept so it can be diagnosed).
    """
    if task is Task.REGRESSION:
        return (out[..., 0] - y) ** 2
    if loss == "cross_entropy":  # = F.cross_entropy, ~3x faster on the CPU for few classes (log_softmax is slow)
        return torch.logsumexp(out, dim=-1) - out.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    probs = torch.softmax(out, dim=-1)
    onehot = F.one_hot(y, out.shape[-1]).to(probs.dtype)
    return ((probs - onehot) ** 2).sum(-1)


def make_optimizer(params: list[Tensor], hp: TrialParams) -> torch.optim.Optimizer:
    """One of the seven optimizers of RULES.md §3-4 over (stacked) parameters, as ``torch.optim`` builds it.

    Training uses :class:`~sweepdoctor.sweep._kernels.FusedStepper`, which makes the same
    updates without ``torch.optim``'s per-step bookkeeping; this is its reference in the tests.
    """
    wd = hp.weight_decay
    o = hp.optimizer
    # The fused kernels do the whole update in one call per step (~30% faster on small
    # models); they need floating-point leaves on a device they support.
    fused = {"fused": True} if all(p.is_leaf and p.dtype.is_floating_point for p in params) else {}
    if o == "sgd":
        return torch.optim.SGD(params, lr=hp.lr, weight_decay=wd, **fused)
    if o == "momentum":
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=wd, **fused)
    if o == "nesterov":
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, nesterov=True, weight_decay=wd, **fused)
    if o == "adagrad":
        return torch.optim.Adagrad(params, lr=hp.lr, weight_decay=wd, **fused)
    if o == "rmsprop":
        return torch.optim.RMSprop(params, lr=hp.lr, alpha=0.99, weight_decay=wd)
    if o == "adam":
        return torch.optim.Adam(params, lr=hp.lr, betas=(hp.beta1, hp.beta2), weight_decay=wd, **fused)
    if o == "adamw":
        return torch.optim.AdamW(params, lr=hp.lr, betas=(hp.beta1, hp.beta2), weight_decay=wd, **fused)
    raise ValueError(f"unknown optimizer {o!r}")
