"""Fixtures of the API tests: an index on a copy of the fixture corpus, and a real uvicorn server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ragqa.api.app import create_app
from ragqa.config import PROJECT_ROOT, Settings
from ragqa.index.embed import Embedder
from ragqa.index.store import update_index

FIXTURE_CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"
ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NEW_DOC_MARKER = "zebrafish"


class GatedEmbedder(Embedder):
    """Wraps an embedder; holds any call embedding `marker` until `release` is set.

    A reindex of a corpus with a document mentioning the marker then stays mid-build for as long
    as a test needs, while questions (which never mention it) are embedded at once.
    """

    def __init__(self, inner: Embedder, marker: str = NEW_DOC_MARKER) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.marker = marker
        self.held = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if any(self.marker in text for text in texts):
            self.held.set()
            if not self.release.wait(timeout=30):
                raise TimeoutError("the test never released the gated embedder")
        return self.inner.embed(texts, show_progress)


@pytest.fixture
def corpus_copy(tmp_path: Path, fixture_corpus: Path) -> Path:
    """A copy of the fixture corpus that a test may change before reindexing."""
    target = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, target)
    return target


@pytest.fixture
def built_index(tmp_path: Path, corpus_copy: Path, fake_embedder) -> Path:
    """An index of `corpus_copy` built with the fake embedder."""
    directory = tmp_path / "index"
    update_index(corpus_copy, directory, fake_embedder)
    return directory


@pytest.fixture
def make_client(corpus_copy: Path, built_index: Path, fake_embedder):
    """`make_client(**overrides)`: a started TestClient over an app on the fixture index.

    Overrides: `embedder`, `engine`, `index_dir`, `admin_token` (None disables admin),
    `raise_server_exceptions`, and any other setting by name (`queue_length=0`).
    """
    clients: list[TestClient] = []

    def make(embedder: Embedder | None = None, engine=None, index_dir: Path | None = None,
             admin_token: str | None = ADMIN_TOKEN, raise_server_exceptions: bool = True,
             **settings_overrides: object) -> TestClient:
        settings_overrides.setdefault("feedback_file", corpus_copy.parent / "feedback.jsonl")
        settings = Settings(corpus=corpus_copy, index_dir=index_dir or built_index,
                            admin_token=admin_token, **settings_overrides)
        app = create_app(settings, embedder=embedder or (None if engine else fake_embedder),
                         engine=engine)
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """A started TestClient with admin enabled."""
    return make_client()


def write_document(corpus: Path, doc_id: str, body: str, year: int = 2024) -> Path:
    """Write one Markdown document into a corpus folder."""
    path = corpus / f"{doc_id}.md"
    path.write_text(
        f"---\nid: {doc_id}\ntitle: \"Fixture: {doc_id}\"\npublisher: \"Test Journal\"\n"
        f"year: {year}\ndoc_type: rct\n---\n\n# Findings\n\n{body}\n",
        encoding="utf-8",
    )
    return path


def poll_job(client: TestClient | httpx.Client, job_id: str, timeout: float = 30.0) -> dict:
    """Poll a reindex job until it is no longer running; its final view."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/admin/reindex/{job_id}", headers=AUTH).json()
        if job["status"] != "running":
            return job
        time.sleep(0.02)
    raise AssertionError(f"reindex job {job_id} still running after {timeout} s")


@pytest.fixture
def add_document():
    """`add_document(corpus, doc_id, body, year=2024)` writes a Markdown document."""
    return write_document


@pytest.fixture
def wait_job():
    """`wait_job(client, job_id)` polls a reindex job until it finishes."""
    return poll_job


@pytest.fixture
def auth() -> dict[str, str]:
    """The admin Authorization header."""
    return dict(AUTH)


@pytest.fixture
def gated_embedder(fake_embedder) -> Iterator[GatedEmbedder]:
    """The fake embedder behind a gate that holds the embedding of new documents."""
    gated = GatedEmbedder(fake_embedder)
    yield gated
    gated.release.set()


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(corpus: Path, index_dir: Path, log_path: Path,
                ready_timeout: float = 180.0) -> Iterator[str]:
    """Run `uvicorn --factory ragqa.api.app:create_app` (the real model) until the block ends.

    Yields the base URL once /readyz answers 200; the server's log goes to `log_path`.
    """
    port = free_port()
    env = {**os.environ, "RAGQA_CORPUS": str(corpus), "RAGQA_INDEX_DIR": str(index_dir),
           "RAGQA_ADMIN_TOKEN": ADMIN_TOKEN,
           # feedback the test sends stays beside its log, out of the project's feedback file
           "RAGQA_FEEDBACK_FILE": str(log_path.with_name("feedback.jsonl"))}
    command = [sys.executable, "-m", "uvicorn", "--factory", "ragqa.api.app:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, ready_timeout, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"server not ready after {timeout} s:\n{log_path.read_text()}")


@dataclass(frozen=True)
class LiveServer:
    """A running server: its base URL and the index it was started on."""

    url: str
    corpus: Path
    index_dir: Path
    manifest: dict


@contextmanager
def _served(tmp_path_factory, embedder, corpus: Path, name: str) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp(name)
    report = update_index(corpus, workdir / "index", embedder)
    with live_server(corpus, workdir / "index", workdir / "server.log") as url:
        yield LiveServer(url, corpus, workdir / "index", report.manifest)


@pytest.fixture(scope="module")
def fixture_server(tmp_path_factory, real_embedder) -> Iterator[LiveServer]:
    """uvicorn with the real model on an index of the fixture corpus (slow tests only)."""
    with _served(tmp_path_factory, real_embedder, FIXTURE_CORPUS, "fixture-server") as server:
        yield server


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory, real_embedder) -> Iterator[LiveServer]:
    """uvicorn with the real model on an index of the project's corpus (slow tests only)."""
    with _served(tmp_path_factory, real_embedder, PROJECT_ROOT / "corpus", "corpus-server") as server:
        yield server
