"""What every route shares: the one error boundary, the body-size limit, the token, the state.

Every error a request can cause comes back as ``{"error": "<one line>"}`` with a 4xx
status; an unexpected one is logged here and answered 500 with one line, never a
traceback. Writes need ``Authorization: Bearer <token>`` (compared in constant time);
a server started without a token is read-only.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sweepdoctor.errors import DuplicatedSweepError, NotFoundError, StorageError, SweepdoctorError, TooLargeError
from sweepdoctor.service._state import ServiceState

__all__ = ["ERRORS", "BodyLimit", "RefuseNul", "install_errors", "require_token", "state_of"]

logger = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for code, text in (
        (400, "Bad request: a malformed query (where, sort, paging)"),
        (401, "A write without the right bearer token"),
        (403, "The server is read-only (started without a token)"),
        (404, "No such study, trial, curves or sweep"),
        (409, "A sweep of that name was already submitted"),
        (413, "The body, the configuration or the CSV is over its size limit"),
        (415, "A body of an unsupported content type"),
        (422, "A parameter of the wrong type, or a submitted sweep that cannot run"),
        (503, "The study database cannot be reached"),
    )
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    line = " ".join(str(message).split()) or "error"
    return JSONResponse({"error": line}, status_code=status, headers=headers)


def _status_of(e: SweepdoctorError) -> int:
    """The status of one of our errors, by its type (never by its words)."""
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, StorageError):  # the database failing, not the client
        return 503
    if isinstance(e, DuplicatedSweepError):
        return 409
    if isinstance(e, TooLargeError):
        return 413
    return 400  # ConfigError, DataError, HistoryFormatError: a malformed query or body


class BodyLimit:
    """Refuses bodies over ``limit`` bytes: at once when Content-Length says so, else while reading."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _error(413, f"request body: more than the limit of {self.limit} bytes")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"request body: more than the limit of {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class RefuseNul:
    """Refuses a NUL character in the path or the query (``%00``): no name or filter holds one, and
    PostgreSQL's driver cannot even send one (a ``ValueError``, once a 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = bytes(scope.get("query_string") or b"").lower()
            for where, has_nul in (("path", "\x00" in str(scope.get("path", ""))),
                                   ("query", b"%00" in query or b"\x00" in query)):
                if has_nul:
                    message = f"{where}: contains a NUL character (%00); names and filters never do, remove it"
                    await _error(422, message)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.sweepdoctor
    return state


def require_token(request: Request) -> None:
    """The write guard: a dependency of every write route."""
    state = state_of(request)
    if state.token is None:
        raise HTTPException(
            403, "this server is read-only; start it with --token or $SWEEPDOCTOR_TOKEN to allow writes"
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), state.token.encode()):
        raise HTTPException(401, "a write needs the header 'Authorization: Bearer <token>' with the server's token")


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(SweepdoctorError)
    async def _ours(_r: Request, e: SweepdoctorError) -> JSONResponse:
        return _error(_status_of(e), str(e))

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and Starlette's own (bad multipart, 404 routes)
    async def _http(_r: Request, e: StarletteHTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if e.status_code == 401 else None
        return _error(e.status_code, str(e.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, e: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return _error(500, f"internal error ({type(e).__name__}); see the server's log")
