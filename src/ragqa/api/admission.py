"""Admission of questions to the compute workers: a bounded queue, a time budget, newest first,
and no work for clients that have gone.

    >>> admission = Admission(slots=2, queue_length=64, timeout=30.0)
    >>> async with admission.slot(receive):      # the request's ASGI receive, body already read
    ...     await app(scope, replay, send)

A question takes one of `slots` workers, or waits for one. At most `queue_length` wait: a newer
question pushes the oldest waiting one out (OverloadedError, a 503 with Retry-After), and a
freed worker goes to the newest waiting question. Under overload the oldest questions are the
ones whose clients have most likely given up (or gone: a burst of abandoned questions then
never delays the next real one), as with adaptive LIFO queues. A question that has waited
`timeout` seconds is refused too. While it waits, its connection is watched: a client that
disconnects leaves the queue at once (ClientGoneError), and one more look is taken just before
the work starts. Work that has started is not interrupted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.types import Receive

from ragqa.errors import OverloadedError


class ClientGoneError(Exception):
    """The client disconnected before its question reached a worker."""


class _Waiter:
    """A question waiting for a worker: set when granted one or pushed out."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        self.pushed_out = False


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
    async def slot(self, receive: Receive) -> AsyncIterator[None]:
        """Hold a worker for the block; `receive` is the request's, to notice a disconnect."""
        if self.busy < self.slots:
            self.busy += 1
        else:
            await self._wait(receive)
        try:
            if await _gone(receive):  # the last look before the work starts
                raise ClientGoneError
            yield
        finally:
            self._release()

    async def _wait(self, receive: Receive) -> None:
        """Queue for a worker; on return, one is held."""
        if self.queue_length == 0:
            raise OverloadedError("every worker is busy and no question may wait; retry shortly")
        if len(self._waiting) >= self.queue_length:
            oldest = self._waiting.popleft()
            oldest.pushed_out = True
            oldest.event.set()
        waiter = _Waiter()
        self._waiting.append(waiter)
        gone = False
        with anyio.move_on_after(self.timeout):
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal gone
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    gone = True
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await waiter.event.wait()
                group.cancel_scope.cancel()
        if waiter.granted:
            if gone:
                self._release()
                raise ClientGoneError
            return
        if waiter in self._waiting:
            self._waiting.remove(waiter)
        if gone:
            raise ClientGoneError
        if waiter.pushed_out:
            raise OverloadedError(f"{self.queue_length} newer questions are waiting for a "
                                  "worker; retry shortly")
        raise OverloadedError(f"no worker was free within {self.timeout:g} s (the request time "
                              "budget); retry shortly")

    def _release(self) -> None:
        """Hand the worker to the newest waiting question, or free it."""
        if self._waiting:
            newest = self._waiting.pop()
            newest.granted = True
            newest.event.set()
        else:
            self.busy -= 1


async def _gone(receive: Receive) -> bool:
    """Whether the client has disconnected already, without waiting (as Starlette's
    Request.is_disconnected). Not free: anyio formats the task into the cancel message."""
    message: dict = {}
    with anyio.CancelScope() as scope:
        scope.cancel()
        message = dict(await receive())
    return message.get("type") == "http.disconnect"
