"""``diagnose --history FILE --suggest`` on real training histories."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from sweepdoctor.cli import main
from tests.diagnostics import scenarios


def _history_file(tmp_path: Path, scenario: scenarios.Scenario) -> Path:
    path = tmp_path / "run.json"
    path.write_text(scenario.history.dumps())
    return path


def test_a_diverged_run_is_told_a_smaller_learning_rate(tmp_path: Path) -> None:
    path = _history_file(tmp_path, scenarios.divergence(seed=0))
    r = CliRunner().invoke(main, ["diagnose", "--history", str(path), "--suggest"])
    assert r.exit_code == 0, r.output
    doc = tomllib.loads(r.stdout)  # pipes into a file the sweep reads
    assert doc["space"]["lr"] == 5.0  # a tenth of the run's 50
    assert "diverged" in r.stdout


def test_an_overfit_run_is_told_to_regularize_and_json_carries_it(tmp_path: Path) -> None:
    path = _history_file(tmp_path, scenarios.overfitting(seed=0))
    r = CliRunner().invoke(main, ["diagnose", "--history", str(path), "--suggest", "--json"])
    assert r.exit_code == 0, r.output
    changes = json.loads(r.stdout)["suggest"]["candidate"]["changes"]
    assert changes["weight_decay"] > 0 and changes["dropout"] > 0 and changes["patience"] == 5


def test_suggest_on_a_missing_study_creates_no_database(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["diagnose", "--study", "x", "--storage", f"sqlite:///{tmp_path / 'n.db'}",
                                  "--suggest"])
    assert r.exit_code == 2 and "n.db" in r.stderr
    assert not (tmp_path / "n.db").exists()


# ---- several runs: one TOML document the sweep reads (issue 25) ---------------------------


@pytest.fixture(scope="module")
def lr_study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lr") / "run.json"
    path.write_text(scenarios.lr_study().dumps())  # six SGD runs, the three largest learning rates diverge
    return path


def test_several_runs_give_one_document_that_the_sweep_reads(lr_study_file: Path, tmp_path: Path) -> None:
    r = CliRunner(env={"COLUMNS": "60"}).invoke(main, ["diagnose", "--history", str(lr_study_file), "--suggest"])
    assert r.exit_code == 0, r.output
    doc = tomllib.loads(r.stdout)  # one [space] table, not one per run
    assert r.stdout.count("[space]") <= 1 and set(doc) <= {"space", "train"}
    lines = r.stdout.splitlines()
    assert all(line.startswith(("#", "[")) or " = " in line for line in lines)  # no reason wrapped into a bare line
    assert sum(line.startswith("# after trial-") for line in lines) == 5  # the other runs, as comments
    assert any(len(line) > 60 for line in lines)  # written plainly, not wrapped at the terminal's width
    next_toml = tmp_path / "next.toml"
    next_toml.write_text(r.stdout)
    sweep = CliRunner().invoke(main, ["sweep", "--config", str(next_toml), "--dataset", "iris", "--trials", "1",
                                      "--folds", "2", "--epochs", "1", "--no-baselines", "--threads", "1",
                                      "--storage", f"sqlite:///{tmp_path}/n.db", "--json"])
    assert sweep.exit_code == 0, sweep.output
    assert json.loads(sweep.stdout)["n_complete"] == 1


def _edited(tmp_path: Path, hyperparameters: dict[str, object]) -> Path:
    s = scenarios.divergence(seed=0)
    runs = tuple(replace(r, hyperparameters=hyperparameters) if r.name == s.run else r for r in s.history.runs)
    path = tmp_path / "run.json"
    path.write_text(replace(s.history, runs=runs).dumps())
    return path


def test_a_learning_rate_that_is_not_positive_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, {"lr": -0.5, "optimizer": "sgd"})
    r = CliRunner().invoke(main, ["diagnose", "--history", str(path), "--suggest"])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "lr" in r.stderr and "-0.5" in r.stderr and "candidate" in r.stderr and "positive" in r.stderr


def test_a_diverged_run_without_hyperparameters_is_told_what_to_add(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["diagnose", "--history", str(_edited(tmp_path, {})), "--suggest"])
    assert r.exit_code == 0, r.output
    assert "nothing to change" not in r.stdout
    assert "cannot suggest edits after candidate without its hyperparameters" in r.stdout
    assert '"hyperparameters": {"lr": ...}' in r.stdout and '"lr": ...' in r.stderr
    assert tomllib.loads(r.stdout) == {}
