"""Clients that pipeline requests and never read the answers (a test helper).

    python -m tests.reliability.flood URL CLIENTS SECONDS

Each of CLIENTS threads opens a connection, pipelines requests into it and reads nothing until
the server closes it, then opens another REOPEN seconds later, for SECONDS. (Reconnecting at
once, in a loop, would measure only how fast the server accepts, answers and closes: that is
a flood of work, which no deadline bounds.) Prints "ready" once CLIENTS connections
are open, then at the end one JSON line: connections opened and each closed one's lifetime.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

PIPELINED = b"GET /docs-assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n" * 8
REOPEN = 0.5


def flood_without_reading(address: tuple[str, int], until: float, lifetimes: list[float],
                          opened: list[int]) -> None:
    """Connect, pipeline, read nothing; again when the server closes the connection."""
    while time.monotonic() < until:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills in a few answers
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            continue
        opened.append(1)
        started = time.monotonic()
        sock.settimeout(0.2)
        while time.monotonic() < until:
            try:
                sock.sendall(PIPELINED)
            except TimeoutError:
                continue  # the server reads no more requests until it can send answers
            except OSError:
                lifetimes.append(time.monotonic() - started)
                break
        sock.close()
        time.sleep(REOPEN)


def main() -> None:
    url, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    # niced: what is measured is how the server admits these clients, not how the machine
    # shares its cores among the server, them and the test
    os.nice(10)
    parts = urlsplit(url)
    until = time.monotonic() + seconds
    lifetimes: list[float] = []
    opened: list[int] = []
    threads = [threading.Thread(target=flood_without_reading,
                                args=((parts.hostname, parts.port), until, lifetimes, opened),
                                daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    while len(opened) < clients and time.monotonic() < until:
        time.sleep(0.05)
    print("ready", flush=True)
    for thread in threads:
        thread.join()
    print(json.dumps({"connections": len(opened), "lifetimes": lifetimes}), flush=True)


if __name__ == "__main__":
    main()
