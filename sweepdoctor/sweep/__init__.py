"""Sweeps: data → search space → k-fold training (folds in lockstep) → Optuna study.

The one front door, for Python and the CLI alike::

    from sweepdoctor import sweep
    result = sweep.run(X=X, y=y, n_trials=30, storage="sqlite:///s.db")
    result = sweep.run(model_fn=my_factory, X=X, y=y, space=sweep.SearchSpace(lr=...))
    result = sweep.run(sweep.load_config("sweep.toml"), sampler=optuna.samplers.TPESampler(seed=1))

``model_fn(hp, n_inputs, n_outputs) -> nn.Module`` receives the trial's
:class:`TrialParams` and ``n_inputs``: a table's number of features, or one sample's shape
``(C, H, W)`` / ``(C, L)`` for images and sequences. Without it the built-in MLP (tables) or
CNN (images, sequences) is used. :func:`load_model` reads back what ``--refit`` saved.

Rooms, one way down (checked by import-linter, see ``.importlinter``):

- ``agent/``: submitted sweeps: :func:`check_submission` before one is stored, :func:`run_agent`
  (``sweepdoctor agent``) to run them on any host (no web extra needed);
- ``search/``: the Optuna study, trials, workers, baselines, refit (:func:`run` lives here);
- ``engine/``: torch training of one configuration on every fold, and the measuring helper;
- ``guide/``: guided search's plan rules (findings and a space in, a new space and reasons out);
- ``data/``: datasets, CSV files, folds, fold tensors;
- ``config/``: the search space, one trial's parameters, the typed configuration.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from sweepdoctor.sweep.agent import AgentOptions, Submission, check_submission, run_agent, tables_to_toml
    from sweepdoctor.sweep.config import (
        BUILTIN_DATASETS,
        Choice,
        DataConfig,
        Fixed,
        FloatRange,
        GuideConfig,
        IntRange,
        SearchSpace,
        StudyConfig,
        SweepConfig,
        TrainConfig,
        TrialParams,
        load_config,
    )
    from sweepdoctor.sweep.data import (
        Dataset,
        FoldData,
        SampleStream,
        Split,
        from_arrays,
        from_dataset,
        load_builtin,
        load_csv,
        load_dataset,
        load_image_folder,
        load_npz,
        make_splits,
        prepare_folds,
        splits_hash,
    )
    from sweepdoctor.sweep.engine import FitResult, ModelFn, build_cnn, build_mlp, fit_folds
    from sweepdoctor.sweep.guide import Suggestion, suggest_next
    from sweepdoctor.sweep.search import (
        DoctorPruner,
        HeartbeatSettings,
        LoadedModel,
        SweepResult,
        TrialEvent,
        fail_stale_in_study,
        load_model,
        refit,
        resolve_task_settings,
        run,
        study_hessians,
    )

# Each public name and its room, imported on first use (PEP 562): the measuring process
# imports the engine and must not pay for the rest (Optuna, scikit-learn, SQLAlchemy:
# ~1 s of start-up).
_LAZY = {
    **dict.fromkeys(("AgentOptions", "Submission", "check_submission", "run_agent", "tables_to_toml"), "agent"),
    **dict.fromkeys(
        ("BUILTIN_DATASETS", "Choice", "DataConfig", "Fixed", "FloatRange", "GuideConfig", "IntRange", "SearchSpace",
         "StudyConfig", "SweepConfig", "TrainConfig", "TrialParams", "load_config"),
        "config",
    ),
    **dict.fromkeys(
        ("Dataset", "FoldData", "SampleStream", "Split", "from_arrays", "from_dataset", "load_builtin", "load_csv",
         "load_dataset", "load_image_folder", "load_npz", "make_splits", "prepare_folds", "splits_hash"),
        "data",
    ),
    **dict.fromkeys(("FitResult", "ModelFn", "build_cnn", "build_mlp", "fit_folds"), "engine"),
    **dict.fromkeys(("Suggestion", "suggest_next"), "guide"),
    **dict.fromkeys(
        ("DoctorPruner", "HeartbeatSettings", "SweepResult", "TrialEvent", "fail_stale_in_study", "refit",
         "LoadedModel", "load_model",
         "resolve_task_settings", "run", "study_hessians"),
        "search",
    ),
}


def __getattr__(name: str) -> _typing.Any:
    room = _LAZY.get(name)
    if room is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{room}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AgentOptions",
    "BUILTIN_DATASETS",
    "Choice",
    "DataConfig",
    "Dataset",
    "DoctorPruner",
    "FitResult",
    "Fixed",
    "FloatRange",
    "FoldData",
    "GuideConfig",
    "HeartbeatSettings",
    "IntRange",
    "LoadedModel",
    "ModelFn",
    "SearchSpace",
    "SampleStream",
    "Split",
    "StudyConfig",
    "Submission",
    "Suggestion",
    "SweepConfig",
    "SweepResult",
    "TrainConfig",
    "TrialEvent",
    "TrialParams",
    "build_cnn",
    "build_mlp",
    "check_submission",
    "fail_stale_in_study",
    "fit_folds",
    "from_arrays",
    "from_dataset",
    "load_builtin",
    "load_config",
    "load_csv",
    "load_dataset",
    "load_image_folder",
    "load_model",
    "load_npz",
    "make_splits",
    "prepare_folds",
    "refit",
    "resolve_task_settings",
    "run",
    "run_agent",
    "splits_hash",
    "study_hessians",
    "suggest_next",
    "tables_to_toml",
]
