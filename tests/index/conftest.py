"""Fixtures shared by the index tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def corpus(tmp_path, fixture_corpus) -> Path:
    """A writable copy of the fixture corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, target)
    return target
