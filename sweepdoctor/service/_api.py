"""The read half of the JSON API: studies, trials, a trial in depth, the diagnosis, exports, sweeps.

The trial filters are the ``studies trials`` options: ``where`` (repeatable ``NAME OP
VALUE``, parsed by :func:`sweepdoctor.studies.parse_where` and bound as parameters),
``state`` (repeatable), ``finding``, ``sort``, ``limit``, ``offset``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from sweepdoctor.service._http import ERRORS, state_of
from sweepdoctor.service._views import (
    MAX_LIMIT,
    MAX_OFFSET,
    TrialQuery,
    diagnosis_dict,
    study_dict,
    trial_page,
    trial_view,
)
from sweepdoctor.studies import STATES, dumps_json, jsonable, list_sweeps, study_document, write_trials_csv

__all__ = ["router"]

router = APIRouter(prefix="/api", responses=ERRORS)  # type: ignore[arg-type]

StateName = Literal["complete", "pruned", "fail", "running", "waiting"]
assert set(StateName.__args__) == set(STATES)  # type: ignore[attr-defined]


@dataclass
class StudyLine:
    """One study of ``GET /api/studies``."""

    study_id: int
    name: str
    directions: list[str]
    direction: str | None = field(metadata={"description": "the first objective's: minimize or maximize"})
    n_trials: int
    states: dict[str, int] = field(metadata={"description": "trials by state (complete, pruned, fail, running, "
                                                          "waiting)"})
    best_value: float | None
    last_activity: str | None = field(metadata={"description": "ISO time of the latest start or finish"})
    task: str | None
    metric: str | None
    n_runs: int | None = field(metadata={"description": "runs with our curves; null without sweepdoctor's tables"})
    sweep_state: str | None = field(metadata={"description": "the submitted sweep's state, if any"})


@dataclass
class TrialLine:
    """One trial of a trials page."""

    number: int
    state: str
    value: float | None
    datetime_start: str | None
    datetime_complete: str | None
    duration_s: float | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    findings: list[str]


@dataclass
class TrialsPage:
    """``GET /api/studies/{name}/trials``: one page, and how many trials match in all."""

    study: str
    matched: int = field(metadata={"description": "every trial that matches the filters, on all pages"})
    trials: list[TrialLine]
    offset: int
    limit: int
    after: int | None
    next_after: int | None = field(metadata={"description": "pass as after for the next page (keyset paging); "
                                                          "null when this page is the last or the sort has none"})


@dataclass
class SweepLine:
    """One submitted sweep of ``GET /api/sweeps``."""

    name: str = field(metadata={"description": "the study it writes to"})
    state: str = field(metadata={"description": "queued, running, done, stopped or failed"})
    trials: int
    config: str = field(metadata={"description": "the submitted configuration (JSON text)"})
    csv_name: str | None = field(metadata={"description": "the uploaded CSV's file name, if any"})
    csv_bytes: int | None
    message: str | None = field(metadata={"description": "why it failed or stopped, when it did"})
    created_at: str = field(metadata={"description": "ISO time of the submission"})
    updated_at: str


def _study_dict(s: Any, sweep: Any) -> dict[str, Any]:
    d = s.to_dict()
    d["direction"] = s.directions[0] if s.directions else None
    d["sweep_state"] = None if sweep is None else sweep.state
    return d


@router.get("/studies", summary="Every study: trials by state, best value, direction, last activity")
def list_studies(request: Request) -> list[StudyLine]:
    state = state_of(request)
    sweeps = state.sweeps()
    return [jsonable(_study_dict(s, sweeps.get(s.name))) for s in state.db.list_studies()]  # type: ignore[misc]




@router.get("/studies/{name:path}/trials/{number}", summary="One trial: params, fold scores, curves, findings")
def get_trial(request: Request, name: str, number: int) -> dict[str, Any]:
    return trial_view(state_of(request), name, number).to_dict()


@router.get("/studies/{name:path}/trials", summary="Trials filtered, sorted and paged in the database")
def list_trials(
    request: Request,
    name: str,
    *,
    where: Annotated[list[str], Query(description="NAME OP VALUE, e.g. lr>=1e-3 (all must hold)")] = [],  # noqa: B006
    state: Annotated[list[StateName], Query()] = [],  # noqa: B006
    finding: str | None = None,
    sort: Annotated[str | None, Query(description="value (best first), number or a parameter; -NAME reverses")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    after: Annotated[int | None, Query(description="keyset paging (sort=value or number): the trials after this "
                                       "trial number; pass the previous answer's next_after")] = None,
) -> TrialsPage:
    q = TrialQuery(where=tuple(where), states=tuple(state), finding=finding, sort=sort, limit=limit, offset=offset,
                   after=after)
    page = trial_page(state_of(request), name, q)
    more = len(page.trials) == limit and (sort or "number").lstrip("-") in ("value", "number")
    return jsonable({**page.to_dict(), "offset": offset, "limit": limit, "after": after,  # type: ignore[no-any-return]
                     "next_after": page.trials[-1].number if more else None})


@router.get("/studies/{name:path}/diagnosis", summary="Findings by kind, where in the space, the worst runs")
def get_diagnosis(request: Request, name: str, runs: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    state = state_of(request)
    return diagnosis_dict(name, state.diagnosis(state.db.summary(name)), runs=runs)


@router.get("/studies/{name:path}/export", summary="The study as a history, CSV or JSON document",
            response_model=None)
def export(
    request: Request, name: str, format: Literal["history", "csv", "json"] = "json"  # noqa: A002
) -> Response:
    state = state_of(request)
    if format == "history":
        return Response(state.db.history(name).dumps(), media_type="application/json")
    page = state.db.trials(name)
    if format == "csv":
        buf = io.StringIO()
        write_trials_csv(page, buf)
        return PlainTextResponse(buf.getvalue(), media_type="text/csv")
    doc = study_document(state.db.summary(name), state.db.user_attrs(name), page)
    return Response(dumps_json(doc), media_type="application/json")


@router.get("/studies/{name:path}", summary="One study: summary, best trial, value statistics, findings")
def get_study(request: Request, name: str) -> dict[str, Any]:
    state = state_of(request)
    return study_dict(state.db.show(name, top=5, importance=False), state.sweep_of(name))


@router.get("/sweeps", summary="Sweeps submitted to the service, oldest first")
def get_sweeps(request: Request) -> list[SweepLine]:
    return [SweepLine(**s.to_dict()) for s in list_sweeps(state_of(request).engine)]
