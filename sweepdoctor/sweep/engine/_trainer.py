"""One group of fold models trained in lockstep: epochs and end-of-epoch evaluation.

The hot loop makes no host synchronisation: each epoch gathers every fold's rows in
batch order once (a step then takes a slice, a view), and each step runs one
forward/backward for all folds (hand-written for the built-in MLP, see ``_backprop``;
autograd for a user's module) and one optimizer update that calls torch's fused kernel
directly (``_kernels.FusedStepper``). Once per epoch :meth:`FoldTrainer.evaluate`
measures every fold (see ``_evaluate``) and returns one small tensor, read by the caller
in a single copy.

An epoch can end early: where the verdict on the previous epoch (measured in a helper
process while this one trains, see ``_pipeline``) stops training, the epoch under way
would be thrown away, so it stops at its next step (:data:`EPOCH_INTERRUPT`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextvars import ContextVar

import torch
from torch import Tensor

from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._backprop import MLPWeights, loss_and_grads
from sweepdoctor.sweep.engine._cnn import CNNSnapshot, StackedCNN
from sweepdoctor.sweep.engine._evaluate import (
    CACHE_ELEMENTS,
    STAT_ROWS,
    EvalRows,
    measure_mlp,
    measure_stack,
)
from sweepdoctor.sweep.engine._kernels import FusedStepper, dropout_fn
from sweepdoctor.sweep.engine._models import FoldStack, StackedMLP
from sweepdoctor.sweep.engine._optim import row_loss
from sweepdoctor.sweep.engine._schedule import lr_factor

__all__ = ["EPOCH_INTERRUPT", "STAT_ROWS", "FoldTrainer"]

# Asked before each training step of an epoch: True ends the epoch there (its weights are thrown
# away: the verdict on the previous epoch stopped training). Set by ``EpochPipeline`` while it runs.
EPOCH_INTERRUPT: ContextVar[Callable[[], bool] | None] = ContextVar("sweepdoctor_epoch_interrupt", default=None)


class FoldTrainer:
    """Trains one fold stack on its folds with per-fold shuffling and batches."""

    def __init__(
        self,
        stack: FoldStack,
        data: FoldData,
        hp: TrialParams,
        *,
        loss: str,
        metric: str,
        epochs: int,
        shuffle_seeds: list[int],
        generator: torch.Generator | None = None,
    ) -> None:
        """``generator``: the stream dropout draws from (a private one; None: torch's global one)."""
        self.stack, self.data, self.hp = stack, data, hp
        self.loss, self.metric = loss, metric
        self.params = stack.parameters()
        self.opt = FusedStepper(self.params, hp)
        self.k = data.n_folds
        self.gens = [torch.Generator().manual_seed(s) for s in shuffle_seeds]
        self.bs = hp.batch_size
        self.n_max = max(data.train_n)
        self.n_min = min(data.train_n)
        self.steps_per_epoch = math.ceil(self.n_max / self.bs)
        self.total_steps = epochs * self.steps_per_epoch
        self.step = 0
        dev = data.device
        self._ar = torch.arange(self.k, device=dev)[:, None]
        self._n = torch.tensor(data.train_n, device=dev)
        self._pos = torch.arange(self.n_max, device=dev)
        self._w_uniform: Tensor | None = None
        self._gather_epoch = not data.streamed and self.k * self.n_max * data.n_features <= CACHE_ELEMENTS
        # The built-in MLP trains with hand-written backward passes (see _backprop).
        self._mlp = stack if isinstance(stack, StackedMLP) else None
        self._cnn = stack if isinstance(stack, StackedCNN) else None
        self._dropout = dropout_fn(hp.dropout, dev, generator=generator)
        if hasattr(stack, "generator"):  # a built-in model (MLP, CNN) draws its dropout from the private stream
            stack.generator = generator

    def _epoch_order(self) -> Tensor:
        """Each fold's training rows in a fresh random order, padded at the end with the fold's own first
        rows again (weight 0 in the loss; a batch norm's statistics then see only the fold's training rows)."""
        idx = self.data.train_idx.cpu()
        order = torch.zeros((self.k, self.n_max), dtype=torch.long)
        for f, (g, n) in enumerate(zip(self.gens, self.data.train_n)):
            order[f, :n] = idx[f, torch.randperm(n, generator=g)]
            if n < self.n_max:
                order[f, n:] = order[f, : self.n_max - n]
        return order.to(self.data.device, non_blocking=True)

    def run_epoch(self) -> float:
        """One pass over every fold's training rows, or part of one where :data:`EPOCH_INTERRUPT` says
        training has stopped; returns the last learning rate."""
        self.stack.train(True)
        order = self._epoch_order()
        d = self.data
        # The epoch's rows in batch order, gathered and scaled once when they fit the cache
        # budget (each step takes a slice, a view); for large samples (images), step by step.
        # A stream reads the epoch's batches ahead, in worker processes.
        Xe = d.rows(order) if self._gather_epoch else None
        steps = None if Xe is not None else d.step_rows(order, self.bs)
        Ye = d.Y[self._ar, order]
        bs, base, schedule, total = self.bs, self.hp.lr, self.hp.schedule, self.total_steps
        lr = base
        interrupt = EPOCH_INTERRUPT.get()
        for s in range(self.steps_per_epoch):
            if interrupt is not None and interrupt():
                break
            lr = base * lr_factor(schedule, self.step, total)
            start, end = s * bs, min((s + 1) * bs, self.n_max)
            if end > self.n_min:  # a fold ran out of rows: average over its real rows only
                mask = (self._pos[start:end][None, :] < self._n[:, None]).to(torch.float32)
                w = mask / mask.sum(1, keepdim=True).clamp(min=1)
            else:
                w = self._uniform_weights(end - start)
            x = Xe[:, start:end] if Xe is not None else next(steps)  # type: ignore[arg-type]
            self._train_step(x, Ye[:, start:end], w, lr)
            self.step += 1
        return lr

    def _uniform_weights(self, b: int) -> Tensor:
        if self._w_uniform is None or self._w_uniform.shape[1] != b:
            self._w_uniform = torch.full((self.k, b), 1.0 / b, device=self.data.device)
        return self._w_uniform

    def _train_step(self, x: Tensor, y: Tensor, w: Tensor, lr: float) -> None:
        """One optimizer step on the loss ``sum(w * row_loss)`` of every fold's batch."""
        if self._mlp is not None:
            self.opt.step(lr, loss_and_grads(self._mlp, x, y, w, task=self.data.task, loss=self.loss,
                                             dropout=self._dropout, need_loss=False).grads)
            return
        (row_loss(self.stack.forward(x), y, self.data.task, self.loss) * w).sum().backward()
        self.opt.step(lr)
        self.opt.zero_grad()

    @functools.cached_property
    def _rows(self) -> EvalRows:
        """The rows measured in this process: not gathered when a measuring process does it."""
        return EvalRows(self.data)

    @property
    def mlp(self) -> StackedMLP | None:
        """The built-in MLP this trainer trains (None for a user's model)."""
        return self._mlp

    @property
    def snapshot_model(self) -> StackedMLP | StackedCNN | None:
        """The built-in model whose weights a measuring process can measure (None: a user's model)."""
        return self._mlp if self._mlp is not None else self._cnn

    def evaluate(self, weights: MLPWeights | CNNSnapshot | None = None) -> Tensor:
        """Per-fold statistics of the current weights (or of a snapshot ``weights``), in eval mode.

        Shape ``(len(STAT_ROWS), k)``. The training loss is over the whole training fold
        (for images and sequences a fixed sample of it, see ``EvalRows``) and its backward
        pass gives the gradient, whose L2 norm per fold is ``grad_norm``.
        """
        if isinstance(weights, CNNSnapshot):
            return measure_stack(weights.stack(), self._rows, loss=self.loss, metric=self.metric)
        mlp = weights if weights is not None else self._mlp
        if mlp is not None:
            return measure_mlp(mlp, self._rows, loss=self.loss, metric=self.metric)
        return measure_stack(self.stack, self._rows, loss=self.loss, metric=self.metric)
