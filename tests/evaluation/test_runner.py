"""The runner and the `ragqa eval` command end to end on the fixture corpus and eval/tiny.jsonl."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ragqa.answer.contract import Answer, Reference, RegimenCheck, Statement
from ragqa.evaluation import commands
from ragqa.evaluation.report import RESULTS_HEADER, _build_rate, replace_section
from ragqa.evaluation.runner import aggregate, run_eval, score_case
from ragqa.evaluation.suite import Case, EvidenceSpan, SuiteError, load_suite
from ragqa.index.store import build_index, save_index
from ragqa.ingest.documents import read_corpus
from ragqa.retrieve import Mode

TINY = Path(__file__).resolve().parents[2] / "eval" / "tiny.jsonl"
ALL_MODES = [Mode.HYBRID, Mode.BM25, Mode.DENSE]


@pytest.fixture
def fixture_index(fixture_corpus, fake_embedder):
    return build_index(read_corpus(fixture_corpus), fake_embedder)


def eval_args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.add_eval_arguments(parser)
    argv = ["--suite", str(TINY)]
    for name, value in overrides.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return parser.parse_args(argv)


def quoted_answer(index, doc_id: str, sentence: str, **changes) -> Answer:
    """An answer quoting one sentence of a fixture document, optionally tampered with."""
    start = index.documents[doc_id].text.index(sentence)
    statement = Statement(text=sentence, kind="extract", citations=[1], doc_id=doc_id,
                          char_start=start, char_end=start + len(sentence))
    statement = statement.model_copy(update=changes)
    doc = index.documents[doc_id]
    return Answer(
        question="q", abstained=False, bottom_line=[statement], sections=[],
        regimen_check=RegimenCheck(asked=None, asked_label=None, supported=None, evidence=[],
                                   note=""),
        references=[Reference(n=1, doc_id=doc_id, title=doc.title, publisher=doc.publisher,
                              year=doc.year, doc_type=doc.doc_type.value)],
        retrieved_doc_ids=["esketamine-label", doc_id], index_version="v",
        timings_ms={"total": 1.0},
    )


SENTENCE = ("Ketamine 0.5 mg/kg IV infused over 40 minutes was given to adults with "
            "treatment-resistant depression.")


def test_score_case_passes_a_faithful_cited_answer(fixture_index):
    documents = {d: doc.text for d, doc in fixture_index.documents.items()}
    case = Case("c", "q", facts=(r"0\.5 ?mg/kg",), forbid=("microdos",), abstain=False,
                docs=("low-dose-ketamine-trial",))
    result = score_case(case, "hybrid", quoted_answer(fixture_index, "low-dose-ketamine-trial",
                                                      SENTENCE), 12.0, documents)
    assert result.passed, result.failures
    assert (result.faithful_statements, result.extract_statements) == (1, 1)
    assert (result.recall_at_1, result.recall_at_5, result.mrr_at_10) == (0.0, 1.0, 0.5)


def test_score_case_tells_a_lead_first_from_a_lead_anywhere_in_the_bottom_line(fixture_index):
    documents = {d: doc.text for d, doc in fixture_index.documents.items()}
    answer = quoted_answer(fixture_index, "low-dose-ketamine-trial", SENTENCE)
    case = Case("c", "q", lead=(r"0\.5 ?mg/kg",))
    first = score_case(case, "hybrid", answer, 1.0, documents)
    assert (first.lead_hit, first.lead_first, first.bottom_line_statements) == (True, True, 1)
    other = Case("c", "q", lead=(r"^(?!.*0\.5).*$",))
    second = answer.model_copy(update={"bottom_line": [*answer.bottom_line, answer.bottom_line[0].model_copy(
        update={"text": "x"})]})
    # the second statement (text "x") alone states this lead: anywhere, not first
    assert score_case(other, "hybrid", second, 1.0, documents).lead_first is False
    assert score_case(other, "hybrid", second, 1.0, documents).lead_hit is True
    assert aggregate([first]).lead_first_rate == 1.0 and aggregate([first]).bottom_line_mean == 1.0


def test_score_case_checks_the_span_against_the_document_not_the_answer(fixture_index):
    documents = {d: doc.text for d, doc in fixture_index.documents.items()}
    tampered = quoted_answer(fixture_index, "low-dose-ketamine-trial", SENTENCE,
                             text=SENTENCE.replace("0.5 mg/kg", "5 mg/kg"))
    result = score_case(Case("c", "q"), "hybrid", tampered, 1.0, documents)
    assert not result.passed
    assert result.faithful_statements == 0
    assert "differ from their document span" in result.failures[0]


def test_score_case_reports_each_failed_expectation(fixture_index):
    documents = {d: doc.text for d, doc in fixture_index.documents.items()}
    case = Case("c", "q", facts=(r"0\.5 ?mg/kg", "84 mg"), forbid=("40 minutes",), abstain=True,
                regimen_supported=False)
    result = score_case(case, "bm25", quoted_answer(fixture_index, "low-dose-ketamine-trial",
                                                    SENTENCE), 1.0, documents)
    assert result.fact_hits == (True, False) and result.fact_recall == 0.5
    assert result.forbidden_hits == ("40 minutes",)
    assert len(result.failures) == 4  # missing fact, forbidden text, abstention, regimen


def test_run_eval_tiny_suite_in_every_mode(fixture_index, fake_embedder):
    cases = load_suite(TINY)
    report = run_eval(cases, fixture_index, embedder=fake_embedder, modes=ALL_MODES,
                      suite_name="tiny.jsonl")
    assert report.modes == ("hybrid", "bm25", "dense")
    assert len(report.results) == 3 * len(cases)
    for mode in report.modes:
        overall = report.aggregates[mode].overall
        assert overall.cases == len(cases)
        # the answer contract's invariants hold whatever the retrieval mode
        assert overall.faithfulness == 1.0
        assert overall.citation_validity == 1.0
        assert overall.retrieval_cases == sum(bool(c.docs) for c in cases)
        assert overall.abstention_precision is not None
        assert set(report.aggregates[mode].by_tag) == {t for c in cases for t in c.tags}
        assert overall.latency_max_ms >= overall.latency_p95_ms >= overall.latency_p50_ms > 0


def test_run_eval_refuses_gold_docs_missing_from_the_index(fixture_index, fake_embedder):
    with pytest.raises(SuiteError, match="not in the index"):
        run_eval([Case("c", "q", docs=("nope",))], fixture_index, embedder=fake_embedder)


def test_eval_command_writes_reports_and_results(tmp_path, fixture_index, fake_embedder,
                                                 monkeypatch, capsys):
    save_index(fixture_index, tmp_path / "index")
    monkeypatch.setattr(commands, "load_embedder", lambda: fake_embedder)
    results = tmp_path / "RESULTS.md"
    results.write_text(
        RESULTS_HEADER + "\n<!-- ragqa:begin bench -->\nkept\n<!-- ragqa:end bench -->\n")
    args = eval_args(index_dir=tmp_path / "index", out=tmp_path / "out", modes="hybrid,bm25",
                     results=results, min_pass_rate=0.0)
    assert commands.eval_command(args) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["latency.png", "modes.png", "report.json",
                                                      "report.md"]
    data = json.loads((out / "report.json").read_text())
    assert data["modes"] == ["hybrid", "bm25"] and len(data["results"]) == 10
    assert "| case pass rate |" in (out / "report.md").read_text()
    text = results.read_text()
    assert "<!-- ragqa:begin eval tiny -->" in text and "kept" in text
    assert "Command: `ragqa" in text
    assert "| metric | hybrid | bm25 |" in capsys.readouterr().out


def test_eval_command_fails_below_min_pass_rate(tmp_path, fixture_index, fake_embedder,
                                                monkeypatch):
    save_index(fixture_index, tmp_path / "index")
    monkeypatch.setattr(commands, "load_embedder", lambda: fake_embedder)
    suite = tmp_path / "impossible.jsonl"
    suite.write_text('{"id": "x", "question": "What IV ketamine dose is used?", '
                     '"facts": ["zebra crossing"]}\n')
    args = eval_args(index_dir=tmp_path / "index", out=tmp_path / "out", min_pass_rate=0.5)
    args.suite = str(suite)
    assert commands.eval_command(args) == 1
    args.min_pass_rate = 0.0
    assert commands.eval_command(args) == 0


def test_parse_modes():
    assert commands.parse_modes("hybrid, bm25,hybrid,dense") == ALL_MODES
    with pytest.raises(Exception, match="mode must be"):
        commands.parse_modes("hybrid,sparse")


def test_replace_section_appends_then_replaces_in_place():
    text = replace_section("", "bench", "first")
    assert text.startswith(RESULTS_HEADER) and "first" in text
    text = replace_section(text, "eval x", "eval body")
    text = replace_section(text, "bench", "second")
    assert "first" not in text and text.index("second") < text.index("eval body")
    assert replace_section(text, "bench", "second") == text


@pytest.mark.slow
def test_tiny_suite_with_the_real_model(tmp_path, fixture_corpus, real_embedder, monkeypatch):
    save_index(build_index(read_corpus(fixture_corpus), real_embedder), tmp_path / "index")
    monkeypatch.setattr(commands, "load_embedder", lambda: real_embedder)
    args = eval_args(index_dir=tmp_path / "index", out=tmp_path / "out", modes="hybrid,bm25,dense",
                     min_pass_rate=0.8)
    assert commands.eval_command(args) == 0
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    for mode in ("hybrid", "bm25", "dense"):
        overall = data["aggregates"][mode]["overall"]
        assert overall["faithfulness"] == 1.0 and overall["citation_validity"] == 1.0
    hybrid = data["aggregates"]["hybrid"]["overall"]
    assert hybrid["abstention_recall"] == 1.0 and hybrid["regimen_accuracy"] == 1.0


@pytest.mark.parametrize(("path", "name"), [
    ("eval/guidelines.jsonl", "guidelines"), ("/tmp/pubmedqa/suite.jsonl", "pubmedqa"),
])
def test_suite_name(path, name):
    assert commands.suite_name(Path(path)) == name


class CannedEngine:
    """Answers every question with the same prepared answer."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def ask(self, question, top_k=None, filters=None) -> Answer:
        return self.answer


def test_run_eval_scores_sentence_level_evidence(fixture_index):
    doc_id = "low-dose-ketamine-trial"
    text = fixture_index.documents[doc_id].text
    start = text.index(SENTENCE)
    on_gold = EvidenceSpan(doc_id, start, start + len(SENTENCE))
    elsewhere = EvidenceSpan(doc_id, 0, start) if start else EvidenceSpan(
        doc_id, on_gold.end + 1, len(text))
    cases = [
        # two gold sentences, the answer quotes one of them (its only quote)
        Case("gold", "claim one", docs=(doc_id,), evidence_spans=(on_gold, elsewhere)),
        # no evidence, and the answer quotes the cited abstract
        Case("none", "claim two", evidence_spans=(), cited_docs=(doc_id,)),
        # no evidence, the answer quotes another document
        Case("none-ok", "claim three", evidence_spans=(), cited_docs=("esketamine-label",)),
    ]
    ranking = ["esketamine-label", *(f"d{i}" for i in range(10)), doc_id]
    report = run_eval(cases, fixture_index, modes=[Mode.BM25],
                      engine_factory=lambda mode: CannedEngine(
                          quoted_answer(fixture_index, doc_id, SENTENCE)),
                      ranker=lambda question, mode: ranking)
    evidence = report.aggregates["bm25"].overall.evidence
    assert (evidence.cases, evidence.no_evidence_cases) == (1, 2)
    assert (evidence.quote_precision, evidence.quote_recall) == (1.0, 0.5)
    assert evidence.quote_f1 == pytest.approx(2 / 3)
    assert (evidence.lead_precision, evidence.lead_recall) == (1.0, 0.5)
    assert evidence.no_evidence_avoided == 0.5 and evidence.no_evidence_abstained == 0.0
    # the gold abstract is 12th in the retriever's ranking: outside the top 10
    assert (evidence.recall_at_10, evidence.ndcg_at_10) == (0.0, 0.0)
    assert evidence.ranking_depth_min == 12
    [gold] = [r for r in report.results if r.case_id == "gold"]
    assert gold.evidence.gold_missed == (text[elsewhere.start:elsewhere.end],)
    assert gold.evidence.lead_quoted == (SENTENCE,)


def test_cases_without_evidence_spans_get_no_evidence_score(fixture_index, fake_embedder):
    report = run_eval(load_suite(TINY), fixture_index, embedder=fake_embedder)
    assert all(r.evidence is None for r in report.results)
    assert report.aggregates["hybrid"].overall.evidence is None


def test_evidence_table_puts_published_figures_beside_the_modes(fixture_index):
    from dataclasses import replace

    from ragqa.evaluation.report import evidence_table, results_section

    case = Case("gold", "claim", docs=("low-dose-ketamine-trial",),
                evidence_spans=(EvidenceSpan("low-dose-ketamine-trial", 0, 5),))
    report = run_eval([case], fixture_index, modes=[Mode.HYBRID, Mode.DENSE],
                      engine_factory=lambda mode: CannedEngine(
                          quoted_answer(fixture_index, "low-dose-ketamine-trial", SENTENCE)),
                      ranker=lambda question, mode: ["low-dose-ketamine-trial"])
    report = replace(report, reference_points=(
        {"label": "BM25 (BEIR)", "ndcg_at_10": 0.665, "source": "BEIR"},))
    table = evidence_table(report)
    assert table.splitlines()[0] == ("| metric | hybrid | dense | BM25 (BEIR) (published, "
                                     "not re-run) |")
    assert "| abstract nDCG@10 (retriever ranking) | 1.000 | 1.000 | 0.665 |" in table
    assert "| quote F1 | 0.000 | 0.000 |  |" in table
    assert "Missed gold sentences (hybrid, first five)" in results_section(report, "ragqa eval")
    assert results_section(report, "ragqa eval", "scifact held out").startswith(
        f"## Eval: scifact held out (`{report.suite}`)")


def test_index_line_gives_the_build_rate_only_for_a_full_build():
    full = {"build_seconds": 100.0, "counts": {"chunks": 10, "sentences": 1000},
            "embedded": {"chunks": 10, "sentences": 990}}
    assert _build_rate(full).endswith(": 10.0 sentences/s end to end")
    reused = {**full, "embedded": {"chunks": 0, "sentences": 0}}
    assert "rest reused" in _build_rate(reused) and "sentences/s" not in _build_rate(reused)
    assert _build_rate({"counts": {}}) == ""
