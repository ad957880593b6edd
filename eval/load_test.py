"""Bounded load run against a running ragqa server on this machine: `python eval/load_test.py`.

N concurrent clients (asyncio + httpx) each ask /v1/ask in a closed loop, rotating through a fixed
list of questions, for a fixed number of seconds; then throughput, p50/p95 latency and errors are
printed. Only loopback URLs are accepted, so a typo cannot load someone else's server.

    python eval/load_test.py --url http://127.0.0.1:8000 --clients 32 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

QUESTIONS = [
    "Is microdosing of ketamine effective for treating psychological disorders?",
    "What dose of ketamine is used for treatment-resistant depression?",
    "How fast does ketamine reduce suicidal ideation?",
    "What are the adverse effects of esketamine nasal spray?",
    "Is ketamine effective for post-traumatic stress disorder?",
    "What is the evidence for psilocybin in depression?",
    "Does lithium reduce suicide risk?",
    "What ketamine dose is used for chronic pain?",
    "How does ketamine compare with electroconvulsive therapy?",
    "What is the capital of France?",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_CLIENTS = 256
MAX_SECONDS = 600


@dataclass(frozen=True)
class LoadResult:
    """What a run measured: successful latencies (ms), errors by kind, and the wall time."""

    latencies_ms: list[float]
    errors: Counter[str]
    seconds: float

    @property
    def requests(self) -> int:
        """Completed requests, failed ones included."""
        return len(self.latencies_ms) + sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Successful answers per second of wall time."""
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of values; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def _client(http: httpx.AsyncClient, first: int, stride: int, deadline: float,
                  latencies: list[float], errors: Counter[str]) -> None:
    """One client: ask, wait for the answer, ask the next question, until the deadline."""
    n = first
    while time.monotonic() < deadline:
        question = QUESTIONS[n % len(QUESTIONS)]
        n += stride
        started = time.perf_counter()
        try:
            response = await http.post("/v1/ask", json={"question": question})
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            continue
        if response.status_code == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors[f"HTTP {response.status_code}"] += 1


async def run_load(url: str, clients: int, seconds: float, timeout: float = 120.0) -> LoadResult:
    """Run `clients` closed-loop clients against `url` for `seconds`; in-flight requests finish."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(_client(http, i, clients, deadline, latencies, errors)
                               for i in range(clients)))
        elapsed = time.monotonic() - started
    return LoadResult(latencies, errors, elapsed)


def check_url(url: str) -> str:
    """The base URL without a trailing slash; only http(s) on a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"--url must be http(s) on a loopback host ({', '.join(sorted(LOOPBACK_HOSTS))}), "
                         f"got {url!r}")
    return url.rstrip("/")


def main(argv: list[str] | None = None) -> int:
    """Parse flags, check the server is ready, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL (loopback)")
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1..{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=30.0, help=f"run length (1..{MAX_SECONDS})")
    args = parser.parse_args(argv)
    try:
        url = check_url(args.url)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}, got {args.clients}")
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 1 and {MAX_SECONDS}, got {args.seconds}")

    try:
        ready = httpx.get(f"{url}/readyz", timeout=10)
    except httpx.HTTPError as exc:
        print(f"load_test: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    if ready.status_code != 200:
        print(f"load_test: {url} is not ready: {ready.text}", file=sys.stderr)
        return 2
    info = ready.json()
    print(f"ragqa load test: {args.clients} clients for {args.seconds:g} s against {url}/v1/ask "
          f"(index {info.get('index_version')}, model {info.get('model')}, "
          f"{len(QUESTIONS)} rotating questions)")

    result = asyncio.run(run_load(url, args.clients, args.seconds))
    errors = sum(result.errors.values())
    print(f"requests    {result.requests} in {result.seconds:.1f} s, errors {errors}"
          + (f" ({', '.join(f'{k}: {v}' for k, v in result.errors.most_common())})" if errors else ""))
    print(f"throughput  {result.throughput:.1f} answers/s")
    print(f"latency     p50 {percentile(result.latencies_ms, 50):.0f} ms, "
          f"p95 {percentile(result.latencies_ms, 95):.0f} ms, "
          f"max {max(result.latencies_ms, default=math.nan):.0f} ms")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
