"""A Lightning ``Trainer`` in an Optuna objective, recorded by sweepdoctor (docs/lightning.md).

    pip install 'sweepdoctor[lightning]'
    python examples/lightning_loop.py --storage sqlite:///lightning.db
    sweepdoctor diagnose --study lightning --storage sqlite:///lightning.db

A small MLP on scikit-learn's digits; the module logs ``train_loss`` (per epoch),
``val_loss`` and ``val_acc``; :class:`SweepdoctorCallback` records them with the
gradient norm and the learning rate, and prunes a diverging trial. Nothing is
downloaded; it runs on a CPU in well under a minute.
"""

from __future__ import annotations

import argparse
import logging
import warnings

import lightning.pytorch as pl
import optuna
import torch
from sklearn.datasets import load_digits

from sweepdoctor.integrations.lightning import SweepdoctorCallback

torch.set_num_threads(1)  # small tensors: threads only add overhead


def loaders() -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X[:900] / 16.0, dtype=torch.float32), torch.tensor(y[:900])
    train = torch.utils.data.TensorDataset(X[:600], y[:600])
    val = torch.utils.data.TensorDataset(X[600:], y[600:])
    gen = torch.Generator().manual_seed(0)
    return (torch.utils.data.DataLoader(train, batch_size=100, shuffle=True, generator=gen),
            torch.utils.data.DataLoader(val, batch_size=300))


class Digits(pl.LightningModule):
    def __init__(self, lr: float, width: int) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        X, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(X), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        X, y = batch
        out = self.net(X)
        self.log("val_loss", torch.nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-3, 50.0, log=True)
    width = trial.suggest_int("width", 16, 64, log=True)
    pl.seed_everything(trial.number, verbose=False)
    cb = SweepdoctorCallback(trial, task="classification", loss="cross_entropy", val_metric="val_acc", depth=1)
    trainer = pl.Trainer(max_epochs=6, callbacks=[cb], accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    train, val = loaders()
    trainer.fit(Digits(lr, width), train, val)  # raises optuna.TrialPruned when the callback prunes
    return cb.result(float(trainer.callback_metrics["val_acc"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="sqlite:///lightning.db")
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # quiet: no GPU/TPU banner
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")  # tiny in-memory data
    study = optuna.create_study(study_name="lightning", storage=args.storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0), load_if_exists=True)
    study.enqueue_trial({"lr": 40.0, "width": 32})  # far too large a step: the diagnosis prunes it
    study.optimize(objective, n_trials=args.trials)
    print(f"best accuracy {study.best_value:.3f} with {study.best_params}")

    from sweepdoctor.studies import diagnose_study

    for run in diagnose_study(args.storage, "lightning").runs:
        f = run.findings[0]
        print(f"{run.run.name} ({run.run.state}): {f.code.value} ({f.severity.value}) {f.summary}")
    print(f"then: sweepdoctor diagnose --study lightning --storage {args.storage}")


if __name__ == "__main__":
    main()
