"""What the running service holds: its settings, the model, the engine answering now, reindex jobs.

The engine in use is one attribute, `ServiceState.engine`. A request reads it once and keeps that
engine for its whole life; a reindex builds a complete new engine beside it and then rebinds the
attribute, so a request never sees a half-built index and an engine is never mutated.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, replace
from enum import Enum

from ragqa.answer.engine import AnswerEngine
from ragqa.config import Settings
from ragqa.errors import IndexFormatError, IndexMissingError, RagqaError
from ragqa.index.embed import Embedder, load_embedder
from ragqa.index.store import load_index, load_intact_index, update_index

log = logging.getLogger(__name__)


class JobStatus(str, Enum):
    """Where a reindex job is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ReindexJob:
    """One reindex run; replaced (never mutated) as it progresses."""

    id: str
    force: bool
    started_at: str
    status: JobStatus = JobStatus.RUNNING
    finished_at: str | None = None
    previous_version: str | None = None
    index_version: str | None = None
    rebuilt: bool | None = None
    reason: str | None = None
    error: str | None = None


class ReindexBusyError(RuntimeError):
    """A reindex job is already running; only one runs at a time."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"reindex job {job_id} is still running")
        self.job_id = job_id


class ServiceState:
    """The service's long-lived objects, created once per app.

    >>> state = ServiceState(settings, embedder=None)
    >>> state.load()                       # model and index, once, at start-up
    >>> job = state.start_reindex(force=False)
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 engine: AnswerEngine | None = None) -> None:
        self.settings = settings
        self.embedder = embedder if embedder is not None else (engine.embedder if engine else None)
        self.engine: AnswerEngine | None = engine
        self.not_ready_reason: str | None = None if engine else "the index has not been loaded yet"
        self._jobs: dict[str, ReindexJob] = {}
        self._running: str | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model and the index unless given; a missing or stale index leaves it not ready."""
        if self.engine is not None:
            return
        if self.embedder is None:
            self.embedder = load_embedder(self.settings)
        try:
            index = load_intact_index(self.settings.index_dir, self.embedder)
        except (IndexMissingError, IndexFormatError) as exc:
            self.not_ready_reason = f"{exc}; an admin can also POST /v1/admin/reindex"
            log.warning("serving without an index: %s", exc)
            return
        self.engine = AnswerEngine(index, self.embedder)
        self.not_ready_reason = None
        log.info("serving index %s from %s", index.version, self.settings.index_dir)

    def start_reindex(self, force: bool) -> ReindexJob:
        """Start rebuilding the index in a background thread; ReindexBusyError if one is running."""
        with self._lock:
            if self._running is not None:
                raise ReindexBusyError(self._running)
            current = self.engine
            job = ReindexJob(
                id=uuid.uuid4().hex[:12], force=force, started_at=_now(),
                previous_version=current.index.version if current else None,
            )
            self._jobs[job.id] = job
            self._running = job.id
        threading.Thread(target=self._reindex, args=(job,), name=f"ragqa-reindex-{job.id}",
                         daemon=True).start()
        return job

    def job(self, job_id: str) -> ReindexJob | None:
        """A job by id, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def _reindex(self, job: ReindexJob) -> None:
        """Build beside the served index, load it into a new engine, then swap the reference."""
        try:
            if self.embedder is None:
                raise IndexMissingError("the embedding model is not loaded")
            report = update_index(self.settings.corpus, self.settings.index_dir, self.embedder,
                                  force=job.force)
            version = str(report.manifest["index_version"])
            current = self.engine
            if report.rebuilt or current is None or current.index.version != version:
                index = load_index(self.settings.index_dir, self.embedder)
                self.engine = AnswerEngine(index, self.embedder)
                self.not_ready_reason = None
                log.info("reindex %s: now serving index %s (%s)", job.id, version, report.reason)
            done = replace(job, status=JobStatus.SUCCEEDED, index_version=version,
                           rebuilt=report.rebuilt, reason=report.reason)
        except Exception as exc:  # the old engine keeps serving; the job reports why
            if isinstance(exc, RagqaError):
                log.warning("reindex %s failed: %s", job.id, exc)
            else:
                log.exception("reindex %s failed", job.id)
            done = replace(job, status=JobStatus.FAILED, error=str(exc) or type(exc).__name__)
        with self._lock:
            self._jobs[job.id] = replace(done, finished_at=_now())
            self._running = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
