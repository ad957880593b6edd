"""The guideline benchmark: documents.json, the variant registry, the naive baseline, the
per-suite figures, the report, `ragqa eval --suites`, and the suites' labels against their
guidelines' text."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace

import pytest

from ragqa.config import PROJECT_ROOT
from ragqa.errors import SuiteError
from ragqa.evaluation import commands, metrics
from ragqa.evaluation.baseline import TopSentences
from ragqa.evaluation.report import SUITE_METRICS, suites_section
from ragqa.evaluation.runner import error_result
from ragqa.evaluation.suite import Case, load_suite, parse_suite
from ragqa.evaluation.suites import (
    BASELINE,
    OVERALL,
    VARIANTS,
    load_suite_documents,
    parse_suite_documents,
    parse_variants,
    read_guideline,
    run_suites,
    suite_scores,
)
from ragqa.index.store import build_index
from ragqa.ingest.chunker import Chunker, ChunkingParams
from ragqa.ingest.documents import document_from_record, read_corpus

SUITES = PROJECT_ROOT / "eval" / "suites"
SHARED = PROJECT_ROOT.parent / "shared" / "datasets" / "guidelines-dev"

TEXTS = {
    "bp-guide": ("Blood pressure guideline",
                 ("Blood pressure should be rechecked every three months after starting "
                  "treatment. Thiazide diuretics are a first-line drug class for adults with "
                  "hypertension. Salt intake should be reduced to less than 5 g per day.")),
    "gut-guide": ("Coeliac guideline",
                  ("A gluten-free diet is the only treatment for coeliac disease. "
                   "At least four duodenal biopsies should be taken at endoscopy.")),
}


@pytest.fixture
def small_index(fake_embedder):
    documents = [document_from_record({"id": doc_id, "title": title, "doc_type": "guideline",
                                       "text": text}, doc_id, {"": 1})
                 for doc_id, (title, text) in TEXTS.items()]
    return build_index(documents, fake_embedder)


# --- documents.json ---------------------------------------------------------------------------

def test_documents_file_of_the_project_names_every_suite():
    entries = load_suite_documents(SUITES / "documents.json")
    assert set(entries) == {"coeliac", "hypertension", "obesity", "canmat"}
    assert entries["canmat"].path is None
    assert entries["coeliac"].path == PROJECT_ROOT / ("../shared/datasets/guidelines-dev/"
                                                      "bsg-coeliac-2014/bsg-coeliac-2014.pdf")
    assert entries["hypertension"].doc_id == "who-hypertension-2021"


@pytest.mark.parametrize("data, match", [
    ([], r"expected an object mapping each suite"),
    ({"a": "x.pdf"}, r"suite 'a': field '': expected an object"),
    ({"a": {"id": "a-doc"}}, r"suite 'a': field 'path': missing"),
    ({"a": {"path": 3, "id": "a-doc"}}, r"suite 'a': field 'path': must be a file path or null"),
    ({"a": {"path": None, "id": ""}}, r"suite 'a': field 'id': must be a non-empty"),
    ({"a": {"path": None}}, r"suite 'a': field 'id': must be a non-empty"),
    ({"a": {"path": None, "id": "x", "title": "T"}}, r"suite 'a': field 'title': unknown field"),
])
def test_documents_file_errors_name_the_suite_and_field(data, match):
    with pytest.raises(SuiteError, match=match):
        parse_suite_documents(data, "documents.json")


def test_documents_file_paths_are_relative_to_the_root(tmp_path):
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({"x": {"path": "g/x.pdf", "id": "x-2020"}}), encoding="utf-8")
    [entry] = load_suite_documents(path, root=tmp_path).values()
    assert (entry.suite, entry.path, entry.doc_id) == ("x", tmp_path / "g" / "x.pdf", "x-2020")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"field 'json': invalid JSON"):
        load_suite_documents(path)
    with pytest.raises(SuiteError, match=r"field 'file': cannot read"):
        load_suite_documents(tmp_path / "missing.json")


# --- variants -----------------------------------------------------------------------------------

def test_the_registry_holds_the_engine_and_the_naive_baseline():
    assert list(VARIANTS)[:2] == ["engine (held out)", "engine (in sample)"] and BASELINE in VARIANTS
    assert list(parse_variants(None)) == list(VARIANTS)
    assert list(parse_variants(f"{BASELINE}, hand weights")) == [BASELINE, "hand weights"]
    with pytest.raises(SuiteError, match=r"unknown variant 'fitted'"):
        parse_variants("hand weights,fitted")


def test_each_variant_is_built_per_suite_with_the_suite_name(small_index, fake_embedder):
    built = []

    def recording(suite, index, embedder):
        """Records which suite it answers."""
        built.append(suite)
        return TopSentences(index, embedder, n=1)

    suites = {"bp": [Case(id="b1", question="How often is blood pressure rechecked?")],
              "gut": [Case(id="g1", question="How many duodenal biopsies?")]}
    report = run_suites(suites, small_index, fake_embedder,
                        {BASELINE: VARIANTS[BASELINE], "one": recording})
    assert built == ["bp", "gut"]
    assert report.variants == (BASELINE, "one")
    assert report.notes["one"] == "Records which suite it answers."
    assert set(report.scores) == {"bp", "gut", OVERALL}
    assert report.scores[OVERALL]["one"].cases == 2
    assert [r.mode for r in report.results["gut"]["one"]] == ["one"]


# --- the naive baseline --------------------------------------------------------------------------

def test_naive_baseline_quotes_the_top_two_sentences_faithfully(small_index, fake_embedder):
    answer = TopSentences(small_index, fake_embedder, n=2).ask(
        "How often should blood pressure be rechecked after starting treatment?")
    assert not answer.abstained
    assert [s.kind for s in answer.bottom_line] == ["extract", "extract"]
    assert answer.bottom_line[0].text == ("Blood pressure should be rechecked every three months "
                                          "after starting treatment.")
    documents = {d: doc.text for d, doc in small_index.documents.items()}
    assert metrics.faithfulness(answer.statements(), documents) == (2, 2)
    assert metrics.check_citations(answer).problems == ()
    assert [r.doc_id for r in answer.references] == list(dict.fromkeys(
        s.doc_id for s in answer.bottom_line))


def test_naive_baseline_never_abstains(small_index, fake_embedder):
    answer = TopSentences(small_index, fake_embedder).ask("What dose of sertraline for anxiety?")
    assert not answer.abstained and len(answer.bottom_line) == 2


# --- per-suite figures -----------------------------------------------------------------------

def result(abstain_expected, abstained, passed):
    case = Case(id=f"c{abstain_expected}{abstained}{passed}", question="q",
                abstain=abstain_expected)
    return replace(error_result(case, "engine", SuiteError("x"), 1.0), error=None,
                   failures=(), passed=passed, abstained=abstained)


def test_false_and_trap_abstention():
    results = [
        result(False, True, False),   # answerable, abstained: a false abstention
        result(False, False, True),
        result(None, True, False),    # unlabelled counts as answerable
        result(None, False, True),
        result(True, True, True),     # trap, abstained
        result(True, False, False),   # trap, answered
        result(True, True, True),
    ]
    scores = suite_scores(results)
    assert (scores.cases, scores.passed) == (7, 4)
    assert (scores.answerable, scores.false_abstentions) == (4, 2)
    assert scores.false_abstention == pytest.approx(0.5)
    assert (scores.traps, scores.trap_abstentions) == (3, 2)
    assert scores.trap_abstention == pytest.approx(2 / 3)


def test_no_traps_gives_no_trap_abstention():
    scores = suite_scores([result(False, False, True)])
    assert scores.traps == 0 and scores.trap_abstention is None
    assert scores.false_abstention == 0.0


def test_section_has_a_table_per_metric_with_overall_and_the_difference(small_index,
                                                                        fake_embedder):
    cases = parse_suite('{"id": "b1", "question": "How often is blood pressure rechecked?", '
                        '"lead": ["three months"], "abstain": false}\n'
                        '{"id": "t1", "question": "Which sertraline dose?", "abstain": true}')
    report = run_suites({"bp": cases}, small_index, fake_embedder,
                        {"engine": VARIANTS[BASELINE], BASELINE: VARIANTS[BASELINE]})
    text = suites_section(report, "ragqa eval --suites x")
    assert text.count("| suite | cases | engine | naive top-2 | engine − naive top-2 |") == len(SUITE_METRICS)
    assert "| **overall** | 2 | 0.500 (1/2) | 0.500 (1/2) | +0.000 |" in text
    assert "0.000 (0/1)" in text  # the trap was answered: trap abstention 0 of 1
    assert "load average" in text and "`ragqa eval --suites x`" in text


def test_suites_command_builds_the_index_runs_and_writes(tmp_path, fixture_corpus, fake_embedder,
                                                         monkeypatch, capsys):
    monkeypatch.setenv("RAGQA_CORPUS", str(fixture_corpus))
    monkeypatch.setattr(commands, "load_embedder", lambda: fake_embedder)
    guide = tmp_path / "guides" / "salt.md"
    guide.parent.mkdir()
    guide.write_text("---\nid: salt-guide\ntitle: Salt\ndoc_type: guideline\n---\n\n# Salt\n\n"
                     "Salt intake should be reduced to less than 5 g per day.\n", encoding="utf-8")
    (tmp_path / "documents.json").write_text(json.dumps(
        {"salt": {"path": "guides/salt.md", "id": "salt-guide"}}), encoding="utf-8")
    suite = tmp_path / "suites" / "salt.jsonl"
    suite.parent.mkdir()
    suite.write_text(json.dumps({"id": "s1", "question": "How much salt per day at most?",
                                 "lead": ["5 g"], "docs": ["salt-guide"]}) + "\n",
                     encoding="utf-8")
    parser = argparse.ArgumentParser()
    commands.add_eval_arguments(parser)
    documents = tmp_path / "documents.json"
    entries = load_suite_documents(documents, root=tmp_path)
    monkeypatch.setattr("ragqa.evaluation.suites.load_suite_documents", lambda path: entries)
    args = parser.parse_args([
        "--suites", str(tmp_path / "suites" / "*.jsonl"), "--documents", str(documents),
        "--suites-index", str(tmp_path / "index"), "--index-dir", str(tmp_path / "none"),
        "--out", str(tmp_path / "out"), "--results", str(tmp_path / "RESULTS.md"),
        "--variants", BASELINE])
    assert commands.eval_command(args) == 0
    cases = json.loads((tmp_path / "out" / "salt.json").read_text())["variants"][BASELINE]
    assert cases[0]["case_id"] == "s1" and cases[0]["passed"]
    assert "<!-- ragqa:begin eval suites -->" in (tmp_path / "RESULTS.md").read_text()
    assert "built (no index yet)" in capsys.readouterr().err
    assert commands.eval_command(args) == 0  # the second run reuses the index
    assert "up to date" in capsys.readouterr().err


def test_suites_refuses_a_suite_without_a_document(tmp_path):
    (tmp_path / "other.jsonl").write_text('{"id": "a", "question": "q?"}\n', encoding="utf-8")
    parser = argparse.ArgumentParser()
    commands.add_eval_arguments(parser)
    args = parser.parse_args(["--suites", str(tmp_path / "*.jsonl")])
    with pytest.raises(SuiteError, match=r"no entry for suite 'other'"):
        commands.eval_command(args)
    args = parser.parse_args(["--suites", str(tmp_path / "none-*.jsonl")])
    with pytest.raises(SuiteError, match=r"no \.jsonl file matches"):
        commands.eval_command(args)


# --- the suites' labels against their guidelines ---------------------------------------------

def quotable_sentences(doc_id: str, entries) -> list[str]:
    """The quotable sentences of a suite's document, as the reader and chunker produce them."""
    entry = next(e for e in entries.values() if e.doc_id == doc_id)
    if entry.path is None:
        documents = [d for d in read_corpus(PROJECT_ROOT / "corpus") if d.id == doc_id]
    else:
        documents = [read_guideline(entry)]
    sentences, _ = Chunker(ChunkingParams()).run(documents)
    return [s.text for s in sentences if s.quotable]


# the fit set's suites, and the fresh patient-language and scope cases over the same guidelines
SUITE_FILES = sorted(SUITES.glob("*.jsonl")) + [
    path for blind in ("lay", "scope") for path in sorted((PROJECT_ROOT / "eval" / blind).glob("*.jsonl"))]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is missing (the shared guidelines)")
@pytest.mark.skipif(not SUITE_FILES, reason="no eval/suites/*.jsonl yet")
@pytest.mark.parametrize("path", SUITE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in SUITE_FILES])
def test_every_lead_and_fact_matches_a_quotable_sentence_of_its_guideline(path):
    entries = load_suite_documents(SUITES / "documents.json")
    doc_id = entries[path.stem].doc_id
    sentences = quotable_sentences(doc_id, entries)
    unmatched = [f"{case.id}: {field} /{pattern}/"
                 for case in load_suite(path)
                 for field, patterns in (("lead", case.lead), ("facts", case.facts))
                 for pattern in patterns
                 if not any(re.search(pattern, s, re.IGNORECASE) for s in sentences)]
    assert not unmatched, f"{len(unmatched)} labels match no quotable sentence of {doc_id}: " \
                          + "; ".join(unmatched)
