"""Metric functions on hand-made examples whose values are worked out by hand."""

from __future__ import annotations

import math

import pytest

from ragqa.answer.contract import (
    Answer,
    Reference,
    RegimenCheck,
    RegimenEvidence,
    Section,
    Statement,
)
from ragqa.evaluation import metrics

DOC = ("Ketamine 0.5 mg/kg IV was infused over 40 minutes. "
       "Response was defined as 50% fewer symptoms.")
DOCS = {"trial": DOC, "label": "Esketamine 56 mg or 84 mg is given twice weekly."}


def extract(text: str, doc_id: str = "trial", start: int | None = None,
            citations=(1,)) -> Statement:
    start = DOCS[doc_id].find(text) if start is None else start
    return Statement(text=text, kind="extract", citations=list(citations), doc_id=doc_id,
                     char_start=start, char_end=start + len(text))


def answer(statements: list[Statement], references: list[tuple[int, str]],
           evidence: list[RegimenEvidence] | None = None) -> Answer:
    return Answer(
        question="q", abstained=False, bottom_line=statements[:1],
        sections=[Section(heading="Dosing", topic="dosing", statements=statements[1:])],
        regimen_check=RegimenCheck(asked=None, asked_label=None, supported=None,
                                   evidence=evidence or [], note=""),
        references=[Reference(n=n, doc_id=d, title=d, publisher="p", year=2020, doc_type="rct")
                    for n, d in references],
        index_version="v", timings_ms={},
    )


@pytest.mark.parametrize(("ranking", "gold", "k", "expected"), [
    (["a", "b", "c"], {"a"}, 1, 1.0),
    (["b", "a", "c"], {"a"}, 1, 0.0),
    (["b", "a", "c"], {"a", "c"}, 5, 1.0),
    (["b", "a", "c"], {"a", "z"}, 10, 0.5),
    ([], {"a"}, 10, 0.0),
])
def test_recall_at(ranking, gold, k, expected):
    assert metrics.recall_at(ranking, gold, k) == expected


@pytest.mark.parametrize(("ranking", "expected"), [
    (["a", "b"], 1.0), (["x", "a"], 0.5), (["x", "y", "z", "a"], 0.25), (["x"] * 10 + ["a"], 0.0),
])
def test_mrr_at_10(ranking, expected):
    assert metrics.mrr_at(ranking, {"a"}, 10) == expected


def test_ndcg_worked_example():
    # gold {a, b}; ranking x, a, y, b: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert metrics.ndcg_at(["x", "a", "y", "b"], {"a", "b"}, 10) == pytest.approx(dcg / ideal)
    assert metrics.ndcg_at(["a", "b", "x"], {"a", "b"}, 10) == pytest.approx(1.0)
    assert metrics.ndcg_at(["x", "y"], {"a"}, 10) == 0.0


def test_doc_ranking_keeps_first_occurrence():
    assert metrics.doc_ranking(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_fact_hits_are_case_insensitive_regexes_over_all_statements():
    texts = ["Ketamine 0.5 MG/KG IV over 40 minutes.", "Esketamine 84 mg."]
    assert metrics.fact_hits([r"0\.5 ?mg/kg", r"40 minutes", r"84 ?mg", r"1\.0 mg/kg"], texts) == [
        True, True, True, False]
    # a dot that is not escaped matches anything; the suite author must escape it
    assert metrics.fact_hits([r"0\.5"], ["0,5 mg/kg"]) == [False]


def test_fact_hits_apply_anchors_to_each_statement():
    # an anchored pattern must be able to match the second statement, and never across two
    texts = ["Ketamine 0.5 mg/kg IV over 40 minutes.", "Suicidal ideation fell within 40 minutes."]
    assert metrics.fact_hits([r"^(?=.*suicid).*within 40 minutes"], texts) == [True]
    assert metrics.fact_hits([r"IV over 40 minutes\.\s+Suicidal"], texts) == [False]


def test_fact_recall():
    assert metrics.fact_recall([True, False, True, True]) == 0.75
    assert metrics.fact_recall([]) is None


@pytest.mark.parametrize(("predicted", "expected", "precision", "recall"), [
    # tp=2 (cases 0, 1), fp=1 (case 2), fn=1 (case 3), tn=1
    ([True, True, True, False, False], [True, True, False, True, False], 2 / 3, 2 / 3),
    ([False, False], [False, False], 1.0, 1.0),  # nothing to find and nothing claimed
    ([True, True], [False, False], 0.0, 1.0),
    ([False, False], [True, True], 1.0, 0.0),
])
def test_abstention_precision_recall(predicted, expected, precision, recall):
    assert metrics.precision_recall(predicted, expected) == pytest.approx((precision, recall))


def test_percentile_interpolates():
    assert metrics.percentile([10, 20, 30, 40], 50) == 25
    assert metrics.percentile([10, 20, 30, 40], 100) == 40
    assert metrics.percentile([], 95) == 0.0


def test_faithfulness_accepts_exact_spans():
    statements = [extract("Ketamine 0.5 mg/kg IV was infused over 40 minutes."),
                  extract("Esketamine 56 mg or 84 mg is given twice weekly.", "label"),
                  Statement(text="ragqa wrote this.", kind="system")]
    assert metrics.faithfulness(statements, DOCS) == (2, 2)


@pytest.mark.parametrize("statement", [
    # the text was edited: the dose changed
    extract("Ketamine 0.5 mg/kg IV was infused over 40 minutes.").model_copy(
        update={"text": "Ketamine 5 mg/kg IV was infused over 40 minutes."}),
    # the span is shifted by one character
    extract("Ketamine 0.5 mg/kg IV was infused over 40 minutes.", start=1),
    # the span points into another document
    extract("Ketamine 0.5 mg/kg IV was infused over 40 minutes.").model_copy(
        update={"doc_id": "label"}),
    # offsets beyond the document, or missing
    extract("Response", start=len(DOC)),
    extract("Response").model_copy(update={"char_start": None}),
    extract("Response").model_copy(update={"doc_id": "no-such-doc"}),
])
def test_faithfulness_catches_a_wrong_span(statement):
    assert metrics.faithfulness([statement], DOCS) == (0, 1)


def test_citations_valid_when_each_extract_cites_its_own_document():
    check = metrics.check_citations(answer(
        [Statement(text="Note [1, 2].", kind="system", citations=[1, 2]),
         extract("Response was defined as 50% fewer symptoms.", citations=[1]),
         extract("Esketamine 56 mg or 84 mg is given twice weekly.", "label", citations=[2])],
        [(1, "trial"), (2, "label")],
        [RegimenEvidence(regimen="r", label="r", doses=["56 mg"], routes=[], citations=[2])],
    ))
    assert check == metrics.CitationCheck(items=4, valid=4, problems=())


@pytest.mark.parametrize(("statements", "references", "problem"), [
    ([extract("Response was defined as 50% fewer symptoms.", citations=[3])], [(1, "trial")],
     "cites [3], not in the references"),
    ([extract("Response was defined as 50% fewer symptoms.", citations=[2])],
     [(1, "trial"), (2, "label")], "quotes trial but cites [2] (label)"),
    ([extract("Response was defined as 50% fewer symptoms.", citations=[])], [(1, "trial")],
     "without a citation"),
    ([Statement(text="Note [4].", kind="system", citations=[4])], [(1, "trial")],
     "cites [4], not in the references"),
    ([extract("Response was defined as 50% fewer symptoms.")], [(1, "trial"), (1, "label")],
     "numbered twice"),
])
def test_citation_problems_are_found(statements, references, problem):
    check = metrics.check_citations(answer(statements, references))
    assert check.valid < check.items or check.problems
    assert any(problem in p for p in check.problems)


def test_regimen_evidence_citing_a_missing_reference_is_invalid():
    check = metrics.check_citations(answer(
        [extract("Response was defined as 50% fewer symptoms.")], [(1, "trial")],
        [RegimenEvidence(regimen="r", label="r", doses=[], routes=[], citations=[1, 9])],
    ))
    assert (check.items, check.valid) == (2, 1)


def test_lead_hit_needs_every_pattern_in_the_bottom_line():
    from ragqa.evaluation.metrics import lead_hit

    assert lead_hit([r"0\.5 ?mg/kg"], ["Ketamine 0.5 mg/kg IV over 40 minutes."]) is True
    assert lead_hit([r"0\.5 ?mg/kg", "40 minutes"], ["Ketamine 0.5 mg/kg IV."]) is False
    assert lead_hit([r"x"], []) is False
    assert lead_hit([], ["anything"]) is None


def test_statement_precision_is_the_share_of_on_topic_statements():
    from ragqa.evaluation.metrics import statement_precision

    texts = ["abuse potential", "dependence in users", "a dose of 0.5 mg/kg", "nausea"]
    assert statement_precision("abuse|dependen", texts) == 0.5
    assert statement_precision(None, texts) is None
    assert statement_precision("x", []) is None


def test_first_match_rank_counts_from_one():
    from ragqa.evaluation.metrics import first_match_rank

    assert first_match_rank(["b"], ["a", "b", "ab"]) == 2
    assert first_match_rank(["a", "b"], ["a", "b", "ab"]) == 3
    assert first_match_rank(["z"], ["a"]) is None
# Sentence-level evidence: spans are (doc_id, start, end) into a document's text.

GOLD = [("d", 0, 10), ("d", 20, 30), ("e", 0, 5)]


@pytest.mark.parametrize(("a", "b", "expected"), [
    (("d", 0, 10), ("d", 9, 15), True),     # one shared character
    (("d", 0, 10), ("d", 10, 15), False),   # touching ends do not overlap (half-open)
    (("d", 5, 6), ("d", 0, 10), True),      # inside
    (("d", 0, 10), ("e", 0, 10), False),    # another document
])
def test_spans_overlap(a, b, expected):
    assert metrics.spans_overlap(a, b) is expected
    assert metrics.spans_overlap(b, a) is expected


def test_match_quotes_counts_precision_and_recall_by_hand():
    # quotes: one on gold d[0:10], one spanning two gold sentences of d, one off gold, one repeated
    quotes = [("d", 2, 8), ("d", 8, 25), ("d", 40, 50), ("d", 2, 8)]
    match = metrics.match_quotes(quotes, GOLD)
    assert match == metrics.QuoteMatch(quoted=3, quoted_on_gold=2, gold=3, gold_quoted=2)
    assert match.precision == pytest.approx(2 / 3) and match.recall == pytest.approx(2 / 3)


def test_match_quotes_with_nothing_quoted_or_no_gold():
    assert metrics.match_quotes([], GOLD).precision is None
    assert metrics.match_quotes([], GOLD).recall == 0.0
    assert metrics.match_quotes([("d", 0, 3)], []).recall is None


@pytest.mark.parametrize(("p", "r", "expected"), [
    (0.5, 1.0, 2 / 3), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (None, 0.5, None),
])
def test_f1(p, r, expected):
    assert metrics.f1(p, r) == (None if expected is None else pytest.approx(expected))


def test_pooled_quote_scores_are_micro_averaged():
    a = metrics.QuoteMatch(quoted=4, quoted_on_gold=1, gold=1, gold_quoted=1)
    b = metrics.QuoteMatch(quoted=0, quoted_on_gold=0, gold=3, gold_quoted=0)
    precision, recall, f1 = metrics.pooled_quote_scores([a, b])
    assert (precision, recall) == (0.25, 0.25) and f1 == pytest.approx(0.25)
    # an engine that never quotes scores precision 0, not "undefined", when there was gold
    assert metrics.pooled_quote_scores([b]) == (0.0, 0.0, 0.0)
    assert metrics.pooled_quote_scores([]) == (None, None, None)


def test_quoted_spans_keeps_extracts_only():
    statements = [extract("Response was defined as 50% fewer symptoms."),
                  Statement(text="None of the sources ...", kind="system", citations=[1])]
    start = DOC.index("Response")
    assert metrics.quoted_spans(statements) == [("trial", start, len(DOC))]


def test_avoids_documents():
    assert metrics.avoids_documents([("d", 0, 3)], ["e"]) is True
    assert metrics.avoids_documents([("d", 0, 3), ("e", 1, 2)], ["e"]) is False
    assert metrics.avoids_documents([], ["e"]) is True  # an abstention quotes nothing
