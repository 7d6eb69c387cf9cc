"""The HTTP face: a JSON API and web pages over the study database, report files.

Like ``cli/``, it only calls public library functions (``sweepdoctor.sweep.run``,
``sweepdoctor.studies``, ``sweepdoctor.diagnostics``); nothing imports it.

- :func:`create_app`: the FastAPI application of ``sweepdoctor serve`` (``/api/...``,
  ``/openapi.json``, the pages ``/``, ``/studies/{name}``, ``/studies/{name}/trials/{n}``);
- :func:`render_report`: ``sweepdoctor report --html``, the study page as one file.

Rooms: ``_app`` (application, error boundary, body limit, token), ``_api`` and
``_write`` (the read and write routes), ``_pages``/``_render``/``_html``/``_plots``
(pages and figures), ``_views`` and ``_state`` (what a request gathers), ``_submit``
(the size limits of a request). Checking a submitted sweep and the agent that runs it are
the library's (``sweepdoctor.sweep.check_submission``, ``sweepdoctor.sweep.run_agent``): a
training host runs ``sweepdoctor agent`` without this extra.

May import: FastAPI/Starlette, SQLAlchemy (types),
Optuna (to create its schema on an empty database), ``sweepdoctor.sweep``,
``sweepdoctor.studies``, ``sweepdoctor.diagnostics`` and ``sweepdoctor.errors``
(public names only). Never ``sweepdoctor.cli``.
"""

from __future__ import annotations

from sweepdoctor.service._app import create_app
from sweepdoctor.service._pages import render_report
from sweepdoctor.service._state import ServiceState
from sweepdoctor.service._submit import Limits

__all__ = ["Limits", "ServiceState", "create_app", "render_report"]
