"""Provenance of a cited document in plain words: whose text it is and what it was checked against.

Read only from what the document's metadata records (front matter or sidecar `provenance:`);
a document whose metadata says nothing is shown as such, never given a provenance it lacks.
"""

from __future__ import annotations

from ragqa.answer.contract import SourceProvenance
from ragqa.ingest.documents import CheckedAgainst, Document, SourceForm

# What each `checked_against` value means, as a clinician reads it.
CHECKED_WORDS = {
    CheckedAgainst.FULL_TEXT: "the publication's full text",
    CheckedAgainst.ABSTRACT: "the publication's abstract",
    CheckedAgainst.LABEL: "the drug label or regulator's text",
    CheckedAgainst.SECONDARY_SOURCE: "another text that reports the publication",
    CheckedAgainst.REVIEWER_RECALL: "a reviewer's recollection of the publication (no copy at hand)",
    CheckedAgainst.NOT_RECHECKED: "nothing (not re-checked)",
}
# The same, in a few words for beside a citation.
CHECKED_SHORT = {
    CheckedAgainst.FULL_TEXT: "the full text",
    CheckedAgainst.ABSTRACT: "the abstract",
    CheckedAgainst.LABEL: "the label",
    CheckedAgainst.SECONDARY_SOURCE: "a secondary source",
    CheckedAgainst.REVIEWER_RECALL: "a reviewer's recollection only",
    CheckedAgainst.NOT_RECHECKED: "nothing",
}
FORM_LABELS = {
    SourceForm.PUBLICATION: "the publication's own text",
    SourceForm.PROJECT_SUMMARY: "a summary of the publication written for ragqa",
}
RAGQA_OWN = SourceProvenance(
    form="ragqa", label="written by ragqa from the cited sentences, not quoted", checked_against=[],
    checked_words="", checked_on=None, note=None, short="written by ragqa",
)


def source_provenance(document: Document) -> SourceProvenance:
    """The provenance of a document's sentences, as the answer contract carries it."""
    record = document.provenance
    if record is None:
        return SourceProvenance(form=None, label="provenance not recorded for this document",
                                checked_against=[], checked_words="", checked_on=None, note=None,
                                short="provenance not recorded")
    form = record.form
    label = FORM_LABELS[form] if form else "a text whose form its metadata does not record"
    words = " and ".join(CHECKED_WORDS[c] for c in record.checked_against)
    if form is SourceForm.PUBLICATION:
        short = "the source's own text"
    else:
        checked = " and ".join(CHECKED_SHORT[c] for c in record.checked_against)
        short = f"{'summary written for ragqa' if form else 'form not recorded'}, checked against {checked}"
    return SourceProvenance(
        form=form.value if form else None, label=label,
        checked_against=[c.value for c in record.checked_against], checked_words=words,
        checked_on=record.checked_on, note=record.note, short=short,
    )
