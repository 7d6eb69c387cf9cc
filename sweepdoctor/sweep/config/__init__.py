"""What a sweep explores and how: the search space, one trial's parameters, the typed configuration.

Plain values only. May import: the standard library and :mod:`sweepdoctor.errors`.
Never torch, Optuna, the database or any other room of :mod:`sweepdoctor.sweep`.
"""

from __future__ import annotations

from sweepdoctor.sweep.config._config import (
    BUILTIN_DATASETS,
    DataConfig,
    GuideConfig,
    StudyConfig,
    SweepConfig,
    TrainConfig,
    data_source,
    load_config,
)
from sweepdoctor.sweep.config._params import TrialParams
from sweepdoctor.sweep.config._space import (
    ACTIVATIONS,
    OPTIMIZERS,
    SAMPLED,
    SCHEDULES,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Param,
    SearchSpace,
    admits,
    optimizer_params,
)

__all__ = [
    "ACTIVATIONS",
    "BUILTIN_DATASETS",
    "OPTIMIZERS",
    "SAMPLED",
    "SCHEDULES",
    "Choice",
    "DataConfig",
    "Fixed",
    "FloatRange",
    "GuideConfig",
    "IntRange",
    "Param",
    "SearchSpace",
    "StudyConfig",
    "SweepConfig",
    "TrainConfig",
    "TrialParams",
    "data_source",
    "load_config",
    "admits",
    "optimizer_params",
]
