"""Settings from the environment (prefix RAGQA_), built by a factory and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ONNX_CACHE = PROJECT_ROOT / ".cache" / "onnx"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as RAGQA_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RAGQA_", extra="ignore")

    corpus: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "indexes" / "default"
    model: Path | None = None
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # torch threads for answering: one per request keeps concurrent requests from fighting over
    # the 2 cores (a query embedding takes ~18 ms with 1 thread, ~480 ms when oversubscribed);
    # `ragqa index` uses every core instead.
    torch_threads: int | None = 1
    # which embedder computes vectors: onnx (default; verified equal to torch, no torch needed at
    # run time), torch (sentence-transformers), or onnx-int8 (faster, not identical: only with an
    # index it built itself). See ragqa.index.embed.
    embedder: str = "onnx"
    # where the ONNX files exported from the model's weights are kept (made by `make install` or
    # on first use)
    onnx_cache: Path = ONNX_CACHE
    # onnxruntime threads per query embedding (indexing uses every core)
    onnx_threads: int = 1


def get_settings() -> Settings:
    """Build the settings from the current environment."""
    return Settings()
