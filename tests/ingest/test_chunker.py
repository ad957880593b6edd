"""The chunker: exact offsets, heading paths, token budget and overlap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragqa.errors import InvalidQueryError
from ragqa.ingest.chunker import Chunker, ChunkingParams, approx_token_count
from ragqa.ingest.documents import DocType, Document, read_corpus
from ragqa.ingest.sentences import Span, paragraphs, split_sentences

TEXT = (
    "# Dosing\n\nKetamine 0.5 mg/kg IV over 40 minutes. A second sentence follows here.\n"
    "The paragraph goes on.\n\n## Lower doses\n\nKetamine 0.2-0.25 mg/kg over 1-2 minutes. "
    "Onset within 40 minutes!\n\n# Safety\nDissociation is common. Blood pressure rises."
)


def doc(text: str = TEXT) -> Document:
    return Document("d", "Title", text, "P", 2020, DocType.RCT)


def test_every_sentence_and_chunk_matches_its_span():
    sentences, chunks = Chunker(ChunkingParams(max_tokens=20)).run([doc()])
    for s in sentences:
        assert TEXT[s.char_start:s.char_end] == s.text
    for c in chunks:
        assert TEXT[c.char_start:c.char_end] == c.text
    assert [s.text for s in sentences][:2] == [
        "Ketamine 0.5 mg/kg IV over 40 minutes.", "A second sentence follows here."]


def test_sections_carry_the_heading_path():
    sentences, _ = Chunker().run([doc()])
    paths = {s.text: s.section for s in sentences}
    assert paths["Onset within 40 minutes!"] == ("Dosing", "Lower doses")
    assert paths["Dissociation is common."] == ("Safety",)


def test_headings_are_not_prose():
    texts = [TEXT[b.span.start:b.span.end] for b in paragraphs(TEXT)]
    assert not any(t.startswith("#") for t in texts)


def test_chunks_respect_budget_and_overlap():
    text = "# S\n\n" + " ".join(f"Ketamine sentence number {n} here." for n in range(8))
    _, chunks = Chunker(ChunkingParams(max_tokens=18, overlap_sentences=1)).run([doc(text)])
    assert len(chunks) > 2
    for chunk in chunks:
        assert approx_token_count(chunk.text) <= 18
    for a, b in itertools.pairwise(chunks):
        assert a.sentence_ids[-1] == b.sentence_ids[0]  # one sentence of overlap


def test_overlap_zero_repeats_nothing():
    text = "# S\n\n" + " ".join(f"Ketamine sentence number {n} here." for n in range(8))
    _, chunks = Chunker(ChunkingParams(max_tokens=18, overlap_sentences=0)).run([doc(text)])
    ids = [i for c in chunks for i in c.sentence_ids]
    assert ids == sorted(set(ids))


def test_chunks_never_cross_sections():
    sentences, chunks = Chunker(ChunkingParams(max_tokens=500)).run([doc()])
    for chunk in chunks:
        assert {sentences[i].section for i in chunk.sentence_ids} == {chunk.section}


def test_bad_parameters_are_refused():
    with pytest.raises(InvalidQueryError, match="max_tokens must be >= 16, got 3"):
        ChunkingParams(max_tokens=3)
    with pytest.raises(InvalidQueryError, match="overlap_sentences must be >= 0"):
        ChunkingParams(overlap_sentences=-1)


words = st.sampled_from(["ketamine", "0.5", "mg/kg", "IV", "dose", "PTSD", "(d", "=", "1.05)", "and"])
sentence = st.lists(words, min_size=1, max_size=12).map(lambda ws: " ".join(ws) + ".")
paragraph = st.lists(sentence, min_size=1, max_size=6).map(" ".join)
heading = st.sampled_from(["# A", "## B", "# C"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(paragraph, heading), min_size=1, max_size=8),
       st.integers(16, 80), st.integers(0, 2))
def test_offsets_hold_for_any_text(blocks, max_tokens, overlap):
    text = "\n\n".join(blocks)
    sentences, chunks = Chunker(ChunkingParams(max_tokens, overlap)).run([doc(text)])
    for item in [*sentences, *chunks]:
        assert text[item.char_start:item.char_end] == item.text
    covered = {i for c in chunks for i in c.sentence_ids}
    assert covered == set(range(len(sentences)))


def test_fixture_corpus_chunks_cleanly(fixture_corpus):
    docs = read_corpus(fixture_corpus)
    sentences, chunks = Chunker().run(docs)
    by_id = {d.id: d for d in docs}
    assert all(by_id[c.doc_id].text[c.char_start:c.char_end] == c.text for c in chunks)
    assert len(sentences) >= 12


def _split(text: str) -> list[str]:
    return [text[s.start:s.end] for s in split_sentences(text, Span(0, len(text)))]


def test_a_grade_after_a_recommendation_is_quoted_with_it():
    text = ("Diagnosis requires biopsy on a gluten-containing diet. (Grade B) Follow-up should aim at "
            "strict adherence. (Grade C)")
    assert _split(text) == ["Diagnosis requires biopsy on a gluten-containing diet. (Grade B)",
                            "Follow-up should aim at strict adherence. (Grade C)"]


def test_a_numbered_item_or_a_sentence_in_brackets_is_not_a_remark():
    text = "Three classes are used. (2) Thiazides are one. The dose is low (see text). Then more."
    assert _split(text) == ["Three classes are used.", "(2) Thiazides are one.",
                            "The dose is low (see text).", "Then more."]


def test_a_numbered_recommendation_after_a_sentence_starts_its_own():
    text = ("Body fat should be measured in patients seeking obesity management. 4.2 We recommend "
            "more comprehensive tools. 4.3(L) Waist circumference may be used. The dose was 2.5 mg. "
            "3.5 mg was also tried.")
    assert _split(text) == ["Body fat should be measured in patients seeking obesity management.",
                            "4.2 We recommend more comprehensive tools.",
                            "4.3(L) Waist circumference may be used.",
                            "The dose was 2.5 mg. 3.5 mg was also tried."]


def test_the_next_numbered_recommendation_starts_its_own_sentence_without_a_full_stop():
    text = ("3.2 The cardiometabolic risk with normal weight obesity is like that of overt obesity "
            "3.3 Emerging literature suggests a slow response to lifestyle change. Lowered by 3.24 "
            "mmHg and 1.5 DBP, both significant.")
    assert _split(text) == [
        "3.2 The cardiometabolic risk with normal weight obesity is like that of overt obesity",
        "3.3 Emerging literature suggests a slow response to lifestyle change.",
        "Lowered by 3.24 mmHg and 1.5 DBP, both significant."]


def test_a_numbered_recommendation_after_a_run_in_label_starts_its_own():
    text = ("Recommendations[39,51,52]: 7.23 Indications: pharmacotherapy should be started early. "
            "Recommendations: 2.1 (L) A rapid increase warrants attention. "
            "The ratio was 3: 1.5 Units were given.")
    assert _split(text) == ["Recommendations[39,51,52]:",
                            "7.23 Indications: pharmacotherapy should be started early.",
                            "Recommendations:", "2.1 (L) A rapid increase warrants attention.",
                            "The ratio was 3: 1.5 Units were given."]


@pytest.mark.parametrize(("text", "quotable"), [
    ("12", False), ("8.6", False), ("1.", False), ("(3)", False),
    ("8.6 mg/kg", True), ("Ketamine 0.5 mg/kg IV over 40 minutes.", True)])
def test_a_sentence_without_a_letter_is_not_quoted(text, quotable):
    from ragqa.ingest.chunker import Sentence

    assert Sentence("d", 0, len(text), text, ("Dosing",)).quotable is quotable
