"""Opening a sweep: its task settings, folds, fold tensors, Optuna study and our tables.

The parent of ``--workers N`` and each worker process open the same sweep the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import torch
from threadpoolctl import threadpool_limits

from sweepdoctor.diagnostics import Task, Thresholds
from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.studies import Store, StudyLock, check_writable, default_storage
from sweepdoctor.sweep.config import (
    Choice,
    DataConfig,
    Fixed,
    Param,
    SearchSpace,
    SweepConfig,
    admits,
    data_source,
    model_for,
)
from sweepdoctor.sweep.data import Dataset, FoldData, Split, make_splits, pick_device, prepare_folds, splits_hash
from sweepdoctor.sweep.engine import (
    LOSSES,
    METRICS,
    Measurer,
    ModelFn,
    measure_in_background,
    metric_direction,
    reference_job,
    start_measurer,
)
from sweepdoctor.sweep.search._reporter import StudyReporter
from sweepdoctor.sweep.search._storage import optuna_storage
from sweepdoctor.sweep.search._study import DATA_SOURCE_ATTR, check_or_set_fingerprint, open_study

__all__ = [
    "Plugins",
    "Sweep",
    "close_connections",
    "fold_tensors",
    "needs_baselines",
    "open_sweep",
    "resolve_model",
    "resolve_task_settings",
    "start_helper",
    "torch_threads",
]


@dataclass(frozen=True)
class Plugins:
    """What a caller may pass beyond the configuration: a model, Optuna parts, errors to catch."""

    model_fn: ModelFn | None = None
    sampler: optuna.samplers.BaseSampler | None = None
    pruner: optuna.pruners.BasePruner | None = None
    catch: tuple[type[BaseException], ...] = (Exception,)


@dataclass(frozen=True)
class Sweep:
    """An open sweep: what every trial of this worker trains on and reports to."""

    cfg: SweepConfig
    ds: Dataset
    url: str
    loss: str
    metric: str
    splits: list[Split]
    data: FoldData
    study: optuna.Study
    store: Store
    study_id: int
    resumed: bool
    # A guided round: the plan's space, and the study's own that Optuna is asked with where the plan
    # narrows it (distributions stay the same in every trial; the NarrowedSampler keeps to the plan).
    plan_space: SearchSpace | None = None
    asked_space: SearchSpace | None = None

    @property
    def space(self) -> SearchSpace:
        """The space trials are drawn from now: the guided plan's, else the configured one."""
        return self.plan_space or self.cfg.space

    @property
    def direction(self) -> str:
        return metric_direction(self.metric)


def resolve_task_settings(cfg: SweepConfig, ds: Dataset) -> tuple[str, str]:
    """The loss and metric for this task (validated against it)."""
    loss = cfg.train.loss or ("cross_entropy" if ds.task is Task.CLASSIFICATION else "mse")
    metric = cfg.train.metric or ("accuracy" if ds.task is Task.CLASSIFICATION else "rmse")
    if loss not in LOSSES[ds.task]:
        raise SweepdoctorError(f"train.loss={loss!r} does not fit a {ds.task.value} task; use {LOSSES[ds.task]}")
    if metric not in METRICS[ds.task]:
        raise SweepdoctorError(f"train.metric={metric!r} does not fit a {ds.task.value} task; use {METRICS[ds.task]}")
    return loss, metric


def study_name(cfg: SweepConfig, ds: Dataset, model_fn: ModelFn | None) -> str:
    return cfg.study.name or f"{ds.name}-{_model_label(cfg, model_fn)}"


def _model_label(cfg: SweepConfig, model_fn: ModelFn | None) -> str:
    if model_fn is not None:
        return "custom"
    return "cnn" if admits(cfg.space.model, "cnn") else "mlp"


def resolve_model(cfg: SweepConfig, ds: Dataset, model_fn: ModelFn | None) -> SweepConfig:
    """``space.model = "auto"`` made concrete for these data (the CNN for images and sequences), and
    checked: the built-in CNN needs samples with a channel axis."""
    p = cfg.space.model
    ndim = len(ds.sample_shape)
    values = [p.value] if isinstance(p, Fixed) else list(getattr(p, "values", ()))
    if model_fn is not None or ndim <= 1:
        if model_fn is None and "cnn" in values:
            raise ConfigError(f"space.model: the built-in CNN takes images (n, C, H, W) or sequences (n, C, L), "
                              f"but X has samples of shape {ds.sample_shape}; use model = \"mlp\" for a table")
        return cfg  # auto is the MLP for a table (kept as "auto": the space's fingerprint is unchanged)
    if isinstance(p, Fixed):
        new: Param = Fixed(model_for(p.value, ndim))
    else:
        new = Choice(tuple(dict.fromkeys(model_for(v, ndim) for v in values)))
    return dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, model=new))


def fold_tensors(cfg: SweepConfig, ds: Dataset, splits: list[Split] | None = None) -> tuple[list[Split], FoldData]:
    """The study's folds (fixed by its seed) and their tensors on the training device.

    ``splits``: the folds already made (a worker gets its parent's, and so never imports
    scikit-learn: a second of start-up per worker).
    """
    if splits is None:
        splits = make_splits(ds.y, ds.task, n_splits=cfg.train.folds, n_repeats=cfg.train.repeats,
                             seed=cfg.study.seed)
    return splits, prepare_folds(ds, splits, pick_device(cfg.train.device), scale=cfg.data.scale,
                                 channels=cfg.data.channels)


def start_helper(cfg: SweepConfig, ds: Dataset, data: FoldData, plugins: Plugins) -> Measurer | None:
    """This worker's measuring process (see ``engine``), when its trials can use one.

    Started before the study is opened: it is up (~1 s: a fresh interpreter importing
    torch) by the time the study is open. When the sweep has reference baselines, it
    trains their MLPs first, while the first trial trains here (:class:`Baselines`); a
    resumed study that has them already just ignores its answer.
    """
    if plugins.model_fn is not None or not cfg.train.vectorize or cfg.study.workers != 1:
        return None  # those trials measure in place; the parent of workers trains none
    if not measure_in_background(cfg.train.overlap_eval, device=data.device.type, workers=1,
                                 threads=torch.get_num_threads()):
        return None
    loss, metric = resolve_task_settings(cfg, ds)
    url = cfg.study.storage or default_storage()
    reporter = functools.partial(StudyReporter, url) if cfg.study.pruner != "none" else None
    job = None
    if needs_baselines(cfg):
        job = reference_job(epochs=cfg.train.epochs, loss=loss, metric=metric, seed=cfg.study.seed)
    return start_measurer(data, loss=loss, metric=metric, reporter=reporter, first_job=job)


def needs_baselines(cfg: SweepConfig) -> bool:
    """Whether the sweep trains reference baselines: when asked, and for any diagnosis (it compares with them)."""
    return cfg.train.baselines or cfg.study.diagnose or cfg.study.guided


def open_sweep(
    cfg: SweepConfig, ds: Dataset, splits: list[Split], data: FoldData, *,
    plugins: Plugins, source: DataConfig | None = None,
) -> Sweep:
    """Open (create or resume) the study, check it was made with these data and settings.

    ``source`` says where ``ds`` was loaded from; it is stored with the study so that
    ``diagnose --hessian`` can load the same data again without being told.
    """
    loss, metric = resolve_task_settings(cfg, ds)
    url = cfg.study.storage or default_storage()
    Thresholds.from_mapping(cfg.thresholds)  # checked before anything is written
    check_writable(url)
    name = study_name(cfg, ds, plugins.model_fn)
    study = open_study(cfg.study, name=name, url=url, direction=metric_direction(metric), epochs=cfg.train.epochs,
                       storage=optuna_storage(url), sampler=plugins.sampler, pruner=plugins.pruner)
    fingerprint: dict[str, Any] = {
        "task": ds.task.value,
        "loss": loss,
        "metric": metric,
        "data": ds.fingerprint(),
        "splits": splits_hash(splits),
        "folds": cfg.train.folds,
        "repeats": cfg.train.repeats,
        "epochs": cfg.train.epochs,
        "space": cfg.space.fingerprint(),
        "model": "custom" if plugins.model_fn is not None else f"builtin-{_model_label(cfg, None)}",
    }
    for key in ("scale", "channels"):  # in the fingerprint when set (studies made before them resume)
        if getattr(cfg.data, key) != "auto":
            fingerprint[key] = getattr(cfg.data, key)
    store = Store(url)
    store.ensure_schema()
    study_id = store.study_id(name)
    with StudyLock(store.engine, study_id):  # workers and agents opening a new study together: one sets it up
        resumed = check_or_set_fingerprint(study, fingerprint, store=store, study_id=study_id)
    if source is not None and DATA_SOURCE_ATTR not in study.user_attrs:
        study.set_user_attr(DATA_SOURCE_ATTR, data_source(source, seed=cfg.study.seed))
    return Sweep(cfg, ds, url, loss, metric, splits, data, study, store, study_id, resumed)


def close_connections(sw: Sweep) -> None:
    """Close the sweep's pooled database connections now, not whenever the garbage collector
    gets to them (psycopg 3 warns about those; a long-lived caller would keep them open)."""
    sw.store.engine.dispose()
    storage = getattr(sw.study._storage, "_backend", sw.study._storage)  # Optuna's cache wraps the RDB storage
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.engine.dispose()


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch, and the BLAS and OpenMP pools that numpy, scipy and scikit-learn call (the references'
    fits), use ``n`` threads inside; the caller's settings come back after.

    Left to its default, OpenBLAS starts a thread per core for the logistic-regression reference and
    spins them on a 1,437 x 64 problem: 1.7 s of CPU for a fit that takes 0.04 s on one thread,
    and more on a loaded machine, where the spinning threads wait for cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(old)
