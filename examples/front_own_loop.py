"""The README's third example: your own Optuna loop, recorded by ``sweepdoctor.record``.

    python examples/front_own_loop.py
    sweepdoctor diagnose --study own-loop --storage sqlite:///own.db

(tests/docs/test_front_examples.py checks it is the README's block, and runs it.)
"""
# ruff: noqa: I001  (the README's block as written)

import optuna
import torch
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
import sweepdoctor

X, y = load_wine(return_X_y=True)
X, y = torch.tensor(StandardScaler().fit_transform(X), dtype=torch.float32), torch.tensor(y)
tr, va = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).split([120, len(y) - 120])

def objective(trial):
    lr = trial.suggest_float("lr", 1e-3, 30.0, log=True)
    torch.manual_seed(trial.number)
    model = torch.nn.Sequential(torch.nn.Linear(13, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy", depth=1)
    for epoch in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[tr]), y[tr]).backward()
        opt.step()
        with torch.no_grad():
            out = model(X[va])
            acc = float((out.argmax(1) == y[va]).float().mean())
            rec.epoch(train_loss=torch.nn.functional.cross_entropy(model(X[tr]), y[tr]),
                      val_loss=torch.nn.functional.cross_entropy(out, y[va]), val_metric=acc, model=model, lr=lr)
        if rec.should_prune():               # Optuna's pruner, or a diverging loss
            raise optuna.TrialPruned()
    return rec.result(acc)

study = optuna.create_study(study_name="own-loop", storage="sqlite:///own.db", direction="maximize")
study.optimize(objective, n_trials=12)
