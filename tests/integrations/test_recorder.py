"""``sweepdoctor.record``: a user's own Optuna loop writes the rows a sweep writes, on every backend."""

from __future__ import annotations

import logging
import math

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import create_engine, event, text

import sweepdoctor
from sweepdoctor.diagnostics import FindingCode, Role, Task
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import Store, diagnose_study
from tests.integrations._train import digits, mlp, objective, study, train_epoch


def test_rows_per_fold_and_epoch_and_the_attributes_a_sweep_writes(any_url: str) -> None:
    s = study(any_url, direction="maximize")
    s.optimize(objective(epochs=4, folds=2), n_trials=2)
    history, ids = Store(any_url).load_history("own")
    assert sorted(ids) == ["trial-0", "trial-1"] and history.task is Task.CLASSIFICATION
    run = history.runs[0]
    assert run.state == "complete" and run.depth == 1 and run.n_params == 64 * 32 + 32 + 32 * 10 + 10
    assert [len(f.epochs) for f in run.folds] == [4, 4]
    e = run.folds[1].epochs[3]
    assert e.epoch == 3 and e.train_loss is not None and e.val_loss is not None and e.grad_norm and e.grad_norm > 0
    assert math.isclose(e.lr, run.hyperparameters["lr"]) and 0 <= (e.val_metric or -1) <= 1
    t = s.trials[0]
    assert t.user_attrs["hyperparameters"] == t.params and t.user_attrs["epochs_trained"] == 4
    splits = [t.user_attrs["split0_score"], t.user_attrs["split1_score"]]
    assert splits == [f.epochs[-1].val_metric for f in run.folds] and run.score == pytest.approx(sum(splits) / 2)
    assert t.user_attrs["mean_score"] == t.value and t.user_attrs["std_score"] >= 0
    # Optuna's pruner saw the fold-mean of the monitored value (the metric: the study maximizes)
    assert t.intermediate_values[3] == pytest.approx(sum(splits) / 2)


def test_an_epoch_costs_no_write(sqlite_url: str) -> None:
    s = study(sqlite_url)
    statements: list[str] = []
    trial = s.ask()
    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
    engine = s._storage._backend.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    model, data = mlp(0), digits()
    opt = __import__("torch").optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        train, val, acc = train_epoch(model, opt, data)
        rec.epoch(train_loss=train, val_loss=val, val_metric=acc, model=model)
    assert statements == []
    rec.result(acc)
    inserts = [q for q in statements if q.lstrip().upper().startswith("INSERT")]
    assert any("sd_epochs" in q for q in inserts) and sum("sd_runs" in q for q in inserts) == 1


def test_a_nan_loss_prunes_the_trial_and_says_why(sqlite_url: str) -> None:
    s = study(sqlite_url)

    def diverging(trial: optuna.Trial) -> float:
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
        for epoch in range(10):
            rec.epoch(train_loss=2.0 if epoch < 2 else math.nan, val_loss=2.1)
            if rec.should_prune():
                raise optuna.TrialPruned()
        return rec.result(0.0)

    s.optimize(diverging, n_trials=1)
    t = s.trials[0]
    assert t.state is TrialState.PRUNED and "non-finite train_loss at epoch 2" in t.user_attrs["stop_reason"]
    history, _ = Store(sqlite_url).load_history("own")
    assert history.runs[0].state == "pruned" and len(history.runs[0].folds[0].epochs) == 3
    codes = {f.code for f in diagnose_study(sqlite_url, "own").findings}
    assert FindingCode.DIVERGENCE in codes


def test_optunas_pruner_prunes_a_worse_trial(sqlite_url: str) -> None:
    s = study(sqlite_url, pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
    s.enqueue_trial({"lr": 0.5})
    s.enqueue_trial({"lr": 1e-4})  # barely moves from the trivial loss: above the median from epoch 1
    s.optimize(objective(epochs=5, lr=lambda t: t.suggest_float("lr", 1e-5, 1.0, log=True)), n_trials=2)
    assert [t.state for t in s.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert "Optuna's pruner" in s.trials[1].user_attrs["stop_reason"]
    runs = Store(sqlite_url).load_history("own")[0].runs
    assert [r.state for r in runs] == ["complete", "pruned"]


def test_a_failed_write_is_a_warning_and_the_study_goes_on(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    s = study(sqlite_url, direction="maximize")
    with create_engine(sqlite_url).begin() as c:  # our table, but not as we made it: every insert fails
        c.execute(text("CREATE TABLE sd_runs (id INTEGER PRIMARY KEY, unrelated TEXT NOT NULL)"))
    with caplog.at_level(logging.WARNING, logger="sweepdoctor.integrations"):
        s.optimize(objective(epochs=2), n_trials=2)
    assert [t.state for t in s.trials] == [TrialState.COMPLETE] * 2
    warned = [r for r in caplog.records if "could not store the curves of trial" in r.getMessage()]
    assert len(warned) == 2 and all(r.levelno == logging.WARNING for r in warned)


def test_a_study_in_memory_keeps_the_curves_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    s = study(None, direction="maximize")
    trial = s.ask()
    rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
    with caplog.at_level(logging.WARNING, logger="sweepdoctor.integrations"):
        rec.epoch(train_loss=1.0, val_loss=1.2, val_metric=0.5)
        assert rec.result(0.5) == 0.5
    assert "is not a database" in caplog.text
    assert rec.history().runs[0].folds[0].epochs[0].val_loss == 1.2


def test_an_exception_in_a_with_block_stores_a_failed_run(sqlite_url: str) -> None:
    s = study(sqlite_url)

    def broken(trial: optuna.Trial) -> float:
        with sweepdoctor.record(trial, task="regression", loss="mse") as rec:
            rec.epoch(train_loss=1.0, val_loss=1.1)
            raise RuntimeError("out of memory")

    s.optimize(broken, n_trials=1, catch=(RuntimeError,))
    run = Store(sqlite_url).load_history("own")[0].runs[0]
    assert run.state == "fail" and s.trials[0].user_attrs["fail_reason"] == "RuntimeError: out of memory"


def test_a_reference_is_stored_once_and_compared_with(sqlite_url: str) -> None:
    s = study(sqlite_url)

    def stuck(trial: optuna.Trial) -> float:
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy", depth=2)
        rec.reference("linear", train_loss=0.2, val_loss=0.3, depth=0)
        for _ in range(12):  # a deeper model that never leaves the trivial loss: the linear model beats it
            rec.epoch(train_loss=2.30, val_loss=2.31, grad_norm=1e-4)
        return rec.result(2.31)

    s.optimize(stuck, n_trials=2)
    history, _ = Store(sqlite_url).load_history("own")
    assert [r.name for r in history.baselines] == ["linear"] and history.baselines[0].role is Role.BASELINE
    codes = {f.code for f in diagnose_study(sqlite_url, "own").for_run("trial-1")}
    assert FindingCode.OPTIMIZATION_FAILURE in codes or FindingCode.CRITICAL_POINT in codes


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="task must be"):
        sweepdoctor.record(None, task="ranking")
    rec = sweepdoctor.record(None)
    with pytest.raises(ConfigError, match="train_loss must be a number"):
        rec.epoch(train_loss="low")
    with pytest.raises(ConfigError, match="fold must be an integer >= 0, got -1"):
        rec.fold(-1)
