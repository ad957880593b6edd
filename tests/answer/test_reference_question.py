"""The reference question and its neighbours on the real default corpus and model (slow)."""

from __future__ import annotations

import re

import pytest

from tests.answer.contract_checks import assert_contract

pytestmark = pytest.mark.slow

REFERENCE = ("Is microdosing of ketamine (a medication used for anesthesia and treatment-resistant "
             "depression) effective for treating psychological disorders?")

# Facts of the reference answer that ragqa's answer must carry, each in a cited statement.
REQUIRED_FACTS = {
    "standard dose": r"0\.5 mg/kg IV.{0,20}over 40 minutes",
    "low dose for suicidal ideation": r"0\.2-0\.25 mg/kg.{0,80}suicid|suicid.{0,80}0\.2-0\.25 mg/kg",
    "depression onset": r"within 24 hours",
    "suicidal ideation onset": r"within 40 minutes",
    "microdosing review scope": r"(LSD and psilocybin|psilocybin and LSD).{0,80}microdos|microdos.{0,80}(LSD and psilocybin)",
    "PTSD finding": r"PTSD.{0,200}(PCL-5|CAPS-5)|posttraumatic.{0,200}(PCL-5|CAPS-5)",
    "OCD finding": r"(OCD|obsessive).{0,200}Y-BOCS",
    "hallucination rate": r"hallucinations in about 20%",
    "nightmare rate": r"nightmares in about 12%",
    "short follow-up": r"short follow-up|follow-up of 7 days or less|7 days or less",
}


@pytest.fixture(scope="module")
def reference_answer(default_engine):
    return default_engine.ask(REFERENCE)


def test_verdict_corrects_the_premise_first(reference_answer):
    check = reference_answer.regimen_check
    assert not reference_answer.abstained
    assert check.asked == "microdose" and check.supported is False
    verdict = reference_answer.bottom_line[0]
    assert verdict.kind == "system" and verdict.citations
    assert verdict.text.startswith("None of the retrieved sources studied microdosing of ketamine")
    assert "standard subanesthetic ketamine" in verdict.text and "0.5 mg/kg" in verdict.text
    assert any(e.regimen == "ketamine-low-subanesthetic" for e in check.evidence)


@pytest.mark.parametrize("fact", sorted(REQUIRED_FACTS))
def test_reference_answer_carries_each_fact_with_a_citation(reference_answer, fact):
    pattern = re.compile(REQUIRED_FACTS[fact], re.IGNORECASE)
    found = [s for s in reference_answer.statements() if s.kind == "extract" and pattern.search(s.text)]
    assert found, f"no statement states the {fact}"
    assert all(s.citations for s in found)


def test_reference_answer_meets_the_contract(reference_answer, default_index):
    assert_contract(reference_answer, default_index)


REWORDINGS = [
    "do tiny doses of ketamine help depression?",
    "Does microdosing ketamine work for anxiety or PTSD?",
    "Is there evidence for ketamine micro-dosing in mental illness?",
    "Can sub-perceptual doses of ketamine improve mood disorders?",
    "My friend takes very small doses of ketamine for his depression - is that effective?",
    "Ketamine microdoses for treatment-resistant depression: what does the evidence say?",
]


@pytest.mark.parametrize("question", REWORDINGS)
def test_rewordings_get_the_same_regimen_verdict(default_engine, default_index, question):
    answer = default_engine.ask(question)
    assert not answer.abstained
    assert answer.regimen_check.asked == "microdose"
    assert answer.regimen_check.supported is False
    assert answer.bottom_line[0].text.startswith("None of the retrieved sources studied microdosing")
    assert_contract(answer, default_index)


@pytest.mark.parametrize("question", [
    "Is ketamine 0.5 mg/kg IV effective for treatment-resistant depression?",
    "How well does a 0.5 mg/kg ketamine infusion work for depression?",
])
def test_named_standard_dose_is_supported(default_engine, question):
    answer = default_engine.ask(question)
    assert answer.regimen_check.asked == "ketamine-standard-subanesthetic"
    assert answer.regimen_check.supported is True
    assert answer.bottom_line[0].citations


OFF_TOPIC = [
    "How do I fix a flat bicycle tyre?",
    "What is the capital of Australia?",
    "What is the starting dose of insulin glargine for type 2 diabetes?",
    "Is metformin effective for depression?",
    "What is the best recipe for sourdough bread?",
]

ON_TOPIC = [
    "How fast does ketamine reduce suicidal thoughts?",
    "What are the side effects of ketamine infusions?",
    "How is esketamine nasal spray dosed?",
    "What dose of ketamine is used to induce anesthesia?",
    "Does ketamine help obsessive-compulsive disorder?",
    "Is lithium protective against suicide?",
    "How long does the antidepressant effect of one ketamine infusion last?",
    "Does psilocybin work for treatment-resistant depression?",
]


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_abstain(default_engine, question):
    answer = default_engine.ask(question)
    assert answer.abstained, answer.bottom_line
    assert answer.abstention.closest, "the record shows the rejected passages"


@pytest.mark.parametrize("question", ON_TOPIC)
def test_on_topic_questions_are_answered(default_engine, default_index, question):
    answer = default_engine.ask(question)
    assert not answer.abstained, answer.abstention
    assert len(answer.statements()) >= 3
    assert_contract(answer, default_index)


def test_contract_holds_over_many_questions(default_engine, default_index):
    """A property check over every question in this module plus generated variants."""
    subjects = ["ketamine", "esketamine", "psilocybin", "LSD", "lithium", "midazolam"]
    aspects = ["dose", "side effects", "onset", "for PTSD", "for alcohol use disorder",
               "in bipolar depression", "limitations of the evidence", "microdosing"]
    questions = [REFERENCE, *REWORDINGS, *OFF_TOPIC, *ON_TOPIC]
    questions += [f"What about {s} {a}?" for s in subjects for a in aspects]
    for question in questions:
        assert_contract(default_engine.ask(question), default_index)
