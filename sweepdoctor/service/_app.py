"""The ASGI application of ``sweepdoctor serve``: the API's routes, the pages, ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from sweepdoctor import __version__
from sweepdoctor.service import _api, _live, _pages, _write
from sweepdoctor.service._http import BodyLimit, RefuseNul, install_errors
from sweepdoctor.service._state import LIVE_DIAGNOSIS_RUNS, ServiceState
from sweepdoctor.service._submit import Limits

__all__ = ["create_app"]


def create_app(
    storage: str | Engine,
    *,
    token: str | None = None,
    limits: Limits | None = None,
    live_diagnosis_runs: int = LIVE_DIAGNOSIS_RUNS,
) -> FastAPI:
    """The service over one study database: the JSON API under ``/api``, web pages, ``/openapi.json``.

    ``token`` allows writes (submitting, stopping and deleting); without it the server is
    read-only. ``storage`` is a URL or an SQLAlchemy engine.
    """
    state = ServiceState(storage, token=token, limits=limits or Limits(), live_diagnosis_runs=live_diagnosis_runs)
    if state.writable:
        state.ensure_schema()
    app = FastAPI(
        title="sweepdoctor",
        version=__version__,
        description="k-fold Optuna sweeps of PyTorch models and the diagnosis of their training, over HTTP.",
        docs_url=None,  # Swagger UI loads from a CDN; /docs is our own page, served from here
        redoc_url=None,
    )
    app.state.sweepdoctor = state
    install_errors(app)
    app.include_router(_write.router)
    app.include_router(_live.router)  # before _api: its /studies/{name:path} would take ".../events"
    app.include_router(_api.router)
    app.include_router(_pages.router)
    app.add_middleware(BodyLimit, limit=state.limits.body)
    app.add_middleware(RefuseNul)
    app.openapi_schema = None
    _add_error_schema(app)
    return app


def _add_error_schema(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = base()
            doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
