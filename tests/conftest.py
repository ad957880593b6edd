"""Shared fixtures: a deterministic fake embedder for fast tests and a small fixture corpus."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ragqa.index.embed import Embedder
from ragqa.index.tokenize import tokenize

FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "corpus"


class FakeEmbedder(Embedder):
    """Bag of hashed tokens, normalised: similar words give similar vectors, deterministically."""

    def __init__(self, dim: int = 64, name: str = "fake-hash-embedder") -> None:
        self.dim = dim
        self.name = name
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["\u2205"]:
                bucket = int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
            out[row] /= np.linalg.norm(out[row]) or 1.0
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fixture_corpus() -> Path:
    return FIXTURE_CORPUS


@pytest.fixture(scope="session")
def real_embedder():
    """The real all-MiniLM-L6-v2 model, loaded once per test session (slow tests only)."""
    from ragqa.index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


PROJECT_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="session")
def default_index(tmp_path_factory, real_embedder):
    """The real default corpus indexed with the real model, built once per test session."""
    from ragqa.index.store import load_index, update_index

    directory = tmp_path_factory.mktemp("default-index") / "default"
    update_index(PROJECT_CORPUS, directory, real_embedder)
    return load_index(directory, real_embedder)


@pytest.fixture(scope="session")
def default_engine(default_index, real_embedder):
    """The answer engine over the real default index."""
    from ragqa.answer.engine import AnswerEngine

    return AnswerEngine(default_index, real_embedder)
