"""Several trials at once in the sweep loop (``train.trials_per_step`` > 1, built-in MLP).

Keeps up to N trials training: claims trials while fewer are live (TPE's constant liar
spreads out trials that run together, as for parallel workers), groups them by batch
size and architecture into :class:`~sweepdoctor.sweep._batched.TrialBatch` stacks and
advances every stack one epoch at a time. After each epoch, each trial's epoch is
recorded and its fold-mean validation metric reported for pruning, exactly as one trial
alone (:class:`~sweepdoctor.sweep._fit.FitTracker`); a trial that is pruned, diverges,
stops early or is done leaves its stack, is stored (``record``), and a new trial is
claimed in its place at the next epoch boundary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import optuna
import torch
from optuna.trial import TrialState

from sweepdoctor.sweep._batched import TrialBatch, batch_key
from sweepdoctor.sweep._config import SweepConfig
from sweepdoctor.sweep._coordinator import TrialCoordinator
from sweepdoctor.sweep._fit import FitResult, FitTracker, fold_seed
from sweepdoctor.sweep._kernels import flush_denormals
from sweepdoctor.sweep._space import TrialParams, suggest
from sweepdoctor.sweep._tensors import FoldData

__all__ = ["run_batched"]

logger = logging.getLogger(__name__)

Record = Callable[[optuna.Trial, TrialParams, FitResult], None]


class _Outcome(Protocol):
    """The parts of the sweep's result this loop updates itself (the rest goes through ``record``)."""

    n_failed: int
    interrupted: bool


@dataclass
class _Live:
    trial: optuna.Trial
    hp: TrialParams
    tracker: FitTracker
    start: float
    epoch: int = 0
    seconds: float = 0.0  # its share of the stack's training time


def run_batched(
    cfg: SweepConfig,
    coord: TrialCoordinator,
    data: FoldData,
    *,
    loss: str,
    metric: str,
    record: Record,
    result: _Outcome,
) -> None:
    """Train trials ``cfg.train.trials_per_step`` at a time until none can be claimed alongside."""
    limit, epochs, seed = cfg.train.trials_per_step, cfg.train.epochs, cfg.study.seed
    prune = cfg.study.pruner != "none"
    torch.manual_seed(fold_seed(seed, 0, stream=2))  # the dropout masks: repeatable from the seed
    batches: dict[tuple[int, int, int, str], TrialBatch] = {}
    live: dict[int, _Live] = {}
    try:
        while True:
            while len(live) < limit and (trial := coord.next_trial(alongside=bool(live))) is not None:
                hp = coord.suggest(lambda: suggest(trial, cfg.space), trial)
                live[trial.number] = _Live(trial, hp, FitTracker(data.n_folds, hp, coord.pruning(trial, prune)),
                                           time.perf_counter())
                if batch_key(hp) not in batches:
                    batches[batch_key(hp)] = TrialBatch(data, hp, loss=loss, metric=metric, epochs=epochs, seed=seed)
                batches[batch_key(hp)].add(trial.number, hp)
            if not live:
                return
            for key in list(batches):
                with flush_denormals():
                    _advance(batches[key], live, epochs, record)
                if batches[key].size == 0:
                    del batches[key]
    except KeyboardInterrupt:
        for lv in live.values():
            coord.finish(lv.trial, TrialState.FAIL, attrs={"fail_reason": "interrupted"})
            result.n_failed += 1
        result.interrupted = True


def _advance(batch: TrialBatch, live: dict[int, _Live], epochs: int, record: Record) -> None:
    """One epoch of a stack; trials that stop leave it and are recorded."""
    t0 = time.perf_counter()
    numbers = [m.key for m in batch.members]
    failure: str | None = None
    try:
        lrs = batch.run_epoch()
        stats = batch.evaluate()
        both = torch.cat([stats[n] for n in numbers], dim=1).cpu().numpy()  # one host copy per stack and epoch
        host = {n: both[:, i * batch.k:(i + 1) * batch.k] for i, n in enumerate(numbers)}
    except Exception as e:  # noqa: BLE001 - as for one trial: a training error fails the trials, not the sweep
        failure = f"{type(e).__name__}: {e}"
        logger.warning("trials %s failed: %s", numbers, failure)
    share = (time.perf_counter() - t0) / len(numbers)
    for number in numbers:
        lv = live[number]
        lv.seconds += share
        if failure is not None:
            lv.tracker.status, lv.tracker.reason = "failed", failure
            stop = True
        else:
            stop = lv.tracker.record(lv.epoch, host[number], lrs[number], time.perf_counter() - lv.start)
        lv.epoch += 1
        if stop or lv.epoch >= epochs:
            stack = batch.remove(number)
            fit = lv.tracker.result(path="batched", n_params=stack.n_params(), depth=stack.depth, stacks=[stack],
                                    train_seconds=lv.seconds)
            del live[number]
            record(lv.trial, lv.hp, fit)
