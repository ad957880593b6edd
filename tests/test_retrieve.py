"""Fusion maths, filters and the end-to-end index + search with the real model."""

from __future__ import annotations

import pytest

from ragqa.errors import InvalidQueryError
from ragqa.index.store import load_index, update_index
from ragqa.retrieve import Filters, Fusion, Mode, Retriever, min_max, rrf_scores, weighted_scores


def test_rrf_sums_reciprocal_ranks():
    fused = rrf_scores([[7, 3], [3, 9]], k=60)
    assert fused[3] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[7] == pytest.approx(1 / 61)
    assert fused[9] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == 3  # found by both retrievers


def test_min_max_and_weighted_fusion():
    assert min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert min_max({1: 5.0}) == {1: 1.0}
    fused = weighted_scores({1: 10.0, 2: 0.0}, {2: 0.9, 3: 0.1}, dense_weight=0.75)
    assert fused == pytest.approx({1: 0.25, 2: 0.75, 3: 0.0})


def test_parsers_name_the_bad_value():
    with pytest.raises(InvalidQueryError, match="got 'fuzzy'"):
        Mode.parse("fuzzy")
    with pytest.raises(InvalidQueryError, match="got 'sum'"):
        Fusion.parse("sum")


@pytest.fixture
def fake_index(tmp_path, fixture_corpus, fake_embedder):
    update_index(fixture_corpus, tmp_path / "idx", fake_embedder)
    return load_index(tmp_path / "idx", fake_embedder)


def test_hits_carry_both_retrievers_ranks(fake_index, fake_embedder):
    result = Retriever(fake_index, fake_embedder).search("esketamine 56 mg intranasal", k=3)
    top = result.hits[0]
    assert top.doc_id == "esketamine-label"
    assert top.bm25_rank == 1 and top.dense_rank is not None and top.rank == 1
    assert [h.rank for h in result.hits] == [1, 2, 3]


def test_filters_restrict_doc_type_and_year(fake_index, fake_embedder):
    retriever = Retriever(fake_index, fake_embedder)
    labels = retriever.search("ketamine dose", k=10, filters=Filters(doc_type=("label",)))
    assert {h.doc_id for h in labels.hits} == {"esketamine-label", "ketamine-anesthesia-label"}
    recent = retriever.search("ketamine dose", k=10, filters=Filters(year_min=2020))
    assert {fake_index.documents[h.doc_id].year for h in recent.hits} <= {2020, 2022}


def test_single_retriever_modes(fake_index, fake_embedder):
    retriever = Retriever(fake_index, fake_embedder)
    bm25 = retriever.search("psilocybin microdosing", k=2, mode=Mode.BM25)
    assert all(h.dense_rank is None for h in bm25.hits)
    dense = retriever.search("psilocybin microdosing", k=2, mode=Mode.DENSE)
    assert all(h.bm25_rank is None for h in dense.hits)
    assert bm25.hits[0].doc_id == dense.hits[0].doc_id == "psilocybin-microdosing-review"


def test_bad_queries_are_refused(fake_index, fake_embedder):
    retriever = Retriever(fake_index, fake_embedder)
    with pytest.raises(InvalidQueryError, match="query must not be empty"):
        retriever.search("   ")
    with pytest.raises(InvalidQueryError, match="k must be > 0, got 0"):
        retriever.search("ketamine", k=0)


@pytest.mark.slow
def test_end_to_end_index_and_search_with_the_real_model(tmp_path, fixture_corpus, real_embedder):
    report = update_index(fixture_corpus, tmp_path / "idx", real_embedder)
    assert report.manifest["model"] == {"name": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384}
    index = load_index(tmp_path / "idx", real_embedder)
    retriever = Retriever(index, real_embedder)
    cases = {
        "How is esketamine nasal spray dosed?": "esketamine-label",
        "What dose of ketamine induces general anesthesia?": "ketamine-anesthesia-label",
        "Do sub-perceptual doses of psychedelics beat placebo?": "psilocybin-microdosing-review",
        "How fast does suicidal ideation improve after ketamine?": "low-dose-ketamine-trial",
    }
    for question, expected in cases.items():
        assert retriever.search(question, k=1).hits[0].doc_id == expected, question
