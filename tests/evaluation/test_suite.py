"""Suite parsing: valid lines become cases; bad lines fail with file:line: field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragqa.evaluation.suite import (
    Case,
    EvidenceSpan,
    SuiteError,
    check_evidence_spans,
    check_gold_docs,
    load_suite,
    parse_suite,
)

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval"


def test_full_case_parses():
    line = json.dumps({
        "id": "c1", "question": " What dose? ", "facts": [r"0\.5 ?mg/kg"], "forbid": ["micro"],
        "abstain": False, "regimen_supported": True, "docs": ["d1"], "tags": ["dosing"],
    })
    assert parse_suite(line + "\n\n") == [Case(
        id="c1", question="What dose?", facts=(r"0\.5 ?mg/kg",), forbid=("micro",), abstain=False,
        regimen_supported=True, docs=("d1",), tags=("dosing",),
    )]


def test_minimal_case_checks_nothing():
    (case,) = parse_suite('{"id": "c", "question": "q"}')
    assert (case.facts, case.abstain, case.regimen_supported, case.docs) == ((), None, None, ())


def test_case_round_trips_through_json():
    case = Case("c", "q", facts=("a",), abstain=True, tags=("t",))
    assert parse_suite(json.dumps(case.to_json())) == [case]


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "c", "question": "q"', r"s\.jsonl:2: field 'json': invalid JSON"),
    ('["c", "q"]', r"s\.jsonl:2: field '': expected a JSON object"),
    ('{"id": "c", "question": "q", "fact": ["x"]}', r"s\.jsonl:2: field 'fact': unknown field"),
    ('{"question": "q"}', r"s\.jsonl:2: field 'id': must be a non-empty string"),
    ('{"id": "c", "question": ""}', r"s\.jsonl:2: field 'question': must be a non-empty string"),
    ('{"id": "c", "question": "q", "facts": "0.5 mg/kg"}',
     r"s\.jsonl:2: field 'facts': must be a list"),
    ('{"id": "c", "question": "q", "facts": ["(0.5"]}',
     r"s\.jsonl:2: field 'facts': invalid regular expression '\(0\.5'"),
    ('{"id": "c", "question": "q", "forbid": ["[a"]}',
     r"s\.jsonl:2: field 'forbid': invalid regular"),
    ('{"id": "c", "question": "q", "abstain": "yes"}',
     r"s\.jsonl:2: field 'abstain': must be true"),
    ('{"id": "c", "question": "q", "regimen_supported": 1}',
     r"s\.jsonl:2: field 'regimen_supported': must be true"),
    ('{"id": "c", "question": "q", "docs": [3]}', r"s\.jsonl:2: field 'docs': must be a list"),
    ('{"id": "c", "question": "q", "tags": [""]}', r"s\.jsonl:2: field 'tags': must be a list"),
    ('{"id": "first", "question": "q"}',
     r"s\.jsonl:2: field 'id': duplicate id 'first' \(first on line 1\)"),
])
def test_bad_lines_name_file_line_and_field(line, message):
    text = '{"id": "first", "question": "q"}\n' + line
    with pytest.raises(SuiteError, match=message):
        parse_suite(text, "s.jsonl")


def test_empty_suite_is_refused():
    with pytest.raises(SuiteError, match="holds no cases"):
        parse_suite("\n\n", "empty.jsonl")


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "nope.jsonl")


def test_unknown_gold_docs_are_refused():
    cases = [Case("a", "q", docs=("known",)), Case("b", "q", docs=("typo-doc",))]
    check_gold_docs(cases[:1], {"known"}, "s.jsonl")
    with pytest.raises(SuiteError, match="not in the index: b: typo-doc"):
        check_gold_docs(cases, {"known"}, "s.jsonl")


@pytest.mark.parametrize("name", ["guidelines.jsonl", "tiny.jsonl"])
def test_shipped_suites_parse(name):
    assert load_suite(EVAL_DIR / name)


def test_guidelines_suite_meets_its_brief():
    cases = load_suite(EVAL_DIR / "guidelines.jsonl")
    tags = [tag for case in cases for tag in case.tags]
    assert len(cases) >= 60
    assert sum(case.regimen_supported is not None for case in cases) >= 12
    assert {c.regimen_supported for c in cases if "microdos" in c.question.lower()
            and "ketamine" in c.question.lower()} == {False}
    unanswerable = [c for c in cases if "unanswerable" in c.tags]
    assert len(unanswerable) >= 10 and all(c.abstain for c in unanswerable)
    for tag in ("dosing", "onset", "other-disorders", "safety", "limitations", "esketamine",
                "anesthesia-pain", "regimen", "lay", "clinician"):
        assert tag in tags, tag


def test_guidelines_facts_are_stated_by_their_gold_documents():
    """Facts come from the corpus: each one is found in a gold document of its case."""
    import re

    from ragqa.ingest.documents import read_corpus

    documents = {doc.id: doc.text for doc in read_corpus(EVAL_DIR.parent / "corpus")}
    cases = load_suite(EVAL_DIR / "guidelines.jsonl")
    check_gold_docs(cases, set(documents), "guidelines.jsonl")
    unstated = [
        (case.id, fact) for case in cases for fact in case.facts
        if not any(re.search(fact, documents[d], re.IGNORECASE) for d in case.docs)
    ]
    assert unstated == []


def test_precision_fields_parse_and_bad_values_are_named():
    from ragqa.errors import SuiteError
    from ragqa.evaluation.suite import parse_case

    case = parse_case({"id": "a", "question": "q?", "lead": ["0\\.5"], "relevant": "dose",
                       "max_statements": 8}, "s:1")
    assert case.lead == ("0\\.5",) and case.relevant == "dose" and case.max_statements == 8
    assert parse_case(case.to_json(), "s:1") == case
    for record, field in [({"max_statements": 0}, "max_statements"), ({"relevant": "("}, "relevant"),
                          ({"lead": ["("]}, "lead"), ({"max_statements": True}, "max_statements")]:
        with pytest.raises(SuiteError, match=f"field '{field}'"):
            parse_case({"id": "a", "question": "q?", **record}, "s:1")
def test_evidence_spans_and_cited_docs_parse():
    line = json.dumps({"id": "c", "question": "Claim.", "docs": ["d"],
                       "evidence_spans": [{"doc_id": "d", "start": 3, "end": 9}]})
    (case,) = parse_suite(line)
    assert case.evidence_spans == (EvidenceSpan("d", 3, 9),) and case.cited_docs == ()
    (none,) = parse_suite('{"id": "n", "question": "C.", "evidence_spans": [], "cited_docs": ["d"]}')
    assert none.evidence_spans == () and none.cited_docs == ("d",)
    assert parse_suite(json.dumps(none.to_json())) == [none]
    assert parse_suite('{"id": "c", "question": "q"}')[0].evidence_spans is None


@pytest.mark.parametrize("spans", [
    {"doc_id": "d", "start": 0, "end": 1},
    [{"doc_id": "d", "start": 5, "end": 5}],
    [{"doc_id": "d", "start": -1, "end": 3}],
    [{"doc_id": "d", "start": 0}],
    [{"doc_id": "", "start": 0, "end": 3}],
    [{"doc_id": "d", "start": True, "end": 3}],
])
def test_bad_evidence_spans_are_refused(spans):
    line = json.dumps({"id": "c", "question": "q", "evidence_spans": spans})
    with pytest.raises(SuiteError, match=r"s\.jsonl:1: field 'evidence_spans'"):
        parse_suite(line, "s.jsonl")


def test_evidence_spans_must_fit_the_index_documents():
    case = Case("c", "q", evidence_spans=(EvidenceSpan("d", 0, 4),), cited_docs=("x",))
    check_evidence_spans([case], {"d": "text", "x": "other"}, "s")
    with pytest.raises(SuiteError, match=r"d\[0:4\] is past the end"):
        check_evidence_spans([case], {"d": "tex", "x": "other"}, "s")
    with pytest.raises(SuiteError, match="cited x is not in the index"):
        check_evidence_spans([case], {"d": "text"}, "s")
