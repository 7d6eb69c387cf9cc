"""The torch training engine: fold stacks, hand-written kernels, optimizers, schedules, trainers,
end-of-epoch measurement, the helper process that measures on a spare core, and the
sweep's reference MLPs.

It trains one configuration (a :class:`~sweepdoctor.sweep.config.TrialParams`) on every
fold of a :class:`~sweepdoctor.sweep.data.FoldData` and returns curves and scores.
May import: torch, numpy, :mod:`sweepdoctor.diagnostics` (records, the ``Task`` enum),
:mod:`sweepdoctor.errors` and the ``config`` and ``data`` rooms. Never Optuna,
SQLAlchemy, :mod:`sweepdoctor.studies`, the ``search`` room or a face (``cli``): what
the measuring helper writes to a study it does through a reporter the caller passes in.
"""

from __future__ import annotations

from sweepdoctor.sweep.engine._cnn import StackedCNN, build_builtin, build_cnn, lockstep_pays
from sweepdoctor.sweep.engine._fit import (
    FitResult,
    ModelFn,
    OnEpoch,
    check_model_fn,
    cnn_arch,
    fit_folds,
    fold_seed,
    metric_direction,
    model_inputs,
)
from sweepdoctor.sweep.engine._measurer import FirstJob, Measurer, Reporter, start_measurer
from sweepdoctor.sweep.engine._models import build_mlp
from sweepdoctor.sweep.engine._optim import LOSSES, METRICS, row_loss
from sweepdoctor.sweep.engine._pipeline import OVERLAP_ENV, available_cores, measure_in_background
from sweepdoctor.sweep.engine._references import BASELINE_MLPS, Scored, reference_job, scored_mlp_baselines

__all__ = [
    "BASELINE_MLPS",
    "LOSSES",
    "METRICS",
    "OVERLAP_ENV",
    "FirstJob",
    "FitResult",
    "Measurer",
    "ModelFn",
    "OnEpoch",
    "Reporter",
    "Scored",
    "StackedCNN",
    "available_cores",
    "build_builtin",
    "build_cnn",
    "build_mlp",
    "check_model_fn",
    "cnn_arch",
    "fit_folds",
    "fold_seed",
    "lockstep_pays",
    "measure_in_background",
    "metric_direction",
    "model_inputs",
    "reference_job",
    "row_loss",
    "scored_mlp_baselines",
    "start_measurer",
]
