"""Abstention by coverage: who-was-studied phrases and subject words said in other words (fast: no model)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ragqa.answer.analysis import QuestionAnalyzer, spelled_out
from ragqa.answer.aspects import AspectBook
from ragqa.answer.coverage import CoverageCheck
from ragqa.answer.defined import DefinedAbbreviations
from ragqa.answer.evidence import Candidate, Evidence
from ragqa.answer.scoring import content_terms

DF = {"midazolam": 50, "ketamine": 400, "alcohol": 20, "dependence": 10, "abuse": 8,
      "teleconsultation": 2, "telemedicine": 1, "compounded": 12, "sertraline": 1, "escitalopram": 17}


class WordVectors:
    """A deterministic embedder for single words: near-synonyms share a direction."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        # every other word gets a direction of its own
        self.directions = {"teleconsultation": 0, "telemedicine": 0, "sertraline": 1, "escitalopram": 2}

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, self.directions.setdefault(text, len(self.directions) + 1)] = 1.0
        return out


class Facts(dict):
    """Per-sentence facts as the coverage check reads them."""

    book = AspectBook.default()
    defined = DefinedAbbreviations({})

    def speaks_to(self, sid, aspects):
        return not aspects or any(a.spoken_by(self[sid].text) for a in aspects)

    def spelled_out(self, term):
        return spelled_out().get(term) or self.defined.anywhere.get(term, frozenset())


def check_over(texts: list[str], embedder=None) -> CoverageCheck:
    defined = DefinedAbbreviations.of((f"d{i}", t) for i, t in enumerate(texts))
    terms = [defined.expand(f"d{i}", frozenset(content_terms(t))) for i, t in enumerate(texts)]
    bm25 = SimpleNamespace(scores=lambda family: np.array([float(bool(set(family) & t)) for t in terms]))
    index = SimpleNamespace(sentences=[SimpleNamespace(text=t, doc_id=f"d{i}") for i, t in enumerate(texts)],
                            documents={}, sentence_bm25=bm25)
    facts = Facts({i: SimpleNamespace(text=t, terms=terms[i]) for i, t in enumerate(texts)})
    facts.defined = defined
    return CoverageCheck(index, QuestionAnalyzer(DF, 1000), facts, embedder=embedder)


def evidence_of(n: int, similarity: float = 0.8) -> Evidence:
    return Evidence(None, tuple(Candidate(i, 0, f"d{i}", (), None, None, similarity, i + 1, 0.5)
                                for i in range(n)), 0.8)


def ask(check: CoverageCheck, question: str, n: int, similarity: float = 0.8):
    return check.check(check.analyzer.analyze(question, np.zeros(4, dtype=np.float32)),
                       evidence_of(n, similarity))


def test_a_condition_of_the_participants_does_not_speak_of_the_comparator():
    check = check_over(["Ketamine delayed relapse compared with IV midazolam in adults with alcohol dependence."])
    coverage = ask(check, "Is midazolam addictive?", 1)
    assert not coverage.answerable
    assert "midazolam" in coverage.reason


def test_the_same_words_said_of_the_drug_still_cover_it():
    check = check_over(["Midazolam carries a risk of dependence with repeated use."])
    assert ask(check, "Is midazolam addictive?", 1).answerable


@pytest.mark.parametrize("text, blanked", [
    ("in adults with alcohol dependence.", "alcohol dependence"),
    ("every participant with alcohol dependence also received", "alcohol dependence"),
    ("Patients who have a history of substance abuse should be screened.", "substance abuse"),
])
def test_who_was_studied_is_blanked(text, blanked):
    masked = AspectBook.default().without_populations(text)
    assert blanked not in masked
    assert len(masked) == len(text)


def test_independent_is_not_dependence():
    abuse = next(a for a in AspectBook.default().aspects if a.id == "abuse")
    assert not abuse.spoken_by("a reduction partially independent of mood")
    assert abuse.spoken_by("prolonged use can lead to tolerance and dependence")


def test_a_subject_word_said_otherwise_is_covered():
    text = "Patients who obtain compounded ketamine from telemedicine platforms may not learn its risks."
    embedder = WordVectors()
    # (not an everyday wording of lay_terms.json, which would cover it without the embedder)
    question = "Is compounded ketamine from a teleconsultation company risky?"
    assert ask(check_over([text], embedder), question, 1).answerable
    assert not ask(check_over([text], None), question, 1).answerable  # no embedder, no synonyms


def test_another_drug_is_not_a_synonym():
    check = check_over(["Escitalopram 10 mg daily was the comparator dose."], WordVectors())
    assert not ask(check, "What is the dose of sertraline for depression?", 1).answerable


def test_word_vectors_are_kept_between_questions():
    embedder = WordVectors()
    check = check_over(["Escitalopram 10 mg daily was the comparator dose."], embedder)
    ask(check, "What is the dose of sertraline for depression?", 1)
    ask(check, "What is the dose of sertraline for depression?", 1)
    assert len(embedder.calls) == 1


def test_an_abbreviation_is_covered_by_its_spelled_out_form():
    check = check_over(["IV ketamine infusions gave short-term pain relief in complex regional pain syndrome."])
    assert ask(check, "Does ketamine relieve CRPS?", 1, similarity=0.6).answerable
    # below the strong-match similarity that lets a word the corpus never uses through
    assert not ask(check_over(["IV ketamine infusions gave short-term pain relief in fibromyalgia."]),
                   "Does ketamine relieve CRPS?", 1, similarity=0.6).answerable


def test_a_short_form_its_document_defines_covers_the_long_one():
    # "coeliac disease (CD)" defined, then "CD" written beside the dose: the dose is coeliac disease's
    text = ("Adults with coeliac disease (CD) are followed up in a specialist clinic run by a "
            "gastroenterologist and a dietitian. In CD, calcium intake should be 1000 mg a day.")
    check = check_over([text])
    coverage = ask(check, "What dose of calcium should people with coeliac disease take?", 1, 0.65)
    assert coverage.answerable, coverage.reason


def test_a_short_form_means_nothing_in_a_document_that_does_not_define_it():
    check = check_over(["In CD, calcium intake should be 1000 mg a day."])
    coverage = ask(check, "What dose of calcium should people with coeliac disease take?", 1, 0.65)
    assert not coverage.answerable


def test_a_brand_name_is_covered_by_its_generic():
    # brands.json: Zoloft is sertraline; the question's own word is not what the corpus writes
    check = check_over(["Sertraline commonly causes nausea and sexual side effects."])
    coverage = ask(check, "What side effects does Zoloft have?", 1, 0.65)
    assert coverage.answerable, coverage.reason


def test_an_uncovered_brand_name_says_what_the_corpus_calls_it():
    check = check_over(["Sertraline 50 mg was the comparator dose in one trial."])
    coverage = ask(check, "What side effects does Zoloft have?", 1, 0.65)
    assert not coverage.answerable
    assert [(m.term, m.clinical) for m in coverage.uncovered] == [("zoloft", ("sertraline",))]
