"""The SciFact converter on a hand-written stand-in, and a real SciFact slice end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ragqa.evaluation import commands
from ragqa.evaluation.suite import EvidenceSpan, load_suite
from ragqa.ingest.documents import read_corpus

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "scifact"
SHARED = ROOT.parent / "shared" / "datasets" / "scifact"
PUBLISHED = ROOT / "eval" / "datasets" / "scifact_published.json"


def _load_converter():
    spec = importlib.util.spec_from_file_location("scifact", ROOT / "eval" / "datasets" / "scifact.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scifact = _load_converter()


@pytest.fixture
def converted(tmp_path):
    corpus, suite = scifact.write(tmp_path, FIXTURE)
    return read_corpus(corpus), load_suite(suite)


def _raw(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / name).read_text().splitlines()]


def test_every_gold_sentence_is_an_exact_span_of_its_document(converted):
    documents, cases = converted
    texts = {doc.id: doc.text for doc in documents}
    abstracts = {scifact.doc_id(a["doc_id"]): a["abstract"] for a in _raw("corpus.jsonl")}
    checked = 0
    for claim in _raw("claims_train.jsonl"):
        case = next(c for c in cases if c.id == f"scifact-{claim['id']}")
        spans = {(s.doc_id, texts[s.doc_id][s.start:s.end]) for s in case.evidence_spans}
        for source_id, sets in claim["evidence"].items():
            for evidence_set in sets:
                for i in evidence_set["sentences"]:
                    sentence = abstracts[scifact.doc_id(source_id)][i].strip()
                    assert (scifact.doc_id(source_id), sentence) in spans
                    checked += 1
    assert checked == 6


def test_join_sentences_strips_and_joins_with_one_space():
    text, spans = scifact.join_sentences(["A b.   \n", " C d.", "E."])
    assert text == "A b. C d. E."
    assert [text[s:e] for s, e in spans] == ["A b.", "C d.", "E."]


def test_documents_carry_only_the_metadata_scifact_has(converted):
    documents, _ = converted
    doc = next(d for d in documents if d.id == "scifact-101")
    assert doc.title == "Nightly walking and blood pressure in older adults."
    assert doc.year is None and doc.publisher is None and doc.pmid is None
    assert doc.text.startswith("BACKGROUND Walking is cheap. METHODS 120 adults")


def test_suite_cases(converted):
    _, cases = converted
    by_id = {c.id: c for c in cases}
    walking = by_id["scifact-1"]
    assert walking.docs == ("scifact-101",) and walking.tags == ("scifact", "support")
    assert len(walking.evidence_spans) == 2 and walking.cited_docs == ()
    assert by_id["scifact-2"].tags == ("scifact", "contradict")
    assert by_id["scifact-4"].docs == ("scifact-202", "scifact-101")  # the source's order
    no_evidence = by_id["scifact-3"]
    assert no_evidence.evidence_spans == () and no_evidence.docs == ()
    assert no_evidence.cited_docs == ("scifact-303",) and no_evidence.abstain is None
    assert no_evidence.tags == ("scifact", "no-evidence")


def test_slice_keeps_every_abstract_its_claims_need():
    abstracts, claims = scifact.load(FIXTURE)
    kept, chosen = scifact.select_slice(abstracts, claims, n_claims=3, n_docs=2)
    assert [c["id"] for c in chosen] == [1, 2, 3]  # two with evidence, one without
    assert {a["doc_id"] for a in kept} == {101, 202, 303}  # needed beats n_docs


def test_published_figures_file_is_readable():
    figures = commands.load_reference_points(PUBLISHED)
    assert {f["label"]: f["ndcg_at_10"] for f in figures} == {
        "BM25 (BEIR)": 0.665, "all-MiniLM-L6-v2 (MTEB)": 0.645}


def test_evidence_span_round_trips_through_the_suite_format(converted):
    _, cases = converted
    case = next(c for c in cases if c.id == "scifact-2")
    record = case.to_json()
    assert record["evidence_spans"][0] == EvidenceSpan(*case.evidence_spans[0])._asdict()
    assert next(c for c in cases if c.id == "scifact-3").to_json()["evidence_spans"] == []


def _contract_takes_missing_metadata() -> bool:
    from pydantic import ValidationError

    from ragqa.answer.contract import Reference

    try:
        Reference(n=1, doc_id="x", title="t", publisher=None, year=None, doc_type="other")
    except ValidationError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "corpus.jsonl").is_file(), reason=f"SciFact not at {SHARED}")
@pytest.mark.skipif(not _contract_takes_missing_metadata(),
                    reason="the answer contract's Reference requires year and publisher, which "
                           "SciFact abstracts do not have (answer/contract.py must accept None)")
def test_scifact_slice_end_to_end(tmp_path, real_embedder, monkeypatch):
    """30 real abstracts and 10 claims, converted, indexed and evaluated in three modes."""
    from ragqa.index.store import update_index

    corpus, suite = scifact.write(tmp_path / "data", SHARED, n_claims=10, n_docs=30)
    update_index(corpus, tmp_path / "index", real_embedder)
    monkeypatch.setattr(commands, "load_embedder", lambda: real_embedder)
    parser = __import__("argparse").ArgumentParser()
    commands.add_eval_arguments(parser)
    args = parser.parse_args([
        "--suite", str(suite), "--name", "scifact", "--index-dir", str(tmp_path / "index"),
        "--out", str(tmp_path / "out"), "--modes", "hybrid,bm25,dense",
        "--published", str(PUBLISHED), "--results", str(tmp_path / "RESULTS.md"),
    ])
    assert commands.eval_command(args) == 0
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    for mode in ("hybrid", "bm25", "dense"):
        overall = data["aggregates"][mode]["overall"]
        evidence = overall["evidence"]
        assert overall["faithfulness"] == 1.0 and overall["errors"] == 0
        assert evidence["cases"] + evidence["no_evidence_cases"] == 10
        assert evidence["ranking_depth_min"] >= 10
        assert 0 <= evidence["quote_precision"] <= 1 and 0 <= evidence["quote_recall"] <= 1
        # 30 abstracts: a claim's own abstract is among the top 10 in almost every case
        assert evidence["recall_at_10"] >= 0.8
    results = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- ragqa:begin eval scifact -->" in results
    assert "BM25 (BEIR) (published, not re-run)" in results and "| quote F1 |" in results
