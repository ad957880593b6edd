"""The admin check: a bearer token of at least MIN_TOKEN_CHARS characters, compared in constant
time before any of the request's body is read, with failed attempts throttled per client.

    >>> guard = AdminGuard(settings.admin_token)    # AdminTokenError if it is too short
    >>> guard.check("Bearer s3cr3t...", "127.0.0.1")   # None when let through, else a Refusal

A client's first FREE_FAILURES wrong tokens within WINDOW seconds are refused with a 403 as
usual; after that the client is locked out, whatever token it sends, for 1 s, then 2, 4, ... up
to MAX_LOCK seconds per further failure (429 with Retry-After): a guesser gets a handful of
guesses a minute instead of thousands a second, and the admin whose client shares the address
waits at most a minute.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ragqa.api.errors import error_response
from ragqa.errors import AdminTokenError

MIN_TOKEN_CHARS = 16
FREE_FAILURES = 5
WINDOW = 60.0
MAX_LOCK = 60.0
ADMIN_PREFIX = "/v1/admin/"
# clients remembered at most (the oldest failures are forgotten first)
MAX_CLIENTS = 10_000


def check_admin_token(token: str | None) -> None:
    """Refuse an admin token shorter than MIN_TOKEN_CHARS (no token, or an empty one, disables
    the admin routes)."""
    if token and len(token) < MIN_TOKEN_CHARS:
        raise AdminTokenError(
            f"RAGQA_ADMIN_TOKEN must be at least {MIN_TOKEN_CHARS} characters, got {len(token)}; "
            f"use a random one (python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            f"or unset it to disable the admin routes")


class Refusal(NamedTuple):
    """Why an admin request is refused: its status, message and headers."""

    status: int
    message: str
    headers: dict[str, str] | None = None


class AdminGuard:
    """The admin token and each client's recent failures (see the module docstring)."""

    def __init__(self, token: str | None) -> None:
        check_admin_token(token)
        self.token = token or None
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, authorization: str | None, client: str) -> Refusal | None:
        """None if `authorization` carries the token, else why not (and count a wrong token)."""
        if self.token is None:
            return Refusal(403, "admin disabled: set RAGQA_ADMIN_TOKEN to enable the admin routes")
        now = time.monotonic()
        with self._lock:
            until = self._locked_until.get(client, 0.0)
        if now < until:
            wait = math.ceil(until - now)
            return Refusal(429, f"too many wrong admin tokens from this client: retry in {wait} s",
                           {"Retry-After": str(wait)})
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return Refusal(401, "admin routes need an 'Authorization: Bearer <token>' header",
                           {"WWW-Authenticate": "Bearer"})
        if secrets.compare_digest(credentials.strip().encode(), self.token.encode()):
            with self._lock:
                self._failures.pop(client, None)
            return None
        self._failed(client, now)
        return Refusal(403, "the admin token is not valid")

    def _failed(self, client: str, now: float) -> None:
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < WINDOW]
            recent.append(now)
            self._failures[client] = recent
            beyond = len(recent) - FREE_FAILURES
            if beyond > 0:
                self._locked_until[client] = now + min(MAX_LOCK, 2.0 ** (beyond - 1))
            if len(self._failures) > MAX_CLIENTS:
                for old in sorted(self._failures, key=lambda c: self._failures[c][-1])[
                        :len(self._failures) - MAX_CLIENTS]:
                    self._failures.pop(old)
                    self._locked_until.pop(old, None)


class AdminFirst:
    """ASGI middleware: a request to an admin route is checked by the AdminGuard before anything
    of it is read; a refused one is answered at once and its connection closed (its body, if
    any, is never read)."""

    def __init__(self, app: ASGIApp, guard: AdminGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        refusal = self.guard.check(Headers(scope=scope).get("authorization"), client)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        headers = {**(refusal.headers or {}), "Connection": "close"}
        await error_response(refusal.status, refusal.message, headers=headers)(
            scope, receive, send)
