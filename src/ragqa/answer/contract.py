"""The answer contract: the JSON that the CLI, the API and the evaluation all share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DISCLAIMER = (
    "Educational use only, not clinical advice. Every clinical sentence is quoted from a cited "
    "document, marked as the publication's own text or as a summary of it written for ragqa, with "
    "what that summary was checked against; verify against the primary source before acting on it."
)


class SourceProvenance(BaseModel):
    """Whose words a statement is and what its document was checked against (from its metadata)."""

    form: Literal["publication", "project_summary", "ragqa"] | None = Field(
        description="publication: the publication's own text; project_summary: a summary of the "
                    "named publication written for ragqa; ragqa: a sentence ragqa wrote; null: the "
                    "document's metadata does not say")
    label: str = Field(description="The form in plain words.")
    checked_against: list[str] = Field(
        description="What the document's sentences were last compared with (full_text, abstract, "
                    "label, secondary_source, reviewer_recall, not_rechecked).")
    checked_words: str = Field(description="checked_against in plain words.")
    short: str = Field(default="", description="Form and check in a few words, for beside a citation.")
    checked_on: str | None = None
    note: str | None = Field(default=None, description="What was compared and the result.")


class Statement(BaseModel):
    """One sentence of an answer: quoted from a document (`extract`) or written by ragqa (`system`).

    For `extract`, document.text[char_start:char_end] == text and citations == [its reference n].
    """

    text: str
    kind: Literal["extract", "system"]
    citations: list[int] = Field(default_factory=list)
    doc_id: str | None = None
    chunk_id: str | None = None
    char_start: int | None = None
    char_end: int | None = None
    section: list[str] = Field(default_factory=list)
    page: int | None = None
    regimen: str | None = None
    score: float | None = None
    provenance: SourceProvenance | None = None


class Section(BaseModel):
    """A group of statements under one topic heading."""

    heading: str
    topic: str
    statements: list[Statement]


class RegimenEvidence(BaseModel):
    """One regimen the evidence covers, with the doses and routes that were extracted for it."""

    regimen: str
    label: str
    doses: list[str]
    routes: list[str]
    citations: list[int]


class RegimenCheck(BaseModel):
    """Which regimen the question asks about and whether the retrieved evidence studied it."""

    asked: str | None
    asked_label: str | None
    supported: bool | None
    evidence: list[RegimenEvidence]
    note: str


class Reference(BaseModel):
    """A numbered entry of the reference list, numbered in order of first citation."""

    n: int
    doc_id: str
    title: str
    publisher: str | None = None  # a document without one (a data set's abstract) shows none
    year: int | None = None
    doc_type: str
    authors: list[str] = Field(default_factory=list)
    url: str | None = None
    doi: str | None = None
    pmid: str | None = None
    provenance: SourceProvenance | None = None


class RejectedPassage(BaseModel):
    """A passage that was retrieved but judged not relevant enough to answer from."""

    chunk_id: str
    doc_id: str
    title: str
    score: float
    text: str


class NearestSentence(BaseModel):
    """A sentence of the corpus near a question it does not answer, quoted as it stands
    (document.text[char_start:char_end] == text): what was found, not an answer to the question."""

    text: str
    doc_id: str
    title: str
    char_start: int
    char_end: int
    section: list[str] = Field(default_factory=list)
    page: int | None = None
    similarity: float
    provenance: SourceProvenance | None = None


class AbstentionRecord(BaseModel):
    """Why an answer abstained: what was searched and the closest passages that were rejected."""

    reason: str
    searched: str
    query_terms: list[str]
    threshold: float
    best_score: float
    closest: list[RejectedPassage]
    found_in: list[str] = Field(default_factory=list,
                                description="Titles of the documents nearest the question.")
    corpus_covers: str = Field(default="", description="What the corpus covers, from the index.")
    english: bool = Field(default=True, description="Whether the question reads as English.")
    nearest: list[NearestSentence] = Field(
        default_factory=list,
        description="The sentences the fitted relevance score ranks first, best first, quoted: what "
                    "the corpus says nearest to the question; by the answerability model, not an "
                    "answer to it as asked.")


class Answer(BaseModel):
    """The whole answer to one question."""

    question: str
    abstained: bool
    message: str | None = None
    bottom_line: list[Statement]
    sections: list[Section]
    regimen_check: RegimenCheck
    references: list[Reference]
    abstention: AbstentionRecord | None = None
    retrieved_doc_ids: list[str] = Field(default_factory=list)
    index_version: str
    index_built_at: str | None = None
    timings_ms: dict[str, float]
    disclaimer: str = DISCLAIMER
    followups: list[str] = Field(
        default_factory=list,
        description="Questions the corpus answers (each checked: it does not abstain): on the same "
                    "subject about aspects this answer did not cover, or, for an abstention, nearby.")

    def statements(self) -> list[Statement]:
        """Every statement, bottom line first."""
        return [*self.bottom_line, *(s for section in self.sections for s in section.statements)]
