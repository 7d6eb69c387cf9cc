"""The study's sampler: the factory for ``study.sampler``, and the wrapper that keeps a guided plan's space."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import Choice, Fixed, FloatRange, IntRange, Param, SearchSpace, admits

__all__ = ["FALLBACK_ATTR", "REDRAWS", "NarrowedSampler", "allows", "make_sampler"]


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"study.sampler must be one of tpe, random, gp, cmaes, got {name!r}")


# A sampler that keeps to a guided plan's space while Optuna is asked with the study's own.
#
# Optuna fixes a categorical parameter's choices for the whole study (its storage refuses
# a ``CategoricalDistribution`` whose choices differ from an earlier trial's), and its
# default multivariate TPE models jointly only the parameters whose distribution is the
# same in every trial: a narrowed ``lr`` range would drop ``lr`` out of the joint model
# for the rest of the study. So a guided study asks Optuna with the study's own ranges and
# choices wherever the plan narrows them, and this wrapper keeps the draws inside the
# current plan (:meth:`NarrowedSampler.narrow`): the wrapped sampler proposes, a proposal
# outside the plan is drawn again (its random state has moved on), and after
# :data:`REDRAWS` refusals the wrapper draws inside the plan with its own seeded
# generator. The wrapped sampler still learns from every trial, and the study stays an
# ordinary Optuna study.
REDRAWS = 16
# The trial's system attribute that names the parameters the wrapper drew itself (after
# REDRAWS refusals): how often the narrowed space fights the wrapped sampler (bench_guided).
FALLBACK_ATTR = "sd_narrowed_fallback"


def _plan_param(space: SearchSpace, name: str, params: Mapping[str, Any]) -> Param | None:
    """What the plan allows for ``name``, given the trial's parameters so far (``lr`` follows the optimizer)."""
    if name == "lr":
        opt = params.get("optimizer", space.optimizer.value if isinstance(space.optimizer, Fixed) else None)
        return space.lr_for(opt)
    p = getattr(space, name, None)
    return p if isinstance(p, (Fixed, Choice, FloatRange, IntRange)) else None  # use_<name> flags: not narrowed


def allows(space: SearchSpace, name: str, value: Any, params: Mapping[str, Any]) -> bool:
    """Whether the plan ``space`` lets parameter ``name`` take ``value`` (given the trial's other parameters)."""
    p = _plan_param(space, name, params)
    return p is None or admits(p, value)


class NarrowedSampler(optuna.samplers.BaseSampler):
    """``inner``, kept to the space of :meth:`narrow` (None: no narrowing)."""

    def __init__(self, inner: optuna.samplers.BaseSampler, *, seed: int | None = None) -> None:
        self.inner = inner
        self.space: SearchSpace | None = None
        self._rng = np.random.RandomState(seed)

    def narrow(self, space: SearchSpace | None) -> None:
        """From now on, keep every draw inside ``space`` (a guided round's plan)."""
        self.space = space

    def _fits(self, name: str, value: Any, params: Mapping[str, Any]) -> bool:
        return self.space is None or allows(self.space, name, value, params)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        for _ in range(REDRAWS):
            drawn = self.inner.sample_relative(study, trial, search_space)
            params = {**trial.params, **drawn}
            if all(self._fits(k, v, params) for k, v in drawn.items()):
                return drawn
        return {}  # each parameter is then drawn on its own (sample_independent), inside the plan

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if self.space is None:
            return self.inner.sample_independent(study, trial, param_name, param_distribution)
        for _ in range(REDRAWS):
            value = self.inner.sample_independent(study, trial, param_name, param_distribution)
            if self._fits(param_name, value, trial.params):
                return value
        drawn = study._storage.get_trial(trial._trial_id).system_attrs.get(FALLBACK_ATTR, [])
        study._storage.set_trial_system_attr(trial._trial_id, FALLBACK_ATTR, [*drawn, param_name])
        return self._inside(param_name, param_distribution, trial.params)

    def _inside(self, name: str, dist: BaseDistribution, params: Mapping[str, Any]) -> Any:
        """A draw of the wrapper's own inside the plan (the wrapped sampler kept proposing outside it)."""
        if isinstance(dist, CategoricalDistribution):
            offered = [c for c in dist.choices if self._fits(name, c, params)] or list(dist.choices)
            return offered[self._rng.randint(len(offered))]
        p = _plan_param(self.space, name, params) if self.space is not None else None
        low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
        if isinstance(p, Fixed):
            return p.value
        if isinstance(p, (FloatRange, IntRange)):
            low, high = max(low, p.low), min(high, p.high)
        log = bool(getattr(dist, "log", False)) and low > 0
        if isinstance(dist, IntDistribution):
            return int(self._rng.randint(math.ceil(low), math.floor(high) + 1))
        assert isinstance(dist, FloatDistribution)
        if log:
            return float(math.exp(self._rng.uniform(math.log(low), math.log(high))))
        return float(self._rng.uniform(low, high))

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
        self._rng = np.random.RandomState()
