"""The clinical BM25 tokenizer."""

import pytest

from ragqa.index.tokenize import s_stem, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5 mg/kg IV", ["0.5mg/kg", "iv"]),
        ("0.2–0.25 mg/kg", ["0.2-0.25mg/kg", "0.2mg/kg", "0.25mg/kg"]),
        ("1 mg/kg/h", ["1mg/kg/h"]),
        ("PTSD and OCD", ["ptsd", "ocd"]),
        ("CAPS-5", ["caps-5", "cap", "5"]),
        ("treatment-resistant", ["treatment-resistant", "treatment", "resistant"]),
        ("84 mg esketamine", ["84mg", "esketamine"]),
        ("≥50% response", ["50%", "response"]),
    ],
)
def test_clinical_terms_survive(text, expected):
    assert tokenize(text) == expected


def test_stopwords_are_dropped_and_case_folded():
    assert tokenize("What is THE dose of Ketamine?") == ["dose", "ketamine"]


@pytest.mark.parametrize(("word", "stem"), [("infusions", "infusion"), ("studies", "study"),
                                             ("doses", "dose"), ("status", "status"),
                                             ("class", "class"), ("iv", "iv")])
def test_s_stemmer_folds_plurals_only(word, stem):
    assert s_stem(word) == stem
