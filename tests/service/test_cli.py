"""The service's commands: their options and errors (the servers and agents run in the other tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from sweepdoctor.cli import main


def test_agent_with_nothing_to_do_leaves_after_max_idle(sqlite_url: str) -> None:
    sqlite3.connect(sqlite_url.removeprefix("sqlite:///")).close()  # an empty database: the agent never makes one
    r = CliRunner().invoke(main, ["agent", "--storage", sqlite_url, "--poll", "0.1", "--max-idle", "0.3"])
    assert r.exit_code == 0, r.output
    assert "done (0 sweeps worked on)" in r.output


def test_bad_options_are_one_line_errors(sqlite_url: str, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["agent", "--storage", sqlite_url, "--poll", "0"])
    assert r.exit_code == 2 and "error: --poll must be a positive, finite number of seconds, got 0.0" in r.output
    r = CliRunner().invoke(main, ["agent", "--storage", "nonsense"])
    assert r.exit_code == 2 and "is not a database URL" in r.output
    r = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert r.exit_code == 2 and "70000" in r.output
    out = tmp_path / "missing" / "r.html"
    r = CliRunner().invoke(main, ["report", "--study", "x", "--storage", sqlite_url, "--html", str(out)])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_the_commands_are_listed() -> None:
    r = CliRunner().invoke(main, ["--help"])
    assert all(name in r.output for name in ("serve", "agent", "report"))
