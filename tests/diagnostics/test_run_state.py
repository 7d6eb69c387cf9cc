"""One word per trial state everywhere: RunState (Optuna's names in lower case); "failed", as older
records and files wrote it, is read as "fail"."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from sweepdoctor.cli import main
from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, RunState, Task


def test_every_spelling_of_a_state_reads_as_one_word() -> None:
    assert RunState.of("failed") is RunState.FAIL and RunState.of("FAIL") is RunState.FAIL
    assert RunState.of(" Complete ") is RunState.COMPLETE and RunState.of("pruned") is RunState.PRUNED
    assert RunState.of("done") is None and RunState.of(None) is None and RunState.of(3) is None
    assert f"{RunState.FAIL}" == "fail" and json.dumps(RunState.FAIL) == '"fail"' and RunState.FAIL == "fail"


def test_a_history_file_of_older_runs_reads_failed_as_fail(tmp_path) -> None:
    rec = EpochRecord(epoch=0, train_loss=1.0, val_loss=1.1, grad_norm=0.5, lr=0.01, val_metric=0.4)
    run = RunHistory(name="trial-3", role=Role.CANDIDATE, folds=(FoldHistory(epochs=(rec,)),), state="failed")
    assert run.state == "fail"
    doc = History(task=Task.CLASSIFICATION, loss="cross_entropy", runs=(run,)).to_dict()
    doc["runs"][0]["state"] = "failed"  # as written before the states had one word
    assert History.from_dict(doc).runs[0].state == "fail"
    odd = RunHistory(name="t", role=Role.CANDIDATE, folds=(), state="mystery")
    assert odd.state == "mystery"  # a word that names no state is kept as it came


def test_a_failed_trial_is_fail_in_the_sweep_the_store_and_every_view(tmp_path) -> None:
    from sklearn.datasets import load_iris

    from sweepdoctor import sweep

    def model(hp, n_in, n_out):  # noqa: ANN001, ANN202
        if hp.batch_size == 32:
            raise RuntimeError("no model for batch 32")
        return torch.nn.Linear(n_in, n_out)

    X, y = load_iris(return_X_y=True)
    url = f"sqlite:///{tmp_path}/s.db"
    events = []
    space = sweep.SearchSpace(batch_size=sweep.Choice((16, 32)), optimizer=sweep.Fixed("adam"))
    sweep.run(model_fn=model, X=X, y=y, space=space, n_trials=6, epochs=1, folds=2, storage=url, study_name="s",
              sampler="random", seed=3, on_trial=events.append)
    states = {e.number: str(e.state) for e in events}
    assert "fail" in states.values() and "failed" not in states.values()
    runner = CliRunner()
    rows = json.loads(runner.invoke(main, ["studies", "trials", "s", "--storage", url, "--json"]).output)
    listed = rows["trials"] if isinstance(rows, dict) else rows
    assert {r["number"]: r["state"] for r in listed} == states
    hist = runner.invoke(main, ["studies", "export", "s", "--format", "history", "--storage", url])
    stored = {r["name"]: r.get("state") for r in json.loads(hist.output)["runs"]}
    assert {v for k, v in stored.items() if k.startswith("trial-")} <= {"complete", "pruned", "fail", None}


@pytest.mark.parametrize("word", ["complete", "pruned", "fail", "running", "waiting"])
def test_the_cli_filters_by_the_same_words(word: str) -> None:
    r = CliRunner().invoke(main, ["studies", "export", "--help"])
    assert word in r.output
