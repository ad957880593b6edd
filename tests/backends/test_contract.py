"""The backend contract: the same cases against the in-process backend and Milvus (embedded)."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.errors import InvalidQueryError
from ragqa.index.bm25 import BM25Backend
from ragqa.index.milvus import Kind, Lexical, MilvusStore
from ragqa.index.store import IndexParams, build_index
from ragqa.index.tokenize import tokenize
from ragqa.ingest.documents import read_corpus
from ragqa.retrieve import (
    Filters,
    Hit,
    InProcessBackend,
    MilvusBackend,
    Mode,
    Retriever,
    SearchResult,
    SentenceHit,
)

QUERIES = ["esketamine 56 mg intranasal", "ketamine 0.5 mg/kg infusion depression",
           "psilocybin microdosing", "emergence reactions hallucinations",
           "suicidal ideation within 40 minutes"]


@pytest.fixture
def retriever(backend_index, backend_embedder, backend):
    return Retriever(backend_index, backend_embedder, backend=backend)


def test_clinical_tokens_survive_bm25(retriever):
    # '0.5 mg/kg' is one token '0.5mg/kg' on both sides: the whitespace analyzer keeps it whole
    result = retriever.search("0.5 mg/kg", k=3, mode=Mode.BM25)
    texts = [retriever.index.chunks[h.chunk_index].text for h in result.hits]
    assert texts and all("0.5 mg/kg" in t for t in texts)
    assert "0.5mg/kg" in result.query_tokens
    none = retriever.search("0.25 mg/kg", k=3, mode=Mode.BM25)
    assert none.hits == []  # '0.25mg/kg' occurs nowhere: no partial match on '0.25' or 'mg'


@pytest.mark.parametrize("query, doc_id", [
    ("esketamine 56 mg intranasal", "esketamine-label"),
    ("psilocybin microdosing", "psilocybin-microdosing-review"),
    ("ketamine IV induction of surgical anesthesia", "ketamine-anesthesia-label"),
])
@pytest.mark.parametrize("mode", list(Mode))
def test_top_document_in_every_mode(retriever, query, doc_id, mode):
    result = retriever.search(query, k=5, mode=mode)
    assert isinstance(result, SearchResult) and all(isinstance(h, Hit) for h in result.hits)
    assert result.hits[0].doc_id == doc_id
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_filters_restrict_doc_type_and_year(retriever, backend_index):
    labels = retriever.search("ketamine dose", k=20, filters=Filters(doc_type=("label",)))
    assert {h.doc_id for h in labels.hits} == {"esketamine-label", "ketamine-anesthesia-label"}
    recent = retriever.search("ketamine dose", k=20, filters=Filters(year_min=2020))
    assert recent.hits and {backend_index.documents[h.doc_id].year for h in recent.hits} <= {2020, 2022}
    old = retriever.search("ketamine 0.5 mg/kg", k=20, filters=Filters(year_max=2019))
    years = {backend_index.documents[h.doc_id].year for h in old.hits}
    assert old.hits and None not in years and max(years) <= 2019  # the undated note is out
    unfiltered = retriever.search("ketamine 0.5 mg/kg", k=20)
    assert "undated-note" in {h.doc_id for h in unfiltered.hits}
    assert retriever.search("ketamine", k=5, filters=Filters(doc_type=())).hits == []


def test_sentences_ranked_with_filters(retriever, backend_index, backend_embedder):
    query = "suicidal ideation fell within 40 minutes"
    vector = backend_embedder.embed([query])[0]
    result = retriever.search_sentences(query, vector, k=5)
    assert all(isinstance(h, SentenceHit) for h in result.hits)
    top = backend_index.sentences[result.hits[0].sentence_id]
    assert "Suicidal ideation fell within 40 minutes" in top.text
    assert all(backend_index.sentences[h.sentence_id].doc_id == h.doc_id for h in result.hits)
    labels = retriever.search_sentences(query, vector, k=10, filters=Filters(doc_type=("label",)))
    assert labels.hits and {h.doc_id for h in labels.hits} <= {"esketamine-label",
                                                               "ketamine-anesthesia-label"}


def test_search_many_matches_search(retriever, backend_embedder):
    vectors = list(backend_embedder.embed(QUERIES))
    many = retriever.search_many(QUERIES, vectors, k=4)
    for query, vector, result in zip(QUERIES, vectors, many):
        one = retriever.search(query, k=4, query_vector=vector)
        assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in one.hits]


def test_bad_queries_are_refused(retriever, backend_embedder):
    with pytest.raises(InvalidQueryError, match="query must not be empty"):
        retriever.search("   ")
    with pytest.raises(InvalidQueryError, match="k must be > 0, got 0"):
        retriever.search("ketamine", k=0)
    with pytest.raises(InvalidQueryError, match="k must be > 0, got 0"):
        retriever.search_sentences("ketamine", backend_embedder.embed(["ketamine"])[0], k=0)


def test_a_query_without_bm25_tokens_ranks_by_vectors_alone(retriever):
    result = retriever.search("the of and", k=3)  # stopwords only: no BM25 side
    assert result.query_tokens == [] and len(result.hits) == 3
    assert all(h.bm25_rank is None for h in result.hits)


# -- the two backends side by side ----------------------------------------------------------------


@pytest.fixture
def both(backend_index, backend_embedder, fixture_store):
    return (Retriever(backend_index, backend_embedder, backend=InProcessBackend(backend_index)),
            Retriever(backend_index, backend_embedder,
                      backend=MilvusBackend(backend_index, fixture_store)))


@pytest.mark.parametrize("query", QUERIES)
def test_dense_search_is_the_same_exact_search(both, query):
    local, milvus = both
    a, b = local.search(query, k=5, mode=Mode.DENSE), milvus.search(query, k=5, mode=Mode.DENSE)
    assert [h.chunk_id for h in a.hits] == [h.chunk_id for h in b.hits]
    assert np.allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-5)


@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_rrf_scores_are_ragqa_s_rrf(both, query):
    local, milvus = both
    a, b = local.search(query, k=3), milvus.search(query, k=3)
    assert a.hits[0].doc_id == b.hits[0].doc_id
    # Milvus's RRFRanker(60) gives the same 1/(60 + rank) sums where the two rankings agree
    assert b.hits[0].score == pytest.approx(a.hits[0].score, abs=2e-3)
    assert b.hits[0].score <= 2 / 61 + 1e-6


@pytest.fixture(scope="module")
def bm25s_index(backend_corpus, backend_embedder):
    """The fixture corpus indexed with bm25s scoring its chunks (rank-bm25 is the default)."""
    return build_index(read_corpus(backend_corpus), backend_embedder,
                       IndexParams(bm25=BM25Backend.BM25S))


@pytest.fixture(scope="module")
def bm25s_store(milvus_uri, bm25s_index):
    store = MilvusStore.open(milvus_uri, "fixture_bm25s")
    store.publish(bm25s_index)
    yield store
    store.drop_all()


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("bm25", list(BM25Backend))
def test_bm25_scores_are_the_index_s_own(request, milvus_uri, backend_index, bm25s_index, kind,
                                         bm25):
    """Milvus scores BM25 as the index's own backend does: rank-bm25's weights (stored) or bm25s's
    Lucene IDF (Milvus's BM25 function): every row that scores, with the same score."""
    if bm25 is BM25Backend.BM25S:
        index, store = bm25s_index, request.getfixturevalue("bm25s_store")
    else:
        index, store = backend_index, request.getfixturevalue("fixture_store")
    scorer = index.bm25 if kind is Kind.CHUNKS else index.sentence_bm25
    expected = Lexical.WEIGHTS if kind is Kind.CHUNKS and bm25 is BM25Backend.RANK_BM25 \
        else Lexical.ENGINE
    assert Lexical.of(scorer) is expected
    fresh = MilvusStore.open(milvus_uri, store.name)  # reads the scoring from the collection
    assert fresh.lexical_of(fresh.served()[kind.value]) is expected
    local, milvus = InProcessBackend(index), MilvusBackend(index, store)
    zero = np.zeros((1, index.chunk_vectors.shape[1]), dtype=np.float32)
    for query in [*QUERIES, "ketamine ketamine dose"]:  # a repeated token counts twice
        tokens = tokenize(query)
        [a] = local.search(kind, [tokens], zero, 1000, 1000, Mode.BM25, None, None)
        [b] = milvus.search(kind, [tokens], zero, 1000, 1000, Mode.BM25, None, None)
        assert a.bm25 and set(a.bm25) == set(b.bm25), query
        assert [b.bm25[row] for row in a.bm25] == pytest.approx(list(a.bm25.values()), rel=1e-5)
