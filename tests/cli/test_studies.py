"""``sweepdoctor studies ...`` through click's runner, on a SQLite study built in the test."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sweepdoctor.cli import main
from sweepdoctor.diagnostics import History
from sweepdoctor.studies import STORAGE_ENV
from tests.studies._build import EVIL, build_all


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "studies.db"
    build_all(f"sqlite:///{path}")
    return path


@pytest.fixture
def url(built: Path, tmp_path: Path) -> str:
    """A private copy of the built database (delete may run on it)."""
    copy = tmp_path / "studies.db"
    shutil.copy(built, copy)
    return f"sqlite:///{copy}"


def run(args: list[str], *, input: str | None = None, env: dict[str, str] | None = None) -> tuple[Result, str]:
    """Invoke the CLI with an injected console; returns the result and what the console printed."""
    buf = io.StringIO()
    console = Console(file=buf, width=140, color_system=None, highlight=False)
    result = CliRunner().invoke(main, ["studies", *args], obj={"console": console}, input=input, env=env)
    return result, buf.getvalue()


def run_json(args: list[str]) -> Any:
    result, printed = run([*args, "--json"])
    assert result.exit_code == 0, result.output
    assert printed == ""  # nothing rendered: stdout holds JSON only
    return json.loads(result.stdout)


def test_list(url: str) -> None:
    result, out = run(["list", "--storage", url])
    assert result.exit_code == 0, result.output
    assert "digits-mlp" in out and "plain" in out and "5/1/1" in out and "accuracy" in out
    doc = run_json(["list", "--storage", url])
    names = {s["name"]: s for s in doc["studies"]}
    assert names["digits-mlp"]["best_value"] == 0.25 and names["digits-mlp"]["n_runs"] == 7
    assert names["plain"]["states"] == {"complete": 5, "pruned": 1, "fail": 1}


def test_storage_defaults_to_the_environment(url: str) -> None:
    result, out = run(["list"], env={STORAGE_ENV: url})
    assert result.exit_code == 0 and "digits-mlp" in out


def test_show(url: str) -> None:
    result, out = run(["show", "digits-mlp", "--storage", url])
    assert result.exit_code == 0, result.output
    assert "best trial: #1" in out and "parameter importance" in out and "█" in out
    assert "fold 2" in out and "overfitting x2" in out
    doc = run_json(["show", "plain", "--storage", url, "--no-importance"])
    assert doc["best"]["number"] == 1 and doc["findings"] == {}  # our tables exist, nothing stored for it
    assert doc["fold_spread"][0]["source"] == "user_attrs"


def test_trials_as_in_the_issue(url: str) -> None:
    args = ["trials", "digits-mlp", "--where", "optimizer=adam", "--where", "lr>=1e-3", "--state", "complete",
            "--finding", "overfitting", "--sort", "value", "--limit", "20", "--storage", url]
    result, out = run(args)
    assert result.exit_code == 0, result.output
    assert "1 of 1 matching" in out and "overfitting" in out
    doc = run_json(["trials", "digits-mlp", "--where", "optimizer=adam", "--sort", "value", "--storage", url])
    assert [t["number"] for t in doc["trials"]] == [1, 0, 5] and doc["matched"] == 3


def test_bad_where_is_one_line_on_stderr(url: str) -> None:
    result, out = run(["trials", "digits-mlp", "--where", "optimzer=adam", "--storage", url])
    assert result.exit_code == 2 and out == "" and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "valid names:" in lines[0]


def test_injection_is_just_a_value(url: str) -> None:
    result, _ = run(["trials", "digits-mlp", "--where", f"optimizer={EVIL}", "--storage", url])
    assert result.exit_code == 2 and "is not a choice of 'optimizer'" in result.stderr
    doc = run_json(["trials", "evil", "--where", f"note={EVIL}", "--storage", url])
    assert [t["params"]["note"] for t in doc["trials"]] == [EVIL]
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            assert c.execute(text("SELECT COUNT(*) FROM trials")).scalar_one() > 0
    finally:
        engine.dispose()


def test_best_by(url: str) -> None:
    result, out = run(["best", "digits-mlp", "--by", "optimizer", "--storage", url])
    assert result.exit_code == 0, result.output
    assert "best trial per optimizer" in out and "rmsprop" in out
    doc = run_json(["best", "digits-mlp", "--storage", url])
    assert doc["groups"][0]["best"]["number"] == 1 and doc["groups"][0]["n_trials"] == 5


def test_compare(url: str) -> None:
    result, out = run(["compare", "digits-mlp", "plain", "--storage", url])
    assert result.exit_code == 0, result.output
    assert "importance: lr" in out and "best: fold mean ± std" in out
    doc = run_json(["compare", "digits-mlp", "plain", "--storage", url, "--no-importance"])
    assert [d["summary"]["name"] for d in doc["studies"]] == ["digits-mlp", "plain"]


def test_curves_terminal_png_and_csv(url: str, tmp_path: Path) -> None:
    png, csv_path = tmp_path / "c.png", tmp_path / "c.csv"
    result, out = run(["curves", "digits-mlp", "--trial", "1", "--png", str(png), "--csv", str(csv_path),
                       "--storage", url])
    assert result.exit_code == 0, result.output
    assert "trial 1" in out and "└" in out and "validation" in out and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("epoch,n_folds,train_mean") and len(rows) == 1 + 5
    result, out = run(["curves", "digits-mlp", "--run", "linear", "--csv", "-", "--storage", url])
    assert result.exit_code == 0 and out == "" and result.stdout.startswith("epoch,")
    doc = run_json(["curves", "digits-mlp", "--storage", url])
    assert doc["trial_number"] == 1 and len(doc["points"]) == 5


def test_commands_that_need_our_tables_say_so(url: str) -> None:
    result, _ = run(["curves", "plain", "--storage", url])
    assert result.exit_code == 2 and "has no stored curves" in result.stderr and "plain Optuna" in result.stderr


def test_export(url: str, tmp_path: Path) -> None:
    result, _ = run(["export", "digits-mlp", "--format", "csv", "--storage", url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("number,state,value") and "params_optimizer" in lines[0] and len(lines) == 8
    doc = json.loads(run(["export", "digits-mlp", "--format", "json", "--storage", url])[0].stdout)
    assert doc["format"] == "sweepdoctor.study/1" and len(doc["trials"]) == 7
    out = tmp_path / "h.json"
    receipt = run_json(["export", "digits-mlp", "--format", "history", "-o", str(out), "--storage", url])
    assert receipt["output"] == str(out)
    history = History.load(out)
    assert len(history.candidates) == 7 and len(history.baselines) == 1


def test_delete_asks_unless_yes(url: str) -> None:
    result, _ = run(["delete", "doomed", "--storage", url], input="n\n")
    assert result.exit_code != 0 and "Delete study 'doomed' (7 trials, 7 runs with curves)" in result.stderr
    assert "doomed" in [s["name"] for s in run_json(["list", "--storage", url])["studies"]]
    doc = run_json(["delete", "doomed", "--yes", "--storage", url])
    assert doc == {"study": "doomed", "n_trials": 7, "n_runs": 8, "n_findings": 4}
    assert "doomed" not in [s["name"] for s in run_json(["list", "--storage", url])["studies"]]


def test_empty_and_missing_databases(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result, out = run(["list", "--storage", f"sqlite:///{empty}"])
    assert result.exit_code == 0 and "no studies in" in out
    result, _ = run(["trials", "x", "--storage", f"sqlite:///{empty}"])
    assert result.exit_code == 2 and "holds no Optuna studies" in result.stderr
    missing = tmp_path / "typo.db"
    result, _ = run(["list", "--storage", f"sqlite:///{missing}"])
    assert result.exit_code == 2 and "there is no SQLite database" in result.stderr and not missing.exists()


def test_password_never_printed(pg_url: str) -> None:
    result, _ = run(["list", "--storage", "postgresql+psycopg2://sweeper:s3cret@127.0.0.1:1/nothing"])
    assert result.exit_code == 2 and "s3cret" not in result.output and "***" in result.stderr
    if make_url(pg_url).password:
        pytest.skip("the test server needs its own password")
    # the local test server trusts its clients, so a password in the URL is ignored, but must never be shown
    with_password = make_url(pg_url).set(password="s3cret").render_as_string(hide_password=False)
    result, out = run(["list", "--storage", with_password])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in out and "postgres:***@" in out
    assert "s3cret" not in json.dumps(run_json(["list", "--storage", with_password]))
