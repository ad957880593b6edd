"""Abbreviations the documents define themselves (answer/defined.py; fast: no model)."""

from __future__ import annotations

from ragqa.answer.defined import DefinedAbbreviations


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
