"""The bounded uvicorn's look at a connection (has the client closed it?) and what uses it."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from ragqa.api.admission import CLIENT_GONE
from ragqa.api.serving import SkipAbandoned, peer_closed


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
