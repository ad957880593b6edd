"""What the running service holds: its settings, the model, the engine answering now, reindex jobs.

The engine in use is one attribute, `ServiceState.engine`. A request reads it once and keeps that
engine for its whole life; a reindex builds a complete new engine beside it and then rebinds the
attribute, so a request never sees a half-built index and an engine is never mutated.

On the Milvus backend (RAGQA_BACKEND=milvus) a reindex also publishes the new build: its
collections are written beside the served ones while the old engine keeps answering from the old
collections; then the aliases are switched and the engine rebound in the same step, and the old
collections are dropped after a grace period (a query still running on them is retried once on
the new ones).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, replace
from enum import Enum

from ragqa.answer.engine import AnswerEngine
from ragqa.api.errors import without_paths
from ragqa.config import Settings
from ragqa.errors import IndexFormatError, IndexMissingError, RagqaError
from ragqa.index.embed import Embedder, load_embedder
from ragqa.index.milvus import MilvusStore, is_embedded, serves
from ragqa.index.store import HybridIndex, load_index, load_intact_index, update_index
from ragqa.retrieve import Backend, InProcessBackend, MilvusBackend, index_name, milvus_store

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
        self.backend = Backend.parse(settings.backend)
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
            self._not_ready(exc)
            return
        try:
            self._serve(index, starting=True)
        except RagqaError as exc:  # Milvus unreachable, say: not ready, and /readyz says why
            self._not_ready(exc)
            return
        log.info("serving index %s from %s (%s)", index.version, self.settings.index_dir,
                 self.backend.value)

    def _not_ready(self, exc: RagqaError) -> None:
        """Serve nothing, saying why (without the server's paths) on /readyz and every question;
        the log has the whole reason."""
        self.not_ready_reason = f"{without_paths(str(exc))}; an admin can also POST /v1/admin/reindex"
        log.warning("serving without an index: %s", exc)

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

    def _serve(self, index: HybridIndex, starting: bool = False) -> None:
        """Answer from `index` from now on, through a new engine on the settings' backend.

        On Milvus the build is published first unless Milvus already serves it: its collections
        are written beside the served ones, and the engine is rebound when the aliases switch.
        At start-up a shared server is only published to when it holds nothing of this index
        (replicas starting on an older build must not switch the aliases back); the embedded
        engine's file belongs to this process alone, so it is brought up to this build.
        """
        if self.embedder is None:
            raise IndexMissingError("the embedding model is not loaded")
        if self.backend is Backend.INPROCESS:
            self._rebind(AnswerEngine(index, self.embedder, backend=InProcessBackend(index)))
            return
        store = self._store(index)
        engine = AnswerEngine(index, self.embedder,
                              backend=MilvusBackend(index, store, warn_stale=False))
        if serves(store, index):
            self._rebind(engine)
            return
        if starting and store.served() and not is_embedded(self.settings.milvus_uri):
            log.warning("Milvus serves index version %s for %r, this process loaded %s: hits "
                        "outside the loaded index are dropped until a reindex publishes it",
                        store.served_version(), store.name, index.version)
            self._rebind(engine)
            return
        report = store.publish(index, on_switch=lambda: self._rebind(engine))
        log.info("milvus: published index %s as %s in %.1f s; old collections dropped: %s",
                 index.version, report.collections, report.seconds,
                 ", ".join(report.dropped) or "none")

    def _rebind(self, engine: AnswerEngine) -> None:
        """Answer every request from now on with `engine` (one assignment: requests that read
        the old one keep it)."""
        self.engine = engine
        self.not_ready_reason = None

    def _serves(self, index: HybridIndex) -> bool:
        """Whether the backend already serves `index` (always, in process)."""
        if self.backend is Backend.INPROCESS:
            return True
        return serves(self._store(index), index)

    def _store(self, index: HybridIndex) -> MilvusStore:
        return milvus_store(self.settings, index_name(index))

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
            elif not self._serves(current.index):  # up to date on disk, not yet in Milvus
                index = current.index
            else:
                index = None
            if index is not None:
                self._serve(index)
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
