"""``sweepdoctor serve``, ``sweepdoctor agent`` and ``sweepdoctor report``: the service's commands."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
def serve(storage: str | None, host: str, port: int, token: str | None, max_csv_mb: float) -> None:
    """Serve the JSON API (/api, /openapi.json) and web pages over a study database.

    \b
    Examples:
      sweepdoctor serve --storage sqlite:///sweepdoctor.db
      SWEEPDOCTOR_TOKEN=secret sweepdoctor serve --storage postgresql://u@db/sweeps --host 0.0.0.0
    """
    _need_service_extra("serve")
    import uvicorn

    from sweepdoctor.service import Limits, create_app

    url = storage or default_storage()
    csv_bytes = int(max_csv_mb * 2**20)
    limits = Limits(csv=csv_bytes, body=max(Limits().body, csv_bytes + 2**20))
    app = create_app(url, token=token or None, limits=limits)
    err = make_console(stderr=True)
    mode = "read-write (bearer token)" if token else "read-only (no --token)"
    err.print(f"serving {mask_url(url)} on http://{host}:{port}/ — {mode}; API at /openapi.json")
    uvicorn.run(app, host=host, port=port, log_level="warning")


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
    _need_service_extra("agent")
    from sweepdoctor.service import AgentOptions, run_agent

    logging.getLogger("sweepdoctor").setLevel(logging.ERROR)
    err = make_console(stderr=True)
    opts = AgentOptions(storage=storage or default_storage(), sweep=sweep_name, workers=workers, poll_s=poll,
                        max_idle_s=max_idle)
    err.print(f"agent {os.getpid()} on {mask_url(opts.storage)}" + (f", sweep {sweep_name!r}" if sweep_name else ""))
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


_SERVICE_MODULES = ("fastapi", "uvicorn", "plotly")


def _need_service_extra(command: str) -> None:
    """One line, not a traceback, when the web extra is not installed (``pip install 'sweepdoctor[service]'``)."""
    import importlib.util

    missing = [m for m in _SERVICE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{command} needs the service extra ({', '.join(missing)} not installed); "
                          "pip install 'sweepdoctor[service]'")
