"""Every failing request gets an ErrorResponse: library errors, validation, HTTP errors, crashes."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


async def ragqa_error(request: Request, exc: Exception) -> JSONResponse:
    """A library error, by ERROR_STATUS; an overload says when to retry."""
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    if status == 500:
        log.error("unexpected library error on %s: %s", request.url.path, exc)
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, OverloadedError)
               else None)
    return error_response(status, without_paths(str(exc)), headers=headers)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other exception: a 500 that tells nothing of the internals."""
    log.exception("unhandled error on %s", request.url.path)
    return error_response(500, "internal server error")
