"""The diagnosis pruner on real training runs: each stopping rule on a run that has the problem, and
healthy runs that must go on; in a sweep (``pruner="doctor"``) and in a plain Optuna study."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from sklearn.datasets import load_diabetes, load_wine
from torch import nn

from sweepdoctor import sweep
from sweepdoctor.diagnostics.early import StopRules
from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import FitResult, fit_folds, load_builtin, make_splits, prepare_folds
from sweepdoctor.sweep.config import FloatRange
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.search._doctor_pruner import REASON_ATTR, DoctorPruner, class_prior, curve_watch
from sweepdoctor.sweep.search._pruners import WarmupMedianPruner, make_pruner

from .helpers import small_config, trial_params


@functools.lru_cache(maxsize=None)
def _folds(name: str) -> FoldData:
    ds = load_builtin(name)
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=3, seed=0), torch.device("cpu"))


def _fit(name: str, epochs: int, *, loss: str = "cross_entropy", **hp: object) -> FitResult:
    """Train on ``name`` with the diagnosis watching every fold's curves after each epoch."""
    ds = load_builtin(name)
    prior = class_prior(ds.y, ds.n_classes)
    classify = prior is not None
    watch = curve_watch(loss=loss, prior_loss=prior[0] if classify and loss == "cross_entropy" else None,
                        chance=prior[1] if classify else None, rules=StopRules())
    return fit_folds(_folds(name), trial_params(**hp), epochs=epochs, loss=loss,
                     metric="accuracy" if classify else "rmse", seed=0, watch=watch)


def _stopped(fit: FitResult, words: str) -> int:
    assert fit.status == "pruned", (fit.status, fit.reason)
    assert fit.reason is not None and fit.reason.startswith("pruned by the diagnosis at epoch ")
    assert words in fit.reason, fit.reason
    return len(fit.curves[0])


def test_a_diverging_run_is_stopped_before_its_loss_overflows() -> None:
    hp = dict(lr=0.6, optimizer="sgd", schedule="constant", batch_size=512, depth=1, width=64)
    unwatched = fit_folds(_folds("diabetes"), trial_params(**hp), epochs=12, loss="mse", metric="rmse", seed=0)
    assert unwatched.status == "fail" and "non-finite" in (unwatched.reason or "")
    epochs = _stopped(_fit("diabetes", 12, loss="mse", **hp), "divergence (train loss x")
    assert epochs < len(unwatched.curves[0])  # stopped while the loss was still finite


@pytest.mark.parametrize(("loss", "lr", "words"), [
    ("cross_entropy", 1e-6, "stuck at the class-prior loss 1.09"),  # steps too small to move it
    ("mse", 1.0, "stuck at its first epoch's loss"),  # MSE on saturated softmax outputs: no gradient
])
def test_a_run_stuck_at_the_prior_is_stopped(loss: str, lr: float, words: str) -> None:
    assert _stopped(_fit("wine", 10, loss=loss, lr=lr, schedule="constant"), words) <= 4


def test_a_collapse_to_chance_after_progress_is_stopped() -> None:
    # Adam warming up to lr 0.3 on digits: ~40% accuracy after one epoch, then back near 10%
    fit = _fit("digits", 12, lr=0.3, optimizer="adam", schedule="warmup")
    assert _stopped(fit, "collapse to chance") <= 5


@pytest.mark.parametrize("hp", [
    dict(lr=0.01, optimizer="adam", schedule="constant"),
    dict(lr=0.05, optimizer="sgd", schedule="constant"),  # a slow start that keeps falling
    dict(lr=0.3, optimizer="adam", schedule="warmup"),  # a noisy large rate that trains
    dict(lr=0.01, optimizer="sgd", activation="tanh", depth=3, schedule="constant"),
], ids=["adam", "slow-sgd", "large-warmup", "deep-tanh"])
def test_healthy_runs_are_not_stopped(hp: dict[str, object]) -> None:
    fit = _fit("wine", 12, **hp)
    assert fit.status == "complete", fit.reason
    assert len(fit.curves[0]) == 12


# ---- a plain Optuna study: a user's own objective reporting each epoch ---------------------------


def _regression_objective(trial: optuna.Trial) -> float:
    """A user's loop: an MLP on diabetes with full-batch SGD, reporting the validation MSE each epoch."""
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    Xt, yt = torch.tensor(X[:300], dtype=torch.float32), torch.tensor(y[:300, None], dtype=torch.float32)
    Xv, yv = torch.tensor(X[300:], dtype=torch.float32), torch.tensor(y[300:, None], dtype=torch.float32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=trial.suggest_float("lr", 1e-4, 1.0, log=True))
    value = float("nan")
    for epoch in range(15):
        opt.zero_grad()
        nn.functional.mse_loss(model(Xt), yt).backward()
        opt.step()
        with torch.no_grad():
            value = float(nn.functional.mse_loss(model(Xv), yv))
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def test_a_plain_optuna_study_prunes_a_diverging_trial_and_not_a_healthy_one() -> None:
    study = optuna.create_study(direction="minimize", pruner=DoctorPruner())
    study.enqueue_trial({"lr": 0.05})
    study.enqueue_trial({"lr": 1.0})
    study.optimize(_regression_objective, n_trials=2)
    healthy, diverging = study.trials
    assert healthy.state == TrialState.COMPLETE and len(healthy.intermediate_values) == 15
    assert diverging.state == TrialState.PRUNED
    reason = diverging.user_attrs[REASON_ATTR]
    assert reason.startswith("pruned by the diagnosis at epoch ") and "divergence" in reason
    assert len(diverging.intermediate_values) < 15


def _classification_objective(trial: optuna.Trial) -> float:
    """A user's loop: an MLP on wine with Adam, reporting the validation accuracy each epoch."""
    X, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = (X[order] - X.mean(0)) / X.std(0), y[order]
    Xt, yt = torch.tensor(X[:120], dtype=torch.float32), torch.tensor(y[:120])
    Xv, yv = torch.tensor(X[120:], dtype=torch.float32), torch.tensor(y[120:])
    torch.manual_seed(trial.number)
    model = nn.Sequential(nn.Linear(13, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=trial.suggest_float("lr", 1e-6, 0.1, log=True))
    accuracy = 0.0
    for epoch in range(12):
        for idx in torch.randperm(120, generator=torch.Generator().manual_seed(epoch)).split(16):
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
        with torch.no_grad():
            accuracy = float((model(Xv).argmax(-1) == yv).float().mean())
        trial.report(accuracy, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


def test_a_plain_optuna_study_prunes_a_hopelessly_slow_trial() -> None:
    study = optuna.create_study(direction="maximize", pruner=DoctorPruner())
    for lr in (3e-3, 5e-3, 1e-2, 2e-2, 3e-2, 3e-3, 2e-5):
        study.enqueue_trial({"lr": lr})
    study.optimize(_classification_objective, n_trials=7)
    *good, slow = study.trials
    assert all(t.state == TrialState.COMPLETE for t in good), [t.user_attrs for t in good]
    assert slow.state == TrialState.PRUNED
    assert "hopeless slowness" in slow.user_attrs[REASON_ATTR]
    assert len(slow.intermediate_values) <= 4


# ---- in a sweep: the CLI's names, TOML's and sweep.run's -----------------------------------------


def test_the_pruner_names_and_the_export() -> None:
    assert isinstance(make_pruner("doctor", 20), DoctorPruner)
    both = make_pruner("doctor+median", 20)
    assert isinstance(both, DoctorPruner) and isinstance(both.also, WarmupMedianPruner)
    assert sweep.DoctorPruner is DoctorPruner
    with pytest.raises(ConfigError, match="doctor, doctor\\+median"):
        make_pruner("doctors", 20)
    with pytest.raises(ConfigError, match="study.pruner"):
        replace(small_config("sqlite://", pruner="doc")).validate()


@pytest.mark.parametrize("pruner", ["doctor", "doctor+median", "instance"])
def test_a_sweep_stores_the_diagnosis_as_the_reason_of_its_stops(sqlite_url: str, pruner: str) -> None:
    cfg = small_config(sqlite_url, "doc", trials=3, epochs=10, pruner="median")  # an instance replaces the median
    cfg = replace(cfg, space=replace(cfg.space, lr=FloatRange(1e-7, 1e-6, log=True)))  # every trial crawls
    res = sweep.run(cfg, load_builtin("wine"), pruner=DoctorPruner() if pruner == "instance" else pruner)
    assert res.n_pruned == 3
    study = optuna.load_study(study_name="doc", storage=sqlite_url)
    for t in study.trials:
        assert t.state == TrialState.PRUNED
        assert t.user_attrs["stop_reason"].startswith("pruned by the diagnosis at epoch ")
        assert "stuck at the class-prior loss" in t.user_attrs["stop_reason"]
        assert t.user_attrs["epochs_trained"] < 10


def test_toml_names_the_pruner(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('[data]\ndataset = "wine"\n[study]\npruner = "doctor+median"\n')
    assert sweep.load_config(path).study.pruner == "doctor+median"
    path.write_text('[data]\ndataset = "wine"\n[study]\npruner = "doctor+hyperband"\n')
    with pytest.raises(ConfigError, match="study.pruner"):
        sweep.load_config(path)


def test_the_cli_names_the_pruner_and_says_why_it_stopped(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sweepdoctor.cli import main

    toml = tmp_path / "crawl.toml"
    toml.write_text('[data]\ndataset = "wine"\n[train]\nfolds = 3\nepochs = 8\nbaselines = false\nthreads = 1\n'
                    '[space]\nlr = {low = 1e-7, high = 1e-6, log = true}\n')
    r = CliRunner().invoke(main, ["sweep", "--config", str(toml), "--trials", "2", "--pruner", "doctor",
                                  "--storage", f"sqlite:///{tmp_path}/c.db", "--study", "c"])
    assert r.exit_code == 0, r.output
    assert "stopped by the diagnosis (2):" in r.output
    assert "trial 0: at epoch 2: stuck at the class-prior loss" in r.output
    show = CliRunner().invoke(main, ["studies", "show", "c", "--storage", f"sqlite:///{tmp_path}/c.db", "--json"])
    assert show.exit_code == 0, show.output
    assert json.loads(show.output)["stops"] == {"the diagnosis: stuck at the class-prior loss": 2}
    text = CliRunner().invoke(main, ["studies", "show", "c", "--storage", f"sqlite:///{tmp_path}/c.db"]).output
    assert "stopped early (pruned trials, by what stopped them): the diagnosis: stuck at the class-prior loss x2" \
        in " ".join(text.split())
