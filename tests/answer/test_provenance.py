"""Provenance on every statement: whose text it quotes and what that text was checked against."""

from __future__ import annotations

import pytest

from ragqa.answer.provenance import RAGQA_OWN, source_provenance
from ragqa.ingest.documents import (
    CheckedAgainst,
    DocType,
    Document,
    Provenance,
    SourceForm,
    read_corpus,
)
from tests.conftest import PROJECT_CORPUS

QUESTIONS = [
    "Is microdosing of ketamine effective for treating psychological disorders?",
    "What dose of ketamine is used for suicidal ideation?",
    "Where does rTMS sit in the treatment of depression?",
    "What are the side effects of esketamine nasal spray?",
]


def _doc(provenance: Provenance | None) -> Document:
    return Document(id="d", title="T", text="x", publisher=None, year=None,
                    doc_type=DocType.RCT, provenance=provenance)


@pytest.mark.parametrize("doc", read_corpus(PROJECT_CORPUS), ids=lambda d: d.id)
def test_every_corpus_document_says_whose_text_it_is_and_what_it_was_checked_against(doc):
    assert doc.provenance is not None, f"{doc.id}: no `provenance:` in its front matter or sidecar"
    assert doc.provenance.form is not None, f"{doc.id}: `provenance: form:` is missing"
    assert doc.provenance.checked_against


def test_the_guideline_full_text_is_the_publication_and_the_summaries_are_ours():
    forms = {d.id: d.provenance.form for d in read_corpus(PROJECT_CORPUS) if d.provenance}
    assert forms.pop("lam-2024-canmat-2023-mdd-guideline") is SourceForm.PUBLICATION
    assert set(forms.values()) == {SourceForm.PROJECT_SUMMARY}


def test_provenance_in_plain_words():
    shown = source_provenance(_doc(Provenance(
        (CheckedAgainst.REVIEWER_RECALL,), "2026-11-26", "compared", SourceForm.PROJECT_SUMMARY)))
    assert shown.form == "project_summary"
    assert shown.label == "a summary of the publication written for ragqa"
    assert "recollection" in shown.checked_words and shown.checked_on == "2026-11-26"
    assert shown.short == "summary written for ragqa, checked against a reviewer's recollection only"


def test_a_document_without_provenance_is_shown_as_such_never_given_one():
    shown = source_provenance(_doc(None))
    assert shown.form is None and shown.checked_against == []
    assert "not recorded" in shown.label


@pytest.mark.slow
@pytest.mark.parametrize("question", QUESTIONS)
def test_every_statement_of_an_answer_carries_its_documents_provenance(default_engine, question):
    answer = default_engine.ask(question)
    assert answer.statements()
    for statement in answer.statements():
        assert statement.provenance is not None, statement.text
        if statement.kind == "system":
            assert statement.provenance == RAGQA_OWN
            continue
        document = default_engine.index.documents[statement.doc_id]
        assert statement.provenance == source_provenance(document)
        assert statement.provenance.form in ("publication", "project_summary"), document.id
    for reference in answer.references:
        assert reference.provenance is not None and reference.provenance.form is not None
