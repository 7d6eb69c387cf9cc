"""``diagnose --history FILE --suggest`` on real training histories."""

from __future__ import annotations

import json
from pathlib import Path

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
