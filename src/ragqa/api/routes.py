"""The HTTP routes: validate the input, call the library off the event loop, shape the response."""

from __future__ import annotations

import weakref
from functools import partial
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from ragqa.answer.contract import Answer
from ragqa.answer.engine import AnswerEngine
from ragqa.answer.followups import FollowUps
from ragqa.answer.overview import corpus_overview
from ragqa.answer.provenance import source_provenance
from ragqa.answer.render import to_markdown
from ragqa.api.deps import AdminDep, EngineDep, SettingsDep, StateDep
from ragqa.api.feedback import FeedbackFullError, FeedbackLog
from ragqa.api.schemas import (
    AskRequest,
    CorpusOverviewView,
    DocumentDetail,
    DocumentPage,
    DocumentSummary,
    ErrorResponse,
    FeedbackReceipt,
    FeedbackRequest,
    Health,
    IndexManifest,
    Readiness,
    ReindexJobView,
    ReindexRequest,
    SearchHit,
    SearchParams,
    SearchResponse,
)
from ragqa.api.state import ReindexBusyError, ReindexJob
from ragqa.errors import DocumentNotFoundError
from ragqa.ingest.documents import Document


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {code: {"model": ErrorResponse} for code in codes}


router = APIRouter()
# The routes that compute: each waits for a worker in the admission queue (ragqa.api.admission),
# which is what bounds how many run at once.
QUEUED_ROUTES = frozenset({("POST", "/v1/ask"), ("GET", "/v1/search")})
# One follow-up finder per loaded engine (a reindex brings a new engine, and new follow-ups).
_FOLLOWUPS: weakref.WeakKeyDictionary[AnswerEngine, FollowUps] = weakref.WeakKeyDictionary()
_EXAMPLES: weakref.WeakKeyDictionary[AnswerEngine, list[str]] = weakref.WeakKeyDictionary()


def followups_for(engine: AnswerEngine) -> FollowUps:
    """The follow-up finder of an engine (made on first use)."""
    finder = _FOLLOWUPS.get(engine)
    if finder is None:
        finder = _FOLLOWUPS[engine] = FollowUps(engine)
    return finder


def _answer(engine: AnswerEngine, question: str, top_k, filters, followups: bool) -> Answer:
    answer = engine.ask(question, top_k, filters)
    return followups_for(engine).attach(answer) if followups else answer


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """The process is up (whether or not an index is loaded)."""
    return Health()


@router.get("/readyz", response_model=Readiness, tags=["health"],
            responses={503: {"model": Readiness}})
async def readyz(state: StateDep) -> Readiness | JSONResponse:
    """Ready when the model and an index are loaded; 503 otherwise."""
    engine = state.engine
    if engine is None:
        body = Readiness(status="not_ready", message=state.not_ready_reason)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Readiness(status="ready", index_version=engine.index.version, model=engine.embedder.name)


MARKDOWN = "text/markdown"
ABSTAINED_HEADER = "X-Ragqa-Abstained"


@router.post("/v1/ask", response_model=Answer, tags=["answers"],
             responses={200: {"content": {MARKDOWN: {"schema": {"type": "string"}}},
                              "description": f"The answer; as Markdown with `Accept: {MARKDOWN}` "
                                             f"(then `{ABSTAINED_HEADER}` says whether it abstained)."},
                        **_errors(400, 408, 413, 415, 422, 503)})
async def ask(request: AskRequest, engine: EngineDep, http: Request) -> Answer | Response:
    """Answer a question with quoted, cited sentences (or abstain and say why)."""
    filters = request.filters.to_filters() if request.filters else None
    work = partial(_answer, engine, request.question, request.top_k, filters, request.followups)
    answer = await to_thread.run_sync(work)
    if MARKDOWN in http.headers.get("accept", ""):
        return PlainTextResponse(to_markdown(answer), media_type=MARKDOWN,
                                 headers={ABSTAINED_HEADER: str(answer.abstained).lower()})
    return answer


@router.get("/v1/search", response_model=SearchResponse, tags=["answers"],
            responses=_errors(422, 503))
async def search(params: Annotated[SearchParams, Query()], engine: EngineDep) -> SearchResponse:
    """The top-k chunks for a query, with both retrievers' ranks and scores."""
    work = partial(engine.retriever.search, params.q, params.k, params.mode)
    result = await to_thread.run_sync(work)
    index = engine.index
    hits = []
    for hit in result.hits:
        chunk = index.chunks[hit.chunk_index]
        hits.append(SearchHit(
            rank=hit.rank, score=round(hit.score, 6), bm25_rank=hit.bm25_rank,
            bm25_score=hit.bm25_score, dense_rank=hit.dense_rank, dense_score=hit.dense_score,
            chunk_id=hit.chunk_id, doc_id=hit.doc_id, title=index.documents[hit.doc_id].title,
            section=list(chunk.section), char_start=chunk.char_start, char_end=chunk.char_end,
            text=chunk.text,
        ))
    return SearchResponse(query=params.q, mode=params.mode, k=params.k,
                          index_version=index.version, hits=hits, timings_ms=result.timings_ms)


@router.get("/v1/documents", response_model=DocumentPage, tags=["documents"],
            responses=_errors(422, 503))
async def list_documents(
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0, description="How many documents to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
) -> DocumentPage:
    """The documents of the served index, ordered by id, one page at a time."""
    documents = engine.index.documents
    ids = sorted(documents)[offset:offset + limit]
    return DocumentPage(total=len(documents), offset=offset, limit=limit,
                        items=[_summary(documents[doc_id]) for doc_id in ids])


@router.get("/v1/documents/{doc_id}", response_model=DocumentDetail, tags=["documents"],
            responses=_errors(404, 503))
async def get_document(
    engine: EngineDep, doc_id: Annotated[str, Path(max_length=256)],
) -> DocumentDetail:
    """A document's metadata and canonical text (statements' char offsets point into it)."""
    document = engine.index.documents.get(doc_id)
    if document is None:
        raise DocumentNotFoundError(f"no document with id {doc_id!r} in index {engine.index.version}")
    return DocumentDetail(**_summary(document).model_dump(), text=document.text)


@router.get("/v1/corpus", response_model=CorpusOverviewView, tags=["documents"],
            responses=_errors(503))
async def corpus(engine: EngineDep) -> CorpusOverviewView:
    """What the corpus covers (from the index), how new it is, and example questions it answers."""
    overview = corpus_overview(engine.index)
    examples = _EXAMPLES.get(engine)
    if examples is None:
        examples = await to_thread.run_sync(followups_for(engine).examples)
        _EXAMPLES[engine] = examples
    return CorpusOverviewView(
        index_version=engine.index.version, documents=overview.documents,
        newest_year=overview.newest_year, by_form=overview.by_form, by_type=overview.by_type,
        subjects=list(overview.subjects), covers=overview.covers(), examples=examples,
    )


@router.post("/v1/feedback", response_model=FeedbackReceipt, tags=["answers"],
             status_code=status.HTTP_201_CREATED, responses=_errors(400, 408, 413, 415, 422, 507))
async def feedback(request: FeedbackRequest, settings: SettingsDep) -> FeedbackReceipt:
    """Record a rating (and comment) of an answer in the local feedback file (JSON lines)."""
    log = FeedbackLog(settings.feedback_file, settings.feedback_max_bytes)
    try:
        await to_thread.run_sync(log.append, request.model_dump())
    except FeedbackFullError as exc:
        raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, str(exc)) from None
    return FeedbackReceipt()


@router.get("/v1/index", response_model=IndexManifest, tags=["index"], responses=_errors(503))
async def index_manifest(engine: EngineDep) -> IndexManifest:
    """The manifest of the index being served: version, build date, model, parameters, counts."""
    return IndexManifest.model_validate(engine.index.manifest)


@router.post("/v1/admin/reindex", response_model=ReindexJobView, tags=["admin"],
             status_code=status.HTTP_202_ACCEPTED, dependencies=[AdminDep],
             responses=_errors(400, 401, 403, 408, 409, 413, 415, 422, 429))
async def start_reindex(
    state: StateDep, response: Response,
    request: Annotated[ReindexRequest | None, Body()] = None,
) -> ReindexJobView:
    """Rebuild the index from the corpus in the background, then serve it; one job at a time."""
    try:
        job = state.start_reindex(force=request.force if request else False)
    except ReindexBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    response.headers["Location"] = f"/v1/admin/reindex/{job.id}"
    return _job_view(job)


@router.get("/v1/admin/reindex/{job_id}", response_model=ReindexJobView, tags=["admin"],
            dependencies=[AdminDep], responses=_errors(401, 403, 404, 429))
async def reindex_status(state: StateDep, job_id: Annotated[str, Path(max_length=64)]
                         ) -> ReindexJobView:
    """A reindex job's status: running, succeeded (with the new version) or failed (with why)."""
    job = state.job(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no reindex job with id {job_id!r}")
    return _job_view(job)


def _summary(document: Document) -> DocumentSummary:
    metadata = document.metadata()
    metadata.pop("source", None)
    metadata["provenance"] = source_provenance(document)
    return DocumentSummary(**metadata)


def _job_view(job: ReindexJob) -> ReindexJobView:
    return ReindexJobView(
        job_id=job.id, status=job.status.value, force=job.force, started_at=job.started_at,
        finished_at=job.finished_at, previous_version=job.previous_version,
        index_version=job.index_version, rebuilt=job.rebuilt, reason=job.reason, error=job.error,
    )

