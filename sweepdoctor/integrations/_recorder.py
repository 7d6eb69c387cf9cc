"""``sweepdoctor.record(trial, ...)``: the curves of any Optuna objective, stored as a sweep stores them.

A few lines in a user's own loop::

    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
    for epoch in range(E):
        ...
        rec.epoch(train_loss=..., val_loss=..., val_metric=..., model=model)
        if rec.should_prune():
            raise optuna.TrialPruned()
    return rec.result(score)

Epochs are kept in memory (no write per epoch); the run is written once, in one
transaction, when the trial ends: :meth:`Recorder.result`, a pruning decision, or the
end of a ``with`` block. Writing never breaks the user's study (``_sink``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import optuna

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, RunState, Task, Thresholds
from sweepdoctor.errors import ConfigError
from sweepdoctor.integrations._attrs import (
    fold_scores_of,
    grad_norm_of,
    number_or_none,
    param_count,
    reference_run,
    trial_attrs,
)
from sweepdoctor.integrations._sink import RunSink
from sweepdoctor.studies import Store

__all__ = ["Recorder", "record"]

logger = logging.getLogger(__name__)

_LOG_LOSSES = frozenset({"cross_entropy", "bce", "nll", "log_loss"})
_EXPLODED = Thresholds().exploded_cross_entropy  # the diagnosis's own threshold (rules.md §4)
_MONITORS = ("val_loss", "val_metric")


def record(
    trial: optuna.Trial | None,
    *,
    task: str | Task = "classification",
    loss: str = "cross_entropy",
    storage: str | Store | None = None,
    monitor: str | None = None,
    depth: int | None = None,
) -> Recorder:
    """A :class:`Recorder` of ``trial``'s curves (``trial=None``: kept in memory, see :meth:`Recorder.history`).

    ``task``: ``"classification"`` or ``"regression"``; ``loss``: the training loss's name
    (``"cross_entropy"``, ``"mse"``, ...), which the diagnosis reads. ``storage``: where
    to store the curves (default: the trial's own study database). ``monitor``: the
    value reported to Optuna's pruner, ``"val_loss"`` or ``"val_metric"`` (default: the
    metric when the study maximizes, else the loss). ``depth``: the model's number of
    hidden layers, for the comparison with references (``rec.reference``).
    """
    return Recorder(trial, task=task, loss=loss, storage=storage, monitor=monitor, depth=depth)


class Recorder:
    """One trial's curves, per fold and epoch; see :func:`record`."""

    def __init__(self, trial: optuna.Trial | None, *, task: str | Task, loss: str, storage: str | Store | None,
                 monitor: str | None, depth: int | None) -> None:
        try:
            self.task = Task(task)
        except ValueError:
            raise ConfigError(f"record: task must be 'classification' or 'regression', got {task!r}") from None
        if monitor is not None and monitor not in _MONITORS:
            raise ConfigError(f"record: monitor must be 'val_loss' or 'val_metric', got {monitor!r}")
        self.trial, self.loss, self.depth = trial, str(loss), depth
        self._monitor = monitor
        self._sink = RunSink(trial, storage) if trial is not None else None
        self._folds: dict[int, list[EpochRecord]] = {0: []}
        self._fold = 0
        self._start = time.perf_counter()
        self._n_params: int | None = None
        self._reported: set[int] = set()
        self._refs: dict[str, dict[int, FoldHistory]] = {}
        self._ref_depth: dict[str, int | None] = {}
        self._blown: str | None = None  # why the last epoch diverged
        self.state: str | None = None  # a RunState ("complete", "pruned" or "fail") once the trial ended
        self.reason: str | None = None
        self._written = False

    # ---- the loop -------------------------------------------------------------------

    def fold(self, i: int) -> None:
        """The next epochs are fold ``i``'s (cross-validation in the user's loop; fold 0 by default)."""
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ConfigError(f"record: fold must be an integer >= 0, got {i!r}")
        self._fold = i
        self._folds.setdefault(i, [])

    def epoch(self, *, train_loss: Any = None, val_loss: Any = None, val_metric: Any = None,
              model: Any = None, lr: Any = None, grad_norm: Any = None) -> None:
        """Record one epoch of the current fold; numbers may be floats or 0-d tensors.

        ``model``: a ``torch.nn.Module`` whose ``.grad`` (the last batch's) gives the
        gradient norm when ``grad_norm`` is not given, and its parameter count.
        """
        values = {k: number_or_none(k, v) for k, v in
                  (("train_loss", train_loss), ("val_loss", val_loss), ("val_metric", val_metric), ("lr", lr),
                   ("grad_norm", grad_norm))}
        if model is not None:
            if values["grad_norm"] is None:
                values["grad_norm"] = grad_norm_of(model)
            if self._n_params is None:
                self._n_params = param_count(model)
        curve = self._folds[self._fold]
        curve.append(EpochRecord(
            epoch=len(curve), train_loss=_finite(values["train_loss"]), val_loss=_finite(values["val_loss"]),
            grad_norm=_finite(values["grad_norm"]), lr=math.nan if values["lr"] is None else values["lr"],
            val_metric=_finite(values["val_metric"]), wall_time=time.perf_counter() - self._start))
        self._blown = self._diverged(values, len(curve) - 1)
        self.state = None  # epochs after an end (a prune not acted on) reopen the trial

    def should_prune(self) -> bool:
        """True when the trial should stop: its loss diverged (NaN/inf, or exploded), or Optuna's pruner says so.

        The fold-mean of the monitored value at this epoch is reported to Optuna
        (``trial.report``) once every fold seen so far has it. On True the run is stored
        as pruned; raise ``optuna.TrialPruned()`` then.
        """
        if self.state is not None:
            return self.state == "pruned"
        epoch = len(self._folds[self._fold]) - 1
        if self._blown is not None:
            self._end("pruned", f"diverged: {self._blown}")
            return True
        if self.trial is not None and epoch >= 0 and self._report(epoch) and self.trial.should_prune():
            self._end("pruned", f"pruned by Optuna's pruner at epoch {epoch}")
            return True
        return False

    def result(self, score: Any, *, fold_scores: Sequence[float | None] | None = None) -> Any:
        """End the trial: store its run as complete and return ``score`` (the objective's value)."""
        self._end("complete", None, score=score, fold_scores=fold_scores)
        return score

    def fail(self, reason: str) -> None:
        """End the trial as failed (``reason`` is stored with the run)."""
        self._end(RunState.FAIL, reason)

    def reference(self, name: str, *, train_loss: float | Sequence[float], val_loss: float | Sequence[float],
                  depth: int | None = None, fold: int = 0) -> None:
        """Record a reference run of the study (a baseline trained on the same fold), e.g. a linear model.

        ``train_loss``/``val_loss``: its curve per epoch, or one number for one converged
        fit. ``depth`` 0 is a linear model. Stored once per study (by name) when the trial ends.
        """
        self._refs.setdefault(name, {})[fold] = reference_run(name, train_loss, val_loss)
        self._ref_depth[name] = depth

    # ---- what is kept -------------------------------------------------------------------

    def run(self) -> RunHistory:
        """The trial's run as recorded so far."""
        n = max(self._folds) + 1
        name = f"trial-{self.trial.number}" if self.trial is not None else "run"
        return RunHistory(
            name=name, role=Role.CANDIDATE,
            folds=tuple(FoldHistory(epochs=tuple(self._folds.get(f, []))) for f in range(n)),
            depth=self.depth, n_params=self._n_params,
            hyperparameters=dict(self.trial.params) if self.trial is not None else {}, state=self.state)

    def history(self) -> History:
        """The run with its references, for :func:`sweepdoctor.diagnostics.diagnose` or ``History.dumps()``."""
        return History(task=self.task, loss=self.loss, runs=(self.run(), *self._reference_runs()))

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Store the run if the trial did not end yet: pruned, failed with the exception, or complete."""
        if self.state is not None:
            return
        if isinstance(exc, optuna.TrialPruned):
            self._end("pruned", str(exc) or "pruned")
        elif exc is not None:
            self._end(RunState.FAIL, f"{type(exc).__name__}: {exc}")
        else:
            self._end("complete", None)

    # ---- inside ---------------------------------------------------------------------

    def _diverged(self, values: dict[str, float | None], epoch: int) -> str | None:
        for key in ("train_loss", "val_loss"):
            v = values[key]
            if v is not None and not math.isfinite(v):
                return f"non-finite {key} at epoch {epoch} (fold {self._fold})"
        train = values["train_loss"]
        if self.loss in _LOG_LOSSES and train is not None and train >= _EXPLODED:
            return f"training loss {train:.3g} at epoch {epoch} (fold {self._fold}): the logits blew up"
        return None

    def _monitored(self) -> str | None:
        if self._monitor is not None:
            return self._monitor
        trial = self.trial
        if trial is None or len(trial.study.directions) != 1:
            return None  # Optuna prunes single-objective studies only
        if trial.study.direction == optuna.study.StudyDirection.MAXIMIZE:
            return "val_metric"
        has_loss = any(e.val_loss is not None for c in self._folds.values() for e in c)
        return "val_loss" if has_loss else "val_metric"

    def _report(self, epoch: int) -> bool:
        """Report the fold-mean at ``epoch`` once the last fold seen has it; True when reported now or before."""
        field = self._monitored()
        if field is None or self._fold != max(self._folds) or self.trial is None:
            return False
        if epoch in self._reported:
            return True
        values = [getattr(c[epoch], field) for c in self._folds.values() if len(c) > epoch]
        known = [v for v in values if v is not None]
        if not known:
            return False
        self.trial.report(sum(known) / len(known), epoch)
        self._reported.add(epoch)
        return True

    def _reference_runs(self) -> list[RunHistory]:
        return [RunHistory(name=name, role=Role.BASELINE,
                           folds=tuple(f for _, f in sorted(folds.items())), depth=self._ref_depth[name])
                for name, folds in self._refs.items()]

    def _end(self, state: str, reason: str | None, *, score: Any = None,
             fold_scores: Sequence[float | None] | None = None) -> None:
        self.state, self.reason = state, reason
        if self._sink is None or self.trial is None:
            return
        run = self.run()
        scores = list(fold_scores) if fold_scores is not None else fold_scores_of(run)
        attrs = trial_attrs(run, scores, score, state=state, reason=reason)
        fail = reason if state == RunState.FAIL else None
        stored = self._sink.write_run(run, task=self.task, loss=self.loss, fold_scores=scores, attrs=attrs,
                                      fail_reason=fail, replace=self._written)
        self._written = self._written or stored
        if stored and self._refs:
            self._sink.write_references(self._reference_runs(), task=self.task, loss=self.loss)


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None
