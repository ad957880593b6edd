"""The Markdown rendering shows where each quote sits in its source: section path and page (fast)."""

from __future__ import annotations

from ragqa.answer.contract import Answer, Reference, RegimenCheck, Section, Statement
from ragqa.answer.render import to_markdown

RTMS = ("However, rTMS is typically recommended for patients with TRD after the failure of "
        "first-line psychotherapy and medication treatments.")
ROW = "Risk of discontinuation symptoms: High risk | Antidepressant: Paroxetine; Venlafaxine"


def answer(*statements: Statement) -> Answer:
    return Answer(
        question="Where does rTMS sit?", abstained=False, bottom_line=[statements[0]],
        sections=[Section(heading="Supporting evidence", topic="other",
                          statements=list(statements[1:]))],
        regimen_check=RegimenCheck(asked=None, asked_label=None, supported=None, evidence=[],
                                   note="The question names no dose regimen."),
        references=[Reference(n=1, doc_id="canmat", title="CANMAT 2023", doc_type="guideline")],
        index_version="v", timings_ms={},
    )


def extract(text: str, section: list[str], page: int | None) -> Statement:
    return Statement(text=text, kind="extract", citations=[1], doc_id="canmat", char_start=0,
                     char_end=len(text), section=section, page=page)


def test_each_quote_shows_its_section_path_and_page():
    markdown = to_markdown(answer(
        extract(RTMS, ["Question 8. When Should Neuromodulation Treatments be Used?",
                       "Q.8.d. When Should Neuromodulation Treatments be Selected?"], 31),
        extract(ROW, ["Q.6.d. How Should Antidepressant Treatment be Discontinued?",
                      "Table 6.3. Risk of Antidepressant Discontinuation Symptoms.*"], None),
        extract("A quote from a PDF page before any heading.", [], 2),
    ))
    lines = markdown.splitlines()
    assert (f"- {RTMS} [1] *(Question 8. When Should Neuromodulation Treatments be Used? > "
            "Q.8.d. When Should Neuromodulation Treatments be Selected?, p. 31)*") in lines
    assert (f"- {ROW} [1] *(Q.6.d. How Should Antidepressant Treatment be Discontinued? > "
            "Table 6.3. Risk of Antidepressant Discontinuation Symptoms.*)*") in lines
    assert "- A quote from a PDF page before any heading. [1] *(p. 2)*" in lines


def test_a_quote_without_section_or_page_shows_neither():
    markdown = to_markdown(answer(extract("Ketamine is an NMDA antagonist.", [], None)))
    assert "- Ketamine is an NMDA antagonist. [1]" in markdown.splitlines()


def test_ragqa_sentences_are_labelled_and_no_regimen_section_without_a_regimen():
    system = Statement(text="None of the sources studied it [1].", kind="system", citations=[1])
    markdown = to_markdown(answer(system, extract(RTMS, [], None)))
    assert "- *ragqa:* None of the sources studied it [1]." in markdown
    assert "Regimen" not in markdown


def test_a_title_ending_in_a_question_mark_takes_no_full_stop():
    answered = answer(extract(RTMS, [], None))
    answered.references = [Reference(n=1, doc_id="andrade", title="At What Frequency?",
                                     doc_type="review", authors=["Andrade C", "and others"])]
    line = next(x for x in to_markdown(answered).splitlines() if x.startswith("1. "))
    assert line.startswith("1. Andrade C and others. At What Frequency? (review)")


def test_an_abstention_names_the_questions_own_word_not_its_token():
    from ragqa.answer.analysis import as_written

    question = "What is the dose of dapsone for dermatitis herpetiformis on Zestril?"
    assert as_written("herpetiformi", question) == "herpetiformis"
    assert as_written("zestril", question) == "Zestril"
    assert as_written("sertraline", question) == "sertraline"  # not in the question: the term
