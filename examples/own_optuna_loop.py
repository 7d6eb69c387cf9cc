"""Your own Optuna objective and training loop, recorded by sweepdoctor (docs/own-loop.md).

    python examples/own_optuna_loop.py --storage sqlite:///own.db
    sweepdoctor diagnose --study own-loop --storage sqlite:///own.db

Three-fold cross-validation of a small MLP on scikit-learn's wine data, trained in
lockstep (every fold one epoch, then the next epoch); each trial records its curves
with ``sweepdoctor.record`` and is pruned by Optuna's median pruner or by the diagnosis
(a diverging loss). Nothing is downloaded; it runs in a few seconds on a CPU.
"""

from __future__ import annotations

import argparse

import optuna
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

import sweepdoctor

EPOCHS, FOLDS = 12, 3


def folds() -> list[tuple[torch.Tensor, ...]]:
    X, y = load_wine(return_X_y=True)
    out = []
    for train, val in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(X, y):
        scaler = StandardScaler().fit(X[train])
        out.append((torch.tensor(scaler.transform(X[train]), dtype=torch.float32), torch.tensor(y[train]),
                    torch.tensor(scaler.transform(X[val]), dtype=torch.float32), torch.tensor(y[val])))
    return out


torch.set_num_threads(1)  # small tensors: threads only add overhead
DATA = folds()


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 10.0, log=True)
    width = trial.suggest_int("width", 8, 64, log=True)
    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy", depth=1)
    models, opts = [], []
    for f in range(FOLDS):
        torch.manual_seed(f)
        models.append(torch.nn.Sequential(torch.nn.Linear(13, width), torch.nn.ReLU(), torch.nn.Linear(width, 3)))
        opts.append(torch.optim.SGD(models[f].parameters(), lr=lr, momentum=0.9))
    accs = [0.0] * FOLDS
    for _ in range(EPOCHS):
        for f, (Xt, yt, Xv, yv) in enumerate(DATA):
            model, opt = models[f], opts[f]
            for i in range(0, len(Xt), 16):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(Xt[i : i + 16]), yt[i : i + 16]).backward()
                opt.step()
            with torch.no_grad():
                train_loss = torch.nn.functional.cross_entropy(model(Xt), yt)
                out = model(Xv)
                val_loss = torch.nn.functional.cross_entropy(out, yv)
                accs[f] = float((out.argmax(1) == yv).float().mean())
            rec.fold(f)
            rec.epoch(train_loss=train_loss, val_loss=val_loss, val_metric=accs[f], model=model, lr=lr)
        if rec.should_prune():  # Optuna's pruner on the fold mean, or a diverging loss
            raise optuna.TrialPruned()
    return rec.result(sum(accs) / FOLDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="sqlite:///own_loop.db")
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="own-loop", storage=args.storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0), load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3))
    study.enqueue_trial({"lr": 5.0, "width": 32})  # far too large a step: the diagnosis prunes it
    study.optimize(objective, n_trials=args.trials)
    print(f"best accuracy {study.best_value:.3f} with {study.best_params}")

    from sweepdoctor.studies import diagnose_study

    report = diagnose_study(args.storage, "own-loop")
    for run in report.runs:
        main_finding = run.findings[0]
        print(f"{run.run.name}: {main_finding.code.value} ({main_finding.severity.value}) {main_finding.summary}")
    print(f"then: sweepdoctor diagnose --study own-loop --storage {args.storage}")


if __name__ == "__main__":
    main()
