"""Serve the app under `ragqa serve`'s bounded uvicorn with the fake embedder (a test helper).

    python -m tests.reliability.serve_fake [--nofile N] [--embed-delay SECONDS]

Settings come from RAGQA_* variables as usual. `--nofile` lowers the file-descriptor limit (to
make "Too many open files" reachable with a few hundred connections); `--embed-delay` makes each
embedding call take that long (to make answering cost measurable).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Sequence

import numpy as np

from ragqa.api.app import create_app
from ragqa.api.serving import run
from ragqa.config import get_settings
from tests.conftest import FakeEmbedder


class SlowFakeEmbedder(FakeEmbedder):
    """The fake embedder, taking `delay` seconds a call as a real model would."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts, show_progress)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nofile", type=int)
    parser.add_argument("--embed-delay", type=float, default=0.0)
    args = parser.parse_args()
    if args.nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    settings = get_settings()
    run(create_app(settings, embedder=SlowFakeEmbedder(args.embed_delay)), settings)


if __name__ == "__main__":
    main()
