"""Abbreviations the documents define themselves (answer/defined.py; fast: no model)."""

from __future__ import annotations

import pytest

from ragqa.answer.defined import DefinedAbbreviations, definitions, long_form


@pytest.mark.parametrize("text, expected", [
    ("Adults with coeliac disease (CD) should", [("CD", "coeliac disease")]),
    ("calcium channel blockers (CCBs) are preferred", [("CCBs", "calcium channel blockers")]),
    ("a dual-energy X-ray absorptiometry (DXA) scan", [("DXA", "dual-energy X-ray absorptiometry")]),
    ("measured as tissue transglutaminase (tTG) antibodies", [("tTG", "tissue transglutaminase")]),
    ("angiotensin-converting enzyme inhibitors (ACEIs; see Table 2)",
     [("ACEIs", "angiotensin-converting enzyme inhibitors")]),
])
def test_a_bracketed_short_form_finds_the_words_it_abbreviates(text, expected):
    assert definitions(text) == expected


@pytest.mark.parametrize("text", [
    "as shown before (see Table 2).",     # not a short form
    "the response rate (62%) was higher",  # a figure
    "in adults (aged 18 or over)",         # no capital
    "a large trial (SPRINT) found",        # its letters are not the words before it
])
def test_brackets_that_define_nothing_are_left_alone(text):
    assert definitions(text) == []


def test_the_first_letter_must_start_a_word():
    # "CD" cannot take its C from inside "chronic" after the D of "disease"
    assert long_form("CD", "the chronic disease") == "chronic disease"
    assert long_form("CD", "a dicey case") is None
    assert long_form("MDD", "patients with major depressive disorder") == "major depressive disorder"


def test_each_document_keeps_its_own_meaning():
    defined = DefinedAbbreviations.of([
        ("gut", "Adults with coeliac disease (CD) were seen."),
        ("bowel", "Patients with Crohn disease (CD) were seen."),
    ])
    assert defined.expansion("gut", "cd") == {"coeliac", "disease"}
    assert defined.expansion("bowel", "cd") == {"crohn", "disease"}
    assert defined.expansion("other", "cd") == frozenset()


def test_a_sentence_writing_the_short_form_holds_the_long_forms_words():
    defined = DefinedAbbreviations.of([("gut", "Adults with coeliac disease (CD) were seen.")])
    terms = frozenset({"patient", "cd", "annual"})
    assert defined.expand("gut", terms) == terms | {"coeliac", "disease"}
    assert defined.expand("other", terms) is terms
