"""Reading request bodies: a size limit, a read deadline, JSON that the routes can trust, and
then, for the routes that compute, a place in the admission queue (ragqa.api.admission).

The body (at most `max_bytes`) is read before the app runs, within `timeout` seconds, so the
limit holds for chunked uploads and for clients whose Content-Length understates the body, and a
client that trickles its body cannot hold a worker. For a route that takes a JSON body, a body
that is not sent as JSON gets a 415, and one that is not UTF-8, nests deeper than
MAX_JSON_DEPTH, holds a number longer than MAX_NUMBER_DIGITS or a NaN gets a 400 naming the
problem; a string (or key) holding a lone surrogate (`"\ud800"`, which JSON's escapes allow and
no UTF-8 text can hold) gets a 422 naming the field; malformed JSON is left to the route's
validation (a 422 naming the position).

Admission happens here, before any routing or validation, so that a question whose client has
gone costs little more than reading it.
"""

from __future__ import annotations

import email.message
import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragqa.api.admission import Admission, Client, ClientGoneError
from ragqa.api.errors import error_response
from ragqa.api.schemas import FieldError
from ragqa.errors import OverloadedError

MAX_JSON_DEPTH = 32
MAX_NUMBER_DIGITS = 100
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyError(ValueError):
    """Why a body is refused: the HTTP status, the message, the error type and the field."""

    def __init__(self, status: int, message: str, type_: str, field: str = "body") -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.field = field


def check_json_body(body: bytes, content_type: str | None) -> None:
    """Raise BodyError unless `body` is UTF-8 JSON sent as JSON, shallow and with short numbers."""
    if not _is_json_type(content_type):
        sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise BodyError(415, f"the body must be JSON sent with 'Content-Type: application/json', "
                             f"got {sent}", "unsupported_media_type")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"the body is not UTF-8: byte 0x{body[exc.start]:02x} at position "
                             f"{exc.start}", "not_utf8") from None
    depth = max(accumulate(_DEPTH_STEP.get(ord(c), 0) for c in _STRINGS.sub("", text)), default=0)
    if depth > MAX_JSON_DEPTH:
        raise BodyError(400, f"the JSON body nests {depth} levels deep; at most {MAX_JSON_DEPTH} "
                             "are accepted", "too_deep")
    try:
        value = json.loads(text, parse_int=_short_number, parse_float=_short_number,
                           parse_constant=_no_constant)
    except json.JSONDecodeError:
        return  # malformed JSON: the route's validation names the position
    # UTF-8 text holds no surrogate: only a \\u escape can make one
    where = _lone_surrogate(value, ()) if "\\u" in text else None
    if where is not None:
        field = _escaped(".".join(where)) or "body"
        raise BodyError(422, f"invalid request: {field}: holds a lone UTF-16 surrogate (an "
                             f"escape from \\ud800 to \\udfff without its pair), which is not "
                             f"text", "lone_surrogate", field)


def _lone_surrogate(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where in a parsed JSON value the first string or key holding a surrogate is, or None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return (*path, key)
            found = _lone_surrogate(item, (*path, key))
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, (*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",))
            if found is not None:
                return found
    return None


def _escaped(name: str) -> str:
    """A field name fit for a UTF-8 response: each surrogate written as its escape."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", name)


def _is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    charset = message.get_param("charset")
    return (message.get_content_maintype() == "application"
            and (subtype == "json" or subtype.endswith("+json"))
            and (charset is None or str(charset).lower() in ("utf-8", "utf8")))


def _short_number(text: str) -> float:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_NUMBER_DIGITS:
        raise BodyError(400, f"a number in the JSON body has {digits} digits; at most "
                             f"{MAX_NUMBER_DIGITS} are accepted", "number_too_long")
    return 0.0


def _no_constant(text: str) -> Any:
    raise BodyError(400, f"{text} is not a JSON value", "not_json")


class RequestBody:
    """ASGI middleware: read each HTTP body within limits, then hand it on (see module doc)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float,
                 openapi: Callable[[], dict[str, Any]],
                 queued: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.openapi = openapi
        self.queued = queued  # (method, path) of the routes that wait for a compute worker
        self._json_routes: list[tuple[str, re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large(int(declared)))
            return
        try:
            body = await self._read(receive)
        except BodyError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        if body is None:
            return  # the client went away
        if body and self._takes_json(scope):
            try:
                check_json_body(body, headers.get("content-type"))
            except BodyError as exc:
                await self._refuse(scope, receive, send, exc)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        if (scope["method"], scope["path"]) not in self.queued:
            await self.app(scope, replay, send)
            return
        admission: Admission = scope["app"].state.admission
        client = Client(scope, receive)
        try:
            async with admission.slot(client):
                await self.app(scope, replay, send)
        except ClientGoneError:
            # nobody to answer: end once the server has seen the close too, or it would answer
            # the missing response with a 500 and an error in the log
            await client.disconnected()
        except OverloadedError as exc:
            response = error_response(503, str(exc),
                                      headers={"Retry-After": str(exc.retry_after)})
            await response(scope, receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        body = bytearray()
        with anyio.move_on_after(self.timeout) as deadline:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_bytes:
                    raise self._too_large(None)
        if deadline.cancelled_caught:
            raise BodyError(408, f"the request body did not arrive within {self.timeout:g} s",
                            "timeout")
        return bytes(body)

    def _takes_json(self, scope: Scope) -> bool:
        if self._json_routes is None:  # the routes whose OpenAPI entry has a JSON request body
            self._json_routes = [
                (method.upper(), compile_path(path)[0])
                for path, operations in self.openapi().get("paths", {}).items()
                for method, operation in operations.items()
                if "application/json" in operation.get("requestBody", {}).get("content", {})]
        return any(method == scope["method"] and pattern.match(scope["path"])
                   for method, pattern in self._json_routes)

    def _too_large(self, declared: int | None) -> BodyError:
        size = f"{declared} bytes" if declared is not None else "more than that"
        return BodyError(413, f"request body too large: the limit is {self.max_bytes} bytes, "
                              f"got {size}", "too_large")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: BodyError) -> None:
        limit = {413: f"at most {self.max_bytes} bytes"}.get(exc.status, str(exc))
        headers = {"Connection": "close"} if exc.status == 408 else None
        response = error_response(exc.status, str(exc),
                                  [FieldError(field=exc.field, message=limit, type=exc.type)],
                                  headers=headers)
        await response(scope, receive, send)
