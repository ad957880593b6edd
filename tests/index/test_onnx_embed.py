"""The ONNX embedder: equal to torch, refusing tampered files, and the index's embedder record."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragqa.errors import EmbedderMismatchError, IndexFormatError
from ragqa.index.embed import (
    TORCH_RECORD,
    EmbedderKind,
    EmbedderRecord,
    incompatibility,
)
from ragqa.index.onnx_embed import Pipeline, length_batches
from ragqa.index.store import IndexParams, load_index, read_manifest, staleness, update_index
from ragqa.ingest.documents import read_corpus
from tests.conftest import FakeEmbedder

ONNX_FP32 = EmbedderRecord("onnx", "fp32", "a" * 64)
INT8 = EmbedderRecord("onnx", "int8", "b" * 64)


class RecordedFake(FakeEmbedder):
    """The fake embedder claiming to be a given backend and precision."""

    def __init__(self, record: EmbedderRecord) -> None:
        super().__init__(name="sentence-transformers/all-MiniLM-L6-v2")
        self._record = record

    @property
    def record(self) -> EmbedderRecord:
        return self._record


@pytest.mark.parametrize(("built", "querying", "problem"), [
    (TORCH_RECORD, TORCH_RECORD, None),
    (TORCH_RECORD, ONNX_FP32, None),
    (ONNX_FP32, TORCH_RECORD, None),
    (ONNX_FP32, EmbedderRecord("onnx", "fp32", "c" * 64), None),  # each fp32 file equals torch
    (INT8, INT8, None),
    (TORCH_RECORD, INT8, "fp32 and the query's would be int8"),
    (INT8, ONNX_FP32, "int8 and the query's would be fp32"),
    (INT8, EmbedderRecord("onnx", "int8", "d" * 64), "model files differ"),
    (TORCH_RECORD, EmbedderRecord("custom"), "built by torch"),
])
def test_which_embedders_may_query_which_index(built, querying, problem):
    reason = incompatibility(built, querying)
    if problem is None:
        assert reason is None
    else:
        assert reason is not None and problem in reason


def test_records_round_trip_and_old_manifests_mean_torch():
    assert EmbedderRecord.from_json(INT8.to_json()) == INT8
    assert EmbedderRecord.from_json(None) == TORCH_RECORD
    assert INT8.option() == "onnx-int8" and ONNX_FP32.option() == "onnx"


def test_an_unknown_embedder_name_is_refused_with_the_choices():
    assert EmbedderKind.parse("onnx-int8") is EmbedderKind.ONNX_INT8
    with pytest.raises(EmbedderMismatchError, match="torch, onnx, onnx-int8, got 'onnx8'"):
        EmbedderKind.parse("onnx8")


@pytest.mark.parametrize(("lengths", "batch_size", "max_tokens"), [
    ([5, 250, 30, 30, 7, 120, 256, 1], 3, 10_000),
    ([5, 250, 30, 30, 7, 120, 256, 1], 64, 512),
    ([0, 0, 3], 2, 100),
])
def test_length_batches_go_longest_first_within_budget(lengths, batch_size, max_tokens):
    batches = length_batches(lengths, batch_size, max_tokens)
    flat = [int(i) for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for batch in batches:
        assert len(batch) <= batch_size
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= max_tokens


def test_a_model_with_other_pooling_is_refused(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True,
         "pooling_mode_mean_tokens": False}))
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    with pytest.raises(EmbedderMismatchError, match="pooling_mode_cls_token.*not mean pooling"):
        Pipeline.read(tmp_path)


def test_the_manifest_records_the_embedder_and_refuses_an_incompatible_one(fixture_corpus,
                                                                           tmp_path):
    update_index(fixture_corpus, tmp_path / "idx", RecordedFake(INT8))
    assert read_manifest(tmp_path / "idx")["embedder"] == INT8.to_json()
    assert load_index(tmp_path / "idx", RecordedFake(INT8)).chunks
    with pytest.raises(IndexFormatError, match=r"built by the onnx int8 .* embedder, which "
                                               r"onnx fp32 .* cannot query .*--embedder onnx-int8"):
        load_index(tmp_path / "idx", RecordedFake(ONNX_FP32))


def test_an_fp32_index_serves_torch_and_onnx_and_a_new_precision_rebuilds(fixture_corpus,
                                                                          tmp_path):
    update_index(fixture_corpus, tmp_path / "idx", RecordedFake(TORCH_RECORD))
    load_index(tmp_path / "idx", RecordedFake(ONNX_FP32))
    documents = read_corpus(fixture_corpus)
    name = "sentence-transformers/all-MiniLM-L6-v2"
    assert staleness(tmp_path / "idx", documents, IndexParams(), name, ONNX_FP32) is None
    assert staleness(tmp_path / "idx", documents, IndexParams(), name, INT8) == (
        "embedder changed (torch -> onnx int8 (sha256 bbbbbbbbbbbb))")
    embedder = RecordedFake(INT8)
    report = update_index(fixture_corpus, tmp_path / "idx", embedder)
    # no fp32 vector is reused for an int8 index: everything is embedded again
    assert report.rebuilt and report.manifest["embedded"]["chunks"] == (
        report.manifest["counts"]["chunks"])


def test_chunks_and_sentences_are_embedded_in_one_call(fixture_corpus, tmp_path):
    embedder = FakeEmbedder()
    report = update_index(fixture_corpus, tmp_path / "idx", embedder)
    embedded = report.manifest["embedded"]
    assert embedder.calls == [embedded["chunks"] + embedded["sentences"]]


def test_the_command_line_answer_path_does_not_import_torch():
    code = ("import sys, ragqa.cli, ragqa.index.onnx_embed, ragqa.index.store, "
            "ragqa.answer.engine, ragqa.answer.render, onnxruntime, tokenizers; "
            "ragqa.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the real model ------------------------------------------------------------------------------

CHECK_TEXTS = [
    "What is the standard IV ketamine dose for treatment-resistant depression?",
    "Is ketamine addictive?",
    "Esketamine 56 mg or 84 mg intranasally, twice weekly in weeks 1-4.",
    " ".join(["Ketamine, an NMDA receptor antagonist, acts within hours."] * 30),  # > 256 tokens
    " ".join(["Blood pressure rose transiently."] * 22),  # between 128 and 256 tokens
    "x",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    """The installed model exported (fp32 and int8) into a fresh cache, once per session."""
    from ragqa.index.onnx_embed import export_onnx

    cache = tmp_path_factory.mktemp("onnx-cache")
    export_onnx(cache_dir=cache)
    return cache


@pytest.mark.slow
def test_onnx_vectors_equal_torch_within_1e_5(onnx_cache, real_embedder):
    from ragqa.index.onnx_embed import TOLERANCE, OnnxEmbedder, max_difference

    embedder = OnnxEmbedder(cache_dir=onnx_cache, threads=1)
    expected = real_embedder.embed(CHECK_TEXTS)
    one_by_one = np.vstack([embedder.embed([text]) for text in CHECK_TEXTS])
    batched = embedder.embed(CHECK_TEXTS)
    assert max_difference(one_by_one, expected) <= TOLERANCE
    assert max_difference(batched, expected) <= TOLERANCE
    assert embedder.name == real_embedder.name and embedder.dim == real_embedder.dim
    assert embedder.record.backend == "onnx" and embedder.record.precision == "fp32"
    assert incompatibility(real_embedder.record, embedder.record) is None
    # the first text is past 256 tokens, where tokenizer.json alone would stop at 128
    assert len(embedder.tokenizer.encode(CHECK_TEXTS[3]).ids) == 256


@pytest.mark.slow
def test_int8_is_close_to_torch_and_recorded_as_int8(onnx_cache, real_embedder):
    from ragqa.index.onnx_embed import OnnxEmbedder, Precision, mean_cosine

    embedder = OnnxEmbedder(cache_dir=onnx_cache, precision=Precision.INT8)
    cosine = mean_cosine(embedder.embed(CHECK_TEXTS), real_embedder.embed(CHECK_TEXTS))
    assert 0.97 < cosine < 0.99999
    assert embedder.record.precision == "int8" and len(embedder.record.file_sha256 or "") == 64
    # one text per batch: a text's vector does not depend on what it was embedded with
    assert np.array_equal(embedder.embed(CHECK_TEXTS)[1], embedder.embed([CHECK_TEXTS[1]])[0])


def _copy(onnx_cache: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache, cache)
    return cache


@pytest.mark.slow
def test_a_tampered_file_is_refused(onnx_cache, tmp_path):
    from ragqa.index.onnx_embed import OnnxEmbedder

    cache = _copy(onnx_cache, tmp_path)
    model = next(cache.glob("*/model.onnx"))
    with open(model, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(EmbedderMismatchError, match="changed after it was exported and verified"):
        OnnxEmbedder(cache_dir=cache)


@pytest.mark.slow
def test_a_file_whose_vectors_differ_from_torch_is_refused(onnx_cache, tmp_path):
    from ragqa.index.onnx_embed import OnnxEmbedder

    cache = _copy(onnx_cache, tmp_path)
    reference = next(cache.glob("*/reference.npy"))
    vectors = np.load(reference, allow_pickle=False)
    vectors[0, 0] += 1e-4  # as if the file computed something else than the torch model
    np.save(reference, vectors, allow_pickle=False)
    with pytest.raises(EmbedderMismatchError, match=r"differ from the stored fp32 reference by "
                                                    r"1\.0\de-04 \(> 1e-05\)"):
        OnnxEmbedder(cache_dir=cache)


@pytest.mark.slow
def test_an_export_that_differs_from_torch_keeps_nothing(tmp_path, monkeypatch):
    from ragqa.index import onnx_embed

    real = onnx_embed._embed_file
    monkeypatch.setattr(onnx_embed, "_embed_file",
                        lambda *args: real(*args) + np.float32(2e-5))
    with pytest.raises(EmbedderMismatchError, match="differ from torch's by 2.0.e-05"):
        onnx_embed.export_onnx(cache_dir=tmp_path)
    assert not list(tmp_path.glob("*/*.onnx")) and not list(tmp_path.glob("*/verify.json"))
