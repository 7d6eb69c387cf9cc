"""The write half of the JSON API (bearer token required): submit a sweep, stop it, delete a study.

``POST /api/sweeps`` takes the configuration as

- ``application/json``: an object with the TOML file's tables (``{"study": {...}, "space": {...}}``),
  or ``{"config": <that object or the TOML text>, "csv": "<CSV text>", "csv_name": "x.csv"}``;
- ``application/toml`` (or ``text/plain``): the TOML text;
- ``multipart/form-data``: a ``config`` part (TOML or JSON text) and an optional ``csv`` file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from typing_extensions import NotRequired, TypedDict

from sweepdoctor import sweep as lib
from sweepdoctor.errors import ConfigError, DataError, NotFoundError, TooLargeError
from sweepdoctor.service._http import ERRORS, require_token, state_of
from sweepdoctor.service._submit import Limits
from sweepdoctor.service._views import SweepStatus, sweep_status
from sweepdoctor.studies import delete_sweep, jsonable, stop_sweep, submit_sweep

__all__ = ["router"]

router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Depends(require_token)])  # type: ignore[arg-type]

_TABLE = {"type": "object", "additionalProperties": True}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _TABLE},
            "application/toml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"config": {"type": "string"}, "csv": {"type": "string", "format": "binary"}},
                    "required": ["config"],
                }
            },
        },
    }
}


class Submitted(TypedDict):
    """``POST /api/sweeps``: the study the sweep writes to, and the sweep, queued."""

    study: str
    sweep: SweepStatus


class Deleted(TypedDict):
    """``DELETE /api/studies/{name}``: what was removed."""

    study: str
    n_trials: NotRequired[Annotated[int, Field(description="absent when only a submitted sweep was deleted "
                                                           "(no agent had started it: no study yet)")]]
    n_runs: NotRequired[int]
    n_findings: NotRequired[int]
    sweep_deleted: Annotated[bool, Field(description="the study had a submitted sweep, deleted with it")]


# OpenAPI links: what a client (or schemathesis' state machine) does next with the answer's name.
_STOP = {"operationId": "stopSweep", "parameters": {"name": "$response.body#/study"}}
_DELETE = {"operationId": "deleteStudy", "parameters": {"name": "$response.body#/study"}}
_SUBMITTED = {
    201: {"description": "The sweep, queued for agents", "links": {"StopSweep": _STOP, "DeleteStudy": _DELETE}}
}
_STOPPED = {200: {"description": "The sweep, stopped", "links": {
    "DeleteStudy": {"operationId": "deleteStudy", "parameters": {"name": "$response.body#/name"}}}}}


def _text_of(config: Any) -> str:
    """TOML text from a JSON object of tables, or the TOML text itself."""
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping):
        return lib.tables_to_toml(config)
    raise ConfigError(f"config: expected an object of tables or the TOML text, got {type(config).__name__}")


def _json_body(raw: bytes) -> tuple[str, bytes | None, str | None]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"body: not valid JSON: {e}") from None
    except RecursionError:  # arrays in arrays, thousands deep: the parser's stack, not ours
        raise ConfigError("body: JSON nested too deep to read; send the sweep file's tables as one object") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"body: expected a JSON object, got {type(doc).__name__}")
    if "config" not in doc:
        return _text_of(doc), None, None
    csv, csv_name = doc.get("csv"), doc.get("csv_name")
    if csv is not None and not isinstance(csv, str):
        raise ConfigError("csv: expected the CSV file's text as a string")
    if csv_name is not None and not isinstance(csv_name, str):
        raise ConfigError("csv_name: expected a file name (a string)")
    return _text_of(doc["config"]), None if csv is None else csv.encode("utf-8"), csv_name


async def _form_body(request: Request, limits: Limits) -> tuple[str, bytes | None, str | None]:
    # Two files at most: ``curl -F config=@my-sweep.toml -F csv=@data.csv`` sends both parts as files.
    async with request.form(max_files=2, max_fields=4, max_part_size=limits.config) as form:
        config, csv = form.get("config"), form.get("csv")
        if isinstance(config, UploadFile):
            config = (await config.read(limits.config + 1)).decode("utf-8", errors="replace")
        if not isinstance(config, str):
            raise ConfigError("config: the form needs a 'config' part with the TOML (or JSON) text")
        text = config if not config.lstrip().startswith("{") else _json_body(config.encode())[0]
        if csv is None or isinstance(csv, str):
            return text, None if not csv else csv.encode("utf-8"), None
        return text, await csv.read(limits.csv + 1), csv.filename


async def _submission(request: Request, limits: Limits) -> tuple[str, bytes | None, str | None]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _form_body(request, limits)
    raw = await request.body()
    if kind == "application/json":
        return _json_body(raw)
    if kind in ("application/toml", "text/toml", "text/plain", "application/x-toml"):
        try:
            return raw.decode("utf-8"), None, None
        except UnicodeDecodeError:
            raise ConfigError("body: the TOML text is not UTF-8") from None
    raise HTTPException(415, f"content type {kind or 'none'!r}: send application/json, application/toml or "
                             "multipart/form-data")


@router.post("/sweeps", status_code=201, summary="Submit a sweep for agents to run", openapi_extra=_BODY,
             operation_id="submitSweep", responses=_SUBMITTED)  # type: ignore[arg-type]
async def submit(request: Request) -> Submitted:
    state = state_of(request)
    try:
        text, csv, csv_name = await _submission(request, state.limits)
        sub = await run_in_threadpool(lib.check_submission, text, csv_bytes=csv, csv_name=csv_name,
                                      max_config_bytes=state.limits.config, max_csv_bytes=state.limits.csv)
    except TooLargeError:
        raise  # 413
    except (ConfigError, DataError) as e:  # a body that is no sweep: 422, as FastAPI answers a body it cannot use
        raise HTTPException(422, str(e)) from None
    sweep = await run_in_threadpool(
        submit_sweep, state.engine, name=sub.name, config=sub.toml, trials=sub.trials, csv=sub.csv,
        csv_name=sub.csv_name,
    )
    return {"study": sweep.name, "sweep": sweep_status(sweep)}


@router.post("/sweeps/{name:path}/stop", summary="Stop a sweep: agents finish the epoch and take no more trials",
             operation_id="stopSweep", responses=_STOPPED)  # type: ignore[arg-type]
def stop(request: Request, name: str) -> SweepStatus:
    return sweep_status(stop_sweep(state_of(request).engine, name))


@router.delete("/studies/{name:path}", summary="Delete a study (and its submitted sweep, stopped first)",
               operation_id="deleteStudy")
def delete(request: Request, name: str) -> Deleted:
    state = state_of(request)
    had_sweep = state.sweep_of(name) is not None
    if had_sweep:
        stop_sweep(state.engine, name)
    try:
        report: dict[str, Any] = state.db.delete(name).to_dict()
    except NotFoundError:  # a submitted sweep that no agent started has no study yet
        if not had_sweep:
            raise
        report = {"study": name}
    if had_sweep:
        delete_sweep(state.engine, name)  # agents polling it see no sweep and stop
    return jsonable({**report, "sweep_deleted": had_sweep})
