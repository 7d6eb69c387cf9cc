"""One group of fold models trained in lockstep: epochs and end-of-epoch evaluation.

The hot loop makes no host synchronisation: per step it gathers each fold's batch
with one advanced-indexing op, runs one forward/backward for all folds and steps one
optimizer. Once per epoch :meth:`FoldTrainer.evaluate` measures every fold in one
pass per split and returns one small tensor, read by the caller in a single copy.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sweepdoctor.diagnostics import Task
from sweepdoctor.sweep._models import FoldStack
from sweepdoctor.sweep._optim import make_optimizer, row_loss
from sweepdoctor.sweep._schedule import lr_factor
from sweepdoctor.sweep._space import TrialParams
from sweepdoctor.sweep._tensors import FoldData

__all__ = ["EVAL_CHUNK", "FoldTrainer", "STAT_ROWS"]

# Rows evaluated per forward pass at epoch end: bounds memory on large data sets.
EVAL_CHUNK = 8192
# The rows of the tensor :meth:`FoldTrainer.evaluate` returns, one column per fold.
STAT_ROWS = ("train_loss", "grad_norm", "val_loss", "val_metric", "test_loss")


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
    ) -> None:
        self.stack, self.data, self.hp = stack, data, hp
        self.loss, self.metric = loss, metric
        self.params = stack.parameters()
        self.opt = make_optimizer(self.params, hp)
        self.k = data.n_folds
        self.gens = [torch.Generator().manual_seed(s) for s in shuffle_seeds]
        self.bs = hp.batch_size
        self.n_max = max(data.train_n)
        self.n_min = min(data.train_n)
        self.steps_per_epoch = math.ceil(self.n_max / self.bs)
        self.total_steps = epochs * self.steps_per_epoch
        self.step = 0
        dev = data.X.device
        self._ar = torch.arange(self.k, device=dev)[:, None]
        self._n = torch.tensor(data.train_n, device=dev)
        self._pos = torch.arange(self.n_max, device=dev)

    def _epoch_order(self) -> Tensor:
        """Each fold's training rows in a fresh random order (padding at the end)."""
        idx = self.data.train_idx.cpu()
        order = torch.zeros((self.k, self.n_max), dtype=torch.long)
        for f, (g, n) in enumerate(zip(self.gens, self.data.train_n)):
            order[f, :n] = idx[f, torch.randperm(n, generator=g)]
        return order.to(self.data.X.device, non_blocking=True)

    def run_epoch(self) -> float:
        """One pass over every fold's training rows; returns the last learning rate."""
        self.stack.train(True)
        order = self._epoch_order()
        X, Y, ar, bs = self.data.X, self.data.Y, self._ar, self.bs
        lr = self.hp.lr
        for s in range(self.steps_per_epoch):
            lr = self.hp.lr * lr_factor(self.hp.schedule, self.step, self.total_steps)
            for group in self.opt.param_groups:
                group["lr"] = lr
            start, end = s * bs, min((s + 1) * bs, self.n_max)
            idx = order[:, start:end]
            rows = row_loss(self.stack.forward(X[ar, idx]), Y[ar, idx], self.data.task, self.loss)
            if end > self.n_min:  # a fold ran out of rows: average over its real rows only
                mask = (self._pos[start:end][None, :] < self._n[:, None]).to(rows.dtype)
                per_fold = (rows * mask).sum(1) / mask.sum(1).clamp(min=1)
            else:
                per_fold = rows.mean(1)
            self.opt.zero_grad(set_to_none=True)
            per_fold.sum().backward()
            self.opt.step()
            self.step += 1
        return lr

    def evaluate(self) -> Tensor:
        """Per-fold statistics, shape ``(len(STAT_ROWS), k)``, in eval mode.

        The training loss is over the whole training fold and its backward pass gives
        the full-batch gradient, whose L2 norm per fold is ``grad_norm``.
        """
        d, ar, task = self.data, self._ar, self.data.task
        self.stack.train(False)
        self.opt.zero_grad(set_to_none=True)
        n = self._n.to(torch.float32)
        train_loss = torch.zeros(self.k, device=d.X.device)
        for start in range(0, self.n_max, EVAL_CHUNK):
            idx = d.train_idx[:, start : start + EVAL_CHUNK]
            mask = (self._pos[start : start + idx.shape[1]][None, :] < self._n[:, None]).to(torch.float32)
            rows = row_loss(self.stack.forward(d.X[ar, idx]), d.Y[ar, idx], task, self.loss)
            part = (rows * mask).sum(1) / n
            part.sum().backward()
            train_loss += part.detach()
        sq = torch.zeros(self.k, device=d.X.device)
        for p in self.params:
            if p.grad is not None:
                sq += p.grad.reshape(self.k, -1).pow(2).sum(1)
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            out = self.stack.forward(d.X[ar, d.val_idx])
            y = d.Y[ar, d.val_idx]
            val_loss, metric = self._loss_and_metric(out, y, d.val_mask)
            if d.X_test is not None and d.Y_test is not None:
                test_loss, _ = self._loss_and_metric(self.stack.forward(d.X_test), d.Y_test, None)
            else:
                test_loss = torch.full((self.k,), float("nan"), device=d.X.device)
        self.stack.train(True)
        return torch.stack([train_loss, sq.sqrt(), val_loss, metric, test_loss])

    def _loss_and_metric(self, out: Tensor, y: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        task = self.data.task
        m = torch.ones(y.shape, device=y.device) if mask is None else mask
        count = m.sum(1).clamp(min=1)
        loss = (row_loss(out, y, task, self.loss) * m).sum(1) / count
        if self.metric == "accuracy":
            metric = ((out.argmax(-1) == y).to(m.dtype) * m).sum(1) / count
        elif self.metric == "log_loss":
            metric = (row_loss(out, y, task, "cross_entropy") * m).sum(1) / count
        elif self.metric == "rmse":
            mse = (row_loss(out, y, task, "mse") * m).sum(1) / count
            metric = mse.sqrt() * self.data.y_scale
        else:  # r2, scale-free so computed on the standardized target
            sse = (row_loss(out, y, task, "mse") * m).sum(1)
            mean = (y * m).sum(1, keepdim=True) / count[:, None]
            sst = (((y - mean) ** 2) * m).sum(1).clamp(min=1e-12)
            metric = 1 - sse / sst
        if task is Task.REGRESSION and self.metric not in ("rmse", "r2"):
            raise ValueError(f"metric {self.metric!r} is not for regression")
        return loss, metric
