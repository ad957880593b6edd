"""Admission of questions to the compute workers: a bounded queue, first come first served, a
time budget, and no work for clients that have gone.

    >>> admission = Admission(slots=2, queue_length=64, timeout=30.0)
    >>> async with admission.slot(Client(scope, receive)):   # the body already read
    ...     await app(scope, replay, send)

A question whose client has gone is dropped (ClientGoneError) while it waits and once more
just before its work starts; work that has started is not interrupted. The last look is the
server's own at the connection when the server offers one (the CLIENT_GONE scope extension,
which `ragqa serve` provides, and which also keeps a question whose client closed at once from
reaching the app at all), so that it holds even before the server has read the close;
otherwise it is what `receive` has reported.

A live question takes one of `slots` workers, or waits for one: a freed worker goes to the
question that has waited longest, so none is starved. At most `queue_length` wait: a question
that finds the queue full first takes out those whose clients the server's look shows closed,
and is refused if it is still full (OverloadedError, a 503 with Retry-After); so is one that
has waited `timeout` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from starlette.types import Receive, Scope

from ragqa.errors import OverloadedError

# An ASGI scope extension: a callable that tells, at once, whether the client has closed the
# connection (or reset it).
CLIENT_GONE = "ragqa.client_gone"


class ClientGoneError(Exception):
    """The client disconnected before its question reached a worker."""


class Client:
    """The client of one request, as far as the server can tell whether it is still there."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        self._look: Callable[[], bool] | None = scope.get("extensions", {}).get(CLIENT_GONE)

    def closed(self) -> bool:
        """Whether the server's look shows the client has closed (False if it has no look)."""
        return self._look is not None and self._look()

    async def gone(self) -> bool:
        """Whether the client has gone already, without waiting: the server's look, or else
        whether `receive` has a disconnect ready."""
        if self._look is not None:
            return self._look()
        return await _gone(self._receive)

    async def disconnected(self) -> None:
        """Return when the client disconnects (the request's body has been read)."""
        while (await self._receive())["type"] != "http.disconnect":
            pass


class _Waiter:
    """A question waiting for a worker; its wait is cancelled when it is granted one or found
    gone by another question's look."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.scope = anyio.CancelScope()
        self.granted = False
        self.gone = False


class Admission:
    """At most `slots` questions computing, `queue_length` waiting, each for `timeout` seconds."""

    def __init__(self, slots: int, queue_length: int, timeout: float) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        if queue_length < 0:
            raise ValueError(f"queue_length must be >= 0, got {queue_length}")
        self.slots = slots
        self.queue_length = queue_length
        self.timeout = timeout
        self.busy = 0
        self._waiting: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        """Questions waiting for a worker now."""
        return len(self._waiting)

    @asynccontextmanager
    async def slot(self, client: Client) -> AsyncIterator[None]:
        """Hold a worker for the block, unless `client` goes first."""
        if self.busy < self.slots:
            self.busy += 1
        else:
            await self._wait(client)
        try:
            if await client.gone():  # the last look before the work starts
                raise ClientGoneError
            yield
        finally:
            self._release()

    async def _wait(self, client: Client) -> None:
        """Queue for a worker; on return, one is held."""
        if self.queue_length == 0:
            raise OverloadedError("every worker is busy and no question may wait; retry shortly")
        if len(self._waiting) >= self.queue_length:
            self._drop_closed()
        if len(self._waiting) >= self.queue_length:
            raise OverloadedError(f"{len(self._waiting)} questions are already waiting for a "
                                  "worker; retry shortly")
        waiter = _Waiter(client)
        self._waiting.append(waiter)
        with anyio.move_on_after(self.timeout), waiter.scope:
            await client.disconnected()
            waiter.gone = True
        if waiter.granted:
            return  # the worker is this question's now; slot() looks at the client once more
        if waiter in self._waiting:  # not already taken out by _drop_closed
            self._waiting.remove(waiter)
        if waiter.gone:
            raise ClientGoneError
        raise OverloadedError(f"no worker was free within {self.timeout:g} s (the request time "
                              "budget); retry shortly")

    def _drop_closed(self) -> None:
        """Take out of the queue the questions whose clients the server's look shows closed,
        before their disconnects are read (a burst of abandoned questions would otherwise fill
        the queue, for a moment, against live ones)."""
        for waiter in [w for w in self._waiting if w.client.closed()]:
            self._waiting.remove(waiter)
            waiter.gone = True
            waiter.scope.cancel()

    def _release(self) -> None:
        """Hand the worker to the question that has waited longest, or free it."""
        if self._waiting:
            oldest = self._waiting.popleft()
            oldest.granted = True
            oldest.scope.cancel()
        else:
            self.busy -= 1


async def _gone(receive: Receive) -> bool:
    """Whether `receive` has a disconnect ready, without waiting (as Starlette's
    Request.is_disconnected). Not free: anyio formats the task into the cancel message."""
    message: dict = {}
    with anyio.CancelScope() as scope:
        scope.cancel()
        message = dict(await receive())
    return message.get("type") == "http.disconnect"
