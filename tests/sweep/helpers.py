"""Small, fast sweep settings shared by the sweep tests."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from sweepdoctor.sweep import Choice, Fixed, FloatRange, SearchSpace, StudyConfig, SweepConfig, TrainConfig, TrialParams

SMALL_SPACE = SearchSpace(
    lr=FloatRange(1e-3, 3e-2, log=True),
    batch_size=Choice((16, 32)),
    optimizer=Choice(("adam", "momentum")),
    schedule=Choice(("constant", "cosine")),
    weight_decay=Fixed(0.0),
    dropout=Fixed(0.0),
    patience=Fixed(0),
    depth=Fixed(1),
    width=Fixed(16),
)


def small_config(
    url: str, name: str = "t", *, trials: int = 3, epochs: int = 3, folds: int = 3, **study: object
) -> SweepConfig:
    return SweepConfig(
        train=TrainConfig(folds=folds, epochs=epochs, baselines=False, threads=1),
        study=replace(StudyConfig(name=name, storage=url, trials=trials, pruner="none"), **study),  # type: ignore[arg-type]
        space=SMALL_SPACE,
    )


def trial_params(**kw: object) -> TrialParams:
    """A small trial's hyper-parameters (2 x 8 ReLU, Adam, cosine schedule); ``kw`` overrides."""
    base: dict[str, object] = dict(
        lr=0.02, batch_size=16, optimizer="adam", schedule="cosine", weight_decay=1e-3, dropout=0.0, patience=0,
        depth=2, width=8, activation="relu", momentum=0.9, beta1=0.85, beta2=0.99,
    )
    base.update(kw)
    return TrialParams(**base)  # type: ignore[arg-type]


def make_optimizer(params: list[Tensor], hp: TrialParams) -> torch.optim.Optimizer:
    """One of the seven optimizers of RULES.md §3-4 over (stacked) parameters, as ``torch.optim`` builds it.

    Training uses :class:`~sweepdoctor.sweep.engine._kernels.FusedStepper`, which makes the same
    updates without ``torch.optim``'s per-step bookkeeping; this is its reference.
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
