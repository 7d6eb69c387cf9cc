"""Several trials of the built-in MLP trained as one stack: T trials x k folds per step.

Trials that share the architecture and the batch size train here as one stack of T*k
models: per step, one batched forward/backward for all of them (hand-written,
:mod:`._backprop`), then each trial's own optimizer step on its slice of the stack
(:class:`FusedStepper` over views, so each has its kind, learning rate and schedule,
weight decay, momentum/betas and state), each trial's dropout rate, and each trial's own
shuffling generators. A trial thus gets the updates it gets training alone
(:class:`~sweepdoctor.sweep._trainer.FoldTrainer`) up to the order of float sums (tested);
only its dropout masks come from the stack's random stream. Trials join and leave at
epoch boundaries (finished, pruned, stopped), so a runner can keep the stack full.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from sweepdoctor.sweep._backprop import loss_and_grads
from sweepdoctor.sweep._evaluate import EvalRows, measure_mlp
from sweepdoctor.sweep._fit import FitResult, FitTracker, OnEpoch, fold_seed
from sweepdoctor.sweep._kernels import FusedStepper, dropout_fn, flush_denormals
from sweepdoctor.sweep._models import StackedMLP
from sweepdoctor.sweep._schedule import lr_factor
from sweepdoctor.sweep._space import TrialParams
from sweepdoctor.sweep._tensors import FoldData

__all__ = ["TrialBatch", "batch_key", "fit_together"]


def batch_key(hp: TrialParams) -> tuple[int, int, int, str]:
    """Trials with the same key can share a stack: batch size and architecture."""
    return hp.batch_size, hp.depth, hp.width, hp.activation


@dataclass
class _Member:
    key: int
    hp: TrialParams
    stepper: FusedStepper
    gens: list[torch.Generator]
    total_steps: int
    step: int = 0


class TrialBatch:
    """A stack of trials sharing :func:`batch_key`; see the module docstring."""

    def __init__(self, data: FoldData, hp: TrialParams, *, loss: str, metric: str, epochs: int, seed: int) -> None:
        self.data, self.loss, self.metric, self.epochs, self.seed = data, loss, metric, epochs, seed
        self.key = batch_key(hp)
        self.bs, self.depth, self.width, self.activation = self.key
        self.k = data.n_folds
        self.n_max, self.n_min = max(data.train_n), min(data.train_n)
        self.steps_per_epoch = math.ceil(self.n_max / self.bs)
        self.members: list[_Member] = []
        self.weights: list[Tensor] = []
        self.biases: list[Tensor] = []
        self._rows = EvalRows(data)
        dev = data.X.device
        self._n = torch.tensor(data.train_n, device=dev)
        self._pos = torch.arange(self.n_max, device=dev)
        self._folds = torch.arange(self.k, device=dev)
        self._dropout = dropout_fn(0.0, dev)

    @property
    def size(self) -> int:
        return len(self.members)

    def add(self, key: int, hp: TrialParams) -> None:
        """A new trial, from its first epoch (its fold models start as they would alone)."""
        if batch_key(hp) != self.key:
            raise ValueError(f"trial {key} has batch size/architecture {batch_key(hp)}, this stack {self.key}")
        d = self.data
        init = StackedMLP(n_in=int(d.X.shape[-1]), n_out=d.n_outputs, depth=self.depth, width=self.width,
                          activation=self.activation, dropout=hp.dropout,
                          seeds=[fold_seed(self.seed, f) for f in d.folds], device=d.X.device)
        fresh = [p.detach() for p in init.parameters()]
        gens = [torch.Generator().manual_seed(fold_seed(self.seed, f, stream=1)) for f in d.folds]
        member = _Member(key, hp, FusedStepper(fresh, hp), gens, self.epochs * self.steps_per_epoch)
        self._restack([*self.members, member], [*self._parts(), fresh])

    def remove(self, key: int) -> StackedMLP:
        """Take a trial out; its fold models, as a stack of their own."""
        i = next(j for j, m in enumerate(self.members) if m.key == key)
        parts, hp = self._parts(), self.members[i].hp
        mine = [t.clone() for t in parts[i]]
        self._restack(self.members[:i] + self.members[i + 1:], parts[:i] + parts[i + 1:])
        return StackedMLP.from_tensors(mine[0::2], mine[1::2], activation=self.activation, dropout=hp.dropout)

    def _parts(self) -> list[list[Tensor]]:
        """Each member's parameters (views), in StackedMLP.parameters() order."""
        k = self.k
        return [[t[i * k:(i + 1) * k] for pair in zip(self.weights, self.biases) for t in pair]
                for i in range(len(self.members))]

    def _restack(self, members: list[_Member], parts: list[list[Tensor]]) -> None:
        self.members = members
        if not members:
            self.weights, self.biases = [], []
            return
        stacked = [torch.cat([p[j] for p in parts]) for j in range(len(parts[0]))]
        self.weights, self.biases = stacked[0::2], stacked[1::2]
        for m, views in zip(members, self._parts()):
            m.stepper.params = views
        p = torch.tensor([m.hp.dropout for m in members]).repeat_interleave(self.k)
        self._dropout = dropout_fn(p, self.data.X.device)

    def _epoch_rows(self) -> tuple[Tensor, Tensor]:
        """Every member's training rows in its own fresh random order: ``(T*k, n_max, ...)``."""
        d = self.data
        idx = d.train_idx.cpu()
        order = torch.zeros((self.size * self.k, self.n_max), dtype=torch.long)
        for i, m in enumerate(self.members):
            for f, (g, n) in enumerate(zip(m.gens, d.train_n)):
                order[i * self.k + f, :n] = idx[f, torch.randperm(n, generator=g)]
        order = order.to(d.X.device, non_blocking=True)
        folds = self._folds.repeat(self.size)[:, None]
        return d.X[folds, order], d.Y[folds, order]

    def run_epoch(self) -> dict[int, float]:
        """One epoch of every member; the last learning rate of each."""
        Xe, Ye = self._epoch_rows()
        T, k, bs = self.size, self.k, self.bs
        lrs = {m.key: m.hp.lr for m in self.members}
        uniform = torch.full((T * k, bs), 1.0 / bs, device=Xe.device)
        for s in range(self.steps_per_epoch):
            start, end = s * bs, min((s + 1) * bs, self.n_max)
            if end > self.n_min:  # a fold ran out of rows: average over its real rows only
                mask = (self._pos[start:end][None, :] < self._n[:, None]).to(Xe.dtype)
                w = (mask / mask.sum(1, keepdim=True).clamp(min=1)).repeat(T, 1)
            else:
                w = uniform[:, : end - start]
            grads = loss_and_grads(self, Xe[:, start:end], Ye[:, start:end], w, task=self.data.task,
                                   loss=self.loss, dropout=self._dropout, need_loss=False).grads
            per_member = list(zip(*[g.view(T, k, *g.shape[1:]).unbind(0) for g in grads]))
            for m, g_m in zip(self.members, per_member):
                lr = m.hp.lr * lr_factor(m.hp.schedule, m.step, m.total_steps)
                m.stepper.step(lr, list(g_m))
                m.step += 1
                lrs[m.key] = lr
        return lrs

    def evaluate(self) -> dict[int, Tensor]:
        """Each member's ``(len(STAT_ROWS), k)`` statistics in eval mode (see FoldTrainer.evaluate)."""
        stats = measure_mlp(self, self._rows, loss=self.loss, metric=self.metric, repeat=self.size)
        return {m.key: stats[:, i * self.k:(i + 1) * self.k] for i, m in enumerate(self.members)}


def fit_together(
    data: FoldData,
    hps: list[TrialParams],
    *,
    epochs: int,
    loss: str,
    metric: str,
    seed: int = 0,
    on_epoch: list[OnEpoch | None] | None = None,
) -> list[FitResult]:
    """Train several configurations sharing :func:`batch_key` as one stack until each stops.

    The same as ``[fit_folds(data, hp, ...) for hp in hps]`` (the vectorized path), up to
    float rounding and the dropout masks; ``on_epoch[i]`` is trial i's pruning callback.
    """
    torch.manual_seed(fold_seed(seed, 0, stream=2))
    batch = TrialBatch(data, hps[0], loss=loss, metric=metric, epochs=epochs, seed=seed)
    callbacks = on_epoch or [None] * len(hps)
    trackers = {i: FitTracker(data.n_folds, hp, cb) for i, (hp, cb) in enumerate(zip(hps, callbacks))}
    for i, hp in enumerate(hps):
        batch.add(i, hp)
    results: dict[int, FitResult] = {}
    t0 = time.perf_counter()
    with flush_denormals():
        for epoch in range(epochs):
            lrs = batch.run_epoch()
            stats = {key: s.cpu().numpy() for key, s in batch.evaluate().items()}
            for key, tracker in list(trackers.items()):
                if tracker.record(epoch, stats[key], lrs[key], time.perf_counter() - t0) or epoch == epochs - 1:
                    stack = batch.remove(key)
                    results[key] = tracker.result(path="batched", n_params=stack.n_params(), depth=stack.depth,
                                                  stacks=[stack], train_seconds=time.perf_counter() - t0)
                    del trackers[key]
            if not trackers:
                break
    return [results[i] for i in range(len(hps))]
