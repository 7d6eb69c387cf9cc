"""The Optuna study: storage, sampler (and its guided narrowing), pruner, the resume checks, and asking it for
a trial's parameters."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.errors import ConfigError, StorageError
from sweepdoctor.studies import (
    SQLITE_BUSY_TIMEOUT_S,
    Store,
    check_url,
    mask_url,
    retry_concurrent_create,
    sqlite_write_ahead,
)
from sweepdoctor.sweep.config import (
    SAMPLED,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Param,
    SearchSpace,
    StudyConfig,
    TrialParams,
    admits,
    optimizer_params,
)

__all__ = [
    "DATA_SOURCE_ATTR",
    "REDRAWS",
    "STUDY_ATTR",
    "NarrowedSampler",
    "StudyReporter",
    "WarmupMedianPruner",
    "check_or_set_fingerprint",
    "make_pruner",
    "make_sampler",
    "open_study",
    "allows",
    "optuna_storage",
    "suggest",
]

logger = logging.getLogger(__name__)

# The study user attribute holding what must not change when a study is resumed.
STUDY_ATTR = "sweepdoctor"
# The study user attribute saying where the data came from (informative, not compared).
DATA_SOURCE_ATTR = "sweepdoctor_data"
# The median pruner gives no verdict on the first 1/PRUNE_AFTER_FRACTION of the epochs.
PRUNE_AFTER_FRACTION = 10


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for ``url``, with a lock timeout for SQLite.

    It opens the URL :func:`~sweepdoctor.studies.check_url` returns (a bare ``postgresql://``
    or ``mysql://`` gets the installed driver), as our own engine does.
    """
    resolved = check_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if make_url(resolved).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        # Workers starting together on an empty database race to create Optuna's tables.
        storage = retry_concurrent_create(lambda: optuna.storages.RDBStorage(resolved, engine_kwargs=kwargs))
        sqlite_write_ahead(storage.engine)  # a commit per report/attribute: make them cheap
        return storage
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError, ImportError, ValueError, RuntimeError) as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise StorageError(
            f"storage: cannot open {mask_url(url)!r}: {mask_url(first[0]) if first else type(e).__name__}"
        ) from e


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


class WarmupMedianPruner(optuna.pruners.MedianPruner):
    """Optuna's MedianPruner, reading the study once per trial rather than once per epoch.

    - Warm-up epochs are answered without reading the study (MedianPruner says "go on"
      below ``n_warmup_steps`` anyway, but only after loading every complete trial).
    - The complete trials a trial is compared with are read at its first verdict and kept
      for its later epochs: ~3.5 ms per epoch and trial on SQLite, 1.4 s of a 30-trial
      digits sweep. A trial that completes meanwhile (another worker's, or one trained
      alongside) joins the comparison from the next trial on; the verdicts are otherwise
      MedianPruner's own.
    """

    def __init__(self, *, n_startup_trials: int, n_warmup_steps: int) -> None:
        super().__init__(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
        self.warmup_steps = n_warmup_steps
        self._complete: dict[int, list[optuna.trial.FrozenTrial]] = {}  # trial number -> what it is compared with

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.warmup_steps:
            return False
        complete = self._complete.get(trial.number)
        if complete is None:
            complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            self._complete = {trial.number: complete, **self._complete}
            if len(self._complete) > _PRUNER_CACHE_TRIALS:  # keep the newest few (trials trained alongside)
                self._complete = dict(list(self._complete.items())[:_PRUNER_CACHE_TRIALS])
        # MedianPruner reads only the study's direction and complete trials: a stand-in answers both.
        return super().prune(cast(optuna.Study, _CompleteTrials(study, complete)), trial)


# Trials whose comparison set the pruner keeps: more than a worker trains at once.
_PRUNER_CACHE_TRIALS = 64


class _CompleteTrials:
    """The parts of a study MedianPruner reads, answering from a list of its complete trials."""

    def __init__(self, study: optuna.Study, complete: list[optuna.trial.FrozenTrial]) -> None:
        self.direction = study.direction
        self._study = study
        self._complete = complete

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[optuna.trial.FrozenTrial]:
        if states is not None and tuple(states) == (optuna.trial.TrialState.COMPLETE,):
            return list(self._complete)
        return self._study.get_trials(deepcopy=deepcopy, states=states)  # not read by MedianPruner today


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":
        # Five complete trials before pruning, and no verdict on the first tenth of
        # training. A quarter was tried first: on digits (30 trials x 20 epochs, 3 seeds)
        # a tenth trained 8% less for the same best score on every seed.
        return WarmupMedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // PRUNE_AFTER_FRACTION))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"study.pruner must be one of median, hyperband, none, got {name!r}")


def open_study(
    cfg: StudyConfig,
    *,
    name: str,
    url: str,
    direction: str,
    epochs: int,
    storage: optuna.storages.BaseStorage,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (its direction must match).

    ``sampler``/``pruner``: instances that replace the ones ``cfg`` names.
    """
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        existing = None
    if existing is not None and existing.direction.name.lower() != direction:
        raise ConfigError(
            f"study {name!r} exists in {mask_url(url)!r} with direction "
            f"{existing.direction.name.lower()}, but this sweep would {direction}; use another --study"
        )
    return optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,  # type: ignore[arg-type]
        sampler=sampler if sampler is not None else make_sampler(cfg.sampler, cfg.seed),
        pruner=pruner if pruner is not None else make_pruner(cfg.pruner, epochs),
        load_if_exists=True,
    )


def check_or_set_fingerprint(study: optuna.Study, fingerprint: dict[str, Any], *, store: Store, study_id: int) -> bool:
    """Store what defines the study, or refuse to resume it with something else.

    The user attribute ``STUDY_ATTR`` holds the settings with a short hash of the search
    space (Optuna's study listing prints every user attribute); the space itself goes to
    our ``sd_study_docs``. A study made before that, with the whole space in the attribute,
    resumes as before and is rewritten in the short form. Returns True when resumed.
    """
    fp = json.loads(json.dumps(fingerprint))
    space = fp.pop(SPACE_KEY)
    short = {**fp, SPACE_KEY: _space_hash(space)}
    old = study.user_attrs.get(STUDY_ATTR)
    if old is None:
        if study.trials:
            raise ConfigError(
                f"study {study.study_name!r} already has trials but was not made by sweepdoctor; use another --study"
            )
        store.put_study_doc(study_id=study_id, key=SPACE_KEY, document=space)
        study.set_user_attr(STUDY_ATTR, short)
        for key in ("task", "metric", "loss"):
            study.set_user_attr(key, fp[key])
        return False
    stored_space = old.get(SPACE_KEY) if isinstance(old, dict) else None
    legacy = isinstance(stored_space, dict)  # made before the space moved to sd_study_docs
    old_short = {**old, SPACE_KEY: _space_hash(stored_space)} if legacy else dict(old)
    changed = sorted(k for k in set(old_short) | set(short) if old_short.get(k) != short.get(k))
    if changed:
        old_space = stored_space if legacy else store.study_doc(study_id, SPACE_KEY)
        said = "; ".join(_changed(k, old_short.get(k), short.get(k), old_space, space) for k in changed)
        raise ConfigError(
            f"study {study.study_name!r} was made with other settings ({said}); "
            "resume it with the same data and settings, or use another --study"
        )
    if legacy:  # rewrite in the short form: `optuna studies` becomes readable
        store.put_study_doc(study_id=study_id, key=SPACE_KEY, document=space)
        study.set_user_attr(STUDY_ATTR, short)
    return True


# The fingerprint's key for the search space, and the name of its document in sd_study_docs.
SPACE_KEY = "space"


def _space_hash(space: Any) -> str:
    text = json.dumps(space, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _changed(key: str, old: Any, new: Any, old_space: Any, new_space: Any) -> str:
    """One changed setting, stored and given value (for the space: each changed parameter)."""
    if key == SPACE_KEY and isinstance(old_space, dict) and isinstance(new_space, dict):
        params = sorted(k for k in set(old_space) | set(new_space) if old_space.get(k) != new_space.get(k))
        return ", ".join(
            f"space.{p}: stored {_param_text(old_space.get(p))}, given {_param_text(new_space.get(p))}" for p in params
        )
    if key == "data":
        return f"data: stored rows hash {old}, given {new} (other rows, columns or order)"
    return f"{key}: stored {_brief(old)}, given {_brief(new)}"


def _param_text(p: Any) -> str:
    if not isinstance(p, dict):
        return _brief(p)
    return " ".join(f"{k}={_brief(v)}" for k, v in p.items() if k != "kind" and v not in (False, None))


def _brief(v: Any) -> str:
    text = "none" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


class StudyReporter:
    """Writes epochs' values to the study from the measuring helper (the engine's ``Reporter``).

    The helper builds it from a pickled ``functools.partial(StudyReporter, url)``.

    Any failure (the database away, the trial failed by another worker meanwhile) leaves
    the value unwritten, and the sweep reports it itself, with its retries and checks.
    """

    def __init__(self, url: str) -> None:
        self._storage: Any = None
        try:
            self._storage = optuna_storage(url)
        except Exception as e:  # noqa: BLE001 - the sweep's process reports instead
            logger.debug("measuring process: cannot open the study's storage: %s", e)

    def report(self, trial_id: int, epoch: int, value: float) -> bool:
        if self._storage is None or not math.isfinite(value):
            return False
        try:
            self._storage.set_trial_intermediate_value(trial_id, epoch, value)
        except Exception as e:  # noqa: BLE001 - the sweep's process reports it instead
            logger.debug("measuring process: epoch %d of trial id %d not reported: %s", epoch, trial_id, e)
            return False
        return True


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
    for k in ("batch_size", "patience", "depth", "width"):
        values[k] = int(values[k])
    for k in ("lr", "weight_decay", "dropout"):
        values[k] = float(values[k])
    return TrialParams(**values)
