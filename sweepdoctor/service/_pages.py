"""The web pages: ``/`` (studies), ``/studies/{name}`` and ``/studies/{name}/trials/{number}``.

The list of studies reloads itself every ``REFRESH_S`` seconds while a study moves
(trials running, or a submitted sweep that agents work on); a study page and a running
trial's page listen to the study's event stream instead (``_live``); the trials filter
lives in the URL, so a reload keeps it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from sweepdoctor.service._html import PLOTLY_URL, frame, study_url
from sweepdoctor.service._http import state_of
from sweepdoctor.service._live import live_cursor, live_script
from sweepdoctor.service._render import api_docs_body, index_body, study_body, trial_body
from sweepdoctor.service._state import ServiceState
from sweepdoctor.service._views import MAX_LIMIT, MAX_OFFSET, TrialQuery, study_view, trial_view

__all__ = ["REFRESH_S", "render_report", "router"]

REFRESH_S = 10

router = APIRouter(include_in_schema=False)


@router.get(PLOTLY_URL)
def plotly_bundle(request: Request) -> Response:
    return Response(state_of(request).plotly_js(), media_type="application/javascript",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})  # its version is in the URL


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The API's routes and answers, drawn from ``/openapi.json`` on the server (works offline)."""
    return HTMLResponse(frame("sweepdoctor: the API", api_docs_body(request.app.openapi())))


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    state = state_of(request)
    studies = state.db.list_studies()
    sweeps = state.sweeps()
    live = any(s.active for s in sweeps.values()) or any(s.states.get("running", 0) for s in studies)
    body = index_body(studies, sweeps, url=state.url)
    return HTMLResponse(frame("sweepdoctor: studies", body, refresh_s=REFRESH_S if live else None))


@router.get("/studies/{name:path}/trials/{number}", response_class=HTMLResponse)
def trial_page(request: Request, name: str, number: int) -> HTMLResponse:
    state = state_of(request)
    after = live_cursor(state, name)
    view = trial_view(state, name, number)
    body = trial_body(view)
    if view.trial.state == "running":  # the stream draws its epochs, and reloads the page when it ends
        body += live_script(f"/api{study_url(name)}/events", after, trial=number)
    return HTMLResponse(frame(f"{name} · trial {number}", body))


@router.get("/studies/{name:path}", response_class=HTMLResponse)
def study_page(
    request: Request,
    name: str,
    *,
    where: Annotated[list[str], Query()] = [],  # noqa: B006
    state: Annotated[list[str], Query()] = [],  # noqa: B006
    finding: str | None = None,
    sort: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> HTMLResponse:
    conds = tuple(c.strip() for w in where for c in w.split(";") if c.strip())
    q = TrialQuery(where=conds, states=tuple(state), finding=finding or None, sort=sort or None, limit=limit,
                   offset=offset)
    after = live_cursor(state_of(request), name)
    view = study_view(state_of(request), name, q)
    body = study_body(view) + (live_script(f"/api{study_url(name)}/events", after) if view.live else "")
    return HTMLResponse(frame(f"sweepdoctor: {name}", body))


def render_report(state: ServiceState, name: str) -> str:
    """The study page as one self-contained HTML file: plotly inline, no links back to a server."""
    view = study_view(state, name, TrialQuery(sort="value", limit=MAX_LIMIT))
    return frame(f"sweepdoctor report: {name}", study_body(view, links=False), plotly_js=state.plotly_js())
