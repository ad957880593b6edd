"""A real, bounded uvicorn (`ragqa.api.serving.run`) with the fake embedder, in a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ragqa.config import PROJECT_ROOT
from ragqa.index.store import update_index
from tests.conftest import FakeEmbedder


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory) -> Path:
    """An index of the fixture corpus built with the fake embedder."""
    from tests.conftest import FIXTURE_CORPUS

    directory = tmp_path_factory.mktemp("reliability") / "index"
    corpus = directory.parent / "corpus"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    update_index(corpus, directory, FakeEmbedder())
    return directory


@contextmanager
def bounded_server(index_dir: Path, log_path: Path, *, nofile: int | None = None,
                   embed_delay: float = 0.0, **settings: object) -> Iterator[str]:
    """`python -m tests.reliability.serve_fake` with RAGQA_<setting> overrides; yields its URL."""
    port = free_port()
    env = {**os.environ, "RAGQA_INDEX_DIR": str(index_dir), "RAGQA_HOST": "127.0.0.1",
           "RAGQA_CORPUS": str(index_dir.parent / "corpus"), "RAGQA_PORT": str(port),
           # feedback the test sends stays beside its log, out of the project's feedback file
           "RAGQA_FEEDBACK_FILE": str(log_path.with_name("feedback.jsonl"))}
    env.update({f"RAGQA_{name.upper()}": str(value) for name, value in settings.items()})
    command = [sys.executable, "-m", "tests.reliability.serve_fake",
               "--embed-delay", str(embed_delay)] + (["--nofile", str(nofile)] if nofile else [])
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
