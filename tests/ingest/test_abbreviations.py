"""Abbreviations a document defines, and its text with them spelled out for the embedder
(ingest/abbreviations.py; fast: no model)."""

from __future__ import annotations

import pytest

from ragqa.ingest.abbreviations import definitions, document_abbreviations, long_form, spelled_out


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


def test_a_document_keeps_its_first_definition_of_each_short_form():
    text = ("Adults with coeliac disease (CD) were seen. Crohn disease (CD) is another. "
            "A blood pressure (BP) check. The rate (62%) rose.")
    assert document_abbreviations(text) == {"CD": "coeliac disease", "BP": "blood pressure"}


def test_the_embedder_reads_the_short_form_spelled_out():
    defined = {"CD": "coeliac disease", "DXA": "dual-energy X-ray absorptiometry"}
    assert spelled_out("A diagnosis of CD has implications for family members.", defined) == \
        "A diagnosis of coeliac disease has implications for family members."
    assert spelled_out("Offer DXA to CD patients (CD-related bone loss).", defined) == \
        "Offer dual-energy X-ray absorptiometry to coeliac disease patients (CD-related bone loss)."


def test_a_text_that_writes_the_long_form_or_no_short_form_is_left_as_it_is():
    defined = {"CD": "coeliac disease"}
    assert spelled_out("Adults with coeliac disease (CD) should be reviewed.", defined) == \
        "Adults with coeliac disease (CD) should be reviewed."
    assert spelled_out("CDs and ABCD are other words.", defined) == "CDs and ABCD are other words."
    assert spelled_out("Nothing to spell out.", {}) == "Nothing to spell out."
