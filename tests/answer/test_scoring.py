"""Scoring parts: MMR from one matrix product picks what the pairwise definition picks."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.answer.scoring import mmr
from ragqa.answer.selection import spells_out, stated_figures


def pairwise_mmr(vectors, scores, k, diversity, duplicate):
    """MMR as defined, one pair at a time (the reference the vectorised one must match)."""
    picked: list[int] = []
    remaining = list(np.argsort(-scores, kind="stable"))
    while remaining and len(picked) < k:
        best, best_value = None, -np.inf
        for i in remaining:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in picked), default=0.0)
            if redundancy >= duplicate:
                continue
            value = (1 - diversity) * scores[i] - diversity * redundancy
            if value > best_value:
                best, best_value = i, value
        if best is None:
            break
        picked.append(int(best))
        remaining.remove(best)
    return picked


@pytest.mark.parametrize("seed", range(20))
def test_picks_equal_the_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    n, dim = int(rng.integers(1, 60)), 16
    base = rng.normal(size=(n, dim))
    base[n // 2:] = base[: n - n // 2] + rng.normal(scale=0.05, size=(n - n // 2, dim))  # near twins
    vectors = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
    scores = np.round(rng.uniform(size=n), 2)  # rounded: ties happen
    for k, diversity, duplicate in [(10, 0.3, 0.95), (n, 0.5, 0.9), (3, 0.0, 1.1)]:
        assert mmr(vectors, scores, k, diversity, duplicate) == \
            pairwise_mmr(vectors, scores, k, diversity, duplicate)


def test_near_duplicates_are_never_picked_and_nothing_is_picked_from_nothing():
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    assert mmr(vectors, np.array([0.9, 0.8, 0.1]), 3, 0.3, 0.95) == [0, 2]
    assert mmr(np.zeros((0, 2), dtype=np.float32), np.zeros(0), 5) == []


def test_a_recommendation_number_is_not_a_stated_figure():
    # two recommendations worded alike state the same figures, whatever their numbers
    a = stated_figures("10.11 Patients with obesity should be advised to limit gestational weight gain to 5–9 kilograms.")
    b = stated_figures("10.10(L) Patients with obesity should be advised to limit gestational weight gain to 5–9 kilograms.")
    assert a == b == ["5", "9"]
    # a figure that opens a sentence without being its number stays a figure
    assert stated_figures("2.5 mg twice daily was given.") == ["2.5"]
    assert stated_figures("An IV dose of 0.5 mg/kg.") == ["0.5"]


class _Facts:
    """Per sentence, the aspects it speaks to (a FactBook's `[sid].aspects`)."""

    def __init__(self, aspects, spoken):
        self.book = type("Book", (), {"aspects": aspects})()
        self._spoken = spoken

    def __getitem__(self, sid):
        return type("Facts", (), {"aspects": self._spoken[sid]})()


def _aspect(id_):
    from ragqa.answer.aspects import Aspect

    return Aspect(id_, id_.title(), (), ())


def test_an_overview_files_a_statement_under_the_aspect_it_is_nearest_to_in_meaning():
    from ragqa.answer.selection import Selector, aspect_prototypes

    aspects = (_aspect("dose"), _aspect("mechanism"))
    # sentences 0-1 speak of dose alone, 2-3 of mechanism alone; 4 matches the cues of both and
    # is about mechanism in meaning
    vectors = np.array([[1, 0.1, 0], [1, -0.1, 0], [0, 1, 0.1], [0, 1, -0.1], [0.2, 0.9, 0]],
                       dtype=np.float32)
    spoken = [{"dose"}, {"dose"}, {"mechanism"}, {"mechanism"}, {"dose", "mechanism"}]
    sentence = type("Sentence", (), {"quotable": True})()
    index = type("Index", (), {"sentence_vectors": vectors, "sentences": [sentence] * 5})()
    facts = _Facts(aspects, spoken)
    centre, prototypes = aspect_prototypes(index, facts)
    assert np.allclose(centre, vectors.mean(axis=0))
    assert prototypes[0] @ (vectors[0] - centre) > 0 > prototypes[1] @ (vectors[0] - centre)
    selector = object.__new__(Selector)
    selector.index, selector.facts = index, facts  # the prototypes are read on first use
    assert selector._aspect_of(4, spoken[4]).id == "mechanism"
    assert selector._aspect_of(0, spoken[0]).id == "dose"
    assert np.allclose(selector._prototypes[1], prototypes)
    # without the index's prototypes: the first in the book's order, as before
    selector._prototypes = None
    assert selector._aspect_of(4, spoken[4]).id == "dose"
    assert selector._aspect_of(1, set()) is None


def test_an_overview_of_a_guideline_follows_its_own_chapters():
    from ragqa.answer.selection import Scored, Selector

    title = "Guideline for the treatment of hypertension"
    index = type("Index", (), {"documents": {"g": type("Doc", (), {"title": title})()}})()
    selector = object.__new__(Selector)
    selector.index = index
    selector.topics = (type("Topic", (), {"heading": "Other evidence", "id": "other"})(),)

    def statement(*section):
        candidate = type("Candidate", (), {"doc_id": "g", "section": (title, *section)})()
        return Scored(candidate, 1.0, True)

    def headings(statements):
        return [(heading, len(group)) for heading, _, group in selector._source_sections(statements)]

    # statements in two chapters: the chapters name the sections, in the order of their best
    parted = [statement("3 Recommendations", "3.1 Threshold"), statement("4 Research gaps"),
              statement("3 Recommendations", "3.6 Target")]
    assert headings(parted) == [("3 Recommendations", 2), ("4 Research gaps", 1)]
    # all in one chapter: its numbered parts do
    one = [statement("3 Recommendations", "3.1 Threshold"), statement("3 Recommendations", "3.6 Target"),
           statement("3 Recommendations", "3.1 Threshold", "Remarks")]
    assert headings(one) == [("3.1 Threshold", 2), ("3.6 Target", 1)]
    # no heading below the title: "Other evidence"
    assert headings([statement()]) == [("Other evidence", 1)]
    # a short heading that opens the title too ("Guideline", with no title above it) is not the
    # title; the title cut at a line's end is
    bare = [Scored(type("Candidate", (), {"doc_id": "g", "section": section})(), 1.0, True)
            for section in (("Guideline", "Scope"), ("Guideline for the treatment of", "Doses"))]
    assert headings(bare) == [("Guideline", 1), ("Doses", 1)]


def test_a_glossary_row_spells_out_an_abbreviation_and_states_nothing():
    assert spells_out("BP | blood pressure")
    assert spells_out("Abbreviation: TMS | Definition: Transcranial magnetic stimulation")
    assert spells_out("GRADE | Grading of Recommendations Assessment, Development and Evaluation")
    # rows that state something: a figure, a longer first cell, more than two cells, prose
    assert not spells_out("BMI | 25-29.9 kg/m2")
    assert not spells_out("Orlistat | Lipase inhibitor taken with meals")
    assert not spells_out("Drug: CCB | Dose: 5 mg | Frequency: once daily")
    assert not spells_out("An SSRI is recommended first-line for most patients.")
