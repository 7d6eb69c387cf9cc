"""The search: the Optuna study, its trials, the workers that share it, the reference baselines, refit.

:func:`run` is the one front door (the CLI calls it too). A sweep opens its study
(``_setup``), trains the reference baselines (``_baselines``), claims trials within the
budget and keeps them alive (``_coordinator``, ``_heartbeat``), trains each through the
engine (``_trials``), in worker processes when asked (``_workers``), and returns a
frozen :class:`SweepResult` (``_result``). The study's parts have a module each: storage
(``_storage``), samplers (``_samplers``), pruners (``_pruners``; the diagnosis pruner,
:class:`DoctorPruner`, in ``_doctor_pruner``), the measuring helper's reporter
(``_reporter``) and asking for a trial's parameters (``_suggest``).

May import: Optuna, SQLAlchemy, torch, numpy, scikit-learn, :mod:`sweepdoctor.studies`,
:mod:`sweepdoctor.diagnostics`, :mod:`sweepdoctor.errors` and the ``config``, ``data``
and ``engine`` rooms. Never a face (``cli``, ``service``).
"""

from __future__ import annotations

from sweepdoctor.sweep.search._doctor_pruner import DoctorPruner
from sweepdoctor.sweep.search._heartbeat import HeartbeatSettings, fail_stale_in_study
from sweepdoctor.sweep.search._refit import LoadedModel, load_model, refit
from sweepdoctor.sweep.search._result import SweepResult, TrialEvent
from sweepdoctor.sweep.search._runner import run, run_sweep
from sweepdoctor.sweep.search._setup import Plugins, resolve_task_settings
from sweepdoctor.sweep.search._study import DATA_SOURCE_ATTR, STUDY_ATTR
from sweepdoctor.sweep.search._weights import study_hessians, weights_dir

__all__ = [
    "DATA_SOURCE_ATTR",
    "STUDY_ATTR",
    "DoctorPruner",
    "HeartbeatSettings",
    "Plugins",
    "SweepResult",
    "TrialEvent",
    "fail_stale_in_study",
    "LoadedModel",
    "load_model",
    "refit",
    "resolve_task_settings",
    "run",
    "run_sweep",
    "study_hessians",
    "weights_dir",
]
