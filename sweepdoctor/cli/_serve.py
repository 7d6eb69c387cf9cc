"""``sweepdoctor serve``, ``sweepdoctor agent`` and ``sweepdoctor report``: the service's commands."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

import click

from sweepdoctor.cli._render import make_console
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import default_storage, mask_url

TOKEN_ENV = "SWEEPDOCTOR_TOKEN"
_STORAGE_HELP = "SQLAlchemy URL [env SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db]."


@click.command()
@click.option("--storage", help=_STORAGE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--token", envvar=TOKEN_ENV, help=f"Bearer token that allows writes [env {TOKEN_ENV}]; "
              "without it the server is read-only.")
@click.option("--max-csv-mb", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
              help="Largest CSV a submitted sweep may carry.")
@click.option("--workers", default=1, show_default=True, type=int,
              help="Server processes sharing the port (uvicorn workers): more clients served at once.")
def serve(storage: str | None, host: str, port: int, token: str | None, max_csv_mb: float, workers: int) -> None:
    """Serve the JSON API (/api, /openapi.json) and web pages over a study database.

    \b
    Examples:
      sweepdoctor serve --storage sqlite:///sweepdoctor.db
      SWEEPDOCTOR_TOKEN=secret sweepdoctor serve --storage postgresql://u@db/sweeps --host 0.0.0.0
      sweepdoctor serve --storage postgresql://u@db/sweeps --workers 4
    """
    _need_service_extra("serve")
    import uvicorn

    from sweepdoctor.service import create_app

    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1 server process, got {workers}; e.g. --workers 2")
    url = storage or default_storage()
    sock = _listen(host, port)  # before the database and its tables are made
    try:
        app = create_app(url, token=token or None, limits=_limits(max_csv_mb))
        err = make_console(stderr=True)
        mode = "read-write (bearer token)" if token else "read-only (no --token)"
        shown = f"[{host}]" if ":" in host else host
        err.print(f"serving {mask_url(url)} on http://{shown}:{sock.getsockname()[1]}/ — {mode}; API at /openapi.json"
                  + (f"; {workers} workers" if workers > 1 else ""))
        if workers == 1:
            uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
            return
        app.state.sweepdoctor.close()  # it checked the database and made the tables; each worker opens its own
        _serve_workers(workers, sock, url=url, token=token, max_csv_mb=max_csv_mb)
    finally:
        sock.close()


_WORKER_ENV = "SWEEPDOCTOR_SERVE_SETTINGS"


def _limits(max_csv_mb: float) -> Any:
    from sweepdoctor.service import Limits

    csv_bytes = int(max_csv_mb * 2**20)
    return Limits(csv=csv_bytes, body=max(Limits().body, csv_bytes + 2**20))


def _serve_workers(workers: int, sock: socket.socket, *, url: str, token: str | None, max_csv_mb: float) -> None:
    """``workers`` uvicorn processes on the socket bound here; each builds the app with :func:`worker_app`."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[_WORKER_ENV] = json.dumps({"url": url, "max_csv_mb": max_csv_mb})  # the token: TOKEN_ENV
    os.environ[TOKEN_ENV] = token or ""
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=workers, log_level="warning")
    Multiprocess(config, sockets=[sock]).run()


def worker_app() -> Any:
    """The application of one ``serve --workers N`` process (uvicorn imports it by name in each)."""
    from sweepdoctor.service import create_app

    settings = json.loads(os.environ[_WORKER_ENV])
    return create_app(settings["url"], token=os.environ.get(TOKEN_ENV) or None, limits=_limits(settings["max_csv_mb"]))


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound now: a port in use or a host not of this machine is one line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or type(e).__name__
        raise ConfigError(f"--host: cannot resolve {host!r} ({reason}); give an address of this machine, "
                          "e.g. 127.0.0.1 or 0.0.0.0") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart reuses the port
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"--port: cannot listen on {host}:{port} ({e.strerror}); another server may hold it, "
                          "pick another --port") from None
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option("--storage", help=_STORAGE_HELP)
@click.option("--sweep", "sweep_name", help="Work only on this submitted sweep, and exit once it is finished.")
@click.option("--workers", type=int, help="Worker processes per sweep on this host. [the sweep's study.workers]")
@click.option("--poll", type=float, default=5.0, show_default=True, help="Seconds between looks for work.")
@click.option("--max-idle", type=float, help="Exit after this many seconds with nothing to do. [never]")
def agent(storage: str | None, sweep_name: str | None, workers: int | None, poll: float,
          max_idle: float | None) -> None:
    """Run submitted sweeps (POST /api/sweeps) on this host, beside agents on other hosts.

    Idles and polls when there is nothing to do; SIGTERM stops the running trial after
    its epoch and exits.

    \b
    Examples:
      sweepdoctor agent --storage postgresql://u@db/sweeps
      sweepdoctor agent --storage sqlite:///sweepdoctor.db --sweep my-sweep --workers 2
    """
    from sweepdoctor.sweep import AgentOptions, run_agent  # no web extra: a training host runs this

    logging.getLogger("sweepdoctor").setLevel(logging.ERROR)
    err = make_console(stderr=True)
    opts = AgentOptions(storage=storage or default_storage(), sweep=sweep_name, workers=workers, poll_s=poll,
                        max_idle_s=max_idle)
    n = run_agent(opts, say=lambda m: err.print(m, markup=False, highlight=False))
    err.print(f"agent {os.getpid()}: done ({n} sweep{'s' if n != 1 else ''} worked on)")


@click.command()
@click.option("--study", "study_name", required=True, help="The study to report on.")
@click.option("--storage", help=_STORAGE_HELP)
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False),
              help="Write the study page here, as one self-contained HTML file.")
def report(study_name: str, storage: str | None, html_path: str) -> None:
    """Write a study's page as one self-contained HTML file (readable offline: CI artifacts, e-mail)."""
    _need_service_extra("report --html")
    from sweepdoctor.service import Limits, ServiceState, render_report

    out = Path(html_path)
    if not html_path.strip() or out.is_dir():
        raise ConfigError(f"--html: {html_path!r} is not a file name; give the HTML file to write, e.g. report.html")
    if not out.parent.exists():
        raise ConfigError(f"--html: folder {str(out.parent)!r} does not exist; create it or pick another path")
    state = ServiceState(storage or default_storage(), token=None, limits=Limits())
    try:
        text = render_report(state, study_name)
    finally:
        state.close()
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"--html: cannot write {str(out)!r} ({e.strerror}); pick a writable path") from None
    make_console(stderr=True).print(f"wrote {out} ({len(text.encode()) / 2**20:.1f} MiB)", highlight=False)


_SERVICE_MODULES = ("fastapi", "uvicorn")


def _need_service_extra(command: str) -> None:
    """One line, not a traceback, when the web extra is not installed (``pip install 'sweepdoctor[service]'``)."""
    import importlib.util

    missing = [m for m in _SERVICE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{command} needs the service extra ({', '.join(missing)} not installed); "
                          "pip install 'sweepdoctor[service]'")
