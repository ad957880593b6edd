"""Feedback on answers: a rating and a comment appended to a local JSON-lines file, size-capped.

Nothing that identifies a person is kept: no address, no browser, no cookie; e-mail addresses and
long digit runs (telephone, record numbers) in a comment are replaced before it is written.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
from pathlib import Path
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_LOCK = threading.Lock()  # one writer at a time, whichever request's log object writes


class FeedbackFullError(Exception):
    """The feedback file has reached its size cap."""


def scrub(text: str) -> str:
    """The comment with e-mail addresses and long digit runs replaced by '[removed]'."""
    return _DIGITS.sub("[removed]", _EMAIL.sub("[removed]", text))


class FeedbackLog:
    """Appends feedback records to one file until it reaches `max_bytes`."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write one record (with the UTC date added); raise FeedbackFullError at the cap."""
        kept = {**record, "comment": scrub(record.get("comment") or ""),
                "date": datetime.datetime.now(datetime.UTC).date().isoformat()}
        line = json.dumps(kept, ensure_ascii=False) + "\n"
        with _LOCK:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size + len(line.encode()) > self.max_bytes:
                raise FeedbackFullError(f"the feedback file {self.path.name} is full "
                                        f"({size} of {self.max_bytes} bytes)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        return kept
