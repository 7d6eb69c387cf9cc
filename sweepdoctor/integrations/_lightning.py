"""A Lightning ``Callback`` that records a ``Trainer``'s curves through a :class:`Recorder`.

At the end of each training epoch (after its validation, in Lightning 2) it reads the
logged metrics (``trainer.callback_metrics``: the names given, ``train_loss`` and
``val_loss`` by default; log the training loss with ``on_epoch=True``), the gradient norm
of the last batch's gradients (before its optimizer step) and the first optimizer's learning rate, and records
one epoch. With an Optuna trial it stores the run in the trial's study and prunes: a
diverging loss or Optuna's pruner raises ``optuna.TrialPruned`` out of ``trainer.fit``
(the objective lets it through). Without a trial the curves stay in memory
(:meth:`SweepdoctorCallback.history`).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import optuna

from sweepdoctor.diagnostics import History
from sweepdoctor.integrations._attrs import grad_norm_of
from sweepdoctor.integrations._recorder import Recorder, record
from sweepdoctor.studies import Store

__all__ = ["SweepdoctorCallback"]


class SweepdoctorCallback(pl.Callback):
    """Record a ``Trainer``'s epochs (train/val loss, metric, gradient norm, lr), optionally for an Optuna trial."""

    def __init__(
        self,
        trial: optuna.Trial | None = None,
        *,
        task: str = "classification",
        loss: str = "cross_entropy",
        train_loss: str = "train_loss",
        val_loss: str = "val_loss",
        val_metric: str | None = None,
        storage: str | Store | None = None,
        monitor: str | None = None,
        depth: int | None = None,
        prune: bool = True,
    ) -> None:
        super().__init__()
        self.recorder: Recorder = record(trial, task=task, loss=loss, storage=storage, monitor=monitor, depth=depth)
        self._names = {"train_loss": train_loss, "val_loss": val_loss, "val_metric": val_metric}
        self._prune = prune and trial is not None
        self._grad_norm: float | None = None

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        """The last batch's gradient norm (Lightning clears the gradients before the epoch ends)."""
        progress = getattr(getattr(trainer.fit_loop, "epoch_loop", None), "batch_progress", None)
        if getattr(progress, "is_last_batch", True):
            self._grad_norm = grad_norm_of(pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        values = {k: _scalar(metrics.get(name)) if name is not None else None for k, name in self._names.items()}
        optimizers = trainer.optimizers
        lr = optimizers[0].param_groups[0].get("lr") if optimizers else None
        self.recorder.epoch(**values, model=pl_module, lr=lr, grad_norm=self._grad_norm)
        self._grad_norm = None
        if self._prune and self.recorder.should_prune():
            raise optuna.TrialPruned(f"trial pruned at epoch {trainer.current_epoch}: {self.recorder.reason}")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.recorder.state is None and not isinstance(exception, optuna.TrialPruned):
            self.recorder.fail(f"{type(exception).__name__}: {exception}")

    def result(self, score: Any) -> Any:
        """End the trial: store its run as complete, return ``score`` (``return cb.result(score)``)."""
        return self.recorder.result(score)

    def history(self) -> History:
        """The curves recorded so far (``History.dumps()`` for ``sweepdoctor diagnose --history``)."""
        return self.recorder.history()


def _scalar(value: Any) -> float | None:
    """A logged metric (a 0-d tensor) as a float; ``None`` when it was not logged."""
    return None if value is None else float(value)
