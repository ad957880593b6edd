"""Measure what issue 15 promises of a ragqa server on this machine: `python eval/reliability_probe.py`.

1. Idle connections: open 1,100 TCP connections that send nothing, and while they are held, time
   /healthz (each try on a fresh connection). The promise: every answer within 1 s.
2. Abandoned questions: time /v1/ask unloaded (p50), then, in each of 5 rounds, send 200
   questions on connections that close at once and time the next question. The promise: its
   median over the rounds within 2x the unloaded p50 (the worst round is printed too).
   The unloaded p50 is of questions sent back to back; each round's question follows a pause
   (2 s, and the time the burst takes), and on an idle machine a question after a pause takes
   longer whatever the server does (the CPU has slowed down: on the 2-core development machine
   the engine alone, in-process, took 11.5 ms back to back and 19.2 ms median after a 2 s sleep,
   but 12.9 ms after 2 s of busy-waiting instead). So each round also times a
   question after a 2 s pause with no abandoned questions; it is printed for comparison and is
   no part of the promise.
3. Clients that never read (issue 23): against a second server capped at 50 connections, 60
   clients pipeline requests (for a 1.5 MB file) and read nothing, each reconnecting 0.5 s after
   the server closes it, for 20 s, from a process of their own; meanwhile /healthz is timed every
   0.25 s on a fresh connection. The promises: every answer a 200 within 1 s, and no such
   connection lives longer than the write deadline (RAGQA_WRITE_TIMEOUT, 10 s) plus 5 s.

By default it starts `ragqa serve` itself on a free loopback port with the file-descriptor limit
at 1,024 (soft and hard, as on the machine where the problem was found) on RAGQA_INDEX_DIR, and
stops it after; `--url` probes a server already running instead (loopback only). It prints one
line per measurement and exits 1 when a promise is not kept.

    python eval/reliability_probe.py [--idle 1100] [--abandoned 200] [--unread 60]
                                     [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import httpx

QUESTION = "What dose of ketamine is used for treatment-resistant depression?"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVER_NOFILE = 1024
UNREAD_CAP = 50
UNREAD_REQUESTS = b"GET /docs-assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: probe\r\n\r\n" * 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def started_server(nofile: int, **settings: object) -> Iterator[str]:
    """`ragqa serve` on a free port, its descriptor limit at `nofile` and RAGQA_<name> set from
    `settings`; yields its URL when ready."""
    port = free_port()
    command = ["sh", "-c", f'ulimit -n {nofile} && exec "$0" -m ragqa.cli serve --port {port}',
               sys.executable]
    env = {**os.environ, **{f"RAGQA_{k.upper()}": str(v) for k, v in settings.items()}}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"ragqa serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("ragqa serve was not ready within 300 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def timed_get(url: str, timeout: float = 10.0) -> float:
    """Seconds for GET `url` on a new connection; inf when it fails."""
    started = time.monotonic()
    try:
        response = httpx.get(url, timeout=timeout)
        return time.monotonic() - started if response.status_code == 200 else float("inf")
    except httpx.HTTPError:
        return float("inf")


def timed_ask(http: httpx.Client) -> float:
    started = time.monotonic()
    response = http.post("/v1/ask", json={"question": QUESTION})
    if response.status_code != 200:
        raise SystemExit(f"/v1/ask answered {response.status_code}: {response.text}")
    return time.monotonic() - started


def probe_idle(url: str, n: int, tries: int) -> dict:
    """Hold `n` idle connections; time /healthz `tries` times while they are held."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    parts = urlsplit(url)
    opened = failed = 0
    with ExitStack() as held:
        for _ in range(n):
            try:
                held.enter_context(socket.create_connection((parts.hostname, parts.port), 5))
                opened += 1
            except OSError:
                failed += 1
        times = []
        for _ in range(tries):
            times.append(timed_get(f"{url}/healthz"))
            time.sleep(0.25)
    return {"idle_opened": opened, "idle_refused": failed, "healthz_max_s": max(times),
            "healthz_p50_s": statistics.median(times), "tries": tries}


def probe_abandoned(url: str, n: int, rounds: int, warmup: int = 5, samples: int = 20) -> dict:
    """Unloaded p50 of /v1/ask, then the next question's time after `n` abandoned ones."""
    parts = urlsplit(url)
    body = json.dumps({"question": QUESTION}).encode()
    request = (b"POST /v1/ask HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    with httpx.Client(base_url=url, timeout=120) as http:
        for _ in range(warmup):
            timed_ask(http)
        unloaded = statistics.median(timed_ask(http) for _ in range(samples))
        after, paused = [], []
        for _ in range(rounds):
            sockets = [socket.create_connection((parts.hostname, parts.port), 5)
                       for _ in range(n)]
            for sock in sockets:
                sock.sendall(request)
            for sock in sockets:
                sock.close()
            after.append(timed_ask(http))
            time.sleep(2)  # let the round's questions drain before the next
            paused.append(timed_ask(http))  # the control: a pause and no abandoned questions
            time.sleep(2)
    median = statistics.median(after)
    return {"unloaded_p50_s": unloaded, "after_median_s": median, "after_max_s": max(after),
            "abandoned": n, "rounds": rounds, "ratio": median / unloaded,
            "paused_median_s": statistics.median(paused)}


def flood_without_reading(url: str, clients: int, seconds: float) -> None:
    """`clients` threads, each pipelining requests on a connection and reading nothing until
    the server closes it, then again 0.5 s later; prints each closed connection's lifetime as
    JSON at the end (run in a process of its own: --flood)."""
    os.nice(10)  # what is measured is the server's admission, not the sharing of the cores
    parts = urlsplit(url)
    until = time.monotonic() + seconds
    lifetimes: list[float] = []

    def client() -> None:
        while time.monotonic() < until:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                sock.connect((parts.hostname, parts.port))
            except OSError:
                sock.close()
                continue
            opened = time.monotonic()
            sock.settimeout(0.2)
            while time.monotonic() < until:
                try:
                    sock.sendall(UNREAD_REQUESTS)
                except TimeoutError:
                    continue
                except OSError:
                    lifetimes.append(time.monotonic() - opened)
                    break
            sock.close()
            time.sleep(0.5)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(lifetimes))


def probe_unread(url: str, clients: int, seconds: float = 20.0) -> dict:
    """Time /healthz while `clients` clients pipeline requests and never read the answers."""
    flood = subprocess.Popen([sys.executable, __file__, "--flood", url, str(clients),
                              str(seconds)], stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    times, statuses = [], []
    while flood.poll() is None and len(times) < (seconds - 3) / 0.25:
        started = time.monotonic()
        try:
            statuses.append(httpx.get(f"{url}/healthz", timeout=10).status_code)
        except httpx.HTTPError:
            statuses.append(0)
        times.append(time.monotonic() - started)
        time.sleep(0.25)
    lifetimes = json.loads(flood.communicate(timeout=60)[0])
    return {"clients": clients, "healthz_max_s": max(times), "tries": len(times),
            "healthz_not_200": sum(s != 200 for s in statuses),
            "closed": len(lifetimes), "longest_lived_s": max(lifetimes, default=float("inf"))}


def main() -> int:
    if sys.argv[1:2] == ["--flood"]:
        flood_without_reading(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="probe this running server instead of starting one")
    parser.add_argument("--idle", type=int, default=1100, help="idle connections to hold")
    parser.add_argument("--abandoned", type=int, default=200, help="questions to abandon")
    parser.add_argument("--tries", type=int, default=20, help="/healthz requests under idle load")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of abandoned questions")
    parser.add_argument("--unread", type=int, default=60,
                        help="clients that never read, against a cap of 50 (0: skip)")
    args = parser.parse_args()
    if args.url and urlsplit(args.url).hostname not in LOOPBACK_HOSTS:
        parser.error(f"--url must be a loopback URL, got {args.url!r}")

    with ExitStack() as stack:
        url = args.url or stack.enter_context(started_server(SERVER_NOFILE))
        idle = probe_idle(url, args.idle, args.tries)
        print(f"idle: {idle['idle_opened']} connections held ({idle['idle_refused']} refused); "
              f"/healthz p50 {idle['healthz_p50_s']:.3f} s, max {idle['healthz_max_s']:.3f} s "
              f"over {idle['tries']} tries")
        abandoned = probe_abandoned(url, args.abandoned, args.rounds)
        print(f"abandoned: unloaded /v1/ask p50 {abandoned['unloaded_p50_s']:.3f} s; after "
              f"{abandoned['abandoned']} abandoned questions the next took "
              f"{abandoned['after_median_s']:.3f} s median ({abandoned['ratio']:.2f}x), "
              f"{abandoned['after_max_s']:.3f} s at worst, over {abandoned['rounds']} rounds")
        print(f"control: after a 2 s pause and no abandoned questions a question took "
              f"{abandoned['paused_median_s']:.3f} s median "
              f"({abandoned['paused_median_s'] / abandoned['unloaded_p50_s']:.2f}x; not a promise)")
    kept = idle["healthz_max_s"] <= 1.0 and abandoned["ratio"] <= 2.0
    if args.unread and not args.url:
        with started_server(SERVER_NOFILE, max_connections=UNREAD_CAP) as capped:
            unread = probe_unread(capped, args.unread)
        print(f"unread: {unread['clients']} clients pipelining and never reading, cap "
              f"{UNREAD_CAP}: /healthz max {unread['healthz_max_s']:.3f} s over "
              f"{unread['tries']} tries, {unread['healthz_not_200']} not 200; {unread['closed']} "
              f"of their connections closed by the server, the longest after "
              f"{unread['longest_lived_s']:.1f} s")
        kept = (kept and unread["healthz_max_s"] <= 1.0 and unread["healthz_not_200"] == 0
                and unread["longest_lived_s"] <= 15.0)
    print("promises kept" if kept else "PROMISE BROKEN")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
