"""Admission of questions to the compute workers: a bounded queue, a time budget, and no work for
clients that have gone.

    >>> admission = Admission(slots=2, queue_length=64, timeout=30.0)
    >>> async with admission.slot(request.receive):
    ...     answer = await to_thread.run_sync(work)

A question waits for one of `slots` workers. When `queue_length` questions are already waiting,
it is refused at once (OverloadedError, a 503 with Retry-After), as search engines do with their
bounded thread-pool queues; when it has waited `timeout` seconds it is refused too. While it
waits, its connection is watched: a client that disconnects leaves the queue at once
(ClientGoneError), so abandoned questions cost nothing. Work that has started is not interrupted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.types import Receive

from ragqa.errors import OverloadedError


class ClientGoneError(Exception):
    """The client disconnected before its question reached a worker."""


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
        self.waiting = 0
        self._free = anyio.Semaphore(slots)

    @asynccontextmanager
    async def slot(self, receive: Receive) -> AsyncIterator[None]:
        """Hold a worker slot for the block; `receive` is the request's, to notice a disconnect."""
        if self._free.value == 0 and self.waiting >= self.queue_length:
            raise OverloadedError(
                f"{self.waiting} questions are already waiting for a worker; retry shortly")
        self.waiting += 1
        try:
            await self._acquire(receive)
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._free.release()

    async def _acquire(self, receive: Receive) -> None:
        gone = acquired = False
        with anyio.move_on_after(self.timeout):
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal gone
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    gone = True
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await self._free.acquire()
                acquired = True
                group.cancel_scope.cancel()
        if acquired and gone:
            self._free.release()
        if gone:
            raise ClientGoneError
        if acquired:
            return
        raise OverloadedError(
            f"no worker was free within {self.timeout:g} s (the request time budget); "
            "retry shortly")
