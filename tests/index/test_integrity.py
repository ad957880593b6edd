"""One flipped byte in any file of an index: never loaded, never "up to date", repaired by
re-embedding at most what the damaged file held."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragqa.errors import IndexDamagedError
from ragqa.index.store import (
    EmbeddingCheckpoint,
    load_index,
    load_intact_index,
    read_documents,
    read_manifest,
    staleness,
    update_index,
)
from ragqa.ingest.documents import read_corpus
from tests.conftest import FakeEmbedder

# Every file an index holds, by kind. A repair embeds nothing again whichever one is damaged: the
# keys of the vectors are both in the .jsonl files and in embedding_keys.json, and a damaged
# vector file is restored from its FAISS twin.
KINDS = ["documents.jsonl", "chunks.jsonl", "sentences.jsonl", "chunk_vectors.npy",
         "sentence_vectors.npy", "faiss.index", "sentence_faiss.index", "bm25_tokens.json",
         "sentence_bm25/bm25s/data.csc.index.npy", "sentence_terms.json",
         "sentence_facts/facts.json", "sentence_facts/flags.npy", "embedding_keys.json",
         "manifest.json"]


def flip_one_byte(path: Path, at: float = 0.5, bits: int = 0x01) -> None:
    """Change one byte of `path` in place (same size): the one at fraction `at` of the file."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= bits
    path.write_bytes(bytes(data))


@pytest.fixture
def index_dir(tmp_path, corpus) -> Path:
    directory = tmp_path / "idx"
    update_index(corpus, directory, FakeEmbedder())
    return directory


def test_every_file_of_an_index_is_a_kind_the_tests_flip(index_dir):
    recorded = set(read_manifest(index_dir)["files"])
    assert {k for k in KINDS if k != "manifest.json"} <= recorded
    assert {Path(name).parts[0] for name in recorded} == {Path(k).parts[0] for k in KINDS
                                                          if k != "manifest.json"}


@pytest.mark.parametrize("bits", [0x01, 0x80])
@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_byte_is_refused_and_repaired_re_embedding_at_most_that_part(
        index_dir, corpus, kind, bits):
    counts = read_manifest(index_dir)["counts"]
    flip_one_byte(index_dir / kind, bits=bits)
    with pytest.raises(IndexDamagedError, match=kind.rsplit("/", 1)[-1].replace(".", r"\.")):
        load_index(index_dir, FakeEmbedder())
    embedder = FakeEmbedder()
    reason = staleness(index_dir, read_corpus(corpus), *_params_and_model(index_dir, embedder))
    assert reason is not None and "up to date" not in reason

    report = update_index(corpus, index_dir, embedder)

    assert report.rebuilt, report.reason
    assert report.manifest["embedded"] == {"chunks": 0, "sentences": 0}
    assert embedder.calls == []
    assert report.manifest["counts"] == counts
    assert load_index(index_dir, embedder).version == report.manifest["index_version"]
    assert not update_index(corpus, index_dir, embedder).rebuilt


def _params_and_model(index_dir: Path, embedder: FakeEmbedder):
    from ragqa.index.store import IndexParams

    return IndexParams(), embedder.name, embedder.record


def test_every_byte_of_the_manifest_is_covered(index_dir):
    """Whichever byte of the manifest flips (a count, a hash, a bracket), it is refused."""
    manifest = index_dir / "manifest.json"
    original = manifest.read_bytes()
    for at in np.linspace(0, 0.999, 41):
        for bits in (0x01, 0x80):  # 0x80: no longer UTF-8
            flip_one_byte(manifest, float(at), bits)
            with pytest.raises(IndexDamagedError):
                load_index(index_dir)
            manifest.write_bytes(original)
    assert load_index(index_dir)


def test_a_changed_dose_is_never_read_even_by_show(index_dir):
    documents = index_dir / "documents.jsonl"
    text = documents.read_text(encoding="utf-8")
    assert "0.5 mg/kg" in text
    documents.write_text(text.replace("0.5 mg/kg", "5.0 mg/kg", 1), encoding="utf-8")
    with pytest.raises(IndexDamagedError, match=r"documents\.jsonl does not match"):
        read_documents(index_dir)
    with pytest.raises(IndexDamagedError, match=r"documents\.jsonl"):
        load_intact_index(index_dir)


def test_two_damaged_files_re_embed_only_what_neither_copy_holds(index_dir, corpus):
    """chunks.jsonl and embedding_keys.json both damaged: the chunks' vectors have no key left,
    so the chunks (and only they) are embedded again."""
    counts = read_manifest(index_dir)["counts"]
    flip_one_byte(index_dir / "chunks.jsonl")
    flip_one_byte(index_dir / "embedding_keys.json")
    report = update_index(corpus, index_dir, FakeEmbedder())
    assert report.manifest["embedded"]["sentences"] == 0
    assert 0 < report.manifest["embedded"]["chunks"] <= counts["chunks"]


def test_the_previous_intact_build_is_loaded_with_a_warning(index_dir, corpus, caplog):
    first = read_manifest(index_dir)["index_version"]
    (corpus / "extra.md").write_text(
        "---\nid: extra\ntitle: \"Extra\"\npublisher: \"Test\"\nyear: 2024\ndoc_type: rct\n---\n\n"
        "# Findings\n\nMelatonin 2 mg at night improved sleep.\n", encoding="utf-8")
    update_index(corpus, index_dir, FakeEmbedder())
    flip_one_byte(index_dir / "sentence_vectors.npy")
    with caplog.at_level("WARNING", logger="ragqa.index.store"):
        index = load_intact_index(index_dir, FakeEmbedder())
    assert index.version == first
    assert "sentence_vectors.npy" in caplog.text and "previous build" in caplog.text


def test_a_killed_first_build_resumes_from_its_checkpoint(tmp_path, corpus, monkeypatch):
    """Killed after its first batch, a first build's successor embeds only the rest."""
    monkeypatch.setattr("ragqa.index.store.CHECKPOINT_BATCH", 5)
    directory = tmp_path / "fresh" / "idx"

    class KilledAfterOneBatch(FakeEmbedder):
        def embed(self, texts, show_progress=False):
            if self.calls:
                raise KeyboardInterrupt  # as a kill: nothing after this runs
            return super().embed(texts, show_progress)

    with pytest.raises(KeyboardInterrupt):
        update_index(corpus, directory, KilledAfterOneBatch())
    assert not directory.exists()
    checkpoint = EmbeddingCheckpoint.folder_for(directory, FakeEmbedder())
    assert len(list(checkpoint.glob("*.npz"))) == 1

    embedder = FakeEmbedder()
    report = update_index(corpus, directory, embedder)
    total = sum(report.manifest["counts"][k] for k in ("chunks", "sentences"))
    embedded = sum(report.manifest["embedded"].values())
    assert embedded == sum(embedder.calls) <= total - 5
    assert not checkpoint.exists()  # the build holds the vectors now
    reference = update_index(corpus, tmp_path / "reference" / "idx", FakeEmbedder())
    assert report.manifest["index_version"] == reference.manifest["index_version"]
    assert np.array_equal(load_index(directory).sentence_vectors,
                          load_index(tmp_path / "reference" / "idx").sentence_vectors)


def test_a_damaged_checkpoint_batch_is_embedded_again(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr("ragqa.index.store.CHECKPOINT_BATCH", 5)
    directory = tmp_path / "idx"
    checkpoint = EmbeddingCheckpoint(EmbeddingCheckpoint.folder_for(directory, FakeEmbedder()),
                                     FakeEmbedder())
    texts = ["one text", "another text"]
    keys = [json.dumps(t)[:40].ljust(40, "x") for t in texts]
    checkpoint.save(keys, FakeEmbedder().embed(texts))
    assert set(checkpoint.load()) == set(keys)
    flip_one_byte(next(checkpoint.folder.glob("*.npz")), 0.3)
    assert checkpoint.load() == {}


def test_an_unchanged_html_page_is_not_changed_on_a_rebuild(tmp_path, corpus):
    """The reader's layout is in a document's content hash but not in the index: the diff
    compares the hash recorded at build time, not one of the layout-less copy read back."""
    from tests.ingest.test_html import write_page

    write_page(corpus)
    directory = tmp_path / "html-idx"
    update_index(corpus, directory, FakeEmbedder())
    assert load_index(directory).document_hashes["light-guideline"]
    for _ in range(2):
        diff = update_index(corpus, directory, FakeEmbedder(), force=True).manifest["diff"]
        assert diff["documents"] == {"added": [], "removed": [], "changed": []}
    page = corpus / "light.html"
    page.write_text(page.read_text().replace("10,000 lux", "5,000 lux"))
    diff = update_index(corpus, directory, FakeEmbedder()).manifest["diff"]
    assert diff["documents"]["changed"] == ["light-guideline"]


def test_a_repair_without_an_intact_previous_build_still_diffs_against_it(index_dir, corpus):
    flip_one_byte(index_dir / "sentence_vectors.npy")
    diff = update_index(corpus, index_dir, FakeEmbedder()).manifest["diff"]
    assert diff["documents"] == {"added": [], "removed": [], "changed": []}
    assert diff["chunks"]["added"] == 0 and diff["chunks"]["unchanged"] > 0
