"""Answers that answer the question: scope, lead and abstention on the real default index (slow)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ragqa.ingest.layout import BlockKind
from tests.answer.contract_checks import assert_contract

pytestmark = pytest.mark.slow

ABUSE = re.compile(r"abuse|dependen|addict|misuse", re.IGNORECASE)


def extracts(answer):
    return [s for s in answer.statements() if s.kind == "extract"]


def test_is_ketamine_addictive_leads_with_abuse_and_dependence(default_engine, default_index):
    answer = default_engine.ask("Is ketamine addictive?")
    assert not answer.abstained
    lead = [s for s in answer.bottom_line if s.kind == "extract"]
    assert lead and all(ABUSE.search(s.text) for s in lead), [s.text for s in lead]
    quoted = extracts(answer)
    assert len(quoted) <= 8
    assert sum(bool(ABUSE.search(s.text)) for s in quoted) / len(quoted) >= 0.5
    assert_contract(answer, default_index)


def test_sertraline_dose_abstains_and_says_what_was_found(default_engine):
    answer = default_engine.ask("What is the dose of sertraline for depression?")
    assert answer.abstained
    reason = answer.abstention.reason
    assert "mentions 'sertraline'" in reason and "none of the evidence on dose" in reason
    # the record leads with where the corpus names sertraline in passing (TRANSFORM-2 among them)
    passing = [p.text for p in answer.abstention.closest if "sertraline" in p.text]
    assert passing and any("TRANSFORM-2" in text for text in passing)
    assert "sertraline" in answer.message


def test_an_abstention_quotes_what_it_found_nearest_and_says_it_is_not_an_answer(default_engine,
                                                                                default_index):
    from ragqa.answer.render import NEAREST_HEADING, to_markdown

    answer = default_engine.ask("What is the dose of sertraline for depression?")
    assert answer.abstained and 1 <= len(answer.abstention.nearest) <= 3
    assert len({n.text for n in answer.abstention.nearest}) == len(answer.abstention.nearest)
    assert_contract(answer, default_index)  # each nearest sentence is its document's own span
    text = to_markdown(answer)
    assert NEAREST_HEADING in text and "not an answer" in NEAREST_HEADING
    assert all(n.text in text for n in answer.abstention.nearest)


def test_direct_dose_question_puts_the_dose_in_the_bottom_line(default_engine, default_index):
    answer = default_engine.ask("What dose of ketamine is used for treatment-resistant depression?")
    lead = " ".join(s.text for s in answer.bottom_line if s.kind == "extract")
    assert re.search(r"0\.5 ?mg/kg", lead), lead
    assert len(extracts(answer)) <= 8
    assert_contract(answer, default_index)


@pytest.mark.parametrize("question", [
    "Would tiny weekly doses of ketamine help me?",
    "Can ketamine in doses too small to feel lift my mood?",
    "I microdosed ketamine last month; does that work for depression?",
    "What about sub-perceptual amounts of ketamine for anxiety?",
])
def test_microdosing_in_other_words_gets_the_regimen_verdict_first(default_engine, question):
    answer = default_engine.ask(question)
    assert not answer.abstained
    assert answer.regimen_check.asked == "microdose" and answer.regimen_check.supported is False
    assert answer.bottom_line[0].text.startswith("None of the retrieved sources studied microdosing")
    assert len(extracts(answer)) <= 10


@pytest.mark.parametrize("question", [
    "Is ketamine addictive like caffeine?",
    "Should I take my vitamins as usual while on ketamine for depression?",
])
def test_everyday_words_the_corpus_lacks_do_not_abstain_by_themselves(default_engine, question):
    assert not default_engine.ask(question).abstained


@pytest.mark.parametrize("question", [
    "Is metformin effective for depression?",
    "What is the maximum dose of duloxetine?",
])
def test_a_subject_the_corpus_lacks_or_names_in_passing_abstains(default_engine, question):
    answer = default_engine.ask(question)
    assert answer.abstained and answer.abstention.closest


GUIDELINE_QUESTIONS = [
    "What is the light therapy protocol for seasonal depression?",
    "What does the guideline say about pharmacogenomic testing?",
    "Where does rTMS sit in the treatment of depression?",
    "How many sessions of cognitive behavioural therapy are recommended for depression?",
    "What should be done when a first antidepressant does not work?",
    "Is exercise recommended for depression?",
    "Which antidepressants have a higher risk of liver problems?",
    "What are the recommendations for selecting the initial treatment of depression?",
]


@pytest.mark.parametrize("question", GUIDELINE_QUESTIONS)
def test_guideline_answers_quote_with_context_and_section(default_engine, default_index, question):
    from ragqa.ingest.context import dangles

    answer = default_engine.ask(question)
    assert not answer.abstained
    quoted = extracts(answer)
    assert any(s.doc_id == "lam-2024-canmat-2023-mdd-guideline" for s in quoted)
    for statement in quoted:
        assert not dangles(statement.text), statement.text
        if statement.doc_id == "lam-2024-canmat-2023-mdd-guideline":
            assert statement.section, statement.text
    assert_contract(answer, default_index)


def test_an_image_only_table_is_named_not_guessed(default_engine):
    answer = default_engine.ask(
        "What are the recommendations for selecting the initial treatment of depression?")
    notes = [s.text for s in answer.bottom_line if s.kind == "system"]
    assert any("shown only as an image" in text and "Table 3.1" in text for text in notes), notes
    # what the clinician reads first is the quoted answer; the unquotable table is named after it
    assert answer.bottom_line[0].kind == "extract", answer.bottom_line[0].text


@pytest.mark.parametrize("question", [
    "Is ketamine a first-line treatment for depression?",
    "How long do I have to stay at the clinic after a Spravato dose?",
])
def test_a_narrow_question_reaches_the_sentences_on_its_aspect_nearest_in_meaning(default_engine,
                                                                                  default_index, question):
    engine = default_engine
    vector = engine.embedder.embed([engine.analyzer.search_text(question)])[0]
    analysis = engine.analyzer.analyze(question, vector)
    assert analysis.aspects and not analysis.broad
    evidence = engine.gatherer.gather(analysis)
    on_aspect = [sid for sid in range(len(default_index.sentences))
                 if engine.selector.facts.speaks_to(sid, analysis.aspects)
                 and (default_index.sentences[sid].quotable
                      or default_index.sentences[sid].kind is BlockKind.IMAGE_TABLE)]
    sims = default_index.sentence_vectors[on_aspect] @ vector
    nearest = {on_aspect[i] for i in np.argsort(-sims)[:5]}
    assert nearest <= {c.sentence_id for c in evidence.candidates}


def test_support_for_a_comparison_of_two_drugs_names_both(default_engine):
    answer = default_engine.ask("Is IV ketamine better than esketamine nasal spray?")
    support = [s for s in extracts(answer) if s not in answer.bottom_line]
    for statement in support:
        text = statement.text.lower()
        assert re.search(r"\bketamine\b", text) and "esketamine" in text, statement.text


def test_what_the_question_sets_aside_does_not_lead(default_engine):
    answer = default_engine.ask("Besides depression, which psychiatric conditions has ketamine been tried for?")
    lead = [s.text for s in answer.bottom_line if s.kind == "extract"]
    assert lead and not any(re.search(r"\bin (?:patients with )?depression\b", t) for t in lead), lead


@pytest.mark.parametrize("question, source", [
    ("What does the CANMAT guideline say about ketamine?", "lam-2024-canmat-2023-mdd-guideline"),
    ("What did the Goodwin trial find?", "goodwin-2022-psilocybin-trd-rct"),
])
def test_a_question_naming_a_source_is_answered_from_it(default_engine, question, source):
    answer = default_engine.ask(question)
    assert not answer.abstained
    quoted = extracts(answer)
    assert quoted and {s.doc_id for s in quoted} == {source}
    texts = [s.text for s in quoted]
    assert len(set(texts)) == len(texts)  # no sentence quoted twice


def test_an_overview_of_a_drug_stays_on_it(default_engine, default_index):
    """A broad question on psilocybin quotes no statement that names only other drugs (the
    ketamine regimens it used to list under their dose sections)."""
    answer = default_engine.ask("Tell me about psilocybin for depression")
    table = default_engine.gatherer.facts.table
    quoted = extracts(answer)
    assert quoted and len(answer.sections) >= 2
    for s in quoted:
        named = {drug for _, drug in table.drugs_in(s.text)}
        assert not named or "psilocybin" in named, s.text
    assert_contract(answer, default_index)


def test_the_corpus_topics_shape_only_overviews_of_their_subject(default_engine):
    """topics.json is the default corpus's preference for its drugs (those of the regimen table):
    an overview of ECT follows its sources' own headings, each section named by a heading of its
    statements' section paths."""
    topics = {t.heading for t in default_engine.selector.topics[:-1]}
    assert default_engine.gatherer.facts.on_topics(("ketamine",))
    assert not default_engine.gatherer.facts.on_topics(())
    answer = default_engine.ask("What does the evidence say about electroconvulsive therapy?")
    assert len(answer.sections) >= 2 and not topics & {s.heading for s in answer.sections}
    for section in answer.sections:
        assert section.heading == "Other evidence" or all(
            section.heading in s.section for s in section.statements), section
    ketamine = default_engine.ask("What does the evidence say about ketamine for depression?")
    assert {s.heading for s in ketamine.sections} & {a.heading for a in default_engine.gatherer.facts.book.aspects}
