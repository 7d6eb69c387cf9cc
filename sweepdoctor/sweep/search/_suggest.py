"""Asking Optuna for one point of the search space (conditional parameters only where used)."""

from __future__ import annotations

from typing import Any

import optuna

from sweepdoctor.sweep.config import (
    SAMPLED,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Param,
    SearchSpace,
    TrialParams,
    optimizer_params,
)

__all__ = ["probe_params", "suggest"]


def _wider(p: Param, outer: Param) -> Param:
    """``outer`` where it holds all of ``p`` and keeps Optuna's kind of distribution, else ``p``."""
    if isinstance(outer, Choice) and isinstance(p, (Choice, Fixed)):
        values = p.values if isinstance(p, Choice) else (p.value,)
        return outer if set(values) <= set(outer.values) else p
    if isinstance(outer, FloatRange) and isinstance(p, FloatRange):
        same = (outer.log, outer.include_zero) == (p.log, p.include_zero)
        return outer if same and outer.low <= p.low and p.high <= outer.high else p
    if isinstance(outer, IntRange) and isinstance(p, IntRange):
        return outer if outer.log == p.log and outer.low <= p.low and p.high <= outer.high else p
    return p


def _suggest_one(trial: optuna.Trial, name: str, p: Param) -> Any:
    if isinstance(p, Fixed):
        return p.value
    if isinstance(p, Choice):
        return trial.suggest_categorical(name, list(p.values))
    if isinstance(p, IntRange):
        return trial.suggest_int(name, p.low, p.high, log=p.log)
    if p.include_zero and not trial.suggest_categorical(f"use_{name}", [True, False]):
        return 0.0
    return trial.suggest_float(name, p.low, p.high, log=p.log)


def suggest(trial: optuna.Trial, space: SearchSpace, *, asked: SearchSpace | None = None) -> TrialParams:
    """Ask Optuna for one point of the space (conditional parameters only where used).

    ``asked``: the study's own space, when ``space`` is a guided plan's: a parameter the
    plan narrowed is asked with the study's range or choices, which stay the same in every
    trial, and the study's :class:`NarrowedSampler`
    keeps the draw inside the plan. ``lr`` comes from the drawn optimizer's window (``space.lr_for``).
    """
    def ask(name: str, p: Param) -> Param:
        return p if asked is None else _wider(p, getattr(asked, name))

    opt = _suggest_one(trial, "optimizer", ask("optimizer", space.optimizer))
    values: dict[str, Any] = {"optimizer": opt}
    for name in (*SAMPLED, *optimizer_params(opt)):
        values[name] = _suggest_one(trial, name, ask(name, space.lr_for(opt) if name == "lr" else getattr(space, name)))
    return _params(values)


def _params(values: dict[str, Any]) -> TrialParams:
    """The drawn values as a trial's parameters (integers and floats as TrialParams holds them)."""
    for k in ("batch_size", "patience", "depth", "width"):
        values[k] = int(values[k])
    for k in ("lr", "weight_decay", "dropout"):
        values[k] = float(values[k])
    return TrialParams(**values)


def _first(p: Param) -> Any:
    if isinstance(p, Fixed):
        return p.value
    if isinstance(p, Choice):
        return p.values[0]
    return p.low


def probe_params(space: SearchSpace) -> TrialParams:
    """One point of the space without a trial (each parameter's value, first choice or low end): what a
    ``model_fn`` is checked with before the first trial."""
    opt = _first(space.optimizer)
    values: dict[str, Any] = {"optimizer": opt}
    for name in (*SAMPLED, *optimizer_params(opt)):
        values[name] = _first(space.lr_for(opt) if name == "lr" else getattr(space, name))
    return _params(values)
