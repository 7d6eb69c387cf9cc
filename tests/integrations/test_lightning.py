"""``SweepdoctorCallback``: a real small LightningModule on a CPU, its curves stored like a sweep's."""

from __future__ import annotations

import logging
import math

import optuna
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")  # the [lightning] extra; CI installs it (dev)

from sweepdoctor.diagnostics import FindingCode  # noqa: E402
from sweepdoctor.integrations.lightning import SweepdoctorCallback  # noqa: E402
from sweepdoctor.studies import Store, diagnose_study  # noqa: E402
from tests.integrations._train import digits  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.*"),  # lightning's own use of torch APIs
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),  # tiny in-memory data
    pytest.mark.filterwarnings("ignore:.*isinstance\\(treespec, LeafSpec\\).*"),
]


class _Digits(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        out = self.net(batch[0])
        self.log("val_loss", torch.nn.functional.cross_entropy(out, batch[1]))
        self.log("val_acc", (out.argmax(1) == batch[1]).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _fit(cb: SweepdoctorCallback, lr: float, epochs: int = 3) -> pl.Trainer:
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    Xt, yt, Xv, yv = digits(600)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt), batch_size=100)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xv, yv), batch_size=300)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[cb], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(_Digits(lr), train, val)
    return trainer


def test_the_callback_stores_train_and_val_curves_grad_norm_and_lr(sqlite_url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="lit", storage=sqlite_url, direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        cb = SweepdoctorCallback(trial, val_metric="val_acc", depth=1)
        trainer = _fit(cb, trial.suggest_float("lr", 0.1, 0.1))
        return cb.result(float(trainer.callback_metrics["val_acc"]))

    study.optimize(objective, n_trials=1)
    run = Store(sqlite_url).load_history("lit")[0].runs[0]
    epochs = run.folds[0].epochs
    assert run.state == "complete" and len(epochs) == 3 and run.n_params == 64 * 32 + 32 + 32 * 10 + 10
    assert all(e.train_loss and e.val_loss and e.grad_norm and e.val_metric is not None for e in epochs)
    assert epochs[-1].train_loss < epochs[0].train_loss and all(math.isclose(e.lr, 0.1) for e in epochs)
    assert study.trials[0].user_attrs["split0_score"] == pytest.approx(study.trials[0].value)
    assert study.trials[0].intermediate_values[2] == pytest.approx(epochs[2].val_metric)


def test_a_diverging_trainer_is_pruned_and_diagnosed(sqlite_url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="lit", storage=sqlite_url)

    def objective(trial: optuna.Trial) -> float:
        cb = SweepdoctorCallback(trial)
        trainer = _fit(cb, trial.suggest_float("lr", 500.0, 500.0), epochs=4)
        return cb.result(float(trainer.callback_metrics["val_loss"]))

    study.optimize(objective, n_trials=1)
    assert study.trials[0].state is optuna.trial.TrialState.PRUNED
    assert "diverged" in study.trials[0].user_attrs["stop_reason"]
    codes = [f.code for f in diagnose_study(sqlite_url, "lit").for_run("trial-0")]
    assert codes == [FindingCode.DIVERGENCE]


def test_without_a_trial_the_curves_stay_in_memory() -> None:
    cb = SweepdoctorCallback(val_metric="val_acc")
    _fit(cb, 0.1, epochs=2)
    history = cb.history()
    assert [len(f.epochs) for f in history.runs[0].folds] == [2] and history.runs[0].folds[0].epochs[1].grad_norm
