"""serve, agent and report: a missing web extra and a bad --html path are one line, exit 2, nothing written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepdoctor.cli import main


@pytest.mark.parametrize("args", [["serve"], ["agent"], ["report", "--study", "x", "--html", "r.html"]])
def test_a_missing_service_extra_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, [*args, "--storage", f"sqlite:///{tmp_path}/s.db"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "needs the service extra (uvicorn not installed)" in lines[0]
    assert "pip install 'sweepdoctor[service]'" in lines[0] and "Traceback" not in r.output
    assert not list(tmp_path.iterdir())  # no database, no report


@pytest.mark.parametrize(("html", "says"), [("", "is not a file name"), ("/proc/no/such.html", "does not exist")])
def test_a_bad_html_path_is_one_line(tmp_path: Path, html: str, says: str) -> None:
    r = CliRunner().invoke(main, ["report", "--study", "x", "--storage", f"sqlite:///{tmp_path}/s.db", "--html", html])
    assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s.db").exists()
