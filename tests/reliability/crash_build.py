"""Run one index build and kill -9 this process at its n-th file-system step (a test helper).

    python -m tests.reliability.crash_build CORPUS INDEX_DIR N

Steps are the calls that write or move files: np.save, faiss.write_index, os.fsync, os.rename,
os.replace, os.symlink, os.unlink and shutil.rmtree. N = 0 kills while embedding; N < 0 kills
while embedding the -N-th checkpoint batch of 4 texts (the ones before are checkpointed); a
build with fewer than N steps exits 0 and prints how many steps it took.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import faiss
import numpy as np

from ragqa.index import store
from tests.conftest import FakeEmbedder

steps = 0


def _killing(function, kill_at: int):
    def step(*args, **kwargs):
        global steps
        steps += 1
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return step


class KilledWhileEmbedding(FakeEmbedder):
    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        self.batch = batch

    def embed(self, texts, show_progress=False):
        if len(self.calls) + 1 >= self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts, show_progress)


def main() -> None:
    corpus, index_dir, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    if kill_at < 0:
        store.CHECKPOINT_BATCH = 4
        store.update_index(corpus, index_dir, KilledWhileEmbedding(-kill_at))
        return
    for module, name in [(os, "fsync"), (os, "rename"), (os, "replace"), (os, "symlink"),
                         (os, "unlink"), (shutil, "rmtree"), (np, "save"),
                         (faiss, "write_index")]:
        setattr(module, name, _killing(getattr(module, name), kill_at))
    embedder = KilledWhileEmbedding() if kill_at == 0 else FakeEmbedder()
    store.update_index(corpus, index_dir, embedder, force=True)
    print(steps)


if __name__ == "__main__":
    main()
