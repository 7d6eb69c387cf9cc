"""``sweepdoctor diagnose`` through click's runner: history files, stored studies, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from click.testing import CliRunner, Result
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from sweepdoctor.cli import main
from sweepdoctor.diagnostics import History, Task
from sweepdoctor.studies import Store
from sweepdoctor.studies.db._schema import FindingRow, RunRow
from tests.diagnostics import scenarios
from tests.diagnostics._training import Config, baselines, history, train_run


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def iris_history() -> History:
    """Real runs on iris: trial-0 blows up (SGD, lr=50), trial-1 is healthy; two baselines."""
    data = scenarios.dataset("iris")
    blows_up = Config(depth=2, width=32, optimizer="sgd", lr=50.0, epochs=5)
    bad, _ = train_run("trial-0", data, blows_up, loss="cross_entropy")
    good, _ = train_run("trial-1", data, scenarios.HEALTHY["iris-adam"][1], loss="cross_entropy")
    return history(data, "cross_entropy", [bad, good, *baselines(data, loss="cross_entropy")])


@pytest.fixture
def history_file(iris_history: History, tmp_path: Path) -> Path:
    path = tmp_path / "run.json"
    # History.dumps() refuses the linear baseline's lr=NaN (its "no learning rate"); the
    # format's null is what a file holds for it.
    path.write_text(json.dumps(_nulls(iris_history.to_dict()), allow_nan=False))
    return path


def _nulls(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _nulls(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_nulls(v) for v in doc]
    return None if isinstance(doc, float) and doc != doc else doc


def run(args: list[str]) -> tuple[Result, str]:
    buf = io.StringIO()
    console = Console(file=buf, width=120, color_system=None)
    result = CliRunner().invoke(main, ["diagnose", *args], obj={"console": console})
    return result, buf.getvalue()


def test_history_file_report(history_file: Path) -> None:
    result, out = run(["--history", str(history_file)])
    assert result.exit_code == 0, result.output
    assert "── divergence: main finding of 1 trial(s)" in out and "── healthy: main finding of 1 trial(s)" in out
    assert "sweepdoctor rules divergence" in out and "the most useful actions:" in out
    assert out.index("#0") < out.index("#1")  # problems first
    assert len(out.splitlines()) < 20
    result, everything = run(["--history", str(history_file), "--all"])
    assert result.exit_code == 0 and "rules.md §4" in everything and "advice:" in everything
    assert everything.index("╭─ trial-0") < everything.index("╭─ trial-1")  # worst first


def test_json_is_the_only_stdout(history_file: Path) -> None:
    result, out = run(["--history", str(history_file), "--json"])
    assert result.exit_code == 0 and out == ""
    doc = json.loads(result.stdout)
    runs = {r["name"]: r for r in doc["runs"]}
    assert [f["code"] for f in runs["trial-0"]["findings"]] == ["divergence"]
    assert [f["code"] for f in runs["trial-1"]["findings"]] == ["healthy"]
    assert runs["baseline-linear"]["role"] == "baseline" and doc["findings"] == []
    f = runs["trial-0"]["findings"][0]
    assert f["severity"] == "error" and f["rule"] == "rules.md §4" and f["evidence"] and f["advice"]


def test_fail_on(history_file: Path) -> None:
    assert run(["--history", str(history_file), "--fail-on", "divergence"])[0].exit_code == 1
    assert run(["--history", str(history_file), "--fail-on", "overfitting, mismatch"])[0].exit_code == 0
    result, _ = run(["--history", str(history_file), "--json", "--fail-on", "divergence"])
    assert result.exit_code == 1 and json.loads(result.stdout)["counts"]["divergence"] == 1
    result, _ = run(["--history", str(history_file), "--fail-on", "bogus"])
    assert result.exit_code == 2 and "unknown finding code 'bogus'" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON (line 1"),
        ('{"format": "sweepdoctor.history/1", "task": "classification", "runs": [{"name": "a"}]}',
         "runs[0].folds must be a non-empty list"),
        ('{"format": "other/2", "task": "classification", "runs": []}', "'format' must be"),
    ],
)
def test_malformed_history_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result, out = run(["--history", str(path)])
    assert result.exit_code == 2 and out == ""
    assert result.stderr.startswith("error: history:") and message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --study NAME or --history FILE"),
        (["--study", "s", "--history", "h.json"], "give exactly one of"),
        (["--history", "h.json", "--trial", "3"], "--trial needs --study"),
        (["--history", "h.json", "--hessian"], "--hessian needs --study"),
        (["--history", "h.json", "--worst", "0"], "--worst must be at least 1, got 0"),
        (["--history", "h.json", "--threshold", "nope=1"], "unknown key 'nope'"),
        (["--history", "h.json", "--threshold", "overfit_val_rise"], "expected KEY=VALUE, got 'overfit_val_rise'"),
        (["--history", "h.json", "--threshold", "overfit_val_rise=lots"], "overfit_val_rise must be a number"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    result, _ = run(args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_threshold_override_changes_the_verdict(history_file: Path) -> None:
    def codes(args: list[str]) -> set[str]:
        result, _ = run(["--history", str(history_file), "--json", *args])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        return {f["code"] for r in doc["runs"] if r["name"] == "trial-1" for f in r["findings"]}

    assert codes([]) == {"healthy"}
    # "clearly larger than a reference's validation loss" made absurdly strict: now it is overfitting
    assert codes(["--threshold", "overfit_vs_reference=0.1", "--threshold", "mismatch_ratio=3"]) == {"overfitting"}


def _study(url: str, h: History, name: str = "iris-mlp") -> None:
    """A study the way the sweep stores one: Optuna trials plus our runs (baselines without a trial)."""
    study = optuna.create_study(storage=url, study_name=name)
    store = Store(url)
    sid = store.study_id(name)
    for run_ in h.runs:
        if run_.name.startswith("trial-"):
            trial = study.ask()
            study.tell(trial, 0.5)
            store.add_run(study_id=sid, run=run_, task=h.task, loss=h.loss, trial_id=trial._trial_id,
                          trial_number=trial.number)
        else:
            store.add_run(study_id=sid, run=run_, task=h.task, loss=h.loss)


def _stored(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    with Session(engine) as s:
        rows = s.execute(select(FindingRow.code, RunRow.name).join(RunRow, FindingRow.run_id == RunRow.id,
                                                                  isouter=True)).all()
    engine.dispose()
    out: dict[str, list[str]] = {}
    for code, name in rows:
        out.setdefault(name or "<study>", []).append(code)
    return out


def test_study_is_diagnosed_and_findings_stored(iris_history: History, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    _study(url, iris_history)
    result, out = run(["--study", "iris-mlp", "--storage", url])
    assert result.exit_code == 0, result.output
    assert "#0" in out and "divergence" in out
    stored = _stored(url)
    assert stored["trial-0"] == ["divergence"] and stored["trial-1"] == ["healthy"]
    assert stored["baseline-linear"]
    run(["--study", "iris-mlp", "--storage", url])  # again: replaced, not duplicated
    assert _stored(url) == stored
    result, out = run(["--study", "iris-mlp", "--storage", url, "--trial", "1", "--json"])
    assert result.exit_code == 0
    assert {r["name"] for r in json.loads(result.stdout)["runs"]} == {"trial-1", "baseline-linear", "baseline-shallow"}
    result, _ = run(["--study", "iris-mlp", "--storage", url, "--trial", "7"])
    assert result.exit_code == 2 and "has no stored trial 7" in result.stderr
    result, _ = run(["--study", "nope", "--storage", url])
    assert result.exit_code == 2 and "no study named 'nope'" in result.stderr


def test_worst_n(iris_history: History, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    _study(url, iris_history)
    result, out = run(["--study", "iris-mlp", "--storage", url, "--worst", "1"])
    assert result.exit_code == 0 and "the worst 1 of 2 candidate runs" in out
    assert "#0 " in out and "#1 " not in out


def test_hessian_without_saved_weights(iris_history: History, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    _study(url, iris_history)
    result, _ = run(["--study", "iris-mlp", "--storage", url, "--trial", "1", "--hessian", "--dataset", "iris"])
    assert result.exit_code == 2 and "re-run the sweep with --save-weights" in result.stderr
    assert result.stderr.count("\n") == 1


def test_hessian_of_a_swept_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: a real sweep saves weights; diagnose rebuilds the model and analyses it."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/s.db"
    sweep = CliRunner().invoke(main, ["sweep", "--dataset", "iris", "--trials", "2", "--folds", "2", "--epochs", "4",
                                      "--storage", url, "--study", "ir", "--save-weights", "--quiet", "--json"])
    assert sweep.exit_code == 0, sweep.output
    result, _ = run(["--study", "ir", "--storage", url, "--trial", "0", "--hessian", "--dataset", "iris", "--json"])
    assert result.exit_code == 0, result.output
    h = json.loads(result.stdout)["hessian"]["trial-0"]
    assert h["n_params"] > 0 and h["kind"] in ("local_minimum", "saddle_point", "not_critical", "degenerate",
                                               "local_maximum")
    assert h["eigenvalues"][0] <= h["sharpness"]
    result, _ = run(["--study", "ir", "--storage", url, "--trial", "0", "--hessian", "--dataset", "wine"])
    assert result.exit_code == 2 and "not the data the study was swept on" in result.stderr
    # without --trial: the sharpness of every trial with weights feeds the sharp_minimum rule
    result, _ = run(["--study", "ir", "--storage", url, "--hessian", "--dataset", "iris", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task"] == Task.CLASSIFICATION.value
    # the study remembers where its data came from: no data flags needed
    result, _ = run(["--study", "ir", "--storage", url, "--trial", "1", "--hessian", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hessian"]["trial-1"]["n_params"] > 0


def test_one_trial_in_depth_with_png_and_stored_confidence(iris_history: History, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    _study(url, iris_history)
    png = tmp_path / "t1.png"
    result, out = run(["--study", "iris-mlp", "--storage", url, "--trial", "1", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "trial-1" in out and "per fold" in out and "gradient norm" in out and "baseline-shallow" in out
    assert "confidence" in out and "evidence:" in out and f"curves written to {png}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    engine = create_engine(url)
    with Session(engine) as s:
        evidence = s.execute(select(FindingRow.evidence)).scalars().all()
    engine.dispose()
    assert evidence and all(0.0 <= e["confidence"] <= 1.0 for e in evidence)
    result, _ = run(["--study", "iris-mlp", "--storage", url, "--png", str(png)])
    assert result.exit_code == 2 and "--png draws one trial's curves: give --trial N too" in result.stderr
