"""Benchmark pieces that need no model: statistics, the synthetic corpus and the Markdown."""

from __future__ import annotations

import numpy as np
import pytest

from ragqa.answer.facts import AnswerData
from ragqa.evaluation.bench import STAGES, Stats, render_bench, slowest_stage, time_queries
from ragqa.evaluation.synthetic import SyntheticParams, perturb, synthetic_index, with_bm25
from ragqa.index.bm25 import BM25Backend
from ragqa.index.store import IndexParams, build_index
from ragqa.ingest.documents import read_corpus


@pytest.fixture
def source(fixture_corpus, fake_embedder):
    return build_index(read_corpus(fixture_corpus), fake_embedder)


def test_stats_of_timings():
    stats = Stats.of([10.0, 20.0, 30.0, 40.0, 1000.0])
    assert (stats.n, stats.p50, stats.max, stats.mean) == (5, 30.0, 1000.0, 220.0)
    assert stats.p95 == pytest.approx(40 + 0.8 * 960)
    assert Stats.of([]).n == 0


def test_slowest_stage_is_the_highest_p50():
    stages = {"embed": {"p50": 18.0}, "bm25": {"p50": 90.5}, "dense": {"p50": 3.0}}
    assert slowest_stage(stages) == "bm25"
    assert slowest_stage({}) is None


def test_perturb_keeps_unit_length_and_stays_close():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    out = perturb(base, 0.3, rng)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(out * base, axis=1)
    assert 0.9 < cosine.min() and cosine.max() < 0.999


def test_synthetic_index_has_exactly_the_asked_chunks_of_real_text(source):
    index = synthetic_index(source, SyntheticParams(chunks=37, seed=1))
    assert len(index.chunks) == 37 == index.faiss_index.ntotal
    assert index.chunk_vectors.shape == (37, source.chunk_vectors.shape[1])
    assert len(index.sentence_vectors) == len(index.sentences)
    assert np.allclose(np.linalg.norm(index.chunk_vectors, axis=1), 1.0, atol=1e-5)
    real_sentences = {s.text for s in source.sentences}
    for chunk in index.chunks:
        assert index.documents[chunk.doc_id].text[chunk.char_start:chunk.char_end] == chunk.text
    assert all(s.text in real_sentences for s in index.sentences)
    assert index.manifest["counts"]["chunks"] == 37
    assert "perturbed" in index.manifest["synthetic"]["note"]
    data = AnswerData.default()
    read = index.sentence_facts.reader(data)  # the answer stage looks facts up, as on a real index
    assert [read(i) for i in range(len(index.sentences))] == \
        [data.facts(s.text) for s in index.sentences]


def test_bm25_backends_agree_on_the_synthetic_text(source):
    index = synthetic_index(source, SyntheticParams(chunks=20, seed=2),
                            IndexParams(bm25=BM25Backend.BM25S))
    other = with_bm25(index, BM25Backend.RANK_BM25)
    assert other.manifest["params"]["bm25"] == "rank_bm25"
    tokens = ["ketamine", "esketamine"]
    a, b = index.bm25.scores(tokens), other.bm25.scores(tokens)
    assert (a > 0).tolist() == (b > 0).tolist()


def test_time_queries_names_every_stage(source, fake_embedder):
    timing = time_queries(source, fake_embedder, ["ketamine dose", "esketamine observation"],
                          warmup=1)
    assert set(timing["stages"]) == set(STAGES)
    assert timing["slowest_stage"] in STAGES
    assert timing["ask"]["n"] == 2 and set(timing["search"]) == {"hybrid", "bm25", "dense"}
    assert "st_encode" not in timing


def test_an_encoder_given_is_timed_once_beside_each_ask(source, fake_embedder):
    class Counting:
        def __init__(self):
            self.texts = []

        def embed(self, texts):
            self.texts += list(texts)
            return fake_embedder.embed(texts)

    encoder = Counting()
    questions = ["ketamine dose", "esketamine observation", "ketamine onset"]
    timing = time_queries(source, fake_embedder, questions, warmup=1, encoder=encoder)
    # the warm-up question and then each question once, in the order asked
    assert encoder.texts == questions[:1] + questions
    assert timing["st_encode"]["n"] == 3 == timing["st_encode_cpu"]["n"]


def _timing(ask_p50: float, slow: str) -> dict:
    stat = {"n": 5, "p50": 1.0, "p95": 2.0, "mean": 1.0, "max": 2.0}
    stages = {s: dict(stat) for s in STAGES}
    stages[slow]["p50"] = 99.0
    return {"queries": 5, "warmup": 3, "stages": stages, "slowest_stage": slow,
            "search": {m: stat for m in ("hybrid", "bm25", "dense")},
            "ask": {**stat, "p50": ask_p50}, "engine_timings": {"total": stat},
            "embed_one_thread": None}


def test_render_bench_states_targets_met_and_missed():
    corpus = {"counts": {"documents": 2, "chunks": 10, "sentences": 30},
              "build": {"seconds": 2.0, "chunks_per_s": 5.0, "peak_rss_mb": 900.0,
                        "embedded": {"chunks": 10, "sentences": 30}},
              "rss_after_model_mb": 450.0}
    result = {
        "started_at": "2026-01-01T00:00:00Z", "seconds": 60.0,
        "machine": {"cpus": 2, "python": "3.11", "platform": "Linux",
                    "load_average_1min": {"before": 0.1, "after": 0.2}},
        "targets_ms": {"default": 50.0, "synthetic-100k": 150.0},
        "corpora": {
            "default": {**corpus, "latency": {"rank_bm25": _timing(40.0, "embed")}},
            "synthetic-100k": {**corpus, "note": "vectors derived",
                               "bm25_builds": {"bm25s": {"seconds": 1.0, "peak_rss_mb": 1.0}},
                               "latency": {"bm25s": _timing(120.0, "answer"),
                                           "rank_bm25": _timing(400.0, "bm25")}},
        },
        "notes": [],
    }
    text = render_bench(result, "ragqa bench --results eval/RESULTS.md")
    assert "Command: `ragqa bench --results eval/RESULTS.md`" in text
    assert "default, BM25 rank_bm25: ask p50 40.0 ms against the target of 50 ms: met." in text
    assert "synthetic-100k, BM25 bm25s: ask p50 120.0 ms against the target of 150 ms: met." in text
    assert ("synthetic-100k, BM25 rank_bm25: ask p50 400.0 ms against the target of 150 ms: "
            "missed by 250.0 ms (2.7×); the slowest stage is bm25 (99.0 ms p50).") in text
    assert "vectors derived" in text


def test_render_bench_shows_embedders_serve_start_and_the_encode_ratio():
    stat = {"n": 5, "p50": 8.0, "p95": 9.0, "mean": 8.0, "max": 9.0}
    variant = {"load_s": 0.5, "rss_added_mb": 120.0, "embed": stat, "batch_texts_per_s": 80.0,
               "max_abs_diff_to_torch": 2e-7, "mean_cosine_to_torch": 1.0,
               "top10_overlap_with_torch": 1.0, "ask": stat}
    corpus = {"counts": {"documents": 2, "chunks": 10, "sentences": 30}, "embedder": "onnx",
              "build": {"seconds": 0.25, "chunks_per_s": 40.0, "cpu_seconds": 0.4,
                        "peak_rss_mb": 300.0, "embedded": {"chunks": 10, "sentences": 30}},
              "latency": {"rank_bm25": _timing(8.0, "answer")},
              "variants": {"torch": {**variant, "embed": {**stat, "p50": 20.0}},
                           "onnx-int8": {**variant, "build_s": 3.0,
                                         "mean_cosine_to_torch": 0.993}},
              "st_ratio": {"ask_p50_ms": 8.0, "st_encode_p50_ms": 20.0, "ratio": 0.4}}
    result = {
        "started_at": "2026-01-01T00:00:00Z", "seconds": 60.0,
        "machine": {"cpus": 2, "python": "3.11", "platform": "Linux"},
        "targets_ms": {"default": 10.0}, "corpora": {"default": corpus}, "notes": [],
        "serve": {"onnx": {"runs": 3, "ready_s": 1.2, "ready_s_all": [1.1, 1.2, 1.4],
                           "rss_mb": 260.0, "peak_rss_mb": 270.0}},
    }
    text = render_bench(result, "ragqa bench")
    assert "| default | onnx | 2 | 10 | 30 | 0.2 | 40.0 | 120.0 | 0.4 |" in text
    assert "| onnx-int8 | 0.50 | 120 | 8.0 / 9.0 | — | 80.0 | 2.0e-07 | 0.9930 | 1.000 |" in text
    assert ("default: ask p50 8.0 ms / one sentence-transformers encode p50 20.0 ms (same "
            "process) = 0.40 against the target of 0.5: met.") in text
    assert ("`ragqa serve --embedder onnx` ready after 1.20 s (median of 3) against the target "
            "of 2 s: met.") in text


def test_pdf_reader_speed_is_timed_and_shown(tmp_path):
    from ragqa.evaluation.bench import _reader_part, time_pdf_reader

    assert time_pdf_reader(tmp_path) is None  # no PDF: nothing to time
    reader = {"files": 3, "pages": 107, "seconds": 5.0, "pages_per_s": 21.4, "root": "pdfs"}
    text = "\n".join(_reader_part(reader))
    assert "### PDF reader" in text and "21.4 pages/s: 3 PDFs, 107 pages read in 5.00 s" in text
    assert _reader_part(None) == []
