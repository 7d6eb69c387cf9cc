"""What a sweep explores and how: the search space, one trial's parameters, the typed configuration.

Plain values only. May import: the standard library and :mod:`sweepdoctor.errors`.
Never torch, Optuna, the database or any other room of :mod:`sweepdoctor.sweep`.
"""

from __future__ import annotations

from sweepdoctor.sweep.config._config import (
    BUILTIN_DATASETS,
    GuideConfig,
    StudyConfig,
    SweepConfig,
    TrainConfig,
    load_config,
)
from sweepdoctor.sweep.config._data import CHANNELS, IMAGE_MODES, SCALES, STREAM, DataConfig, data_source
from sweepdoctor.sweep.config._params import TrialParams
from sweepdoctor.sweep.config._space import (
    ACTIVATIONS,
    CNN_PARAMS,
    MODELS,
    OPTIMIZERS,
    POOLINGS,
    SAMPLED,
    SCHEDULES,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Param,
    SearchSpace,
    admits,
    model_for,
    optimizer_params,
)

__all__ = [
    "ACTIVATIONS",
    "CNN_PARAMS",
    "MODELS",
    "POOLINGS",
    "BUILTIN_DATASETS",
    "CHANNELS",
    "STREAM",
    "IMAGE_MODES",
    "OPTIMIZERS",
    "SAMPLED",
    "SCALES",
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
    "model_for",
    "optimizer_params",
]
