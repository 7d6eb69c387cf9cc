"""End-of-epoch evaluation pieces shared by one trial's folds and by a stack of trials.

Each epoch, every fold model is measured in eval mode: its loss over the whole training
fold and the L2 norm of that loss's gradient (one forward and one backward pass), the
validation loss and metric, and the test loss when there is a test set. The training
rows are gathered once (:class:`EvalRows`) and walked in chunks of a few thousand rows
in all, small enough to stay in the CPU's cache (15% faster than one pass over digits'
folds) and to bound memory on large data sets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sweepdoctor.diagnostics import Task
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._backprop import MLPWeights, loss_and_grads, mlp_outputs
from sweepdoctor.sweep.engine._optim import row_loss

__all__ = [
    "CACHE_ELEMENTS",
    "EVAL_ROWS",
    "EVAL_SHAPED_ROWS",
    "STAT_ROWS",
    "TRAIN_SAMPLE",
    "EvalRows",
    "autograd_chunk",
    "diverged_folds",
    "epoch_value",
    "full_batch",
    "loss_and_metric",
    "measure",
    "measure_mlp",
    "measure_stack",
    "mlp_chunk",
]

# The rows of an evaluation tensor, one column per model (fold).
STAT_ROWS = ("train_loss", "grad_norm", "val_loss", "val_metric", "test_loss")
# Rows per evaluation chunk, summed over the models evaluated together.
EVAL_ROWS = 2560
# Gathered training rows are kept between epochs up to this many elements (64 MiB of float32).
CACHE_ELEMENTS = 1 << 24
# Bytes of activations one evaluation chunk of images or sequences may take, and the activations per
# input number assumed (the built-in CNN's first blocks: 16-32 channels, four tensors each, per input channel).
# Small enough for a chunk's maps to stay near the cache: measuring 5 folds of 1x28x28 (512 training rows
# each, forward and backward) costs half as much in chunks of 64 rows a fold (32 MB) as of 267 (128 MB).
EVAL_BYTES = 32 << 20
_ACTIVATION_FACTOR = 32
# Rows per chunk of images or sequences, summed over the models, however small the samples: on 1x8x8
# digits (5 folds, 512 training rows each) the training sample's forward and backward pass costs 18% less
# in chunks of 204 rows a fold than of 512 (one core, CPU time, alternated three times).
EVAL_SHAPED_ROWS = 1024
# Training rows per fold that measure the training loss and gradient norm of images and sequences.
TRAIN_SAMPLE = 512


class EvalRows:
    """The folds' training rows (gathered once when small enough) and validation rows.

    For images and sequences the training loss and its gradient are measured on a fixed
    subset of at most :data:`TRAIN_SAMPLE` rows per fold (the same rows every epoch), at a
    fraction of an epoch's cost instead of a second one: the loss is an unbiased estimate;
    the gradient's norm reads somewhat high near a minimum (the sample's noise, tr(Σ)/m).
    """

    def __init__(self, data: FoldData) -> None:
        self.data = data
        k = data.n_folds
        dev = data.device
        idx, n = data.train_idx, list(data.train_n)
        if data.X.ndim > 2 and max(n) > TRAIN_SAMPLE:
            idx, n = _row_sample(idx, n, TRAIN_SAMPLE, folds=data.folds)
        self.idx = idx
        self.n_max = int(idx.shape[1])
        self.n = torch.tensor(n, device=dev)
        self._ar = torch.arange(k, device=dev)[:, None]
        self._pos = torch.arange(self.n_max, device=dev)
        self._train: tuple[Tensor, Tensor, Tensor] | None = None
        if k * self.n_max * data.n_features <= CACHE_ELEMENTS:
            self._train = self._gather(0, self.n_max)
        # A stream's validation rows are read each epoch: memory stays bounded whatever the data's size.
        self._val_cached = not data.streamed and k * int(data.val_idx.shape[1]) * data.n_features <= CACHE_ELEMENTS
        self._val_x = data.rows(data.val_idx) if self._val_cached else None
        self.val_y = data.Y[self._ar, data.val_idx]
        self.val_mask = data.val_mask

    def chunk_rows(self, models: int) -> int:
        """Rows per fold in one chunk when ``models`` models are evaluated together: :data:`EVAL_ROWS` in all
        for a table; for images and sequences fewer, so that a chunk's activations stay near
        :data:`EVAL_BYTES` (a conv net's activations are tens of times its input), and at most
        :data:`EVAL_SHAPED_ROWS` in all."""
        rows = max(64, EVAL_ROWS // models)
        if self.data.X.ndim > 2:
            per_row = self.data.n_features * 4 * _ACTIVATION_FACTOR
            rows = max(8, min(rows, EVAL_SHAPED_ROWS // models, EVAL_BYTES // (models * per_row)))
        return rows

    def train(self, start: int, end: int) -> tuple[Tensor, Tensor, Tensor]:
        """Rows ``start:end`` of each training fold: features, targets and 1/0 for real rows (not padding)."""
        if self._train is not None:
            x, y, m = self._train
            return x[:, start:end], y[:, start:end], m[:, start:end]
        return self._gather(start, end)

    def _gather(self, start: int, end: int) -> tuple[Tensor, Tensor, Tensor]:
        d = self.data
        idx = self.idx[:, start:end]
        mask = (self._pos[start:end][None, :] < self.n[:, None]).to(torch.float32)
        return d.rows(idx), d.Y[self._ar, idx], mask

    def val_outputs(self, outputs: Callable[[Tensor], Tensor]) -> Tensor:
        """``outputs`` of every fold's validation rows, ``(k, n_val_max, out)``, in chunks when large."""
        idx = self.data.val_idx
        step = self.chunk_rows(self.data.n_folds)
        if self._val_x is not None and (step >= idx.shape[1] or self.data.X.ndim == 2):  # a table: at once
            return outputs(self._val_x)
        cached = self._val_x
        if cached is not None:
            return torch.cat([outputs(cached[:, i:i + step]) for i in range(0, idx.shape[1], step)], dim=1)
        return torch.cat([outputs(x) for x in self.data.step_rows(idx, step)], dim=1)

    def test_outputs(self, outputs: Callable[[Tensor], Tensor]) -> Tensor | None:
        """``outputs`` of the test set as each fold sees it, ``(k, n_test, out)`` (None without a test set)."""
        d = self.data
        if d.X_test is None:
            return None
        step = self.chunk_rows(d.n_folds)
        n = d.X_test.shape[0]
        if step >= n or (d.X.ndim == 2 and d.n_folds * n * d.n_features <= CACHE_ELEMENTS):  # a table: at once
            return outputs(d.test_rows())  # type: ignore[arg-type]
        return torch.cat([outputs(d.test_rows(i, i + step)) for i in range(0, n, step)],  # type: ignore[arg-type]
                         dim=1)


def _row_sample(idx: Tensor, n: list[int], m: int, *, folds: tuple[int, ...]) -> tuple[Tensor, list[int]]:
    """At most ``m`` of each fold's training rows, the same every epoch and whether the fold is measured
    with others or alone (a draw seeded by the global fold number), padded."""
    out = torch.zeros((len(n), min(m, max(n))), dtype=idx.dtype)
    cpu = idx.cpu()
    kept = []
    for f, nf in enumerate(n):
        take = min(m, nf)
        gen = torch.Generator().manual_seed(7_919 * (folds[f] + 1))
        pick = torch.randperm(nf, generator=gen)[:take].sort().values
        out[f, :take] = cpu[f, pick]
        kept.append(take)
    return out.to(idx.device), kept


# A chunk of training rows (features, targets, row weights) -> its loss per model and the
# gradient of its weighted sum with respect to each parameter (stacked, model first).
ChunkGrads = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, list[Tensor]]]


def full_batch(rows: EvalRows, chunk: ChunkGrads) -> tuple[Tensor, Tensor]:
    """Training loss over each whole training fold and the squared L2 norm of its gradient, per fold.

    The rows go through ``chunk`` in slices that fit the cache, each row weighted by
    1/n of its fold (0 for padding); the losses and gradients of the slices add up.
    Returns two ``(k,)`` tensors.
    """
    k = rows.data.n_folds
    inv_n = (1.0 / rows.n.to(torch.float32))[:, None]
    train_loss = torch.zeros(k, device=rows.data.device)
    total: list[Tensor] = []
    step = rows.chunk_rows(k)
    for start in range(0, rows.n_max, step):
        x, y, mask = rows.train(start, min(start + step, rows.n_max))
        loss, grads = chunk(x, y, mask * inv_n)
        train_loss += loss
        total = grads if not total else [t.add_(g) for t, g in zip(total, grads)]
    sq = torch.zeros(k, device=rows.data.device)
    for g in total:
        sq += g.reshape(k, -1).pow(2).sum(1)
    return train_loss, sq


def mlp_chunk(mlp: MLPWeights, *, task: Task, loss: str) -> ChunkGrads:
    """The built-in MLP's :data:`ChunkGrads`: the hand-written backward pass."""

    def chunk(x: Tensor, y: Tensor, w: Tensor) -> tuple[Tensor, list[Tensor]]:
        lg = loss_and_grads(mlp, x, y, w, task=task, loss=loss)
        return lg.fold_loss, lg.grads

    return chunk


def autograd_chunk(forward: Callable[[Tensor], Tensor], params: list[Tensor], *, task: Task, loss: str) -> ChunkGrads:
    """Any stacked model's :data:`ChunkGrads`, by autograd (parameters without a gradient count as 0)."""

    def chunk(x: Tensor, y: Tensor, w: Tensor) -> tuple[Tensor, list[Tensor]]:
        part = (row_loss(forward(x), y, task, loss) * w).sum(1)
        grads = torch.autograd.grad(part.sum(), params, allow_unused=True)
        return part.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

    return chunk


def diverged_folds(stats: np.ndarray) -> list[int]:
    """The folds whose training or validation loss is not finite in an epoch's statistics."""
    losses = stats[[STAT_ROWS.index("train_loss"), STAT_ROWS.index("val_loss")]]
    return [int(f) for f in np.flatnonzero(~np.isfinite(losses).all(axis=0))]


def epoch_value(stats: np.ndarray) -> float:
    """What an epoch reports to the pruner: the fold-mean validation metric of its statistics."""
    return float(np.mean(stats[STAT_ROWS.index("val_metric")]))


def measure(
    train: tuple[Tensor, Tensor], outputs: Callable[[Tensor], Tensor], rows: EvalRows, *, loss: str, metric: str
) -> Tensor:
    """An epoch's ``(len(STAT_ROWS), k)`` statistics from the :func:`full_batch` ``(loss,
    squared grad norm)`` of the training folds and a model's eval-mode ``outputs`` (for the
    validation and test rows)."""
    d = rows.data
    kw = dict(task=d.task, loss=loss, metric=metric, y_scale=d.y_scale)
    with torch.no_grad():
        val_loss, value = loss_and_metric(rows.val_outputs(outputs), rows.val_y, rows.val_mask,
                                          **kw)  # type: ignore[arg-type]
        test_out = rows.test_outputs(outputs)
        if test_out is not None and d.Y_test is not None:
            test_loss, _ = loss_and_metric(test_out, d.Y_test, None, **kw)  # type: ignore[arg-type]
        else:
            test_loss = torch.full((d.n_folds,), float("nan"), device=d.device)
    train_loss, sq = train
    return torch.stack([train_loss, sq.sqrt(), val_loss, value, test_loss])


def measure_stack(stack: Any, rows: EvalRows, *, loss: str, metric: str) -> Tensor:
    """:func:`measure` for any fold stack (a user's model, the built-in CNN), by autograd, in eval mode
    (the stack's mode put back afterwards)."""
    was = getattr(stack, "training", True)
    stack.train(False)
    try:
        chunk = autograd_chunk(stack.forward, stack.parameters(), task=rows.data.task, loss=loss)
        return measure(full_batch(rows, chunk), stack.forward, rows, loss=loss, metric=metric)
    finally:
        stack.train(was)


def measure_mlp(mlp: MLPWeights, rows: EvalRows, *, loss: str, metric: str) -> Tensor:
    """:func:`measure` for the built-in MLP's (stacked) weights."""
    train = full_batch(rows, mlp_chunk(mlp, task=rows.data.task, loss=loss))
    return measure(train, lambda x: mlp_outputs(mlp, x), rows, loss=loss, metric=metric)


def loss_and_metric(
    out: Tensor, y: Tensor, mask: Tensor | None, *, task: Task, loss: str, metric: str, y_scale: Tensor
) -> tuple[Tensor, Tensor]:
    """Mean loss and the metric per model over its real rows (``mask``; all rows when None)."""
    m = torch.ones(y.shape, device=y.device) if mask is None else mask
    count = m.sum(1).clamp(min=1)
    mean_loss = (row_loss(out, y, task, loss) * m).sum(1) / count
    if task is Task.REGRESSION and metric not in ("rmse", "r2"):
        raise ValueError(f"metric {metric!r} is not for regression")
    if metric == "accuracy":
        value = ((out.argmax(-1) == y).to(m.dtype) * m).sum(1) / count
    elif metric == "log_loss":
        value = (row_loss(out, y, task, "cross_entropy") * m).sum(1) / count
    elif metric == "rmse":
        mse = (row_loss(out, y, task, "mse") * m).sum(1) / count
        value = mse.sqrt() * y_scale
    else:  # r2, scale-free so computed on the standardized target
        sse = (row_loss(out, y, task, "mse") * m).sum(1)
        mean = (y * m).sum(1, keepdim=True) / count[:, None]
        sst = (((y - mean) ** 2) * m).sum(1).clamp(min=1e-12)
        value = 1 - sse / sst
    return mean_loss, value
