"""Typed sweep configuration, from a TOML file, CLI flags or Python arguments."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config._data import DataConfig
from sweepdoctor.sweep.config._space import SearchSpace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["BUILTIN_DATASETS", "DataConfig", "GuideConfig", "StudyConfig", "SweepConfig", "TrainConfig", "load_config"]

# The built-in and generated data sets (``sweep.data`` loads them); named here, torch-free,
# so that the command line can offer them without importing torch.
BUILTIN_DATASETS = (
    "iris",
    "wine",
    "breast_cancer",
    "digits",
    "diabetes",
    "classification",  # make_classification
    "regression",  # make_regression
)

SAMPLERS = ("tpe", "random", "gp", "cmaes")
PRUNERS = ("median", "doctor", "doctor+median", "hyperband", "none")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """How each trial is trained and scored."""

    folds: int = 5
    repeats: int = 1
    epochs: int = 20
    loss: str | None = None  # cross_entropy | mse (default: cross_entropy / mse by task)
    metric: str | None = None  # accuracy | log_loss | rmse | r2 (default: accuracy / rmse)
    device: str = "auto"
    threads: int | None = None  # torch threads per worker (default: cores // workers, at most 1 on CPU)
    vectorize: bool = True  # train the folds of a trial as one batched model
    overlap_eval: bool | None = None  # measure each epoch on a spare core while the next trains (default: if spare)
    baselines: bool = True  # train the reference models the diagnostics compare with
    save_weights: bool = False  # keep each trial's best-fold weights for Hessian analysis


@dataclass(frozen=True)
class StudyConfig:
    """The Optuna study: name, storage, budget, sampler, pruner, seed."""

    name: str | None = None
    storage: str | None = None
    trials: int = 30
    timeout: float | None = None  # seconds
    sampler: str = "tpe"
    # doctor+median: the diagnosis's stops (divergence, stuck, collapse, hopeless) beside the
    # median rule; on bench_guided 1.04x less compute to the same targets, the same winner in 29 of 30
    pruner: str = "doctor+median"
    seed: int = 0
    workers: int = 1
    diagnose: bool = False
    # Seconds between a worker's heartbeats, and without one before another host takes its
    # trial over (on one machine a dead worker is seen at once). None: $SWEEPDOCTOR_HEARTBEAT_*,
    # else 5 s and three intervals.
    heartbeat_interval: float | None = None
    heartbeat_grace: float | None = None
    # Guided search (docs/guided.md): after every ``guide_every`` trials the diagnosis of the
    # trials so far re-plans the search space, within the limits of [guide].
    guided: bool = False
    guide_every: int = 8


@dataclass(frozen=True)
class GuideConfig:
    """Hard limits guided search never widens the space past ([guide] in the TOML file)."""

    min_lr: float = 1e-6
    max_lr: float = 1.0
    max_weight_decay: float = 0.1
    max_dropout: float = 0.7
    max_depth: int = 6
    max_width: int = 1024


@dataclass(frozen=True)
class SweepConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    space: SearchSpace = field(default_factory=SearchSpace)
    thresholds: Mapping[str, float] = field(default_factory=dict)  # diagnostics overrides
    guide: GuideConfig = field(default_factory=GuideConfig)

    def validate(self) -> SweepConfig:
        t, s = self.train, self.study
        _positive("train.folds", t.folds, 2)
        _positive("train.repeats", t.repeats, 1)
        _positive("train.epochs", t.epochs, 1)
        _positive("study.trials", s.trials, 1)
        _positive("study.workers", s.workers, 1)
        if t.threads is not None:
            _positive("train.threads", t.threads, 1)
        _one_of("study.sampler", s.sampler, SAMPLERS)
        _one_of("study.pruner", s.pruner, PRUNERS)
        _one_of("train.device", t.device, DEVICES)
        if t.loss is not None:
            _one_of("train.loss", t.loss, ("cross_entropy", "mse"))
        if t.metric is not None:
            _one_of("train.metric", t.metric, ("accuracy", "log_loss", "rmse", "r2"))
        self.data.validate()
        _check_data(self.data)
        _check_thresholds(self.thresholds)
        if s.timeout is not None and (isinstance(s.timeout, bool) or not isinstance(s.timeout, (int, float))
                                      or not 0 < s.timeout < float("inf")):
            raise ConfigError(f"study.timeout must be a positive number of seconds, got {s.timeout}")
        _check_seed_and_name(s)
        _check_heartbeats(s.heartbeat_interval, s.heartbeat_grace)
        _check_guide(s, self.guide)
        self.space.validate()
        return self

    def with_overrides(self, section: str, **values: Any) -> SweepConfig:
        """A copy with some fields of one section replaced (``None`` values are ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        return replace(self, **{section: replace(getattr(self, section), **values)})


_GENERATED_LEAST = {"classification": (10, 2), "regression": (10, 1)}  # n_samples, n_features (sklearn's own)


def _check_data(d: DataConfig) -> None:
    """data.dataset names a built-in set; data.n_samples / n_features are sizes it can make."""
    if d.dataset is not None and d.dataset not in BUILTIN_DATASETS:
        raise ConfigError(f"data.dataset must be one of {', '.join(BUILTIN_DATASETS)}, got {d.dataset!r}; "
                          "for your own data give data.csv, data.npz or data.images")
    rows, columns = _GENERATED_LEAST.get(d.dataset or "", (1, 1))
    for key, value, least in (("n_samples", d.n_samples, rows), ("n_features", d.n_features, columns)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"data.{key} must be an integer >= {least}, got {value!r}; "
                              f"set --{key.replace('_', '-')} {least} or more")


def _check_thresholds(thresholds: Any) -> None:
    """Each [thresholds] value is a finite number (the names are checked by the diagnostics at the start)."""
    if not isinstance(thresholds, Mapping):
        raise ConfigError(f"[thresholds] must be a table of name = number, got {thresholds!r}")
    for key, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise ConfigError(f"thresholds.{key} must be a finite number, got {value!r}; "
                              "write it without quotes (like 0.1)")


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond a float
        return False


def _check_seed_and_name(s: StudyConfig) -> None:
    if isinstance(s.seed, bool) or not isinstance(s.seed, int) or not 0 <= s.seed < 2**32:
        raise ConfigError(f"study.seed must be an integer from 0 to 2**32 - 1 (4294967295), got {s.seed!r}")
    if s.name is not None and (not isinstance(s.name, str) or not s.name.strip()):
        raise ConfigError(f"study.name must be a non-empty string, got {s.name!r}; give a name (--study NAME) "
                          "or leave it out for the default")


# What a TOML value of each annotated field type may be (ints are floats too, bools are not ints).
_TOML_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_TOML_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def _check_types(cls: type[Any], doc: Mapping[str, Any], name: str) -> None:
    """Each value of a TOML section has its field's type (``timeout = "x"`` is refused here, by name)."""
    for f in fields(cls):
        if f.name not in doc or not isinstance(f.type, str):
            continue
        value, kinds = doc[f.name], [k.strip() for k in f.type.split("|")]
        if value is None and "None" in kinds:
            continue
        kinds = [k for k in kinds if k != "None"]
        allowed = tuple(t for k in kinds for t in _TOML_TYPES.get(k, (object,)))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join(_TOML_NAMES.get(k, k) for k in kinds)
            raise ConfigError(f"{name}.{f.name} must be {want}, got {value!r}; fix it in the [{name}] table")


def _positive(key: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")


DEFAULT_HEARTBEAT_INTERVAL_S = 5.0  # the search room's default too (its grace: three intervals)


def _check_heartbeats(interval: Any, grace: Any) -> None:
    """study.heartbeat_interval / heartbeat_grace: positive seconds, the grace longer than the interval."""
    for key, flag, value in (("study.heartbeat_interval", "--heartbeat-interval", interval),
                             ("study.heartbeat_grace", "--heartbeat-grace", grace)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
            raise ConfigError(f"{key} ({flag}) must be a number of seconds > 0, got {value!r}")
    if grace is not None:
        beat = interval if interval is not None else DEFAULT_HEARTBEAT_INTERVAL_S
        if not grace > beat:
            raise ConfigError(
                f"study.heartbeat_grace (--heartbeat-grace) must be longer than the heartbeat interval ({beat:g} s), "
                f"got {grace:g}; raise it or shorten --heartbeat-interval"
            )


def _check_guide(s: StudyConfig, g: GuideConfig) -> None:
    """study.guided / guide_every and the [guide] limits."""
    if not isinstance(s.guided, bool):
        raise ConfigError(f"study.guided must be true or false, got {s.guided!r}")
    _positive("study.guide_every", s.guide_every, 2)
    if s.guided and s.workers > 1:
        raise ConfigError("study.guided re-plans the space between rounds in one process; use --workers 1 with it")
    for key, value in (("min_lr", g.min_lr), ("max_lr", g.max_lr), ("max_weight_decay", g.max_weight_decay),
                       ("max_dropout", g.max_dropout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ConfigError(f"guide.{key} must be a positive number, got {value!r}")
    if not g.min_lr < g.max_lr:
        raise ConfigError(f"guide.min_lr must be below guide.max_lr, got {g.min_lr} and {g.max_lr}")
    if g.max_dropout >= 1:
        raise ConfigError(f"guide.max_dropout must be below 1, got {g.max_dropout}")
    _positive("guide.max_depth", g.max_depth, 1)
    _positive("guide.max_width", g.max_width, 1)


def _one_of(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


def _section(cls: type[Any], doc: Any, name: str) -> Any:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in doc:
        if key not in known:
            raise ConfigError(f"{name}: unknown key {key!r}; valid keys: {', '.join(sorted(known))}")
    _check_types(cls, doc, name)
    return cls(**dict(doc))


def config_from_mapping(doc: Mapping[str, Any]) -> SweepConfig:
    sections = {"data", "train", "study", "space", "thresholds", "guide"}
    for key in doc:
        if key not in sections:
            raise ConfigError(f"config: unknown section {key!r}; valid sections: {', '.join(sorted(sections))}")
    thresholds = doc.get("thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise ConfigError("[thresholds] must be a table")
    try:
        cfg = SweepConfig(
            data=_section(DataConfig, doc.get("data", {}), "data"),
            train=_section(TrainConfig, doc.get("train", {}), "train"),
            study=_section(StudyConfig, doc.get("study", {}), "study"),
            space=SearchSpace.from_mapping(doc.get("space", {})),
            thresholds=dict(thresholds),
            guide=_section(GuideConfig, doc.get("guide", {}), "guide"),
        )
    except TypeError as e:
        raise ConfigError(f"config: {e}") from None
    return cfg.validate()


def load_config(path: str | Path) -> SweepConfig:
    """Read a sweep TOML file (see ``examples/sweep.toml``)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"config: cannot read {str(p)!r}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config: {str(p)!r} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: {str(p)!r} is not valid TOML: {e}") from None
    return config_from_mapping(doc)
