"""Index build, manifest, staleness, incremental re-embedding, diff and safe swapping."""

from __future__ import annotations

import json

import pytest

from ragqa.errors import CorpusError, IndexFormatError, IndexMissingError
from ragqa.index.bm25 import BM25Backend
from ragqa.index.store import (
    FORMAT_VERSION,
    FaissKind,
    IndexParams,
    load_index,
    read_manifest,
    staleness,
    update_index,
)
from ragqa.ingest.chunker import ChunkingParams
from ragqa.ingest.documents import read_corpus
from tests.conftest import FakeEmbedder

NEW_DOC = """---
id: new-lithium-review
title: "Fixture: lithium and suicide"
publisher: "Test Journal"
year: 2013
doc_type: meta_analysis
---

# Findings

Lithium reduced the risk of suicide in people with mood disorders compared with placebo.
"""


def test_manifest_records_what_was_built(corpus, tmp_path, fake_embedder):
    report = update_index(corpus, tmp_path / "idx", fake_embedder)
    manifest = read_manifest(tmp_path / "idx")
    assert report.rebuilt
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == {"name": "fake-hash-embedder", "dim": 64}
    assert manifest["counts"]["documents"] == 4
    assert manifest["params"]["chunking"] == {"max_tokens": 200, "overlap_sentences": 1}
    assert manifest["corpus_fingerprint"] and manifest["built_at"]
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted([
        "manifest.json", "documents.jsonl", "chunks.jsonl", "sentences.jsonl",
        "chunk_vectors.npy", "sentence_vectors.npy", "faiss.index", "bm25_tokens.json",
        "sentence_faiss.index", "sentence_bm25", "sentence_terms.json", "sentence_facts",
        "embedding_keys.json"])


def test_unchanged_corpus_is_not_rebuilt_unless_forced(corpus, tmp_path, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    again = update_index(corpus, tmp_path / "idx", fake_embedder)
    assert not again.rebuilt and again.reason == "up to date"
    forced = update_index(corpus, tmp_path / "idx", fake_embedder, force=True)
    assert forced.rebuilt and forced.reason == "forced"


def test_staleness_names_the_change(corpus, tmp_path, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    docs = read_corpus(corpus)
    assert staleness(tmp_path / "idx", docs, IndexParams(), fake_embedder.name) is None
    other = IndexParams(chunking=ChunkingParams(max_tokens=64))
    assert staleness(tmp_path / "idx", docs, other, fake_embedder.name) == "index parameters changed"
    assert "model changed" in staleness(tmp_path / "idx", docs, IndexParams(), "other-model")
    (corpus / "new.md").write_text(NEW_DOC)
    assert staleness(tmp_path / "idx", read_corpus(corpus), IndexParams(),
                     fake_embedder.name) == "corpus changed"


def test_adding_a_document_embeds_only_its_chunks_and_reports_the_diff(corpus, tmp_path):
    embedder = FakeEmbedder()
    first = update_index(corpus, tmp_path / "idx", embedder)
    embedder.calls.clear()
    (corpus / "new.md").write_text(NEW_DOC)
    second = update_index(corpus, tmp_path / "idx", embedder)
    index = load_index(tmp_path / "idx", embedder)
    new_chunks = [c for c in index.chunks if c.doc_id == "new-lithium-review"]
    new_sentences = [s for s in index.sentences if s.doc_id == "new-lithium-review"]
    assert second.manifest["embedded"] == {"chunks": len(new_chunks), "sentences": len(new_sentences)}
    assert sum(embedder.calls) == len(new_chunks) + len(new_sentences)
    diff = second.manifest["diff"]
    assert diff["documents"] == {"added": ["new-lithium-review"], "removed": [], "changed": []}
    assert diff["chunks"]["added"] == len(new_chunks)
    assert diff["chunks"]["unchanged"] == first.manifest["counts"]["chunks"]


def test_changed_and_removed_documents_appear_in_the_diff(corpus, tmp_path, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    (corpus / "anesthesia-and-pain.jsonl").unlink()
    label = corpus / "esketamine-label.md"
    label.write_text(label.read_text().replace("2 hours", "two hours"))
    diff = update_index(corpus, tmp_path / "idx", fake_embedder).manifest["diff"]
    assert diff["documents"]["removed"] == ["ketamine-anesthesia-label", "psilocybin-microdosing-review"]
    assert diff["documents"]["changed"] == ["esketamine-label"]


def test_failed_build_leaves_the_old_index_serving(corpus, tmp_path, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    before = read_manifest(tmp_path / "idx")
    (corpus / "broken.md").write_text("---\nid: broken\n---\n\nText.\n")
    with pytest.raises(CorpusError, match="broken.md"):
        update_index(corpus, tmp_path / "idx", fake_embedder)
    assert read_manifest(tmp_path / "idx") == before
    assert load_index(tmp_path / "idx", fake_embedder).version == before["index_version"]
    assert [p.name for p in tmp_path.iterdir() if "building" in p.name] == []


def test_loading_checks_format_model_and_dimension(corpus, tmp_path, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    with pytest.raises(IndexFormatError, match="built with model fake-hash-embedder .dim 64."):
        load_index(tmp_path / "idx", FakeEmbedder(dim=32, name="fake-hash-embedder"))
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="index format 99, this ragqa reads"):
        load_index(tmp_path / "idx", fake_embedder)
    with pytest.raises(IndexMissingError, match="no index at"):
        load_index(tmp_path / "nowhere", fake_embedder)


@pytest.mark.parametrize("backend", list(BM25Backend))
@pytest.mark.parametrize("kind", list(FaissKind))
def test_every_backend_round_trips(corpus, tmp_path, fake_embedder, backend, kind):
    params = IndexParams(faiss=kind, bm25=backend)
    built = update_index(corpus, tmp_path / "idx", fake_embedder, params)
    index = load_index(tmp_path / "idx", fake_embedder)
    assert index.manifest["index_version"] == built.manifest["index_version"]
    scores = index.bm25.scores(["esketamine"])
    best = index.chunks[int(scores.argmax())]
    assert "esketamine" in best.text.lower()
    assert index.faiss_index.ntotal == len(index.chunks)


ABBREVIATED_DOC = """---
id: coeliac-fixture
title: "Fixture: coeliac follow-up"
publisher: "Test Journal"
year: 2014
doc_type: guideline
---

# Follow-up

Adults with coeliac disease (CD) should be reviewed once a year. A diagnosis of CD has implications for family members.
"""


def test_a_sentence_is_embedded_with_its_documents_short_forms_spelled_out(corpus, tmp_path):
    embedder = FakeEmbedder()
    (corpus / "coeliac.md").write_text(ABBREVIATED_DOC)
    update_index(corpus, tmp_path / "idx", embedder)
    index = load_index(tmp_path / "idx", embedder)
    sid = next(i for i, s in enumerate(index.sentences) if s.text.startswith("A diagnosis of CD"))
    # quoted as written, embedded as read
    assert index.sentences[sid].text == "A diagnosis of CD has implications for family members."
    read = embedder.embed(["A diagnosis of coeliac disease has implications for family members."])[0]
    assert float(index.sentence_vectors[sid] @ read) == pytest.approx(1.0, abs=1e-5)
    assert read_manifest(tmp_path / "idx")["params"]["embedding_text"] == "defined abbreviations spelled out"
    # an index built with another reading is stale
    assert staleness(tmp_path / "idx", read_corpus(corpus),
                     IndexParams(embedding_text="as written"), embedder.name) == "index parameters changed"


def test_an_index_built_by_another_tokenizer_loads_with_a_warning_naming_both(
        corpus, tmp_path, fake_embedder, monkeypatch, caplog):
    from ragqa.index import store

    update_index(corpus, tmp_path / "idx", fake_embedder)
    with caplog.at_level("WARNING", logger="ragqa.index.store"):
        load_index(tmp_path / "idx", fake_embedder)
    assert "tokenizer" not in caplog.text
    monkeypatch.setattr(store, "TOKENIZER_VERSION", "clinical-next")
    with caplog.at_level("WARNING", logger="ragqa.index.store"):
        load_index(tmp_path / "idx", fake_embedder)
    assert f"built with tokenizer {IndexParams().tokenizer}, this code tokenizes as clinical-next" in caplog.text
