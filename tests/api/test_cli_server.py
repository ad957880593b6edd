"""`ragqa ask` through a running server: the same answer as in-process, in milliseconds (slow)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow
QUESTION = "What dose of ketamine is used for depression?"


def _ask(server, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    command = [sys.executable, "-m", "ragqa.cli", "ask", QUESTION, "--server", server.url,
               "--index-dir", str(server.index_dir), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    return done, time.perf_counter() - started


def test_ask_uses_a_running_server_and_is_fast(fixture_server):
    served, _ = _ask(fixture_server)
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith(f"# {QUESTION}")
    walls = [_ask(fixture_server)[1] for _ in range(5)]
    # 0.11 s median on an idle 2-core machine; generous here, as CI runs loaded
    assert statistics.median(walls) < 1.5, walls
    ask_json, _ = _ask(fixture_server, "--json")
    assert '"followups"' in ask_json.stdout


def test_an_abstention_through_the_server_exits_3_only_with_the_flag(fixture_server):
    command = [sys.executable, "-m", "ragqa.cli", "ask", "What is the capital of France?",
               "--server", fixture_server.url, "--index-dir", str(fixture_server.index_dir)]
    plain = subprocess.run(command, capture_output=True, text=True, check=False)
    flagged = subprocess.run([*command, "--fail-on-abstain"], capture_output=True, text=True,
                             check=False)
    assert plain.returncode == 0 and flagged.returncode == 3, (plain.stderr, flagged.stderr)
