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
    ("Is ketamine addictive?", "abuse"),
    ("Does extended-release venlafaxine raise blood pressure?", "blood-pressure"),
    ("Who can't use esketamine nasal spray?", "contraindications"),
    ("What is the dose of sertraline for depression?", "dose"),
    ("How is venlafaxine dosed?", "dose"),
    ("How fast does ketamine work?", "onset"),
    ("What monitoring is needed after esketamine?", "monitoring"),
    ("How does ketamine work in the brain?", "mechanism"),
    ("Who should not get ketamine?", "contraindications"),
    ("Is esketamine FDA approved?", "regulation"),
    ("Is IV ketamine better than esketamine?", "comparisons"),
    ("How should an antidepressant be stopped?", "discontinuation"),
    ("What happens if I stop esketamine?", "discontinuation"),
    ("Will I feel spaced out or detached during a ketamine treatment?", "harms"),
    ("What should be assessed before starting ketamine for depression?", "monitoring"),
    ("Why might the effect sizes in ketamine trials be overestimated?", "limitations"),
    ("Is ketamine's antidepressant effect smaller in bipolar depression?", "comparisons"),
    ("If esketamine works for me, do I have to keep taking it to stay well?", "discontinuation"),
    ("How high can a ketamine infusion for postoperative pain go?", "dose"),
    ("Is a lower ketamine dose of 0.2 mg/kg IV better tolerated than 0.5 mg/kg?", "harms"),
])
def test_aspects_are_read_from_the_question(analyzer, question, aspect):
    assert aspect in [a.id for a in analyse(analyzer, question).aspects]


def test_two_drugs_joined_by_or_are_not_a_comparison(analyzer):
    aspects = [a.id for a in analyse(analyzer, "Can I drive home after a ketamine or esketamine treatment?").aspects]
    assert "comparisons" not in aspects


@pytest.mark.parametrize("question, form", [
    ("What response rate did repeated ketamine infusions achieve in chronic PTSD?", "proportion"),
    ("What share of patients responded the day after one infusion?", "proportion"),
    ("How soon after an infusion does ketamine reduce suicidal thoughts?", "time-to-effect"),
    ("When does esketamine start to work?", "time-to-effect"),
    ("How long does one ketamine infusion keep working?", "duration"),
    ("When do depression symptoms usually come back after an infusion?", "duration"),
    ("What is the esketamine nasal spray dose for treatment-resistant depression?", "dose-amount"),
    ("How often are ketamine infusions given?", "schedule"),
    ("Should pharmacogenetic testing be used routinely?", "recommendation"),
    ("Where does rTMS sit in the treatment of depression?", "recommendation"),
    ("How many ketamine treatments will I need?", "count"),
    ("How long should antidepressants be continued after remission?", "duration"),
    ("Who can't use esketamine nasal spray?", "contraindication"),
    ("What should be assessed before starting ketamine for depression?", "pretreatment"),
    ("At what point after ketamine was the drug-placebo difference largest?", "peak"),
    ("How is light therapy given for seasonal depression?", "administration"),
])
def test_answer_forms_are_read_from_the_question(analyzer, question, form):
    assert form in [f.id for f in analyse(analyzer, question).forms]


def test_a_question_without_a_form_asks_none(analyzer):
    assert analyse(analyzer, "Is ketamine addictive?").forms == ()


@pytest.mark.parametrize("sentence, form, expected", [
    ("In the trial, 67% of patients met response criteria at 2 weeks.", "proportion", True),
    ("Feder and colleagues concluded that repeated infusions are efficacious.", "proportion", False),
    ("Suicidal ideation improved within 40 minutes of the infusion.", "time-to-effect", True),
    ("The benefit persisted for up to 7 days after a single dose.", "duration", True),
    ("Esketamine 56 mg or 84 mg was given twice weekly.", "dose-amount", True),
    ("Esketamine 56 mg or 84 mg was given twice weekly.", "schedule", True),
    ("Dissociation after IV ketamine is usually transient.", "duration", False),
    ("CANMAT does not recommend the routine use of pharmacogenetic tests.", "recommendation", True),
    ("Several tests provide recommendations to inform the selection of antidepressants.", "recommendation", False),
    ("Responders needed a median of three infusions before reaching response.", "count", True),
    ("Adverse events resolved by 1.5 hours after dosing.", "duration", True),
    ("Patients must be monitored for 2 hours after each dose.", "time-to-effect", False),
    ("Esketamine improved depressive symptoms more than placebo at 4 hours after the first dose.",
     "time-to-effect", True),
    ("Intranasal esketamine is contraindicated in patients with aneurysmal vascular disease.",
     "contraindication", True),
    ("The guidelines advise avoiding subanesthetic IV ketamine in pregnant patients.", "contraindication", True),
    ("Patients should not drive until the next day.", "contraindication", False),
    ("The APA task force suggests a careful pretreatment evaluation before ketamine.", "pretreatment", True),
    ("The drug-placebo difference was largest at day 2.", "peak", True),
    ("The largest effect versus controls was seen at 24 hours.", "peak", True),
    ("A typical protocol uses 10,000 lux white light for 30 min daily in the morning.", "administration", True),
])
def test_sentences_answer_in_a_form(sentence, form, expected):
    book = AspectBook.default()
    shape = next(f for f in book.forms if f.id == form)
    assert shape.spoken_by(sentence) is expected


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
    ("What does the CANMAT guideline say about neuromodulation treatments for depression?", True),
    # a question that selects asks for the few that answer it, whatever class of disorders it names
    ("In which patients is the evidence for ketamine in mood disorders strongest?", False),
    ("Besides depression, what psychiatric conditions has ketamine shown promise for?", False),
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


@pytest.mark.parametrize("question, added", [
    ("I had a brain bleed years ago; am I allowed to use Spravato?", ["esketamine", "intracerebral hemorrhage"]),
    ("Will I feel spaced out during a treatment?", ["dissociation"]),
    ("Can ketamine help people stop drinking?", ["alcohol use disorder"]),
    ("Is a Ketalar infusion safe?", ["ketamine"]),
])
def test_search_text_adds_generic_names_and_clinical_terms(analyzer, question, added):
    text = analyzer.search_text(question)
    assert text.startswith(question)
    for term in added:
        assert term in text


@pytest.mark.parametrize("question", ["Is ketamine addictive?", "Does esketamine raise blood pressure?"])
def test_search_text_of_a_question_in_clinical_words_is_the_question(analyzer, question):
    assert analyzer.search_text(question) == question


@pytest.mark.parametrize("question, absent", [
    ("How long do I have to stay at the clinic after a Spravato dose?", "dose"),
    ("How long do side effects last after a dose?", "dose"),
    ("Can ketamine help people stop drinking?", "discontinuation"),
    ("Is a lower ketamine dose of 0.2 mg/kg IV better tolerated than 0.5 mg/kg?", "dose"),
    # "how long do I have to stay" asks how long to be observed, not how long an effect lasts
    ("How long do I have to stay at the clinic after a Spravato dose?", "onset"),
    # "how high can it go" asks a dose, not about getting high
    ("How high can a ketamine infusion for postoperative pain go?", "harms"),
])
def test_a_dose_named_as_a_time_or_another_stop_asks_nothing_about_it(analyzer, question, absent):
    assert absent not in [a.id for a in analyse(analyzer, question).aspects]


@pytest.mark.parametrize("question, kept", [
    ("I take Cozaar for my blood pressure. What is the next step if it has not come down?", ()),
    ("I've just been put on a new tablet for my blood pressure. What side effects are common?", ("harms",)),
    ("Does ketamine raise my blood pressure?", ("blood-pressure",)),
])
def test_what_a_drug_is_taken_for_is_not_an_aspect_asked_of_it(analyzer, question, kept):
    # "for my blood pressure" names the condition treated; what is asked of the drug is elsewhere
    assert tuple(a.id for a in analyse(analyzer, question).aspects) == kept


@pytest.mark.parametrize("question, harms", [
    ("Would ketamine in amounts too low to get high help my depression?", True),
    ("Which drugs are recommended to begin therapy in an adult with high blood pressure?", False),
    ("Should I take a statin if my LDL cholesterol is high?", False),
])
def test_high_asks_about_harms_only_as_getting_high(analyzer, question, harms):
    assert ("harms" in [a.id for a in analyse(analyzer, question).aspects]) is harms


def test_a_form_whose_cue_lies_inside_a_longer_one_is_not_asked(analyzer):
    forms = [f.id for f in analyse(analyzer, "At what point after ketamine was the difference largest?").forms]
    assert forms == ["peak"]


def test_a_sentence_stating_a_peak_does_not_state_a_time_to_effect():
    book = AspectBook.default()
    forms = book.forms_of("The effect size of ketamine on suicidal ideation is largest at 40 minutes after infusion.")
    assert "peak" in forms and "time-to-effect" not in forms


def test_words_a_cue_only_spans_stay_subject_words(analyzer):
    subject = [t.term for t in analyse(analyzer, "How is light therapy given for seasonal depression?").subject]
    assert "light" in subject and "given" not in subject


def test_what_a_question_sets_aside_is_not_its_subject(analyzer):
    analysis = analyse(analyzer, "Besides depression, what psychiatric conditions has ketamine shown promise for?")
    assert analysis.set_aside == {"depression"}
    assert "depression" not in [t.term for t in analysis.subject]
    assert "beside" not in [t.term for t in analysis.subject]
    assert analyse(analyzer, "Apart from ketamine, what works fast for depression?").drugs == ()


def test_an_everyday_wording_is_one_subject_word_held_through_its_clinical_words(analyzer):
    subject = {t.term: t for t in analyse(analyzer, "How many ketamine treatments until I feel better?").subject}
    assert "feel" not in subject
    assert subject["better"].clinical == {"response", "improvement"}


def test_a_sentence_restricted_to_a_subgroup_names_it():
    book = AspectBook.default()
    sentence = "For patients with risk factors for recurrence, antidepressants should be continued for 2 years."
    assert book.subgroup(sentence) == " risk factors for recurrence"
    assert book.subgroup("Antidepressants should be continued for 6 to 12 months.") is None


@pytest.mark.parametrize("question, added", [
    ("Do ketamine infusions work for chronic pain like CRPS?", "complex regional pain syndrome"),
    ("Does ketamine help post-traumatic stress disorder?", "PTSD"),
])
def test_search_text_adds_the_other_form_of_an_abbreviation(analyzer, question, added):
    assert added in analyzer.search_text(question)


def test_abbreviations_are_matched_as_written(analyzer):
    assert analyzer.search_text("Is a bp cuff needed?") == "Is a bp cuff needed?"


def test_a_word_family_keeps_most_of_a_long_word():
    analyzer = QuestionAnalyzer({"addiction": 3, "electroconvulsive": 9, "pharmacogenomic": 2, "clinical": 5}, 100)
    assert analyzer.family("addictive") == ["addiction"]
    assert analyzer.family("electroshock") == []
    assert analyzer.family("pharmacogenetic") == ["pharmacogenomic"]


@pytest.mark.parametrize("question, sources", [
    ("What does the CANMAT guideline say about neuromodulation?", ("canmat-doc",)),
    ("According to NICE, what is first-line for mild depression?", ("nice-doc",)),
    ("What did the Goodwin trial find?", ("goodwin-doc",)),
    ("In the dose-ranging trial of IV ketamine, which doses worked?", ("fava-doc",)),
    ("Do depression guidelines recommend ketamine as a first treatment?", ()),
    ("Is ketamine FDA approved for depression?", ()),
    # a name most documents hold names a subject, not a source
    ("What does the Ketamine review say about dosing?", ()),
])
def test_a_source_the_question_names_is_where_to_look(question, sources):
    documents = {"canmat-doc": ("lam 2024 canmat", "CANMAT 2023 Update", "Can J Psychiatry"),
                 "nice-doc": ("nice 2022 ng222", "Depression in adults (NICE guideline NG222)", ""),
                 "goodwin-doc": ("goodwin 2022 psilocybin", "Single-Dose Psilocybin", "NEJM"),
                 "fava-doc": ("fava 2020 ketamine dose ranging", "A dose-ranging trial of IV ketamine", ""),
                 **{f"k{i}": (f"k{i} ketamine", "Ketamine trial", "") for i in range(4)}}
    analyzer = QuestionAnalyzer(DF, 730, documents=documents)
    analysis = analyse(analyzer, question)
    assert analysis.sources == sources
    assert not any(t.term in ("canmat", "nice", "goodwin") for t in analysis.subject)


def test_a_broad_question_naming_a_source_asks_for_that_sources_overview():
    documents = {"canmat-doc": ("lam 2024 canmat", "CANMAT 2023 Update", "Can J Psychiatry")}
    analysis = analyse(QuestionAnalyzer(DF, 730, documents=documents),
                       "What does the CANMAT guideline say about neuromodulation?")
    assert analysis.sources == ("canmat-doc",) and analysis.broad


def test_a_name_in_capitals_names_only_a_source_that_writes_it_in_capitals():
    documents = {"who-doc": ("who hypertension 2021", "Guideline for the treatment of hypertension", ""),
                 "trial-doc": ("fu 2020 aspire", "Esketamine in adults who have suicidal ideation", "")}
    analysis = analyse(QuestionAnalyzer(DF, 730, documents=documents),
                       "What does the WHO guideline recommend about targets?")
    assert analysis.sources == ("who-doc",)
