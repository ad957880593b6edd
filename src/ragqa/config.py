"""Settings from the environment (prefix RAGQA_), built by a factory and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragqa import defaults

PROJECT_ROOT = defaults.PROJECT_ROOT
ONNX_CACHE = PROJECT_ROOT / ".cache" / "onnx"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as RAGQA_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RAGQA_", extra="ignore")

    corpus: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = defaults.INDEX_DIR
    model: Path | None = None
    admin_token: str | None = None
    host: str = defaults.HOST
    port: int = defaults.PORT
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

    # Where retrieval runs (README, "Retrieval on Milvus"): `inprocess` (BM25 and FAISS in this
    # process) or `milvus`; the Milvus URI is a local file for the embedded engine (milvus-lite)
    # or http://host:19530 for a standalone server or a cluster, with an optional token.
    backend: str = defaults.BACKEND
    milvus_uri: str = str(PROJECT_ROOT / "indexes" / "milvus.db")
    milvus_token: str | None = None

    # Bounds of `ragqa serve` (README, "Serving with bounds"): seconds a connection has to send a
    # request's headers, and then its body; seconds a client has to read a response that fills
    # the socket (or its connection is closed); seconds an idle keep-alive connection stays open;
    # open connections at most (the oldest idle one makes room for a new one); questions waiting
    # for a worker at most (beyond, 503 with Retry-After); seconds a question may wait for one.
    header_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=10.0, gt=0)
    write_timeout: float = Field(default=10.0, gt=0)
    keep_alive_timeout: int = Field(default=5, ge=1)
    max_connections: int = Field(default=1000, ge=1)
    queue_length: int = Field(default=64, ge=0)
    request_timeout: float = Field(default=30.0, gt=0)

    # Ratings of answers from the page (POST /v1/feedback), one JSON line each, no personal data;
    # once the file reaches feedback_max_bytes, further feedback is refused (507), not rotated.
    feedback_file: Path = PROJECT_ROOT / "feedback" / "feedback.jsonl"
    feedback_max_bytes: int = Field(default=1_000_000, ge=0)


def get_settings() -> Settings:
    """Build the settings from the current environment."""
    return Settings()
