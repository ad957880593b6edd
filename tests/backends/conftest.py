"""Fixtures of the backend tests: the fixture corpus (plus one undated note) indexed with the fake
embedder, and the embedded Milvus engine (milvus-lite, the real engine) in a temporary file."""

from __future__ import annotations

import json

import pytest

from ragqa.index.milvus import MilvusStore
from ragqa.index.store import build_index
from ragqa.ingest.documents import read_corpus
from ragqa.retrieve import InProcessBackend, MilvusBackend
from tests.conftest import FIXTURE_CORPUS, FakeEmbedder

UNDATED = {"id": "undated-note", "title": "Fixture: an undated note on ketamine",
           "publisher": "Test Notes", "doc_type": "review",
           "sections": [{"heading": "Note", "text": "Ketamine 0.5 mg/kg IV is a common "
                         "research dose. No year is given for this note."}]}


@pytest.fixture(scope="session")
def backend_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def backend_corpus(tmp_path_factory):
    extra = tmp_path_factory.mktemp("undated") / "undated.jsonl"
    extra.write_text(json.dumps(UNDATED) + "\n")
    return [FIXTURE_CORPUS, extra]


@pytest.fixture(scope="session")
def backend_index(backend_corpus, backend_embedder):
    return build_index(read_corpus(backend_corpus), backend_embedder)


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    """A fresh embedded-engine file (its name must be short: milvus-lite's rule)."""
    return str(tmp_path_factory.mktemp("milvus") / "test.db")


@pytest.fixture(scope="session")
def fixture_store(milvus_uri, backend_index) -> MilvusStore:
    store = MilvusStore.open(milvus_uri, "fixture")
    store.publish(backend_index)
    return store


@pytest.fixture(params=["inprocess", "milvus"])
def backend(request, backend_index):
    """Each contract test runs once per backend."""
    if request.param == "inprocess":
        return InProcessBackend(backend_index)
    return MilvusBackend(backend_index, request.getfixturevalue("fixture_store"))
