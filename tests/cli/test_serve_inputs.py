"""serve, agent and report: a missing web extra, a bad --html path, a port in use, an agent's bad storage or
poll are one line, exit 2, nothing written."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepdoctor.cli import main


@pytest.mark.parametrize("args", [["serve"], ["report", "--study", "x", "--html", "r.html"]])
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


def _one_line_error(r: object) -> str:
    out = r.output  # type: ignore[attr-defined]
    assert r.exit_code == 2, out  # type: ignore[attr-defined]
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out, out
    return str(lines[0])


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_a_port_in_use_is_one_line_before_any_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--storage", f"sqlite:///{tmp_path}/s.db", "--port", str(port),
                                      "--token", "t"])
    line = _one_line_error(r)
    assert f"--port: cannot listen on 127.0.0.1:{port}" in line and "pick another --port" in line
    assert not (tmp_path / "s.db").exists()  # no database, no tables


def test_serve_on_a_host_that_is_not_an_address(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["serve", "--storage", f"sqlite:///{tmp_path}/s.db", "--host", "no such host!",
                                  "--token", "t"])
    assert "--host: cannot resolve 'no such host!'" in _one_line_error(r)
    assert not (tmp_path / "s.db").exists()


def test_agent_on_a_server_that_is_down(tmp_path: Path) -> None:
    url = f"postgresql://nobody@127.0.0.1:{_unused_port()}/sweeps"
    r = CliRunner().invoke(main, ["agent", "--storage", url, "--poll", "0.1", "--max-idle", "0.1"])
    line = _one_line_error(r)
    assert "storage: cannot reach" in line and "127.0.0.1" in line


def test_agent_on_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["agent", "--storage", f"sqlite:///{tmp_path}/typo.db", "--max-idle", "0.1"])
    assert "no SQLite database" in _one_line_error(r) and "typo.db" in r.output
    assert not (tmp_path / "typo.db").exists()  # not created empty, to idle on forever


@pytest.mark.parametrize("poll", ["nan", "inf", "-1", "0"])
def test_agent_poll_that_never_ends_or_spins(tmp_path: Path, poll: str) -> None:
    r = CliRunner().invoke(main, ["agent", "--storage", f"sqlite:///{tmp_path}/s.db", "--poll", poll])
    assert "--poll must be a positive, finite number of seconds" in _one_line_error(r)
    assert not (tmp_path / "s.db").exists()
