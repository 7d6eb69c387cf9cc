"""A study recorded from a user's own loop reads like a sweep's: diagnose, studies, --finding, service, report."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sweepdoctor.cli import main
from sweepdoctor.service import create_app
from tests.integrations._train import objective, study


@pytest.fixture
def recorded(sqlite_url: str) -> str:
    """Two folds: a diverging trial (pruned by the diagnosis) and two that learn."""
    s = study(sqlite_url, direction="maximize")
    s.enqueue_trial({"lr": 1000.0})
    s.enqueue_trial({"lr": 0.3})
    s.enqueue_trial({"lr": 0.1})
    s.optimize(objective(epochs=5, folds=2, lr=lambda t: t.suggest_float("lr", 1e-3, 1e3, log=True)), n_trials=3)
    assert [t.state for t in s.trials][0] is optuna.trial.TrialState.PRUNED
    return sqlite_url


def _cli(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_diagnose_then_query_by_finding(recorded: str) -> None:
    doc = json.loads(_cli("diagnose", "--study", "own", "--storage", recorded, "--json"))
    main_codes = {run["name"]: run["findings"][0]["code"] for run in doc["runs"]}
    assert main_codes["trial-0"] == "divergence" and set(main_codes) == {"trial-0", "trial-1", "trial-2"}
    trials = json.loads(_cli("studies", "trials", "own", "--storage", recorded, "--finding", "divergence", "--json"))
    assert [t["number"] for t in trials["trials"]] == [0]
    shown = json.loads(_cli("studies", "show", "own", "--storage", recorded, "--json"))
    assert (shown["summary"]["n_runs"], shown["summary"]["task"]) == (3, "classification")
    suggested = json.loads(_cli("diagnose", "--study", "own", "--storage", recorded, "--suggest", "--json"))
    assert "lr" in json.dumps(suggested["suggest"]["trial-0"]["changes"])  # a diverged run: a smaller lr


def test_service_pages_api_and_html_report(recorded: str, tmp_path: Path) -> None:
    _cli("diagnose", "--study", "own", "--storage", recorded)
    with TestClient(create_app(recorded, token=None), raise_server_exceptions=False) as c:
        detail = c.get("/api/studies/own/trials/1").json()
        assert len(detail["fold_scores"]) == 2 and len(detail["curves"]["folds"]) == 2
        assert {"train_loss", "val_loss", "grad_norm", "lr"} <= set(detail["curves"]["folds"][0]["epochs"][0])
        assert c.get("/api/studies/own").json()["findings"]["divergence"] == 1
        assert c.get("/studies/own").status_code == 200 and c.get("/studies/own/trials/0").status_code == 200
        c.app.state.sweepdoctor.close()  # type: ignore[attr-defined]
    page = tmp_path / "own.html"
    _cli("report", "--study", "own", "--storage", recorded, "--html", str(page))
    assert "trial-0" in page.read_text() or "#0" in page.read_text()
