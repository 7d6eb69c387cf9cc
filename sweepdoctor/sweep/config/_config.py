"""Typed sweep configuration, from a TOML file, CLI flags or Python arguments."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config._space import SearchSpace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DataConfig", "StudyConfig", "SweepConfig", "TrainConfig", "load_config"]

SAMPLERS = ("tpe", "random", "gp", "cmaes")
PRUNERS = ("median", "hyperband", "none")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: a built-in/generated dataset or a CSV file."""

    dataset: str | None = None  # iris, wine, breast_cancer, digits, diabetes, classification, regression
    csv: str | None = None
    target: str | None = None  # the CSV's target column
    test_csv: str | None = None  # a test set from the deployment distribution
    task: str | None = None  # classification | regression (inferred when absent)
    n_samples: int = 1000  # for generated datasets
    n_features: int = 20


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
    pruner: str = "median"
    seed: int = 0
    workers: int = 1
    diagnose: bool = False


@dataclass(frozen=True)
class SweepConfig:
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    space: SearchSpace = field(default_factory=SearchSpace)
    thresholds: Mapping[str, float] = field(default_factory=dict)  # diagnostics overrides

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
        if self.data.task is not None:
            _one_of("data.task", self.data.task, ("classification", "regression"))
        if self.data.csv is not None and self.data.target is None:
            raise ConfigError("data.target: a CSV needs the name of its target column (--target)")
        if s.timeout is not None and s.timeout <= 0:
            raise ConfigError(f"study.timeout must be positive, got {s.timeout}")
        self.space.validate()
        return self

    def with_overrides(self, section: str, **values: Any) -> SweepConfig:
        """A copy with some fields of one section replaced (``None`` values are ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        return replace(self, **{section: replace(getattr(self, section), **values)})


def data_source(cfg: DataConfig, *, seed: int) -> dict[str, Any]:
    """A JSON-able record of where the data came from (file paths made absolute)."""
    doc: dict[str, Any] = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for key in ("csv", "test_csv"):
        if doc[key] is not None:
            doc[key] = str(Path(doc[key]).resolve())
    doc["seed"] = seed
    return doc


def _positive(key: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")


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
    return cls(**dict(doc))


def config_from_mapping(doc: Mapping[str, Any]) -> SweepConfig:
    sections = {"data", "train", "study", "space", "thresholds"}
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
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: {str(p)!r} is not valid TOML: {e}") from None
    return config_from_mapping(doc)
