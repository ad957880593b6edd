"""Admission of questions to the compute workers: a bounded queue, a time budget, newest first,
and no work for clients that have gone.

    >>> admission = Admission(slots=2, queue_length=64, timeout=30.0)
    >>> async with admission.slot(receive):      # the request's ASGI receive, body already read
    ...     await app(scope, replay, send)

A question takes one of `slots` workers, or waits for one, and a freed worker goes to the newest
waiting question: under overload the oldest questions are the ones whose clients have most
likely given up (as with adaptive LIFO queues), and a burst of abandoned questions does not sit
in front of the next real one. At most `queue_length` wait: a question that finds the queue
full waits up to QUEUE_GRACE seconds for a place (a burst of questions whose clients have just
gone fills it until their disconnects are read), then is refused (OverloadedError, a 503 with
Retry-After). A question that has waited `timeout` seconds is refused too. While it waits, its
connection is watched: a client that disconnects leaves the queue at once (ClientGoneError),
and one more look is taken just before the work starts. Work that has started is not
interrupted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.types import Receive

from ragqa.errors import OverloadedError

QUEUE_GRACE = 0.5


class ClientGoneError(Exception):
    """The client disconnected before its question reached a worker."""


class _Waiter:
    """A question waiting for a worker: set when granted one."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


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
        self._left = anyio.Event()  # set, and replaced, whenever a question leaves the queue

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
        with anyio.move_on_after(QUEUE_GRACE):
            while len(self._waiting) >= self.queue_length and self.busy >= self.slots:
                await self._left.wait()
        if self.busy < self.slots:  # a worker came free meanwhile
            self.busy += 1
            return
        if len(self._waiting) >= self.queue_length:
            raise OverloadedError(f"{len(self._waiting)} questions are already waiting for a "
                                  "worker; retry shortly")
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
        self._waiting.remove(waiter)
        self._left_queue()
        if gone:
            raise ClientGoneError
        raise OverloadedError(f"no worker was free within {self.timeout:g} s (the request time "
                              "budget); retry shortly")

    def _release(self) -> None:
        """Hand the worker to the newest waiting question, or free it."""
        if self._waiting:
            newest = self._waiting.pop()
            newest.granted = True
            newest.event.set()
            self._left_queue()
        else:
            self.busy -= 1

    def _left_queue(self) -> None:
        self._left.set()
        self._left = anyio.Event()


async def _gone(receive: Receive) -> bool:
    """Whether the client has disconnected already, without waiting (as Starlette's
    Request.is_disconnected). Not free: anyio formats the task into the cancel message."""
    message: dict = {}
    with anyio.CancelScope() as scope:
        scope.cancel()
        message = dict(await receive())
    return message.get("type") == "http.disconnect"
