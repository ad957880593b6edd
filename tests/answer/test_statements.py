"""Inputs that read as statements ("Ketamine works within a day for depression."): what the answer
stage does for them, and the parts it uses (fast: no model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ragqa.answer.analysis import QuestionAnalyzer
from ragqa.answer.coverage import CoverageCheck
from ragqa.answer.engine import AnswerEngine
from ragqa.answer.evidence import Candidate, Evidence
from ragqa.answer.framing import is_agenda, is_design, is_framing
from ragqa.answer.scoring import content_terms
from ragqa.answer.selection import Scored, best_source
from ragqa.index.store import load_index, update_index
from ragqa.retrieve import Hit, SearchResult
from tests.answer.contract_checks import assert_contract

DF = {"ketamine": 400, "infertile": 20, "non": 50, "population": 90, "foxk": 5, "autophagy": 40,
      "regulate": 30, "gene": 300, "sertraline": 1, "dose": 200}


def analyse(analyzer, text):
    return analyzer.analyze(text, np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize(("text", "framing"), [
    ("OBJECTIVE To determine whether high doses of folic acid reduce mortality.", True),
    ("DESIGN, SETTING, AND PARTICIPANTS Retrospective analysis of two cohorts.", True),
    ("BACKGROUND New guidelines recommend earlier treatment.", True),
    ("We aimed to compare IV ketamine with ECT.", True),
    ("The objective of this study was to assess the onset of effect.", True),
    ("To determine whether ketamine works within a day.", True),
    ("RESULTS Mean scores fell by 12 points at 24 hours.", False),
    ("CONCLUSIONS AND RELEVANCE Ketamine was noninferior to ECT.", False),
    ("Ketamine improved depressive symptoms within 24 hours.", False),
    ("DESIGNATED drivers were interviewed.", False),
    ("Canuso and colleagues conducted a double-blind, multicenter randomized trial.", True),
    ("Su and colleagues tested whether a lower dose works.", True),
    ("The Su 2017 trial was motivated by the observation that the dose-response had not been tested.", True),
    ("The Murray and colleagues study examined the effects of LSD 13 micrograms on EEG.", True),
    ("LSD 13 micrograms reduced oscillatory power in healthy adults.", False),
    ("Su and colleagues considered that a lower dose might keep efficacy with fewer side effects.", True),
    ("Su and colleagues concluded that the lower dose was less effective.", False),
])
def test_framing_sentences_are_told_from_findings(text, framing):
    assert is_framing(text) is framing


@pytest.mark.parametrize(("text", "design"), [
    ("68 participants were randomly assigned to esketamine 84 mg or placebo.", True),
    ("Adults were randomized 1:1 to esketamine or placebo.", True),
    ("Esketamine reduced symptoms more than placebo at 4 hours.", False),
    ("22 adults took part in 3 sessions in which they received placebo, LSD 13 or LSD 26 micrograms.", True),
])
def test_design_sentences_are_told_from_findings(text, design):
    assert is_design(text) is design


@pytest.mark.parametrize(("text", "agenda"), [
    ("Short and colleagues recommended that future studies of ketamine monitor side effects.", True),
    ("Rodriguez and colleagues called for larger controlled trials of ketamine in OCD.", True),
    ("Further trials are needed to confirm the effect.", True),
    ("The review recommended ketamine 0.5 mg/kg over 40 minutes.", False),
    ("Future relapse was less common after continued esketamine.", False),
])
def test_sentences_on_what_future_research_should_do_are_told_apart(text, agenda):
    assert is_agenda(text) is agenda


@pytest.mark.parametrize(("text", "statement"), [
    ("Ketamine works within a day for depression.", True),
    ("Foxk2 regulates autophagy genes in muscle cells.", True),
    ("Is ketamine addictive?", False),
    ("Does ketamine reduce suicidal ideation", False),
    ("Tell me about ketamine for depression", False),
    ("List the side effects of esketamine.", False),
    ("Please explain how ketamine is dosed.", False),
])
def test_requests_read_as_questions_and_claims_as_statements(text, statement):
    assert analyse(QuestionAnalyzer(DF, 1000), text).statement is statement


def test_a_compound_the_corpus_never_writes_is_carried_by_its_parts():
    subject = {t.term for t in analyse(QuestionAnalyzer(DF, 1000),
                                       "Low reserve indicates infertility in a non-infertile population.").subject}
    assert "non-infertile" not in subject
    assert "infertile" in subject


def test_a_compound_the_corpus_writes_stays_a_subject_word():
    analyzer = QuestionAnalyzer({**DF, "non-infertile": 2}, 1000)
    subject = {t.term for t in analyse(analyzer, "Reserve in a non-infertile population.").subject}
    assert "non-infertile" in subject


def _candidate(sid: int, doc_id: str, similarity: float) -> Candidate:
    return Candidate(sid, 0, doc_id, (), None, None, similarity, 1, 0.5)


@pytest.fixture
def topic_check():
    """A coverage check over three sentences: one of a source about Foxk (its title names it),
    one of a source naming sertraline in passing, one naming Foxk in passing."""
    texts = {0: "Foxk proteins repress autophagy genes in fibroblasts.",
             1: "Patients took sertraline or another antidepressant.",
             2: "Foxk and ten other factors were screened."}
    titles = {"foxk-paper": "Foxk proteins repress autophagy programs",
              "guideline": "A guideline on depression", "screen": "A screen of transcription factors"}
    index = SimpleNamespace(documents={d: SimpleNamespace(title=t) for d, t in titles.items()})
    facts = {sid: SimpleNamespace(terms=frozenset(content_terms(t))) for sid, t in texts.items()}
    return CoverageCheck(index, QuestionAnalyzer(DF, 1000), facts)


def _evidence(*candidates: Candidate) -> Evidence:
    return Evidence(chunks=None, candidates=candidates, best_chunk_similarity=0.9)


def test_a_statement_word_is_covered_by_a_near_source_about_it(topic_check):
    analysis = analyse(topic_check.analyzer, "Foxk2 regulates autophagy genes.")
    evidence = _evidence(_candidate(0, "foxk-paper", 0.9))
    assert topic_check._statement_topic(_term("foxk"), evidence, analysis)


def test_a_word_named_in_passing_is_not_a_statement_topic(topic_check):
    statement = analyse(topic_check.analyzer, "Sertraline 25 mg is the starting dose.")
    assert not topic_check._statement_topic(_term("sertraline"), _evidence(_candidate(1, "guideline", 0.9)),
                                            statement)
    foxk = analyse(topic_check.analyzer, "Foxk2 regulates autophagy genes.")
    assert not topic_check._statement_topic(_term("foxk"), _evidence(_candidate(2, "screen", 0.9)), foxk)


def test_a_source_about_the_word_but_far_from_the_statement_does_not_cover_it(topic_check):
    analysis = analyse(topic_check.analyzer, "Foxk2 regulates autophagy genes.")
    evidence = _evidence(_candidate(1, "guideline", 0.9), _candidate(0, "foxk-paper", 0.3))
    assert not topic_check._statement_topic(_term("foxk"), evidence, analysis)


def test_a_question_keeps_the_aspect_check(topic_check):
    analysis = analyse(topic_check.analyzer, "Does Foxk2 regulate autophagy genes?")
    assert not topic_check._statement_topic(_term("foxk"), _evidence(_candidate(0, "foxk-paper", 0.9)),
                                            analysis)


def _search(*doc_ids: str) -> SearchResult:
    hits = [Hit(i, f"c{i}", d, 1.0 / (i + 1), i + 1, None, None, None, None)
            for i, d in enumerate(doc_ids)]
    return SearchResult(hits, np.zeros(4, dtype=np.float32), [], {})


def test_a_statement_draws_on_the_source_the_retriever_ranks_first():
    pool = [Scored(_candidate(0, "background-review", 0.9), 0.9, True),
            Scored(_candidate(1, "trial", 0.8), 0.8, True),
            Scored(_candidate(2, "trial", 0.7), 0.7, True)]
    evidence = Evidence(_search("trial", "background-review"), tuple(s.candidate for s in pool), 0.9)
    analyzer = QuestionAnalyzer(DF, 1000)
    statement = analyse(analyzer, "Ketamine works within a day for depression.")
    assert best_source(statement, evidence, pool) == pool[1:]
    question = analyse(analyzer, "Does ketamine work within a day for depression?")
    assert best_source(question, evidence, pool) == pool
    elsewhere = Evidence(_search("guideline"), evidence.candidates, 0.9)
    assert best_source(statement, elsewhere, pool) == pool  # nothing of that source: the pool


@pytest.fixture
def engine(tmp_path, fixture_corpus, fake_embedder):
    update_index(fixture_corpus, tmp_path / "idx", fake_embedder)
    return AnswerEngine(load_index(tmp_path / "idx", fake_embedder), fake_embedder)


def test_a_statement_is_answered_from_the_source_that_states_it(engine):
    statement = "Transient dissociation and increased blood pressure are adverse effects of ketamine."
    answer = engine.ask(statement)
    assert not answer.abstained
    quoted = [s for s in answer.statements() if s.kind == "extract"]
    assert quoted[0].doc_id == "low-dose-ketamine-trial"
    assert "Transient dissociation" in quoted[0].text
    assert_contract(answer, engine.index)


def _term(word: str):
    from ragqa.answer.analysis import SubjectTerm

    return SubjectTerm(word, 1.0, 1, True)
