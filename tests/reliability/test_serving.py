"""Slow, idle and vanishing clients against a real, bounded uvicorn (fake embedder)."""

from __future__ import annotations

import json
import socket
import statistics
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import pytest

from tests.reliability.conftest import bounded_server

pytestmark = pytest.mark.slow

QUESTION = "What dose of ketamine is used for depression?"


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (reading whatever it sent), or None if it did not."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def ask_request(question: str = QUESTION) -> bytes:
    body = json.dumps({"question": question}).encode()
    return (b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(fake_index, tmp_path):
    with bounded_server(fake_index, tmp_path / "log", header_timeout=1) as url, \
            connect(url) as idle:
        assert closed_within(idle, 5) is not None


def test_headers_trickled_in_are_cut_at_the_header_timeout(fake_index, tmp_path):
    with bounded_server(fake_index, tmp_path / "log", header_timeout=1) as url, \
            connect(url) as slow:
        started = time.monotonic()
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        cut = None
        for _ in range(40):  # a header byte every 0.1 s, for up to 4 s
            try:
                slow.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - started
                break
            if closed_within(slow, 0.1) is not None:
                cut = time.monotonic() - started
                break
        assert cut is not None and cut < 3, cut


def test_a_body_trickled_in_gets_408_at_the_body_timeout(fake_index, tmp_path):
    with bounded_server(fake_index, tmp_path / "log", body_timeout=1) as url, \
            connect(url) as slow:
        slow.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"question\": ")
        slow.settimeout(5)
        reply = b""
        while chunk := slow.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b"did not arrive within 1 s" in reply


def test_idle_connections_beyond_the_descriptor_limit_leave_healthz_answering(fake_index,
                                                                              tmp_path):
    log = tmp_path / "log"
    with bounded_server(fake_index, log, nofile=512, header_timeout=60) as url, \
            ExitStack() as held:
        for _ in range(700):
            held.enter_context(connect(url))
        started = time.monotonic()
        response = httpx.get(f"{url}/healthz", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 1
    assert "Too many open files" not in log.read_text()


def test_a_storm_of_abandoned_questions_does_not_delay_the_next(fake_index, tmp_path):
    with bounded_server(fake_index, tmp_path / "log", embed_delay=0.1) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        unloaded = []
        for _ in range(5):
            started = time.monotonic()
            assert http.post("/v1/ask", json={"question": QUESTION}).status_code == 200
            unloaded.append(time.monotonic() - started)
        for _ in range(100):
            with connect(url) as abandoned:
                abandoned.sendall(ask_request())
        time.sleep(0.2)  # the server reads the questions and sees their clients go
        started = time.monotonic()
        assert http.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        after = time.monotonic() - started
        # each abandoned question answered would have cost 0.1 s: 100 of them 5 s on 2 workers
        assert after < statistics.median(unloaded) + 0.5, (after, unloaded)


def abandon_at_once(url: str, n: int) -> None:
    """Open `n` connections, then on each send a question and close: TCP_CORK holds the question
    back until the close, so it travels with the FIN and the server finds the client gone when
    it first reads it (as a backlogged server does with a burst of abandoned questions)."""
    sockets = [connect(url) for _ in range(n)]
    for sock in sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        sock.sendall(ask_request())
        sock.close()


def test_questions_abandoned_before_they_are_read_are_never_computed(fake_index, tmp_path):
    """What eval/reliability_probe.py measures: abandoned questions arrive while every worker is
    free. None of them may take a worker (each would cost `delay`), so the next question takes
    about what it takes alone; and no response is attempted for them (no 500 in the log)."""
    delay = 0.3
    log = tmp_path / "log"
    with bounded_server(fake_index, log, embed_delay=delay) as url, \
            httpx.Client(base_url=url, timeout=60) as http:
        unloaded = []
        for _ in range(3):
            started = time.monotonic()
            assert http.post("/v1/ask", json={"question": QUESTION}).status_code == 200
            unloaded.append(time.monotonic() - started)
        abandon_at_once(url, 100)
        started = time.monotonic()
        assert http.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        after = time.monotonic() - started
    assert after < statistics.median(unloaded) + delay / 2, (after, unloaded)
    assert "ASGI callable returned" not in log.read_text()


def health_check(url: str) -> tuple[int, float]:
    """GET /healthz on a new connection: (status, or 0 if none came; seconds it took)."""
    started = time.monotonic()
    try:
        with connect(url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError:
        reply = b""
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return status, time.monotonic() - started


def test_clients_that_never_read_cannot_hold_the_door(fake_index, tmp_path):
    """60 clients pipelining requests and reading nothing (each reconnecting when closed),
    against a cap of 50 connections: /healthz answers 200 within 1 s throughout, and the server
    closes each of their connections within the write deadline (after its answers first fill
    the socket)."""
    import subprocess
    import sys

    from ragqa.config import PROJECT_ROOT

    write_timeout, seconds = 3.0, 16.0
    health: list[tuple[int, float]] = []
    with bounded_server(fake_index, tmp_path / "log", max_connections=50,
                        write_timeout=write_timeout, header_timeout=5) as url:
        # in a process of its own, so that its threads do not delay the health checks here
        flood = subprocess.Popen([sys.executable, "-m", "tests.reliability.flood", url, "60",
                                  str(seconds)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert flood.stdout is not None and flood.stdout.readline().strip() == "ready"
            ended = time.monotonic() + seconds - 2
            while time.monotonic() < ended:
                health.append(health_check(url))
                time.sleep(0.2)
            report = json.loads(flood.communicate(timeout=30)[0])
        finally:
            flood.kill()
    assert report["connections"] >= 60
    assert [s for s, _ in health] == [200] * len(health), health
    assert max(t for _, t in health) < 1.0, sorted(t for _, t in health)[-5:]
    # closed by the server, never held: within the write deadline, plus the time their
    # answers took to fill the socket
    lived = sorted(report["lifetimes"])
    print(f"\n{len(health)} health checks, slowest {max(t for _, t in health):.3f} s; "
          f"{report['connections']} flooding connections, the longest lived {lived[-1]:.2f} s")
    assert lived and lived[-1] < write_timeout + 3, lived[-5:]
