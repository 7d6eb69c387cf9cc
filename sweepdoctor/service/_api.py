"""The read half of the JSON API: studies, trials, a trial in depth, the diagnosis, exports, sweeps.

The trial filters are the ``studies trials`` options: ``where`` (repeatable ``NAME OP
VALUE``, parsed by :func:`sweepdoctor.studies.parse_where` and bound as parameters),
``state`` (repeatable), ``finding``, ``sort``, ``limit``, ``offset``.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from sweepdoctor.service._http import ERRORS, state_of
from sweepdoctor.service._views import (
    MAX_LIMIT,
    MAX_OFFSET,
    DiagnosisAnswer,
    StudyAnswer,
    Summary,
    TrialAnswer,
    TrialLine,
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


class StudyLine(TypedDict):
    """One study of ``GET /api/studies``."""

    study_id: int
    name: str
    directions: list[str]
    direction: Annotated[str | None, Field(description="the first objective's: minimize or maximize")]
    n_trials: int
    states: Annotated[dict[str, int], Field(description="trials by state (complete, pruned, fail, running, waiting)")]
    best_value: float | None
    last_activity: Annotated[str | None, Field(description="ISO time of the latest start or finish")]
    task: str | None
    metric: str | None
    n_runs: Annotated[int | None, Field(description="runs with our curves; null without sweepdoctor's tables")]
    sweep_state: Annotated[str | None, Field(description="the submitted sweep's state, if any")]


class TrialsPage(TypedDict):
    """``GET /api/studies/{name}/trials``: one page, and how many trials match in all."""

    study: str
    matched: Annotated[int, Field(description="every trial that matches the filters, on all pages")]
    trials: list[TrialLine]
    offset: int
    limit: int
    after: int | None
    next_after: Annotated[int | None, Field(description="pass as after for the next page (keyset paging); "
                                                        "null when this page is the last or the sort has none")]


class SweepLine(TypedDict):
    """One submitted sweep of ``GET /api/sweeps``."""

    name: Annotated[str, Field(description="the study it writes to")]
    state: Annotated[str, Field(description="queued, running, done, stopped or failed")]
    trials: int
    config: Annotated[str, Field(description="the submitted configuration (its TOML text)")]
    csv_name: Annotated[str | None, Field(description="the uploaded CSV's file name, if any")]
    csv_bytes: int | None
    message: Annotated[str | None, Field(description="why it failed or stopped, when it did")]
    created_at: Annotated[str, Field(description="ISO time of the submission")]
    updated_at: str


class StudyExport(TypedDict):
    """``export?format=json``: the study's summary, its user attributes and every trial."""

    format: Literal["sweepdoctor.study/1"]
    study: Summary
    user_attrs: dict[str, Any]
    trials: list[TrialLine]


class HistoryEpoch(TypedDict):
    epoch: Annotated[int, Field(description="0..E-1, as the file counts them")]
    train_loss: float | None
    val_loss: float | None
    grad_norm: float | None
    lr: float | None
    val_metric: float | None
    wall_time: float | None


class HistoryFold(TypedDict):
    test_loss: float | None
    score: NotRequired[float | None]
    epochs: list[HistoryEpoch]


class HistoryRun(TypedDict):
    name: str
    role: Annotated[str, Field(description="candidate or baseline")]
    depth: int | None
    n_params: int | None
    state: str | None
    hyperparameters: dict[str, Any]
    score: NotRequired[float | None]
    folds: list[HistoryFold]


class HistoryFile(TypedDict):
    """``export?format=history``: the ``sweepdoctor.history/1`` file that ``sweepdoctor diagnose`` reads."""

    format: Literal["sweepdoctor.history/1"]
    task: Annotated[str, Field(description="classification or regression")]
    loss: str
    runs: list[HistoryRun]


# The export is sent as it is written (one study can be 100k trials): declared here, never validated.
_EXPORTED = {200: {"model": StudyExport | HistoryFile, "description": "The study as a JSON document (format json "
                   "or history) or as CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}


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
def get_trial(request: Request, name: str, number: int) -> TrialAnswer:
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
def get_diagnosis(request: Request, name: str, runs: Annotated[int, Query(ge=0, le=1000)] = 20) -> DiagnosisAnswer:
    state = state_of(request)
    return diagnosis_dict(name, state.diagnosis(state.db.summary(name)), runs=runs)


@router.get("/studies/{name:path}/export", summary="The study as a history, CSV or JSON document",
            response_model=None, responses=_EXPORTED)  # type: ignore[arg-type]
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
def get_study(request: Request, name: str) -> StudyAnswer:
    state = state_of(request)
    return study_dict(state.db.show(name, top=5, importance=False), state.sweep_of(name))


@router.get("/sweeps", summary="Sweeps submitted to the service, oldest first")
def get_sweeps(request: Request) -> list[SweepLine]:
    return [s.to_dict() for s in list_sweeps(state_of(request).engine)]  # type: ignore[misc]
