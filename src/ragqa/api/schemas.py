"""Request and response bodies of the HTTP API, kept apart from the library's internal types.

The answer itself is the shared contract (`ragqa.answer.contract.Answer`), returned as it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ragqa.answer.contract import SourceProvenance
from ragqa.answer.engine import MAX_QUESTION_CHARS
from ragqa.ingest.documents import DocType
from ragqa.retrieve import Filters, Mode

MAX_K = 50
MAX_BODY_BYTES = 64 * 1024


# What str.strip() removes (every character whose isspace() is true), as \u escapes that Python
# and ECMA-262 (JSON Schema's regex dialect) read alike.
WHITESPACE = ("\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
              "\\u2028\\u2029\\u202f\\u205f\\u3000")
# Text that is not blank and, stripped, at most MAX_QUESTION_CHARS long: exactly what
# _question_text accepts, said in JSON Schema.
QUESTION_PATTERN = (f"^[{WHITESPACE}]*[^{WHITESPACE}]"
                    f"(?:[\\s\\S]{{0,{MAX_QUESTION_CHARS - 2}}}[^{WHITESPACE}])?[{WHITESPACE}]*$")


def _question_text(value: str) -> str:
    """Reject blank text and text over MAX_QUESTION_CHARS once stripped; keep it stripped."""
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty or only whitespace")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise PydanticCustomError(
            "too_long", "must be at most {limit} characters once stripped, got {length}",
            {"limit": MAX_QUESTION_CHARS, "length": len(stripped)})
    return stripped


QuestionText = Annotated[str, AfterValidator(_question_text),
                         WithJsonSchema({"type": "string", "pattern": QUESTION_PATTERN})]


def _whole_number(value: Any) -> Any:
    """37.0 is the integer 37, as JSON Schema's `integer` says; 37.5, "37" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers in a JSON body: JSON numbers without a fraction, never strings or booleans. (The
# bounds sit inside the Annotated, before the validator, so that the schema shows them.)
TopK = Annotated[int, Field(strict=True, ge=1, le=MAX_K), BeforeValidator(_whole_number)]
Year = Annotated[int, Field(strict=True, ge=1900, le=2100), BeforeValidator(_whole_number)]


def _doc_type_may_be_one(schema: dict[str, Any]) -> None:
    """doc_type's schema says what validation takes: one type as well as a non-empty list."""
    branches = schema["properties"]["doc_type"]["anyOf"]
    branches.insert(0, branches[0]["items"])


def _one_as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AskFilters(BaseModel):
    """Restrict the evidence to some document types and a range of publication years."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_doc_type_may_be_one)

    doc_type: Annotated[list[DocType] | None, BeforeValidator(_one_as_list)] = Field(
        default=None, min_length=1,
        description="Document types to keep; a single type may be given as a string.",
    )
    year_min: Year | None = None
    year_max: Year | None = Field(default=None, description="Not before year_min.")

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
            {"question": "Is microdosing of ketamine effective for treating psychological disorders?",
             "followups": True},
            {"question": "What dose of ketamine is used for suicidal ideation?", "top_k": 10,
             "filters": {"doc_type": ["rct", "meta_analysis"], "year_min": 2010}},
        ]},
    )

    question: QuestionText = Field(
        strict=True, description=f"At most {MAX_QUESTION_CHARS} characters, not counting "
                                 "leading and trailing whitespace.")
    top_k: TopK | None = Field(
        default=None, description="How many chunks to retrieve (the engine's default when omitted).",
    )
    filters: AskFilters | None = None
    followups: bool = Field(
        default=False, strict=True,
        description="Also offer follow-up questions (`followups` in the answer): each is run "
                    "through the engine to check that it answers, so this costs up to 8 more "
                    "answers the first time a subject is asked (the web page and CLI ask for them).")


class SearchParams(BaseModel):
    """Query string of `GET /v1/search`."""

    q: QuestionText = Field(description="The search query.")
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
    publisher: str | None = None
    year: int | None = None
    doc_type: DocType
    authors: list[str]
    url: str | None = None
    doi: str | None = None
    pmid: str | None = None
    provenance: SourceProvenance = Field(
        description="Whose text the document is (the publication's own, or a summary written for "
                    "ragqa) and what it was checked against, from its metadata.")


class DocumentDetail(DocumentSummary):
    """A document's metadata and the canonical text that statements' char offsets point into."""

    text: str


class DocumentPage(BaseModel):
    """One page of the document list, ordered by id."""

    total: int
    offset: int
    limit: int
    items: list[DocumentSummary]


class CorpusOverviewView(BaseModel):
    """What the served corpus covers, from its index, and example questions it answers."""

    index_version: str
    documents: int
    newest_year: int | None
    by_form: dict[str, int]
    by_type: dict[str, int]
    subjects: list[str]
    covers: str
    examples: list[str] = Field(description="Questions drawn from the corpus, each checked to answer.")


class FeedbackRequest(BaseModel):
    """A rating of one answer, with an optional comment (no personal data, please)."""

    model_config = ConfigDict(extra="forbid")

    question: QuestionText
    rating: Literal["helpful", "not_helpful"]
    comment: str = Field(default="", max_length=1000)
    index_version: str | None = Field(default=None, max_length=64)


class FeedbackReceipt(BaseModel):
    """Feedback was recorded."""

    status: Literal["recorded"] = "recorded"


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
