"""The FastAPI app: start-up loading, errors, the request-body checks, routes, the web page and
the API docs (Swagger UI and ReDoc from the installed fastapi-offline package: no network).

    >>> app = create_app(get_settings())          # or: uvicorn --factory ragqa.api.app:create_app
    >>> serve(get_settings())                     # what `ragqa serve` runs, with its bounds
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragqa import __version__
from ragqa.answer.engine import AnswerEngine
from ragqa.api import errors
from ragqa.api.admin import AdminFirst, AdminGuard
from ragqa.api.admission import Admission
from ragqa.api.body import RequestBody
from ragqa.api.routes import QUEUED_ROUTES, router
from ragqa.api.schemas import MAX_BODY_BYTES
from ragqa.api.serving import run
from ragqa.api.state import ServiceState
from ragqa.config import Settings, get_settings
from ragqa.errors import RagqaError
from ragqa.index.embed import Embedder

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
# The page loads only its own script and style sheet: no inline code, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

# The docs pages run Swagger UI's and ReDoc's inline start-up scripts and styles, and load nothing
# from elsewhere (ReDoc's footer logo would come from its CDN: the browser does not even ask).
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "worker-src 'self' blob:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}

# Questions answered at once. The engine's work is CPU-bound (torch, numpy, Python under the GIL):
# more threads than cores only contend, so extra requests queue here instead (with 32 clients on
# 2 cores this raised throughput by half and cut p95 latency in half).
COMPUTE_SLOTS = os.cpu_count() or 1


def create_app(settings: Settings | None = None, embedder: Embedder | None = None,
               engine: AnswerEngine | None = None) -> FastAPI:
    """Build the app; at start-up it loads the model (unless `embedder` is given) and the index
    from settings.index_dir (unless `engine` is given)."""
    settings = settings or get_settings()
    guard = AdminGuard(settings.admin_token)  # refuses a short token before anything loads
    state = ServiceState(settings, embedder=embedder, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.admission = Admission(COMPUTE_SLOTS, settings.queue_length,
                                        settings.request_timeout)
        await run_in_threadpool(state.load)
        app.openapi()  # built once now, not by the first request that reads a body
        yield

    app = FastAPI(
        title="ragqa", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        redirect_slashes=False,  # a redirect would echo the Host header back
        description="Extractive, citation-grounded answers over clinical guideline evidence. "
                    "Educational use only, not clinical advice.",
    )
    app.state.service = state
    app.state.admin_guard = guard
    app.add_middleware(RequestBody, max_bytes=MAX_BODY_BYTES, timeout=settings.body_timeout,
                       openapi=app.openapi, queued=QUEUED_ROUTES)
    app.add_middleware(AdminFirst, guard=guard)  # the token before the body (added later: outer)
    app.add_middleware(errors.ContainErrors)
    app.add_middleware(NoSniff)  # outermost: even a crash's 500 carries it
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(RagqaError, errors.ragqa_error)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json", title="ragqa API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png")
        page.headers.update(DOCS_HEADERS)
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url="/openapi.json", title="ragqa API",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png",
                              with_google_fonts=False)
        page.headers.update(DOCS_HEADERS)
        return page

    return app


class NoSniff:
    """ASGI middleware: every response says `X-Content-Type-Options: nosniff`, so that a browser
    never runs a JSON or text answer as something else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, with_header)


def serve(settings: Settings | None = None) -> None:
    """Run the app under uvicorn with the settings' bounds until interrupted."""
    settings = settings or get_settings()
    run(create_app(settings), settings)
