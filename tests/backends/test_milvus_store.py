"""Publishing to Milvus: collections beside the served ones, the alias switch, the old ones dropped."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ragqa.index.milvus import Kind, MilvusStore, ensure_published
from ragqa.index.store import build_index
from ragqa.ingest.documents import read_corpus
from ragqa.retrieve import MilvusBackend, Mode, Retriever


@pytest.fixture
def store(milvus_uri, request):
    store = MilvusStore.open(milvus_uri, request.node.name[:20])
    store.drop_grace_s = 0.2
    yield store
    store.drop_all()


def collections_of(store: MilvusStore) -> set[str]:
    return {c for c in store.client.list_collections() if c.startswith(f"{store.base}_")}


def test_publish_switches_the_alias_then_drops_the_old_collections(store, backend_index):
    assert store.served() == {}
    first = store.publish(backend_index)
    assert first.previous == {} and first.dropped == ()
    assert first.rows == {"chunks": len(backend_index.chunks),
                          "sentences": len(backend_index.sentences)}
    assert store.served() == first.collections
    assert store.served_version() == backend_index.version
    second = store.publish(backend_index)
    assert second.previous == first.collections
    assert set(second.dropped) == set(first.collections.values())
    assert collections_of(store) == set(second.collections.values())


def test_ensure_published_only_when_the_version_differs(store, backend_index):
    assert ensure_published(store, backend_index) is not None
    assert ensure_published(store, backend_index) is None


def test_hits_outside_the_loaded_build_are_dropped(store, backend_index, backend_corpus,
                                                   backend_embedder):
    # Milvus serves the whole corpus; this process loaded a build without the esketamine label
    store.publish(backend_index)
    documents = [d for d in read_corpus(backend_corpus) if d.id != "esketamine-label"]
    older = build_index(documents, backend_embedder)
    retriever = Retriever(older, backend_embedder, backend=MilvusBackend(older, store))
    result = retriever.search("esketamine 56 mg intranasal", k=5)
    assert result.hits and "esketamine-label" not in {h.doc_id for h in result.hits}
    assert all(older.chunks[h.chunk_index].id == h.chunk_id for h in result.hits)


def test_a_failed_publish_leaves_the_served_collections(store, backend_index, monkeypatch):
    store.publish(backend_index)
    served = store.served()
    monkeypatch.setattr(store, "_insert", lambda *a: (_ for _ in ()).throw(RuntimeError("disk")))
    with pytest.raises(RuntimeError, match="disk"):
        store.publish(backend_index)
    assert store.served() == served
    assert collections_of(store) == set(served.values())


def test_reindex_under_concurrent_queries_loses_no_request(store, backend_index, backend_corpus,
                                                           backend_embedder):
    """Four threads ask without pause while the index is re-published three times (the last time
    dropping the old collections at once, so cached names go stale): every query answers."""
    store.publish(backend_index)
    documents = read_corpus(backend_corpus)
    builds = [build_index(documents[:-1], backend_embedder), backend_index,
              build_index(documents[1:], backend_embedder)]
    retriever = Retriever(backend_index, backend_embedder,
                          backend=MilvusBackend(backend_index, store))
    vector = backend_embedder.embed(["ketamine dose"])[0]
    stop = threading.Event()
    answered, errors, empty = [0], [], [0]
    lock = threading.Lock()

    def ask() -> None:
        while not stop.is_set():
            try:
                chunks = retriever.search("ketamine dose", k=3, query_vector=vector)
                sentences = retriever.search_sentences("ketamine dose", vector, k=3,
                                                       mode=Mode.HYBRID)
            except Exception as exc:  # noqa: BLE001 - any failure is a lost request
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                answered[0] += 1
                empty[0] += not chunks.hits or not sentences.hits

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    served = []
    try:
        for i, build in enumerate(builds):
            time.sleep(0.3)
            if i == len(builds) - 1:
                store.drop_grace_s = 0.0  # readers still hold the old names: they must re-resolve
            served.append(store.publish(build).collections[Kind.CHUNKS.value])
        time.sleep(1.5)  # past the pointer cache: queries now run on the last build
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert answered[0] > 20 and empty[0] == 0
    assert store.served()[Kind.CHUNKS.value] == served[-1]
    assert len(set(served)) == 3
    assert collections_of(store) == set(store.served().values())


def test_okapi_weights_sum_to_rank_bm25_s_scores():
    """Stored weights dotted with a query's term counts are BM25Okapi's scores, including the
    floored IDF of a term in more than half the rows and a query token given twice."""
    from rank_bm25 import BM25Okapi

    from ragqa.index.milvus import okapi_weights, query_weights

    corpus = [["ketamine", "0.5mg/kg", "infusion"], ["ketamine", "esketamine", "spray"],
              ["ketamine", "dose"], ["psilocybin", "microdose", "dose", "dose"]]
    model = BM25Okapi(corpus)
    rows = okapi_weights(model.doc_freqs, model.doc_len, model.avgdl, model.idf, model.k1, model.b)
    for query in (["ketamine", "dose"], ["dose", "dose", "spray"], ["0.5mg/kg"], ["absent"]):
        q = query_weights(query)
        scores = [sum(w * row.get(dim, 0.0) for dim, w in q.items()) for row in rows]
        assert scores == pytest.approx(list(model.get_scores(query)), abs=1e-12)


def test_a_version_that_is_no_hash_names_collections_too(store, backend_index):
    """A synthetic corpus's version (`synthetic-1000-13`) has hyphens, which collection names
    cannot hold: it is named with underscores, and still recognised as served."""
    from dataclasses import replace

    from ragqa.index.milvus import serves

    index = replace(backend_index,
                    manifest={**backend_index.manifest, "index_version": "synthetic-1000-13"})
    assert ensure_published(store, index) is not None
    assert store.served_version() == "synthetic_1000_13" and serves(store, index)
    assert ensure_published(store, index) is None


def test_bench_milvus_leaves_no_engine_file_behind(backend_index, backend_embedder, monkeypatch,
                                                   tmp_path):
    """`ragqa bench --backends milvus` times a temporary embedded engine, then stops it and
    removes its file (the 100k corpus's is over a gigabyte)."""
    from ragqa.evaluation import bench
    from ragqa.retrieve import MilvusBackend

    made = []
    real_mkdtemp = bench.tempfile.mkdtemp
    monkeypatch.setattr(bench.tempfile, "mkdtemp",
                        lambda **kw: made.append(real_mkdtemp(dir=tmp_path, **kw)) or made[-1])
    monkeypatch.setenv("RAGQA_MILVUS_URI", str(tmp_path / "unused.db"))
    with bench._on_milvus(backend_index, {"name": "t"}) as (backend, published):
        assert isinstance(backend, MilvusBackend) and published["rows"]["chunks"] > 0
        result = Retriever(backend_index, backend_embedder, backend=backend).search("ketamine")
        assert result.hits and Path(made[0]).is_dir()
    assert len(made) == 1 and not Path(made[0]).exists()
