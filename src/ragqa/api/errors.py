"""Every failing request gets an ErrorResponse: library errors, validation, HTTP errors, crashes.

A crash is logged as one line per kind of error (its type and where it was raised) per minute,
with a count of the ones not logged, never a traceback per request: a client that has found a
way to make one cannot fill the disk with them (ErrorLog, ContainErrors).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragqa.api.schemas import ErrorResponse, FieldError
from ragqa.errors import (
    DocumentNotFoundError,
    IndexFormatError,
    IndexMissingError,
    InvalidQueryError,
    OverloadedError,
    RagqaError,
)

log = logging.getLogger(__name__)

# Library errors that reach a route, by the HTTP status they mean; anything else is a 500.
ERROR_STATUS: dict[type[RagqaError], int] = {
    InvalidQueryError: 422,
    DocumentNotFoundError: 404,
    IndexMissingError: 503,
    IndexFormatError: 503,
    OverloadedError: 503,
}
# A request with thousands of unknown keys gets this many field errors, and a count of the rest.
MAX_FIELD_ERRORS = 20
# An absolute path inside a message (up to a space, quote or separator), not one of the API's
# own routes; its last part is kept.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/])/(?!v1/)[^\s'\";,()]+")


def without_paths(message: str) -> str:
    """`message` with each absolute path cut to its last part (`/srv/x/indexes/default: ...` ->
    `default: ...`): where the server keeps its files is no business of an unauthenticated
    client, and the log keeps the whole message."""
    return _ABSOLUTE_PATH.sub(lambda m: m[0].rstrip("/:.").rsplit("/", 1)[-1] + m[0][
        len(m[0].rstrip("/:.")):], message)


def error_response(status: int, message: str, fields: list[FieldError] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every failing request gets."""
    code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    body = ErrorResponse(status=status, code=code, message=message, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def field_name(loc: tuple[Any, ...]) -> str:
    """`("body", "filters", "doc_type", 0)` -> `filters.doc_type[0]`; a bare body is `body`."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    if not parts or (loc[0] == "body" and isinstance(parts[0], int)):
        return "body"  # the body as a whole (for malformed JSON pydantic gives a character offset)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each invalid field (the first MAX_FIELD_ERRORS of them)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    fields = []
    for error in errors[:MAX_FIELD_ERRORS]:
        message = error["msg"]
        if error["type"] == "json_invalid":
            message = f"malformed JSON: {error.get('ctx', {}).get('error', message)}"
        fields.append(FieldError(field=field_name(tuple(error["loc"])), message=message,
                                 type=error["type"]))
    summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
    if len(errors) > len(fields):
        summary += f" (and {len(errors) - len(fields)} more errors not listed)"
    return error_response(422, f"invalid request: {summary}", fields)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """An HTTPException (404, 405, 401, ...) as an ErrorResponse."""
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


class ErrorLog:
    """Logs an error at most once per `period` seconds per kind (type and where it was raised),
    in one line, with how many of that kind were not logged since.

    >>> errors = ErrorLog(period=60.0)
    >>> errors.record(exc, "/v1/ask")      # logged; the same again within a minute is counted
    """

    def __init__(self, period: float = 60.0, logger: logging.Logger = log) -> None:
        self.period = period
        self.logger = logger
        self._last: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, exc: BaseException, route: str) -> None:
        """Log `exc`, raised while answering `route`, unless its kind was logged recently."""
        where = _where(exc)
        kind = f"{type(exc).__name__} at {where}"
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.period:
                self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
                return
            self._last[kind] = now
            unlogged = self._unlogged.pop(kind, 0)
        message = " ".join(str(exc).split())[:300]
        self.logger.error("unhandled %s on %s: %s (%d more of this kind in the last %.0f s, "
                          "not logged)", kind, route, message, unlogged, self.period)


def _where(exc: BaseException) -> str:
    """`file.py:line in function` of the innermost frame `exc` passed through."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"


class ContainErrors:
    """ASGI middleware, outermost: an exception that escapes the app becomes a 500 ErrorResponse
    (when nothing has been sent yet) and one line of ErrorLog; it is not raised on, so the
    server does not log a traceback of its own for it."""

    def __init__(self, app: ASGIApp, errors: ErrorLog | None = None) -> None:
        self.app = app
        self.errors = errors or ErrorLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:  # noqa: BLE001 - the last place one can be answered
            route = getattr(scope.get("route"), "path", None) or "unrouted"
            self.errors.record(exc, route)
            if not started:
                await error_response(500, "internal server error")(scope, receive, send)


async def ragqa_error(request: Request, exc: Exception) -> JSONResponse:
    """A library error, by ERROR_STATUS; an overload says when to retry."""
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    if status == 500:
        _library_errors.record(exc, getattr(request.scope.get("route"), "path", "unrouted"))
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, OverloadedError)
               else None)
    return error_response(status, without_paths(str(exc)), headers=headers)


_library_errors = ErrorLog()
