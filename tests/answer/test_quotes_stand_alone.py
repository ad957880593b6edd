"""No quote of an answer opens with a word that points at a sentence left out (slow: real index).

Every extract statement of every answer to a question set on the CANMAT guideline, and to the
reference question, goes through `dangles`: a quote that opens with "These ...", "Hence, ...",
"Given these issues, ..." or "The trial ..." must carry the sentence it leans on.
"""

from __future__ import annotations

import pytest

from ragqa.ingest.context import dangles
from tests.answer.test_question_scope import GUIDELINE_QUESTIONS
from tests.answer.test_reference_question import REFERENCE

pytestmark = pytest.mark.slow

CANMAT_QUESTIONS = [
    *GUIDELINE_QUESTIONS,
    "Is ketamine a first-line treatment for depression?",
    "How long should antidepressants be continued after remission?",
    "How many ECT sessions does an acute course usually need?",
    "When should ECT be the first treatment for depression?",
    "How should an antidepressant be stopped?",
    "Which antidepressants have the highest risk of discontinuation symptoms?",
    "Is exercise recommended for mild depression?",
    "Is St. John's wort recommended for depression?",
    "Are digital health apps effective for depression?",
    "Should antidepressant plasma levels be monitored?",
    "What are the risk factors for recurrence of depression?",
    "What is theta burst stimulation?",
    "Is psilocybin recommended for depression?",
    "Do antidepressants increase suicide risk in young adults?",
    "Which antidepressant is preferred for patients over 65?",
]


@pytest.mark.parametrize("question", [*CANMAT_QUESTIONS, REFERENCE])
def test_no_quote_opens_without_the_sentence_it_leans_on(default_engine, question):
    answer = default_engine.ask(question)
    quotes = [s.text for s in answer.statements() if s.kind == "extract"]
    assert answer.abstained or quotes
    dangling = [text[:120] for text in quotes if dangles(text)]
    assert not dangling, dangling


def test_a_question_is_never_quoted_as_a_statement(default_engine, default_index):
    """A sentence that asks (a guideline's "Q1: At what BP level should ... be initiated?") states
    nothing: no sentence of the index ending in a question mark may be quoted."""
    asking = [sid for sid, s in enumerate(default_index.sentences) if s.text.rstrip().endswith("?")]
    assert asking
    assert not any(default_engine.selector.quotable_alone(sid) for sid in asking)
