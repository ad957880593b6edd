"""The bounded uvicorn's look at a connection (has the client closed it?) and what uses it."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from uvicorn.config import Config
from uvicorn.server import ServerState

from ragqa.api.admission import CLIENT_GONE
from ragqa.api.serving import BoundedH11Protocol, Doorway, SkipAbandoned, peer_closed


@contextmanager
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server) pair of loopback TCP sockets."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        server.setblocking(False)  # as asyncio's sockets are
        yield client, server


def settled(check, seconds: float = 2.0) -> bool:
    """`check()` once it is true, or at the end of `seconds` (loopback delivery is not instant)."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_a_connected_client_is_there():
    with tcp_pair() as (_, server):
        assert peer_closed(server.fileno()) is False


def test_a_client_that_closed_is_gone_and_its_socket_stays_open():
    with tcp_pair() as (client, server):
        client.close()
        assert settled(lambda: peer_closed(server.fileno()))
        assert server.fileno() != -1  # the look did not close the server's descriptor
        server.getsockname()


def test_unread_data_is_left_unread_and_means_not_yet():
    with tcp_pair() as (client, server):
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
        client.close()
        time.sleep(0.1)
        assert peer_closed(server.fileno()) is False
        assert server.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
        assert peer_closed(server.fileno()) is True


def test_a_client_that_reset_the_connection_is_gone():
    with tcp_pair() as (client, server):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # an RST, not a FIN
        assert settled(lambda: peer_closed(server.fileno()))


def run_skip_abandoned(look) -> list[str]:
    """What happens to a request through SkipAbandoned whose server look says `look()`."""
    events: list[str] = []

    async def app(scope, receive, send):
        events.append("app called")

    async def receive():
        events.append("receive")
        return {"type": "http.disconnect"}

    async def main():
        scope = {"type": "http", "extensions": {CLIENT_GONE: look}}
        await SkipAbandoned(app)(scope, receive, None)

    anyio.run(main)
    return events


def test_a_request_whose_client_has_closed_never_reaches_the_app():
    assert run_skip_abandoned(lambda: True) == ["receive"]  # waits for the disconnect, no app


def test_a_request_whose_client_is_there_reaches_the_app():
    assert run_skip_abandoned(lambda: False) == ["app called"]


class FakeTransport(asyncio.Transport):
    """Enough of an asyncio transport over a real socket for a Doorway and uvicorn's protocol."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def get_extra_info(self, name, default=None):
        return {"socket": self.sock, "peername": self.sock.getpeername(),
                "sockname": self.sock.getsockname()}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write(self, data) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.closed = True

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def doorway(server_state: ServerState, max_connections: int = 10) -> Doorway:
    async def app(scope, receive, send):
        pass

    config = Config(app, lifespan="off")
    return Doorway(config=config, server_state=server_state, app_state={},
                   _loop=asyncio.get_running_loop(), header_timeout=10.0,
                   max_connections=max_connections)


def test_a_connection_whose_client_sent_and_closed_is_dropped_without_an_http_protocol():
    async def main():
        state = ServerState()
        with tcp_pair() as (client, server):
            client.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            client.close()
            door, transport = doorway(state), FakeTransport(server)
            door.connection_made(transport)
            assert state.connections == {door}
            data = server.recv(1000)  # what the transport reads before data_received
            assert settled(lambda: peer_closed(server.fileno()))
            door.data_received(data)
            assert transport.closed and transport.protocol is None
            door.connection_lost(None)
            assert not state.connections

    asyncio.run(main())


def test_a_connection_whose_client_is_there_is_handed_to_the_http_protocol():
    async def main():
        state = ServerState()
        with tcp_pair() as (client, server):
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            door, transport = doorway(state), FakeTransport(server)
            door.connection_made(transport)
            door.data_received(server.recv(1000))
            protocol = transport.protocol
            assert isinstance(protocol, BoundedH11Protocol) and not transport.closed
            assert state.connections == {protocol}
            assert protocol.opened == door.opened
            assert protocol.headers_due == door.headers_due  # the deadline runs from the opening
            assert protocol.cycle is not None and protocol.cycle.scope["path"] == "/healthz"
            protocol.connection_lost(None)
            for task in list(state.tasks):
                await task

    asyncio.run(main())


def test_a_connection_beyond_the_cap_closes_the_oldest_idle_one():
    async def main():
        state = ServerState()
        with tcp_pair() as (_, first_socket), tcp_pair() as (_, second_socket):
            first, first_transport = doorway(state, 1), FakeTransport(first_socket)
            first.connection_made(first_transport)
            second, second_transport = doorway(state, 1), FakeTransport(second_socket)
            second.connection_made(second_transport)
            assert first_transport.closed and not second_transport.closed

    asyncio.run(main())
