"""Progress of a long step: a bar on a terminal; in a log, one line every few seconds with the rate."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class LogProgress:
    """Writes `desc: done/total unit (rate/s)` at most once every `every` seconds, and at the end."""

    def __init__(self, total: int, desc: str, unit: str, out: TextIO | None = None,
                 every: float = 5.0) -> None:
        if every <= 0:
            raise ValueError(f"every must be > 0 seconds, got {every}")
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.out = out or sys.stderr
        self.done = 0
        self.started = self.last = time.monotonic()

    def update(self, n: int) -> None:
        """Count n more items; write a line when `every` seconds have passed since the last."""
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._write(now)

    def close(self) -> None:
        """Write the final line."""
        self._write(time.monotonic())

    def _write(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        self.out.write(f"{self.desc}: {self.done}/{self.total} {self.unit} ({rate:.1f} {self.unit}/s, "
                       f"{now - self.started:.0f} s)\n")
        self.out.flush()


def progress(total: int, desc: str, unit: str) -> Any:
    """A tqdm bar when stderr is a terminal, else a LogProgress (both have update and close)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit=f" {unit}", unit_scale=False, smoothing=0.05, desc=desc)
    return LogProgress(total, desc, unit)
