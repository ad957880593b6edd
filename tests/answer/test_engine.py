"""The answer engine over the fixture corpus with the fake embedder (fast)."""

from __future__ import annotations

import pytest

from ragqa.answer.engine import AnswerEngine
from ragqa.answer.render import to_markdown
from ragqa.errors import InvalidQueryError
from ragqa.index.store import load_index, update_index
from tests.answer.contract_checks import assert_contract


@pytest.fixture
def engine(tmp_path, fixture_corpus, fake_embedder):
    update_index(fixture_corpus, tmp_path / "idx", fake_embedder)
    return AnswerEngine(load_index(tmp_path / "idx", fake_embedder), fake_embedder)


def test_microdosing_question_is_flagged_unsupported_with_cited_doses(engine):
    answer = engine.ask("Is microdosing ketamine effective for treatment-resistant depression?")
    assert not answer.abstained
    assert answer.regimen_check.asked == "microdose"
    assert answer.regimen_check.supported is False
    first = answer.bottom_line[0]
    assert first.kind == "system"
    assert first.text.startswith("None of the retrieved sources studied microdosing of ketamine")
    assert "0.5 mg/kg" in first.text and first.citations
    # the verdict offers the asked drug's regimens only, never another drug's microdoses
    assert all(e.regimen.startswith("ketamine") for e in answer.regimen_check.evidence)
    assert_contract(answer, engine.index)


def test_explicit_standard_dose_is_supported(engine):
    answer = engine.ask("Does ketamine 0.5 mg/kg IV help treatment-resistant depression?")
    assert answer.regimen_check.asked == "ketamine-standard-subanesthetic"
    assert answer.regimen_check.supported is True
    assert_contract(answer, engine.index)


def test_psychedelic_microdosing_is_supported_where_the_corpus_studied_it(engine):
    answer = engine.ask("Does microdosing psilocybin differ from placebo?")
    assert answer.regimen_check.supported is True
    assert_contract(answer, engine.index)


@pytest.mark.parametrize("question", ["How do I fix a bicycle chain?", "Which river flows through Paris?"])
def test_off_topic_questions_abstain_with_a_record(engine, question):
    answer = engine.ask(question)
    assert answer.abstained and answer.message
    assert answer.abstention.closest and answer.abstention.threshold > 0
    assert_contract(answer, engine.index)


@pytest.mark.parametrize(("question", "match"), [
    ("   ", "question must not be empty"),
    ("x" * 2001, "at most 2000 characters, got 2001"),
])
def test_bad_questions_are_refused(engine, question, match):
    with pytest.raises(InvalidQueryError, match=match):
        engine.ask(question)


def test_top_k_out_of_range_is_refused(engine):
    with pytest.raises(InvalidQueryError, match="top_k must be between 1 and 50, got 0"):
        engine.ask("ketamine dose", top_k=0)


def test_markdown_rendering_shows_verdict_table_and_references(engine):
    markdown = to_markdown(engine.ask("Is microdosing ketamine effective for treatment-resistant "
                                      "depression?"))
    assert "## Bottom line" in markdown and "## References" in markdown
    assert "| regimen | doses | routes | sources |" in markdown
    assert "Educational use only" in markdown
