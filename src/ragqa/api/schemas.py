"""Request and response bodies of the HTTP API, kept apart from the library's internal types.

The answer itself is the shared contract (`ragqa.answer.contract.Answer`), returned as it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ragqa.answer.engine import MAX_QUESTION_CHARS
from ragqa.ingest.documents import DocType
from ragqa.retrieve import Filters, Mode

MAX_K = 50
MAX_BODY_BYTES = 64 * 1024


def _not_blank(value: str) -> str:
    """Reject empty or whitespace-only text; keep the text stripped."""
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty or only whitespace")
    return value.strip()


NonBlank = Annotated[str, AfterValidator(_not_blank)]


class AskFilters(BaseModel):
    """Restrict the evidence to some document types and a range of publication years."""

    model_config = ConfigDict(extra="forbid")

    doc_type: list[DocType] | None = Field(
        default=None, min_length=1,
        description="Document types to keep; a single type may be given as a string.",
    )
    year_min: int | None = Field(default=None, ge=1900, le=2100, strict=True)
    year_max: int | None = Field(default=None, ge=1900, le=2100, strict=True)

    @field_validator("doc_type", mode="before")
    @classmethod
    def _one_type_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _years_in_order(self) -> AskFilters:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise PydanticCustomError(
                "year_range", "year_min ({year_min}) must not be after year_max ({year_max})",
                {"year_min": self.year_min, "year_max": self.year_max},
            )
        return self

    def to_filters(self) -> Filters:
        """The retriever's filter value."""
        doc_types = tuple(t.value for t in self.doc_type) if self.doc_type else None
        return Filters(doc_type=doc_types, year_min=self.year_min, year_max=self.year_max)


class AskRequest(BaseModel):
    """A question, with optional retrieval depth and filters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"question": "Is microdosing of ketamine effective for treating psychological disorders?"},
            {"question": "What dose of ketamine is used for suicidal ideation?", "top_k": 10,
             "filters": {"doc_type": ["rct", "meta_analysis"], "year_min": 2010}},
        ]},
    )

    question: NonBlank = Field(min_length=1, max_length=MAX_QUESTION_CHARS, strict=True)
    top_k: int | None = Field(
        default=None, ge=1, le=MAX_K, strict=True,
        description="How many chunks to retrieve (the engine's default when omitted).",
    )
    filters: AskFilters | None = None


class SearchParams(BaseModel):
    """Query string of `GET /v1/search`."""

    q: NonBlank = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The search query.")
    k: int = Field(default=10, ge=1, le=MAX_K, description="How many chunks to return.")
    mode: Mode = Field(default=Mode.HYBRID, description="Both retrievers fused, or one alone.")


class SearchHit(BaseModel):
    """One ranked chunk, with each retriever's rank and score (null where it did not rank it)."""

    rank: int
    score: float
    bm25_rank: int | None
    bm25_score: float | None
    dense_rank: int | None
    dense_score: float | None
    chunk_id: str
    doc_id: str
    title: str
    section: list[str]
    char_start: int
    char_end: int
    text: str


class SearchResponse(BaseModel):
    """The ranked chunks for one query."""

    query: str
    mode: Mode
    k: int
    index_version: str
    hits: list[SearchHit]
    timings_ms: dict[str, float]


class DocumentSummary(BaseModel):
    """A document's metadata (the server-side source path is not exposed)."""

    id: str
    title: str
    publisher: str
    year: int
    doc_type: DocType
    authors: list[str]
    url: str | None = None
    doi: str | None = None
    pmid: str | None = None


class DocumentDetail(DocumentSummary):
    """A document's metadata and the canonical text that statements' char offsets point into."""

    text: str


class DocumentPage(BaseModel):
    """One page of the document list, ordered by id."""

    total: int
    offset: int
    limit: int
    items: list[DocumentSummary]


class IndexManifest(BaseModel):
    """The manifest of the index being served (further manifest fields pass through)."""

    model_config = ConfigDict(extra="allow")

    index_version: str
    built_at: str | None = None
    corpus_fingerprint: str | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the model and an index are loaded, and which index."""

    status: Literal["ready", "not_ready"]
    index_version: str | None = None
    model: str | None = None
    message: str | None = None


class ReindexRequest(BaseModel):
    """Options of a reindex job."""

    model_config = ConfigDict(extra="forbid")

    force: bool = Field(default=False, strict=True,
                        description="Rebuild even when the corpus and parameters are unchanged.")


class ReindexJobView(BaseModel):
    """A reindex job's state; `error` says why a failed job failed."""

    job_id: str
    status: Literal["running", "succeeded", "failed"]
    force: bool
    started_at: str
    finished_at: str | None
    previous_version: str | None
    index_version: str | None
    rebuilt: bool | None
    reason: str | None
    error: str | None


class FieldError(BaseModel):
    """One invalid input: where it is (`question`, `filters.year_min`, `k`, `body`) and why."""

    field: str
    message: str
    type: str


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    status: int
    code: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)
