"""The FastAPI app: start-up loading, JSON errors, the body-size limit, routes and the web page.

    >>> app = create_app(get_settings())          # or: uvicorn --factory ragqa.api.app:create_app
    >>> serve(get_settings())                     # what `ragqa serve` runs
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragqa import __version__
from ragqa.answer.engine import AnswerEngine
from ragqa.api.routes import router
from ragqa.api.schemas import MAX_BODY_BYTES, ErrorResponse, FieldError
from ragqa.api.state import ServiceState
from ragqa.config import Settings, get_settings
from ragqa.errors import (
    DocumentNotFoundError,
    IndexFormatError,
    IndexMissingError,
    InvalidQueryError,
    RagqaError,
)
from ragqa.index.embed import Embedder

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# The page loads only its own script and style sheet: no inline code, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

# Questions answered at once. The engine's work is CPU-bound (torch, numpy, Python under the GIL):
# more threads than cores only contend, so extra requests queue here instead (with 32 clients on
# 2 cores this raised throughput by half and cut p95 latency in half).
COMPUTE_SLOTS = os.cpu_count() or 1

# Library errors that reach a route, by the HTTP status they mean; anything else is a 500.
ERROR_STATUS: dict[type[RagqaError], int] = {
    InvalidQueryError: 422,
    DocumentNotFoundError: 404,
    IndexMissingError: 503,
    IndexFormatError: 503,
}


def create_app(settings: Settings | None = None, embedder: Embedder | None = None,
               engine: AnswerEngine | None = None) -> FastAPI:
    """Build the app; at start-up it loads the model (unless `embedder` is given) and the index
    from settings.index_dir (unless `engine` is given)."""
    state = ServiceState(settings or get_settings(), embedder=embedder, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.compute = anyio.CapacityLimiter(COMPUTE_SLOTS)
        await run_in_threadpool(state.load)
        yield

    app = FastAPI(
        title="ragqa", version=__version__, lifespan=lifespan,
        description="Extractive, citation-grounded answers over clinical guideline evidence. "
                    "Educational use only, not clinical advice.",
    )
    app.state.service = state
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RagqaError, _ragqa_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    return app


def serve(settings: Settings | None = None) -> None:
    """Run the app under uvicorn on settings.host:settings.port until interrupted."""
    import uvicorn

    settings = settings or get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


# -- errors: every error is an ErrorResponse ----------------------------------------------------

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


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for error in exc.errors():
        message = error["msg"]
        if error["type"] == "json_invalid":
            message = f"malformed JSON: {error.get('ctx', {}).get('error', message)}"
        fields.append(FieldError(field=field_name(tuple(error["loc"])), message=message,
                                 type=error["type"]))
    summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
    return error_response(422, f"invalid request: {summary}", fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _ragqa_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    if status == 500:
        log.error("unexpected library error on %s: %s", request.url.path, exc)
    return error_response(status, str(exc))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return error_response(500, "internal server error")


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with a JSON 413, by Content-Length and by bytes read.

    The body (at most `max_bytes`) is read before the app runs, so the limit holds for chunked
    uploads and for clients whose Content-Length understates the body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send, int(declared))
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send, None)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send,
                         declared: int | None) -> None:
        size = f"{declared} bytes" if declared is not None else "more than that"
        response = error_response(
            413, f"request body too large: the limit is {self.max_bytes} bytes, got {size}",
            [FieldError(field="body", message=f"at most {self.max_bytes} bytes",
                        type="too_large")],
        )
        await response(scope, receive, send)
