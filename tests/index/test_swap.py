"""The served index is one atomic pointer; damaged files are refused by name; leftovers go."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ragqa.errors import IndexDamagedError
from ragqa.index.store import (
    complete_builds,
    load_index,
    load_intact_index,
    read_manifest,
    update_index,
)
from tests.conftest import FakeEmbedder


@pytest.fixture
def index_dir(corpus, tmp_path, fake_embedder) -> Path:
    update_index(corpus, tmp_path / "idx", fake_embedder)
    return tmp_path / "idx"


def add_document(corpus: Path, doc_id: str = "lithium-review") -> None:
    (corpus / f"{doc_id}.md").write_text(
        f"---\nid: {doc_id}\ntitle: \"Fixture: {doc_id}\"\npublisher: \"Test Journal\"\n"
        "year: 2013\ndoc_type: meta_analysis\n---\n\n# Findings\n\n"
        "Lithium reduced the risk of suicide in people with mood disorders.\n")


def test_the_served_index_is_a_symlink_to_a_complete_build(index_dir):
    assert index_dir.is_symlink()
    target = index_dir.resolve()
    assert target.name.startswith(".idx.v") and target.parent == index_dir.parent
    assert complete_builds(index_dir) == [target]


def test_the_manifest_records_every_files_size_and_sha256(index_dir):
    files = read_manifest(index_dir)["files"]
    on_disk = sorted(str(p.relative_to(index_dir)) for p in index_dir.rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    assert sorted(files) == on_disk
    for name, record in files.items():
        assert record["size"] == (index_dir / name).stat().st_size
        assert len(record["sha256"]) == 64


def test_without_a_pointer_the_newest_complete_build_is_served(index_dir, corpus, fake_embedder):
    first = read_manifest(index_dir)["index_version"]
    add_document(corpus)
    second = update_index(corpus, index_dir, fake_embedder).manifest["index_version"]
    index_dir.unlink()  # a crash between removing the pointer and placing the new one
    assert load_index(index_dir, fake_embedder).version == second != first


def test_an_index_from_before_the_pointer_left_as_old_by_a_crash_is_served(tmp_path, index_dir,
                                                                           fake_embedder):
    # the old swap renamed the served directory to .<name>.old-<pid>-<ns>, then the new one in:
    # a crash between the two renames left no index directory at all (finding 3)
    version = read_manifest(index_dir)["index_version"]
    build = index_dir.resolve()
    index_dir.unlink()
    os.rename(build, tmp_path / ".idx.old-4242-1700000000000000000")
    assert load_index(index_dir, fake_embedder).version == version


def test_an_index_from_before_the_pointer_is_kept_for_rollback(tmp_path, corpus, fake_embedder):
    update_index(corpus, tmp_path / "idx", fake_embedder)
    legacy = tmp_path / "legacy"
    shutil.copytree((tmp_path / "idx").resolve(), legacy)
    (tmp_path / "idx").unlink()
    legacy.rename(tmp_path / "idx")  # a real directory, as ragqa wrote it before the pointer
    update_index(corpus, tmp_path / "idx", fake_embedder, force=True)
    assert (tmp_path / "idx").is_symlink()
    assert len(complete_builds(tmp_path / "idx")) == 2


def test_leftovers_of_killed_builds_and_superseded_builds_are_removed(index_dir, corpus, tmp_path,
                                                                      fake_embedder):
    stale = [tmp_path / ".idx.building-abc123", tmp_path / ".idx.building-def456"]
    for path in stale:
        path.mkdir()
        (path / "chunks.jsonl").write_text("{}\n")
    (tmp_path / ".idx.old-1-1").mkdir()
    (tmp_path / ".idx.old-1-1" / "manifest.json").write_text("{}")
    first = index_dir.resolve()
    add_document(corpus, "second")
    update_index(corpus, index_dir, fake_embedder)
    second = index_dir.resolve()
    add_document(corpus, "third")
    update_index(corpus, index_dir, fake_embedder)
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".idx."))
    # the served build, the one before it (for one rollback) and the lock file: nothing else
    assert hidden == sorted([".idx.lock", second.name, index_dir.resolve().name])
    assert not first.exists()


def test_a_truncated_file_is_refused_with_one_line_naming_it(index_dir, fake_embedder):
    chunks = index_dir / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes()[:-40])
    with pytest.raises(IndexDamagedError, match=r"index file chunks\.jsonl has \d+ bytes") as exc:
        load_index(index_dir, fake_embedder)
    assert "\n" not in str(exc.value)


def test_a_same_size_corruption_is_named_once_parsing_fails(index_dir, fake_embedder):
    chunks = index_dir / "chunks.jsonl"
    data = bytearray(chunks.read_bytes())
    data[0:1] = b"#"
    chunks.write_bytes(bytes(data))
    with pytest.raises(IndexDamagedError, match=r"chunks\.jsonl does not match the SHA-256"):
        load_index(index_dir, fake_embedder)


def test_a_flipped_bit_in_a_file_that_still_parses_is_refused(index_dir, fake_embedder):
    vectors = index_dir / "chunk_vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0x01  # still a valid array, a different vector
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexDamagedError, match=r"chunk_vectors\.npy does not match the SHA-256"):
        load_index(index_dir, fake_embedder)


def test_a_damaged_index_is_rebuilt_not_called_up_to_date(index_dir, corpus):
    (index_dir / "chunks.jsonl").write_text("")
    embedder = FakeEmbedder()
    report = update_index(corpus, index_dir, embedder)
    assert report.rebuilt
    assert "chunks.jsonl" in report.reason
    assert load_index(index_dir, embedder).version == report.manifest["index_version"]


def test_a_flipped_bit_is_repaired_from_the_intact_faiss_twin(index_dir, corpus):
    vectors = index_dir / "sentence_vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0x01
    vectors.write_bytes(bytes(data))
    embedder = FakeEmbedder()
    report = update_index(corpus, index_dir, embedder)
    assert report.rebuilt and "sentence_vectors.npy" in report.reason
    assert report.manifest["embedded"] == {"chunks": 0, "sentences": 0}
    assert embedder.calls == []
    assert load_index(index_dir, embedder).version == report.manifest["index_version"]


def test_a_damaged_served_build_falls_back_to_the_previous_one(index_dir, corpus, fake_embedder):
    first = read_manifest(index_dir)["index_version"]
    add_document(corpus)
    update_index(corpus, index_dir, fake_embedder)
    (index_dir / "faiss.index").write_bytes(b"")
    assert load_intact_index(index_dir, fake_embedder).version == first


def test_a_manifest_without_a_checksum_is_refused_and_rebuilt_embedding_nothing(
        index_dir, corpus, fake_embedder):
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["checksum"]  # as an index written before manifests had one
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexDamagedError, match="no checksum"):
        load_index(index_dir, fake_embedder)
    report = update_index(corpus, index_dir, fake_embedder)
    assert report.rebuilt and "older ragqa" in report.reason
    assert report.manifest["embedded"] == {"chunks": 0, "sentences": 0}
    assert load_index(index_dir, fake_embedder)
