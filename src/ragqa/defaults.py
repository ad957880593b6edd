"""The defaults of the settings that `ragqa ask` needs before it knows whether a server answers.

Read without pydantic, so that asking a running server costs milliseconds of start-up; `Settings`
(config.py) takes its defaults from here, so the two cannot disagree.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
PORT = 8000
INDEX_DIR = PROJECT_ROOT / "indexes" / "default"
BACKEND = "inprocess"


def quick_settings() -> SimpleNamespace:
    """host, port, index_dir and backend as Settings reads them: RAGQA_<NAME>, else the default."""
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("RAGQA_")}
    return SimpleNamespace(
        host=env.get("RAGQA_HOST", HOST), port=int(env.get("RAGQA_PORT", PORT)),
        index_dir=Path(env.get("RAGQA_INDEX_DIR", INDEX_DIR)),
        backend=env.get("RAGQA_BACKEND", BACKEND),
    )
