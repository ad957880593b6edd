"""uvicorn with bounds: deadlines for each request's headers and for each response's writing,
and a cap on open connections.

uvicorn alone keeps a connection that sends nothing, or trickles its headers, open for as long as
the client likes; enough of them exhaust the process's file descriptors and then nothing is
served. Here each connection has `header_timeout` seconds to deliver a request's headers (from
when it opens, and again after each response), and when `max_connections` are open a new
connection closes the oldest one that is not being answered, as nginx reuses its idle keep-alive
connections; when every open connection is being answered, the new one gets a 503.

A client that sends requests (pipelined, say) and never reads the answers would hold its
connection "being answered" for ever: its answers fill the socket and uvicorn waits for room.
So when the socket does not take what is written to it, the client has `write_timeout` seconds
to read some of it, or the connection is aborted (nginx's send_timeout). And when the cap is
reached, a connection whose client has left answers unread (in the socket's send queue or
uvicorn's buffer) makes room for a new one (a health check, say) right after the idle ones do,
the one with the most unread first. A connection closed with answers still unread is aborted,
never left waiting to flush.

A client that has closed its connection gets no answer (uvicorn's rule at end of file), so the
work for it is skipped as early as the socket shows the close, even before the server has read
it: what such a client sent is not parsed, a request whose client goes before the app sees it
never reaches the app (SkipAbandoned), and the app can look again later (the CLIENT_GONE scope
extension, which ragqa.api.admission uses while a question waits and before it starts). A burst
of abandoned questions then costs the event loop little more than accepting and closing their
connections: a new connection is a small Doorway until it first sends something, and uvicorn's
HTTP protocol is built only for one whose client is still there; the event loop is uvloop's,
whose accepting and closing costs less than asyncio's.

    >>> run(create_app(settings), settings)       # what `ragqa serve` does
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
import resource
import socket
import termios
import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from ragqa.api.admission import CLIENT_GONE
from ragqa.config import Settings

log = logging.getLogger(__name__)

# The event loop accepts what the listen queue holds in one go, before any of those connections
# reaches the protocol (and so the cap): the listen backlog is kept short, and room for two such
# batches is kept free besides the descriptors that the process opens for other things (index
# files, logs). A longer queue was tried: more of a burst then lands at once, and the question
# after 200 abandoned ones waited longer (eval/reliability_probe.py).
ACCEPT_BACKLOG = 128
RESERVED_FDS = 64 + 2 * ACCEPT_BACKLOG
_BUSY_BODY = json.dumps({"status": 503, "code": "service_unavailable", "fields": [],
                         "message": "every connection is busy; retry shortly"}).encode()
BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                 b"retry-after: 1\r\nconnection: close\r\n"
                 b"content-length: %d\r\n\r\n" % len(_BUSY_BODY)) + _BUSY_BODY


class Doorway(asyncio.Protocol):
    """A new connection until it first sends something: counted against the cap, under the
    header deadline, and dropped at once if its client has already closed it; otherwise it is
    handed to a BoundedH11Protocol.

    A burst of abandoned questions is mostly connections whose first read already shows the
    close: they are accepted and closed here without building uvicorn's HTTP protocol, its
    parser or its flow control for them."""

    _opened = itertools.count()

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, header_timeout: float,
                 max_connections: int, write_timeout: float = 10.0) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.connections = server_state.connections
        self.header_timeout = header_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections
        self.opened = next(self._opened)
        self.headers_due = self.loop.time() + header_timeout
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        if len(self.connections) > self.max_connections and not close_oldest_idle(self):
            self.transport.write(BUSY_RESPONSE)
            self.transport.close()
            return
        self._deadline = self.loop.call_at(self.headers_due, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()

    def data_received(self, data: bytes) -> None:
        if peer_closed(self.transport.get_extra_info("socket").fileno()):
            self.transport.close()  # the client sent this and closed: nothing to parse or answer
            return
        self.connections.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        protocol = BoundedH11Protocol(
            config=self.config, server_state=self.server_state, app_state=self.app_state,
            _loop=self.loop, header_timeout=self.header_timeout, opened=self.opened,
            headers_due=self.headers_due, write_timeout=self.write_timeout)
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(data)

    def idle(self) -> bool:
        """Nothing is being answered on this connection (nothing has been asked yet)."""
        return True

    def unread(self) -> int:
        """Nothing has been written yet."""
        return 0

    def shutdown(self) -> None:
        """Called by uvicorn when the server stops."""
        self.transport.close()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with header and write deadlines, on a connection a Doorway
    let in."""

    def __init__(self, *args: Any, header_timeout: float, opened: int, headers_due: float,
                 write_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.write_timeout = write_timeout
        self._write_deadline: asyncio.TimerHandle | None = None
        self.opened = opened
        self.headers_due = headers_due  # the first request's: the Doorway's deadline
        self._deadline: asyncio.TimerHandle | None = None
        self._started: object = None  # the request cycle whose headers arrived last

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm(self.headers_due)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_writes()

    def on_response_complete(self) -> None:
        self._watch_writes()
        self._arm()  # the next request's headers are due in time too (a pipelined one disarms)
        super().on_response_complete()

    def _watch_writes(self) -> None:
        """If the socket holds back some of what was written, the client has `write_timeout`
        seconds to read some of it, or the connection is aborted."""
        if self._write_deadline is None and self.transport.get_write_buffer_size():
            self._write_deadline = self.loop.call_later(
                self.write_timeout, self._writes_late, self.transport.get_write_buffer_size())

    def _writes_late(self, held: int) -> None:
        self._write_deadline = None
        now = self.transport.get_write_buffer_size()
        if now and now >= held:
            log.info("closing a connection whose client read nothing for %g s",
                     self.write_timeout)
            self.transport.abort()
        else:
            self._watch_writes()  # it read some: the deadline starts again

    def unread(self) -> int:
        """Bytes sent on this connection that its client has not read yet: what uvicorn holds
        back, and what the socket holds unacknowledged (on loopback: unread)."""
        held = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is None or self.transport.is_closing():
            return held
        try:
            queued = int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4),
                                    "little")
        except OSError:
            queued = 0
        return held + queued


    def data_received(self, data: bytes) -> None:
        if self.client_gone():  # the client sent this and closed: nothing to parse or answer
            self.transport.close()
            return
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._started:  # a request's headers are complete
            self._started = self.cycle
            self._disarm()
            if self.cycle is not None:  # its task has not run yet: the scope may still grow
                self.cycle.scope.setdefault("extensions", {})[CLIENT_GONE] = self.client_gone
        # uvicorn stops reading while it answers a request; read on once the whole request is in
        # and nothing else is buffered, so that a client that closes is noticed at once and its
        # queued question dropped (a pipelined request still stops the reading)
        cycle = self.cycle
        if (cycle is not None and not cycle.more_body and not cycle.response_complete
                and not self.conn.trailing_data[0] and not self.transport.is_closing()):
            self.flow.resume_reading()

    def client_gone(self) -> bool:
        """Whether the client has closed or reset the connection, from what the socket holds
        unread (as nginx tests a client while its request waits upstream)."""
        if self.transport.is_closing():
            return True
        return peer_closed(self.transport.get_extra_info("socket").fileno())

    def idle(self) -> bool:
        """No request on this connection is being answered (none yet, or headers still coming)."""
        return self.cycle is None or self.cycle.response_complete

    def _arm(self, due: float | None = None) -> None:
        """Close the connection at loop time `due` (default: header_timeout from now) unless a
        request's headers have arrived by then."""
        self._disarm()
        if not self.transport.is_closing():
            due = self.loop.time() + self.header_timeout if due is None else due
            self._deadline = self.loop.call_at(due, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.idle():
            self.transport.close()  # after what it holds is sent: _watch_writes bounds that


class SkipAbandoned:
    """ASGI middleware: a request whose client has already closed (CLIENT_GONE) never reaches
    the app; it ends once the server has read the close, so that no 500 is sent in its place."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        look = scope.get("extensions", {}).get(CLIENT_GONE)
        if look is not None and look():
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await self.app(scope, receive, send)


def close_oldest_idle(newcomer: Doorway) -> bool:
    """Make room for `newcomer`: close the longest-open other connection on which nothing is
    being answered or, failing one, abort the one whose client has left the most of its answers
    unread, or, failing that, close the longest-open connection that has not sent anything yet;
    False if every other connection is answering a client that reads.

    A connection already closing goes first, aborted: it would hold its place until its client
    read what it still has to send. A connection that has not sent its first bytes yet goes last:
    it was accepted a moment ago, and closing it for the next newcomer would turn a flood of
    connections into a lottery in which a health check loses as often as a flooder."""
    others = [c for c in newcomer.connections
              if c is not newcomer and isinstance(c, (Doorway, BoundedH11Protocol))]
    closing = [c for c in others if c.transport.is_closing()]
    if closing:
        min(closing, key=lambda c: c.opened).transport.abort()
        return True
    idle = [c for c in others if isinstance(c, BoundedH11Protocol) and c.idle()]
    if idle:
        oldest = min(idle, key=lambda c: c.opened)
        if oldest.transport.get_write_buffer_size():
            oldest.transport.abort()  # a close would keep its place until its client read
        else:
            oldest.transport.close()
        return True
    unread = [(c.unread(), c.opened, c) for c in others]
    most = max(unread, default=None, key=lambda u: (u[0], -u[1]))
    if most is not None and most[0] > 0:
        most[2].transport.abort()
        return True
    fresh = [c for c in others if isinstance(c, Doorway)]
    if fresh:
        min(fresh, key=lambda c: c.opened).transport.close()
        return True
    return False


def peer_closed(fd: int) -> bool:
    """Whether the peer of the connected socket `fd` has closed or reset it: the next read would
    return end-of-file or an error. Unread data means it has not, and is left unread."""
    sock = socket.socket(fileno=fd)
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # nothing to read: the peer is still there
    except OSError:
        return True  # reset
    finally:
        sock.detach()  # the descriptor stays the transport's


def connection_cap(settings: Settings) -> int:
    """settings.max_connections, lowered to what the file-descriptor limit leaves room for.

    The soft limit is raised to the hard one first, as servers commonly do.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, settings.max_connections * 2)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 32
    room = soft - in_use - RESERVED_FDS
    cap = max(1, min(settings.max_connections, room))
    if cap < settings.max_connections:
        log.warning("at most %d connections (file-descriptor limit %d), not %d", cap, soft,
                    settings.max_connections)
    return cap


class OncePerPeriod(logging.Filter):
    """A logging filter: each warning or error message (by its template) passes once per
    `period` seconds, in one line, with a count of those held back since; others pass as they
    are. uvicorn logs "Invalid HTTP request received." for every malformed request: a client
    sending them must not be able to fill the disk."""

    def __init__(self, period: float = 60.0) -> None:
        super().__init__()
        self.period = period
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = str(record.msg)
        with self._lock:
            last = self._last.get(key)
            if last is not None and record.created - last < self.period:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = record.created
            held = self._held.pop(key, 0)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = " ".join(str(exc).split())[:200].replace("%", "%%")
            record.msg = f"{record.msg} ({type(exc).__name__}: {detail})"
            record.exc_info = record.exc_text = None
        record.msg = f"{record.msg} ({held} more in the last {self.period:.0f} s, not logged)"
        return True


def run(app: Any, settings: Settings) -> None:
    """Serve `app` under uvicorn on settings.host:settings.port with the settings' bounds."""
    from functools import partial

    import uvicorn

    # uvicorn's own warnings and errors (malformed requests, a crash outside the app), each at
    # most once a minute; the app's are ErrorLog's (ragqa.api.errors)
    logging.getLogger("uvicorn.error").addFilter(OncePerPeriod())

    protocol = partial(Doorway, header_timeout=settings.header_timeout,
                       write_timeout=settings.write_timeout,
                       max_connections=connection_cap(settings))
    config = uvicorn.Config(SkipAbandoned(app), host=settings.host, port=settings.port,
                            log_level="info",
                            http=protocol,  # type: ignore[arg-type]
                            backlog=ACCEPT_BACKLOG,
                            loop="uvloop",  # accepts and closes connections for less than asyncio
                            timeout_keep_alive=settings.keep_alive_timeout)
    uvicorn.Server(config).run()
