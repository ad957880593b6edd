"""Answers on the Milvus backend: the engine and the eval runner, unchanged, over Milvus search."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.answer.engine import AnswerEngine
from ragqa.evaluation.runner import run_eval
from ragqa.evaluation.suite import load_suite
from ragqa.index.milvus import MilvusStore
from ragqa.retrieve import InProcessBackend, MilvusBackend, Mode

TINY = Path(__file__).resolve().parents[2] / "eval" / "tiny.jsonl"


def on(engine: AnswerEngine, backend) -> AnswerEngine:
    engine.retriever.backend = backend
    return engine


def test_answer_quotes_and_cites_from_milvus_hits(backend_index, backend_embedder, fixture_store):
    engine = on(AnswerEngine(backend_index, backend_embedder),
                MilvusBackend(backend_index, fixture_store))
    answer = engine.ask("What IV ketamine dose is used for treatment-resistant depression?")
    assert not answer.abstained
    assert "retrieve_hybrid" in answer.timings_ms  # retrieval ran inside Milvus
    extracts = [s for s in answer.statements() if s.kind == "extract"]
    assert any("0.5 mg/kg" in s.text for s in extracts)
    for s in extracts:
        assert backend_index.documents[s.doc_id].text[s.char_start:s.char_end] == s.text


def test_eval_compares_backends_in_one_run(backend_index, backend_embedder, fixture_store):
    backends = [InProcessBackend(backend_index), MilvusBackend(backend_index, fixture_store)]
    report = run_eval(load_suite(TINY), backend_index, embedder=backend_embedder,
                      modes=[Mode.HYBRID, Mode.BM25], backends=backends)
    assert report.modes == ("hybrid", "hybrid@milvus", "bm25", "bm25@milvus")
    local, milvus = (report.aggregates[m].overall for m in ("hybrid", "hybrid@milvus"))
    assert milvus.cases == local.cases and milvus.errors == 0
    assert milvus.pass_rate == local.pass_rate
    assert milvus.recall_at_1 == pytest.approx(local.recall_at_1, abs=0.01)


@pytest.mark.slow
def test_real_default_index_answers_the_same_on_milvus(default_index, real_embedder,
                                                       tmp_path_factory):
    store = MilvusStore.open(str(tmp_path_factory.mktemp("milvus-default") / "default.db"),
                             "default")
    store.publish(default_index)
    local = AnswerEngine(default_index, real_embedder)
    milvus = on(AnswerEngine(default_index, real_embedder), MilvusBackend(default_index, store))
    for question in ("Is microdosing ketamine effective for depression?",
                     "What dose of esketamine nasal spray is used for depression?",
                     "Is metformin effective for weight loss?"):
        a, b = local.ask(question), milvus.ask(question)
        assert b.abstained == a.abstained, question
        assert b.regimen_check.supported == a.regimen_check.supported, question
        assert {r.doc_id for r in b.references} & {r.doc_id for r in a.references} or a.abstained
        for s in b.statements():
            if s.kind == "extract":
                assert default_index.documents[s.doc_id].text[s.char_start:s.char_end] == s.text
