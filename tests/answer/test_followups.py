"""Follow-up questions: on the answer's subject, never the asked question, each one answering."""

from __future__ import annotations

import json

import pytest

from ragqa.answer.followups import FollowUps, same_question
from ragqa.evaluation.baseline import TopSentences
from tests.conftest import PROJECT_CORPUS

SUITE = PROJECT_CORPUS.parent / "eval" / "guidelines.jsonl"


@pytest.mark.parametrize(("a", "b", "same"), [
    ("What dose of ketamine is used?", "what dose of Ketamine is used", True),
    ("What doses of ketamine are used?", "What dose of ketamine is used?", True),
    ("What dose of esketamine is used?", "What dose of ketamine is used?", False),
    ("How effective is ketamine?", "How quickly does ketamine work?", False),
])
def test_same_question_ignores_case_punctuation_and_plurals(a, b, same):
    assert same_question(a, b) is same


@pytest.mark.slow
def test_every_follow_up_answers_and_none_repeats_the_question(default_engine):
    cases = [json.loads(line) for line in SUITE.read_text().splitlines() if line.strip()][::6]
    finder = FollowUps(default_engine)
    offered = 0
    for case in cases:
        answer = finder.attach(default_engine.ask(case["question"]))
        # none rather than a wording that does not fit ("How effective is Once?")
        assert len(answer.followups) <= 4, (case["question"], answer.followups)
        for question in answer.followups:
            offered += 1
            assert not same_question(question, case["question"])
            assert not default_engine.ask(question).abstained, question
    assert offered >= len(cases)


@pytest.mark.slow
def test_an_abstention_offers_nearby_questions_and_says_the_corpus_is_english(default_engine):
    finder = FollowUps(default_engine)
    answer = finder.attach(default_engine.ask("¿Cuál es la dosis de ketamina para la depresión?"))
    assert answer.abstained
    assert "English" in answer.message and "corpus holds" in answer.message
    assert 1 <= len(answer.followups) <= 3
    scores = [p.score for p in answer.abstention.closest]
    assert scores == sorted(scores, reverse=True)  # the closest passages, best first, once each
    assert len({p.text for p in answer.abstention.closest}) == len(scores)
    for question in answer.followups:
        assert not default_engine.ask(question).abstained


@pytest.mark.slow
def test_a_follow_up_asks_of_a_noun_phrase_of_the_question_in_a_wording_that_fits_it(default_engine):
    finder = FollowUps(default_engine)
    question = "Which antidepressants have the highest risk of discontinuation symptoms?"
    # the rarest subject word with the noun after it, not "antidepressants have"
    assert finder._phrase(question) == "discontinuation symptoms"
    followups = finder.attach(default_engine.ask(question)).followups
    assert followups and all("discontinuation symptoms" in q for q in followups)
    # a subject that is not a drug may be a condition or a test: never "How quickly does it work?"
    assert not any(q.startswith(("How quickly", "What dose", "How effective", "Who should not"))
                   for q in followups)
    # verbs, participles and everyday words are no subject
    assert finder._phrase("Who needs it reviewed once a year?") is None
    assert finder._phrase("Is ketamine addictive?") == "ketamine"


@pytest.mark.slow
def test_the_naive_baseline_gets_follow_ups_too(default_engine):
    # the benchmark offers follow-ups under every variant's answers; the baseline reads no question
    baseline = TopSentences(default_engine.index, default_engine.embedder)
    finder = FollowUps(baseline)
    answer = finder.attach(baseline.ask("What does the CANMAT guideline say about discontinuation symptoms?"))
    assert all(not baseline.ask(q).abstained for q in answer.followups)
    assert finder._phrase("Which antidepressants have the highest risk of discontinuation symptoms?") \
        == "discontinuation symptoms"
