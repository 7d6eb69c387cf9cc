"""A plain Optuna study (only ``trial.report``) is diagnosed from its validation curve alone."""

from __future__ import annotations

import optuna
import pytest
import torch
from click.testing import CliRunner
from sklearn.datasets import make_regression

from sweepdoctor.cli import main
from sweepdoctor.diagnostics import FindingCode, Severity
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import diagnose_study


def _objective(trial: optuna.Trial) -> float:
    """A small MLP regression trained with SGD; reports its validation MSE each epoch, nothing else."""
    X, y = make_regression(n_samples=400, n_features=10, noise=10.0, random_state=0)
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    val = float("nan")
    for epoch in range(12):
        for i in range(0, 300, 50):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(Xt[i : i + 50]), yt[i : i + 50]).backward()
            opt.step()
        with torch.no_grad():
            val = float(torch.nn.functional.mse_loss(model(Xt[300:]), yt[300:]))
        trial.report(val, epoch)
    return val


def _plain(url: str) -> str:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="plain", storage=url)
    study.enqueue_trial({"lr": 1.0})  # huge for this model: the loss overflows to NaN
    study.enqueue_trial({"lr": 0.05})  # learns and levels off
    study.optimize(_objective, n_trials=2)
    return url


@pytest.fixture
def plain_url(sqlite_url: str) -> str:
    return _plain(sqlite_url)


def test_a_diverging_trial_is_flagged_and_a_healthy_one_is_not(any_url: str) -> None:
    plain_url = _plain(any_url)  # Optuna stores a NaN as NULL beside its kind: on every backend
    report = diagnose_study(plain_url, "plain")
    diverged, healthy = report.for_run("trial-0"), report.for_run("trial-1")
    assert [f.code for f in diverged] == [FindingCode.DIVERGENCE] and diverged[0].severity is Severity.ERROR
    assert [f.code for f in healthy] == [FindingCode.HEALTHY]
    for f in (*diverged, *healthy):  # each says what it lacks and how to add it
        assert "train_loss" in f.evidence["missing"] and "sweepdoctor.record(trial" in f.advice
    assert not any(f.code is FindingCode.OVERFITTING for f in report.findings)  # never without a training loss


def test_the_cli_diagnoses_a_plain_study(plain_url: str) -> None:
    r = CliRunner().invoke(main, ["diagnose", "--study", "plain", "--storage", plain_url, "--json"])
    assert r.exit_code == 0, r.stderr
    assert '"divergence"' in r.stdout and "no curves of ours" not in r.stdout + r.stderr
    r = CliRunner().invoke(main, ["diagnose", "--study", "plain", "--storage", plain_url, "--trial", "0"])
    assert r.exit_code == 0 and "NaN/inf at epoch" in r.stdout


def test_a_study_without_reported_values_says_how_to_record_them(sqlite_url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(study_name="silent", storage=sqlite_url).optimize(lambda t: t.suggest_float("x", 0, 1), 1)
    with pytest.raises(StorageError, match=r"no values reported by any trial .*sweepdoctor\.record"):
        diagnose_study(sqlite_url, "silent")


def test_a_curve_that_never_moved_and_a_maximized_metric(sqlite_url: str) -> None:
    """Digits, accuracy reported to a maximizing study: SGD at lr 1e-4 learns nothing in 8 epochs; at lr 0.5 the
    accuracy still climbs every epoch when the run ends (0.06 -> 0.75)."""
    from tests.integrations._train import digits, mlp, train_epoch

    def objective(trial: optuna.Trial) -> float:
        model, data = mlp(0), digits()
        opt = torch.optim.SGD(model.parameters(), lr=trial.suggest_float("lr", 1e-4, 1.0, log=True))
        acc = 0.0
        for epoch in range(8):
            _, _, acc = train_epoch(model, opt, data)
            trial.report(acc, epoch)
        return acc

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="acc", storage=sqlite_url, direction="maximize")
    study.enqueue_trial({"lr": 1e-4})
    study.enqueue_trial({"lr": 0.5})
    study.optimize(objective, n_trials=2)
    report = diagnose_study(sqlite_url, "acc")
    stuck, learned = report.for_run("trial-0"), report.for_run("trial-1")
    assert not any(f.code is FindingCode.OVERFITTING for f in report.findings)
    assert [f.code for f in stuck] == [FindingCode.OPTIMIZATION_FAILURE] and "never moved" in stuck[0].summary
    assert stuck[0].evidence["curve"] == "val_metric" and stuck[0].evidence["missing"] == ["train_loss", "grad_norm"]
    assert [f.code for f in learned] == [FindingCode.SLOW_CONVERGENCE] and "still improving" in learned[0].summary
