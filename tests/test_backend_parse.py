"""The backend setting and the Milvus filter expressions (pure functions, no engine)."""

from __future__ import annotations

import pytest

from ragqa.errors import InvalidQueryError
from ragqa.retrieve import Backend, Filters, InProcessBackend, filter_expression, open_backend


def test_backend_parse_names_the_bad_value():
    assert Backend.parse("milvus") is Backend.MILVUS
    with pytest.raises(InvalidQueryError, match="got 'elastic'"):
        Backend.parse("elastic")


@pytest.mark.parametrize("filters, expected", [
    (None, None),
    (Filters(), None),
    (Filters(doc_type=("label", "rct")), 'doc_type in ["label", "rct"]'),
    (Filters(year_min=2019), "year > 0 and year >= 2019"),
    (Filters(doc_type=("rct",), year_min=2015, year_max=2020),
     'doc_type in ["rct"] and year > 0 and year >= 2015 and year <= 2020'),
    (Filters(doc_type=('a"b',)), 'doc_type in ["a\\"b"]'),
])
def test_filter_expression(filters, expected):
    assert filter_expression(filters) == expected


def test_the_default_backend_is_in_process(monkeypatch, fixture_corpus, fake_embedder):
    from ragqa.index.store import build_index
    from ragqa.ingest.documents import read_corpus

    monkeypatch.delenv("RAGQA_BACKEND", raising=False)
    index = build_index(read_corpus(fixture_corpus), fake_embedder)
    assert isinstance(open_backend(index), InProcessBackend)
    monkeypatch.setenv("RAGQA_BACKEND", "solr")
    with pytest.raises(InvalidQueryError, match="got 'solr'"):
        open_backend(index)
