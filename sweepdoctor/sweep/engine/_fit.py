"""Training one configuration on every fold: the vectorized or the sequential path."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sweepdoctor.diagnostics import EpochRecord, RunState, finite_or_none
from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import TrialParams, model_for
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._cnn import StackedCNN, lockstep_pays
from sweepdoctor.sweep.engine._evaluate import diverged_folds, epoch_value
from sweepdoctor.sweep.engine._kernels import flush_denormals
from sweepdoctor.sweep.engine._measurer import Measurer
from sweepdoctor.sweep.engine._models import FoldStack, ModuleStack, StackedMLP, VmapStack
from sweepdoctor.sweep.engine._optim import MAXIMIZED_METRICS
from sweepdoctor.sweep.engine._pipeline import EpochPipeline
from sweepdoctor.sweep.engine._trainer import STAT_ROWS, FoldTrainer

__all__ = ["FitResult", "FitTracker", "ModelFn", "check_model_fn", "cnn_arch", "fit_folds", "fold_seed", "model_inputs"]

logger = logging.getLogger(__name__)

# A user's model factory: hyper-parameters, the inputs (a table's number of features, or one
# sample's shape (C, H, W) / (C, L) for images and sequences), the number of outputs.
ModelFn = Callable[[TrialParams, Any, int], nn.Module]

# ``on_epoch(epoch, value, stored)``: the epoch's fold-mean validation metric, and whether
# the measuring process already wrote it to the study; True stops training (pruned).
OnEpoch = Callable[[int, float, bool], bool]
# ``watch(epoch, curves)``: every fold's curve so far, after ``on_epoch``; a reason stops
# training as pruned with that reason (the diagnosis pruner), ``None`` goes on.
Watch = Callable[[int, Sequence[Sequence[EpochRecord]]], str | None]


def fold_seed(seed: int, fold: int, stream: int = 0) -> int:
    """A distinct, reproducible seed per (study seed, fold, stream)."""
    return (seed * 1_000_003 + fold * 7_919 + stream * 104_729) % (2**31 - 1)


@dataclass
class FitResult:
    """What training one configuration on k folds produced."""

    curves: list[list[EpochRecord]]  # per fold
    fold_scores: list[float]  # validation metric per fold at the chosen epoch
    test_losses: list[float | None]
    best_epoch: int  # the chosen epoch (last, or best mean val loss with early stopping)
    status: str  # a RunState: "complete" | "pruned" | "fail"
    reason: str | None
    path: str  # "vectorized" | "sequential"
    n_params: int
    depth: int | None
    stacks: list[FoldStack] = field(default_factory=list)
    train_seconds: float = 0.0

    @property
    def score(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    def fold_state_dicts(self) -> list[dict[str, Any]]:
        """Final weights of every fold (in fold order)."""
        return [s.fold_state_dict(i) for s in self.stacks for i in range(s.n_folds)]


def _builtin_stacks(data: FoldData, hp: TrialParams, seed: int, vectorize: bool) -> list[FoldStack]:
    """The built-in model (MLP or CNN, ``hp.model``) as one stack of every fold, or one stack per fold."""
    cnn = model_for(hp.model, len(data.sample_shape)) == "cnn"

    def stack(folds: list[int]) -> FoldStack:
        seeds = [fold_seed(seed, data.folds[f]) for f in folds]
        if cnn:
            return StackedCNN(data.sample_shape, data.n_outputs, seeds=seeds, device=data.device,
                              channels_last=data.channels_last, **cnn_arch(hp))
        return StackedMLP(n_in=data.n_features, n_out=data.n_outputs, depth=hp.depth, width=hp.width,
                          activation=hp.activation, dropout=hp.dropout, seeds=seeds, device=data.device)

    if vectorize:
        return [stack(list(range(data.n_folds)))]
    return [stack([f]) for f in range(data.n_folds)]


def cnn_arch(hp: TrialParams) -> dict[str, Any]:
    """The built-in CNN's architecture keywords (:func:`build_cnn`'s) from a trial's parameters."""
    return dict(conv_blocks=int(hp.conv_blocks), channels=int(hp.channels), kernel_size=int(hp.kernel_size),
                pooling=hp.pooling, batch_norm=bool(hp.batch_norm), depth=int(hp.depth), width=int(hp.width),
                activation=hp.activation, dropout=float(hp.dropout))


def model_inputs(data: FoldData) -> int | tuple[int, ...]:
    """What a user's ``model_fn`` gets as ``n_inputs``: the number of features of a table, else one sample's
    shape (``(C, H, W)``, ``(C, L)``)."""
    return data.n_features if data.X.ndim == 2 else data.sample_shape


def _user_modules(model_fn: ModelFn, data: FoldData, hp: TrialParams, seed: int) -> list[nn.Module]:
    mods = []
    probe = data.rows(data.train_idx[:1, :2])[0]
    for f in range(data.n_folds):
        torch.manual_seed(fold_seed(seed, data.folds[f]))
        m = model_fn(hp, model_inputs(data), data.n_outputs)
        if not isinstance(m, nn.Module):  # the user's error: it fails the trial, as any error of model_fn
            raise TypeError(f"model_fn must return a torch.nn.Module, got {type(m).__name__}; "
                              "return the network (e.g. nn.Sequential(...))")
        m = m.to(data.device)
        if f == 0 or any(isinstance(p, nn.parameter.UninitializedParameter) for p in m.parameters()):
            out = _materialize(m, probe)  # lazy layers get their shapes; the first model's outputs are checked
            if f == 0:
                _check_outputs(out, data.n_outputs)
        mods.append(m)
    return mods


def check_model_fn(model_fn: ModelFn, hp: TrialParams, data: FoldData) -> None:
    """Refuse a ``model_fn`` whose model for ``hp`` (a point of the space) is not a ``torch.nn.Module`` or
    whose output for 2 training samples is not ``(2, n_outputs)``: a :class:`ConfigError` before any trial.

    torch's random state is as before. An error that ``model_fn`` or the model's forward pass raises
    itself is left to the trials (they fail with it, under the sweep's ``catch``).
    """
    with torch.random.fork_rng(devices=[data.device.index or 0] if data.device.type == "cuda" else []):
        try:
            m = model_fn(hp, model_inputs(data), data.n_outputs)
        except Exception:  # noqa: BLE001 - the trials report the factory's own errors
            return
        if not isinstance(m, nn.Module):
            raise ConfigError(f"model_fn must return a torch.nn.Module, got {type(m).__name__}; return the network "
                              "(e.g. nn.Sequential(...))")
        try:
            out = _materialize(m.to(data.device), data.rows(data.train_idx[:1, :2])[0])
        except Exception:  # noqa: BLE001 - a forward pass that fails is the trials' to report
            return
    try:
        _check_outputs(out, data.n_outputs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_outputs(out: object, n_outputs: int) -> None:
    """A model's outputs for 2 samples must be ``(2, n_outputs)``: a wrong head fails the trial with this
    reason instead of an indexing error deep in the loss, or of training extra outputs silently."""
    if not isinstance(out, Tensor) or tuple(out.shape) != (2, n_outputs):
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"model_fn: the model's output for 2 samples is {got}, expected (2, {n_outputs}) "
                          f"({n_outputs} = the n_outputs passed to model_fn); fix the last layer")


def _materialize(module: nn.Module, probe: Tensor) -> Tensor:
    """One forward pass in eval mode, without gradients (lazy layers such as ``nn.LazyLinear`` get their
    shapes); returns the outputs."""
    was = module.training
    module.train(False)
    try:
        with torch.no_grad():
            return module(probe)  # type: ignore[no-any-return]
    finally:
        module.train(was)


def _try_vmap(mods: list[nn.Module], data: FoldData) -> VmapStack | None:
    """A vectorized stack of the user's modules, or None when vmap cannot run them."""
    if any(True for _ in mods[0].buffers()):
        logger.info("user model has buffers (e.g. BatchNorm): training folds one after another")
        return None
    try:
        stack = VmapStack(mods)
        out = stack.forward(data.rows(data.train_idx[:, :2]))
        out.sum().backward()
        for p in stack.parameters():
            p.grad = None
        if out.shape[:2] != (data.n_folds, 2):
            return None
        return stack
    except Exception as e:  # noqa: BLE001 - any failure means "not vmappable"; we fall back
        logger.info("torch.func.vmap cannot run the user model (%s): training folds one after another", e)
        return None


def _stacks(
    data: FoldData, hp: TrialParams, *, seed: int, model_fn: ModelFn | None, vectorize: bool
) -> tuple[list[FoldStack], list[FoldData], str]:
    """The fold stacks to train, the fold data of each, and the path's name (vectorized or sequential)."""
    if model_fn is None:
        if model_for(hp.model, len(data.sample_shape)) == "mlp":
            data = data.flattened()
        else:  # the CNN: in lockstep where that is faster (small maps, a GPU), else fold after fold
            vectorize = vectorize and lockstep_pays(data.sample_shape, hp.batch_size, data.device,
                                                    channels_last=data.channels_last)
        path = "vectorized" if vectorize and data.n_folds > 1 else "sequential"
        datas = [data] if vectorize else [data.subset([f]) for f in range(data.n_folds)]
        return list(_builtin_stacks(data, hp, seed, vectorize)), datas, path
    mods = _user_modules(model_fn, data, hp, seed)
    vstack = _try_vmap(mods, data) if vectorize and data.n_folds > 1 else None
    if vstack is not None:
        return [vstack], [data], "vectorized"
    return [ModuleStack(m) for m in mods], [data.subset([f]) for f in range(data.n_folds)], "sequential"


def fit_folds(
    data: FoldData,
    hp: TrialParams,
    *,
    epochs: int,
    loss: str,
    metric: str,
    seed: int = 0,
    model_fn: ModelFn | None = None,
    vectorize: bool = True,
    on_epoch: OnEpoch | None = None,
    measurer: Measurer | None = None,
    report_to: int | None = None,
    watch: Watch | None = None,
) -> FitResult:
    """Train ``hp`` on every fold of ``data`` for up to ``epochs`` epochs.

    ``on_epoch(epoch, mean_val_metric, stored)`` is called after each epoch; returning True
    stops training as pruned. A non-finite loss stops training as failed. With
    ``hp.patience > 0`` training stops once the fold-mean validation loss has not
    improved for that many epochs, and the scores are those of its best epoch.

    ``measurer``: a helper process that measures each epoch while the next one trains
    (built-in MLP with folds in lockstep; see ``_pipeline``). The results are the same.
    ``report_to``: the study trial id whose intermediate values the measuring process
    writes itself (then ``on_epoch`` is told ``stored=True``).
    ``watch(epoch, curves)``: after ``on_epoch``, a reason to stop as pruned, or ``None``.
    """
    with _random_streams(data, seed, user_model=model_fn is not None) as generator:
        stacks, datas, path = _stacks(data, hp, seed=seed, model_fn=model_fn, vectorize=vectorize)
        trainers = [FoldTrainer(s, d, hp, loss=loss, metric=metric, epochs=epochs, generator=generator,
                                shuffle_seeds=[fold_seed(seed, f, stream=1) for f in d.folds])
                    for s, d in zip(stacks, datas)]
        tracker = FitTracker(data.n_folds, hp, on_epoch, watch=watch)
        t0 = time.perf_counter()

        def judge(epoch: int, lr: float, stats: np.ndarray, stored: bool, trained_at: float) -> bool:
            return tracker.record(epoch, stats, lr, trained_at - t0, stored=stored)

        if len(trainers) == 1:
            trainer = trainers[0]
            pipeline = EpochPipeline(trainer.evaluate, judge, model=trainer.snapshot_model, measurer=measurer,
                                     report_to=report_to)
        else:  # the sequential path: every fold's trainer, measured together in place
            pipeline = EpochPipeline(lambda _: torch.cat([t.evaluate() for t in trainers], dim=1), judge)
        _train(trainers, pipeline, epochs)
        return tracker.result(
            path=path,
            n_params=stacks[0].n_params(),
            depth=stacks[0].depth if model_fn is None else None,
            stacks=stacks,
            train_seconds=time.perf_counter() - t0,
        )


@contextmanager
def _random_streams(data: FoldData, seed: int, *, user_model: bool) -> Iterator[torch.Generator | None]:
    """Where a trial's randomness comes from, leaving torch's global generator as the caller had it.

    The built-in MLP draws its dropout from a private generator (weights and shuffling have
    theirs too). A user's modules draw from torch's global generator (their initialisation,
    ``nn.Dropout``): it is seeded for the trial and the caller's state put back afterwards.
    """
    if not user_model:
        yield torch.Generator(device=data.device).manual_seed(fold_seed(seed, 0, stream=2))
        return
    devices = [data.device.index or 0] if data.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(fold_seed(seed, 0, stream=2))
        yield None


def _train(trainers: list[FoldTrainer], pipeline: EpochPipeline, epochs: int) -> None:
    """Epochs until the last or until the pipeline's verdict stops training; the kept weights put back."""
    with flush_denormals(), pipeline:
        for epoch in range(epochs):
            lrs = [t.run_epoch() for t in trainers]
            if pipeline.submit(epoch, lrs[0]):
                break
        else:
            pipeline.drain()
        pipeline.restore()


class FitTracker:
    """One configuration's epochs on k folds: curves, the stopping rules, the chosen epoch.

    :meth:`record` takes an epoch's ``(len(STAT_ROWS), k)`` statistics and says whether
    training stops: a non-finite loss (failed), ``on_epoch`` asking to prune (pruned), or
    early stopping on the fold-mean validation loss (``hp.patience`` epochs without
    improvement; the scores are then those of the best epoch).
    """

    def __init__(self, k: int, hp: TrialParams, on_epoch: OnEpoch | None = None, *,
                 watch: Watch | None = None) -> None:
        self.k = k
        self.hp = hp
        self.on_epoch = on_epoch
        self.watch = watch
        self.curves: list[list[EpochRecord]] = [[] for _ in range(k)]
        self.history: list[np.ndarray] = []  # per epoch: (STAT_ROWS, k)
        self.status: str = "complete"
        self.reason: str | None = None
        self.best_epoch, self.best_val = 0, math.inf

    def record(self, epoch: int, stats: np.ndarray, lr: float, wall: float, *, stored: bool = False) -> bool:
        """Store an epoch; True when training stops here (``stored``: passed on to ``on_epoch``)."""
        self.history.append(stats)
        r = dict(zip(STAT_ROWS, stats))
        for f in range(self.k):
            self.curves[f].append(
                EpochRecord(
                    epoch=epoch,
                    train_loss=finite_or_none(r["train_loss"][f]),
                    val_loss=finite_or_none(r["val_loss"][f]),
                    grad_norm=finite_or_none(r["grad_norm"][f]),
                    lr=float(lr),
                    val_metric=finite_or_none(r["val_metric"][f]),
                    wall_time=wall,
                )
            )
        bad = diverged_folds(stats)
        if bad:
            self.status = RunState.FAIL
            self.reason = f"diverged: non-finite loss at epoch {epoch + 1} in fold(s) {', '.join(map(str, bad))}"
            return True
        mean_val = float(np.mean(r["val_loss"]))
        if mean_val < self.best_val:
            self.best_epoch, self.best_val = epoch, mean_val
        if self.on_epoch is not None and self.on_epoch(epoch, epoch_value(stats), stored):
            self.status, self.reason = "pruned", f"pruned at epoch {epoch + 1}"  # epochs 1..E, as every view shows
            return True
        if self.watch is not None and (why := self.watch(epoch, self.curves)) is not None:
            self.status, self.reason = "pruned", why
            return True
        if self.hp.patience > 0 and epoch - self.best_epoch >= self.hp.patience:
            self.reason = f"early stopping at epoch {epoch + 1} (best epoch {self.best_epoch + 1})"
            return True
        return False

    def result(
        self, *, path: str, n_params: int, depth: int | None, stacks: list[FoldStack], train_seconds: float
    ) -> FitResult:
        chosen = self.best_epoch if self.hp.patience > 0 else len(self.history) - 1
        # No epoch at all (training failed in the first): no scores.
        last = self.history[chosen] if self.history else np.full((len(STAT_ROWS), self.k), np.nan)
        final = dict(zip(STAT_ROWS, last))
        return FitResult(
            curves=self.curves,
            fold_scores=[float(v) for v in final["val_metric"]],
            test_losses=[finite_or_none(v) for v in final["test_loss"]],
            best_epoch=chosen,
            status=self.status,
            reason=self.reason,
            path=path,
            n_params=n_params,
            depth=depth,
            stacks=stacks,
            train_seconds=train_seconds,
        )


def metric_direction(metric: str) -> str:
    return "maximize" if metric in MAXIMIZED_METRICS else "minimize"
