"""Question analysis, aspects and microdosing wording (fast: no model)."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.answer.analysis import QuestionAnalyzer, is_everyday
from ragqa.answer.aspects import AspectBook
from ragqa.answer.regimen import RegimenTable

DF = {"ketamine": 400, "sertraline": 1, "depression": 300, "abuse": 6, "dependence": 5}


@pytest.fixture
def analyzer():
    return QuestionAnalyzer(DF, 730)


def analyse(analyzer, question):
    return analyzer.analyze(question, np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize("question, aspect", [
    ("Is ketamine addictive?", "harms"),
    ("What is the dose of sertraline for depression?", "dose"),
    ("How is venlafaxine dosed?", "dose"),
    ("How fast does ketamine work?", "onset"),
    ("What monitoring is needed after esketamine?", "monitoring"),
    ("How does ketamine work in the brain?", "mechanism"),
    ("Who should not get ketamine?", "contraindications"),
    ("Is esketamine FDA approved?", "regulation"),
    ("Is IV ketamine better than esketamine?", "comparisons"),
])
def test_aspects_are_read_from_the_question(analyzer, question, aspect):
    assert aspect in [a.id for a in analyse(analyzer, question).aspects]


def test_subject_leaves_out_aspect_cues_and_weighs_rare_names_most(analyzer):
    analysis = analyse(analyzer, "What is the dose of sertraline for depression?")
    weights = {t.term: t for t in analysis.subject}
    assert "dose" not in weights
    assert weights["sertraline"].specific and not weights["depression"].specific
    assert weights["sertraline"].weight > 5 * weights["depression"].weight


def test_regimen_words_are_not_subject_words(analyzer):
    analysis = analyse(analyzer, "Is microdosing ketamine 0.1 mg/kg effective?")
    assert analysis.regimen is not None and analysis.regimen.regimen.id == "microdose"
    assert "microdosing" not in {t.term for t in analysis.subject}


def test_everyday_words_are_told_from_names():
    assert is_everyday("caffeine") and is_everyday("vitamin") and is_everyday("coffee")
    assert not is_everyday("metformin") and not is_everyday("sertraline")
    assert is_everyday("treatment-resistant")


@pytest.mark.parametrize("question, broad", [
    ("Is microdosing ketamine effective for psychological disorders?", True),
    ("What does the evidence say about ketamine for mental illness?", True),
    ("Is ketamine addictive?", False),
])
def test_breadth(analyzer, question, broad):
    assert analyse(analyzer, question).broad is broad


def test_statements_are_told_from_questions(analyzer):
    assert analyse(analyzer, "Ketamine reduces suicidal ideation within hours.").statement
    assert not analyse(analyzer, "Does ketamine reduce suicidal ideation").statement


@pytest.mark.parametrize("text", [
    "Would tiny weekly doses of ketamine help me?",
    "ketamine in doses too small to feel",
    "I microdosed ketamine",
    "sub-perceptual amounts of ketamine",
    "a dose of ketamine that is very small",
    "amounts too low to get high",
    "minimal ketamine doses for mood",
    "little doses of ketamine",
])
def test_microdosing_is_recognised_in_any_word_order(text):
    assert RegimenTable.default().speaks_of_microdosing(text)


@pytest.mark.parametrize("text", [
    "low-dose ketamine for depression",
    "very low doses of ketamine",
    "ketamine 0.1 to 0.5 mg/kg",
    "ketamine 0.2 mg/kg",
    "a small dose of intranasal ketamine, 50 mg",
    "trials with a small sample",
    "there is little evidence on the dose of ketamine",
])
def test_literature_doses_are_not_microdosing(text):
    assert not RegimenTable.default().speaks_of_microdosing(text)


def test_aspect_book_loads_every_aspect_the_issue_names():
    ids = {a.id for a in AspectBook.default().aspects}
    assert {"dose", "onset", "efficacy", "harms", "monitoring", "contraindications", "mechanism",
            "comparisons", "regulation", "populations", "limitations"} <= ids
