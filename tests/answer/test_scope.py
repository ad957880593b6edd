"""A document's stated scope: the populations and subjects it leaves out (fast: no model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ragqa.answer.analysis import QuestionAnalyzer
from ragqa.answer.evidence import Candidate
from ragqa.answer.scope import ScopeCheck
from ragqa.answer.scoring import content_terms

DF = {"allopurinol": 12, "gout": 300, "dose": 60, "colchicine": 9, "uric": 30, "acid": 30}

GOUT = [  # (heading, text)
    ("Introduction", "The scope of this guideline is the management of gout in adults."),
    ("Objective", ("The aim was to update advice on gout, but calcium pyrophosphate deposition (CPPD) "
                  "was not considered.")),
    ("Treatment", "Allopurinol should be started at 100 mg daily and raised every few weeks."),
    ("Treatment", "Colchicine 500 micrograms twice daily treats a flare."),
    ("Monitoring", "Serum uric acid should be measured every month until the target is reached."),
    ("Monitoring", "Urate-lowering therapy should continue for life."),
    ("Monitoring", "Flares are common in the first months of urate-lowering therapy."),
    ("Monitoring", "Renal function guides the allopurinol dose."),
    ("Monitoring", "Dietary advice is part of care."),
    ("Monitoring", "Weight loss is advised when it is needed."),
    ("Monitoring", "Review is yearly once the target is reached."),
]
PAEDIATRIC = [  # the same scope, and a section on children that speaks of the drug
    ("Scope", "The recommendations target adults with gout."),
    ("Gout in children", "In children, allopurinol is started at 5 mg/kg daily."),
    ("Gout in children", "One trial enrolled children over 12 years old."),
]
PLAIN = [("Treatment", "Allopurinol lowers uric acid in gout.")]  # no scope statement at all


def check_over(documents: dict[str, tuple[str, list[tuple[str, str]]]]) -> tuple[ScopeCheck, list]:
    sentences, facts = [], {}
    for doc_id, (_, rows) in documents.items():
        for heading, text in rows:
            facts[len(sentences)] = SimpleNamespace(terms=frozenset(content_terms(text)))
            sentences.append(SimpleNamespace(doc_id=doc_id, text=text, section=(heading,), quotable=True))
    index = SimpleNamespace(sentences=sentences,
                            documents={d: SimpleNamespace(title=t) for d, (t, _) in documents.items()})
    candidates = [Candidate(i, 0, s.doc_id, (), None, None, 0.8, i + 1, 0.5) for i, s in enumerate(sentences)]
    return ScopeCheck(index, QuestionAnalyzer(DF, 1000), facts), candidates


def outside(documents, question: str, ranked_ids: list[int]):
    check, candidates = check_over(documents)
    analysis = check.analyzer.analyze(question, np.zeros(4, dtype=np.float32))
    return check.check(analysis, [candidates[i] for i in ranked_ids], candidates)


def test_a_question_about_a_child_is_outside_an_adult_guideline_and_quotes_its_scope():
    found = outside({"gout": ("Management of gout", GOUT)},
                    "What dose of allopurinol should a 12-year-old with gout take?", [2, 7])
    assert found is not None and found.what == "children"
    assert found.doc_ids == ("gout",) and found.sentence_ids == (0,)


def test_the_same_question_about_an_adult_is_answered():
    assert outside({"gout": ("Management of gout", GOUT)},
                   "What dose of allopurinol should a 40-year-old with gout take?", [2, 7]) is None


def test_a_subject_the_guideline_says_it_did_not_consider_is_outside_it():
    found = outside({"gout": ("Management of gout", GOUT)},
                    "How should calcium pyrophosphate deposition be treated?", [3, 2])
    assert found is not None and found.what == "calcium pyrophosphate deposition (CPPD)"
    assert found.sentence_ids == (1,)


def test_a_section_on_the_population_that_speaks_of_the_subject_keeps_the_question_in_scope():
    documents = {"gout": ("Management of gout", PAEDIATRIC)}
    assert outside(documents, "What dose of allopurinol for a child with gout?", [1]) is None
    # a question about children that the section does not speak to stays outside
    found = outside(documents, "How often should a child with gout see a dietitian?", [1])
    assert found is not None and found.what == "children"
    # the words that name the population are not the subject a sentence on it must speak of
    found = outside(documents, "How often should my 10-year-old with gout see a dietitian?", [1, 2])
    assert found is not None and found.what == "children"


def test_one_leading_document_without_such_a_scope_keeps_the_question_answerable():
    documents = {"gout": ("Management of gout", GOUT), "plain": ("Uric acid", PLAIN)}
    assert outside(documents, "What dose of allopurinol should a 12-year-old take?", [2, 11]) is None


def test_a_non_pregnant_scope_leaves_out_pregnancy_and_a_pregnant_one_does_not():
    non_pregnant = [("Scope", "The recommendations target the general adult, non-pregnant population."),
                    *GOUT[2:]]
    found = outside({"gout": ("Management of gout", non_pregnant)},
                    "Is colchicine safe when I'm pregnant?", [3])
    assert found is not None and found.what == "pregnancy"
    pregnant = [("Scope", "The recommendations cover adults, including pregnant women."), *GOUT[2:]]
    assert outside({"gout": ("Management of gout", pregnant)},
                   "Is colchicine safe when I'm pregnant?", [3]) is None


@pytest.mark.slow
@pytest.mark.parametrize("name, left_out, clause", [
    ("bsg-coeliac-2014", {"children"}, "non-coeliac gluten sensitivity (NCGS)"),
    ("who-hypertension-2021", {"children", "pregnancy"}, "hypertensive crisis"),
])
def test_the_scope_of_a_real_guideline_pdf_is_read(name, left_out, clause):
    """On the development guidelines as the PDF reader reads them (issue 21's suites use them)."""
    from ragqa.ingest.chunker import Chunker
    from ragqa.ingest.documents import read_file
    from tests.ingest.test_guideline_pdfs import DEV, needs

    [doc] = read_file(needs(DEV / name / f"{name}.pdf"))
    sentences, _ = Chunker().run([doc])
    index = SimpleNamespace(sentences=sentences, documents={doc.id: doc})
    scope = ScopeCheck(index, QuestionAnalyzer(DF, 1000), {}).scope(doc.id)
    assert {group for group, _ in scope.leaves_out} == left_out
    assert clause in [c for c, _, _ in scope.not_addressed]
    # each is said by a sentence of the document's own scope statements
    assert all(sid in scope.statements for _, sid in scope.leaves_out)


def test_the_guidelines_own_topic_in_a_clause_it_leaves_out_does_not_leave_out_its_questions():
    rows = [("Objective", ("The aim was to update advice on allopurinol, but allopurinol hypersensitivity "
                          "was not considered.")), *GOUT[2:]]
    documents = {"gout": ("Allopurinol in gout", rows)}
    assert outside(documents, "What dose of allopurinol should I take?", [1]) is None
    found = outside(documents, "What is allopurinol hypersensitivity?", [1])
    assert found is not None and found.what == "allopurinol hypersensitivity"


GOUT_GUIDELINE = """---
id: fixture-gout-guideline
title: "Fixture: management of gout"
publisher: "Test Society"
year: 2024
doc_type: guideline
authors: ["Tester A"]
---

# Scope

The recommendations of this guideline target adults with gout.

# Treatment

Allopurinol should be started at 100 mg daily in adults with gout and raised by 100 mg every four weeks.
Colchicine 500 micrograms two to four times daily treats a gout flare.

# Monitoring

Serum urate should be measured every month while the allopurinol dose is raised.
"""


@pytest.mark.slow
def test_a_question_outside_a_guidelines_scope_abstains_and_quotes_the_scope(tmp_path, real_embedder):
    """End to end with the real model: the adult dose is answered; the child's abstains, says
    what the scope leaves out and quotes the scope statement first among what it found."""
    from ragqa.answer.engine import AnswerEngine
    from ragqa.answer.render import to_markdown
    from ragqa.index.store import load_index, update_index
    from tests.answer.contract_checks import assert_contract

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fixture-gout-guideline.md").write_text(GOUT_GUIDELINE)
    update_index(corpus, tmp_path / "idx", real_embedder)
    engine = AnswerEngine(load_index(tmp_path / "idx", real_embedder), real_embedder)
    adult = engine.ask("What starting dose of allopurinol is used for gout?")
    assert not adult.abstained and "100 mg daily" in adult.bottom_line[0].text
    child = engine.ask("What starting dose of allopurinol should my 8-year-old with gout take?")
    assert child.abstained
    assert "leaves out children" in child.message and "scope" in child.abstention.reason
    assert child.abstention.nearest[0].text == "The recommendations of this guideline target adults with gout."
    assert_contract(child, engine.index)
    assert child.abstention.nearest[0].text in to_markdown(child)
