"""The reviewer's checklist: figure-bearing sentences, provenance counts, and `ragqa corpus check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.cli import main
from ragqa.errors import DocumentNotFoundError
from ragqa.ingest.check import (
    check_documents,
    checklist_markdown,
    figure_sentences,
    figures_in,
    provenance_counts,
)
from ragqa.ingest.documents import read_corpus

CHECKED = """---
id: checked
title: "A dose trial"
publisher: "A journal"
year: 2020
doc_type: rct
provenance:
  checked_against: [abstract]
  checked_on: 2026-11-26
  note: "Compared with the abstract."
---

# Design

Patients received ketamine 0.5 mg/kg IV over 40 minutes. The trial was double-blind.

# Results

Response occurred in 50% of patients, with a pooled estimate of -8.08. Ketamine was well tolerated.
Two of the infusions were stopped early.
"""

UNCHECKED = """---
id: unchecked
title: "A review"
publisher: "A journal"
year: 2021
doc_type: review
---

# Findings

Ketamine was studied in depression.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "checked.md").write_text(CHECKED, encoding="utf-8")
    (tmp_path / "unchecked.md").write_text(UNCHECKED, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("sentence", "figures"),
    [
        ("Ketamine 0.2-0.25 mg/kg over 1-2 minutes.", ("0.2-0.25", "1-2")),
        ("A pooled estimate of -28.07 and 1,877 participants.", ("-28.07", "1,877")),
        ("Response in 55.4% of patients, twice weekly.", ("55.4%", "twice")),
        ("Depression on the HAMD-6 scale.", ("6",)),
        ("A double-blind trial of ketamine.", ()),
    ],
)
def test_figures_in_finds_numbers_and_number_words(sentence, figures):
    assert figures_in(sentence) == figures


def test_figure_sentences_are_exact_spans_with_their_section(corpus):
    doc = next(d for d in read_corpus(corpus) if d.id == "checked")
    found = figure_sentences(doc)
    assert [s.text for s in found] == [
        "Patients received ketamine 0.5 mg/kg IV over 40 minutes.",
        "Response occurred in 50% of patients, with a pooled estimate of -8.08.",
        "Two of the infusions were stopped early.",
    ]
    assert all(doc.text[s.start:s.end] == s.text for s in found)
    assert [s.section for s in found] == [("Design",), ("Results",), ("Results",)]


def test_check_documents_selects_one_document_or_refuses_an_unknown_id(corpus):
    docs = read_corpus(corpus)
    [check] = check_documents(docs, doc_id="checked")
    assert check.doc_id == "checked" and len(check.sentences) == 3
    assert [c.doc_id for c in check_documents(docs)] == ["checked", "unchecked"]
    with pytest.raises(DocumentNotFoundError, match="no document 'nope'"):
        check_documents(docs, doc_id="nope")


def test_provenance_counts_include_documents_without_provenance(corpus):
    assert provenance_counts(read_corpus(corpus)) == {"abstract": 1, "missing": 1}


def test_checklist_has_a_tick_box_per_sentence_and_flags_missing_provenance(corpus):
    text = checklist_markdown(check_documents(read_corpus(corpus)))
    assert text.count("- [ ] ") == 3
    assert "Provenance: checked 2026-11-26 against abstract: Compared with the abstract." in text
    assert "Provenance: MISSING" in text
    assert text.endswith("2 documents, 3 figure-bearing sentences, 1 without provenance.")


def test_corpus_check_command_exits_1_only_when_provenance_is_missing(corpus, capsys):
    assert main(["corpus", "check", "checked", "--corpus", str(corpus)]) == 0
    assert "- [ ] 1. [Design, chars" in capsys.readouterr().out
    assert main(["corpus", "check", "--corpus", str(corpus)]) == 1
    assert main(["corpus", "check", "nope", "--corpus", str(corpus)]) == 2
    assert "no document 'nope'" in capsys.readouterr().err
