"""The CANMAT 2023 guideline page in the default corpus, read by the HTML reader and shown by
`ragqa show`; `ragqa index` reports what it read (fast: the fake embedder)."""

from __future__ import annotations

import re
import shutil

import pytest

from ragqa import cli
from ragqa.ingest.chunker import Chunker
from ragqa.ingest.context import dangles, quote_span
from ragqa.ingest.documents import read_file
from ragqa.ingest.layout import BlockKind
from tests.conftest import PROJECT_CORPUS, FakeEmbedder

DOC_ID = "lam-2024-canmat-2023-mdd-guideline"
HTML = PROJECT_CORPUS / f"{DOC_ID}.html"

# the guideline's own headings, in its own order
HEADINGS = [
    "# Abstract",
    "# Introduction",
    "## Conventions Used in This Document",
    "# Question 1. What are Important Issues for Assessment and Diagnosis?",
    "## Q.1.a. What are the Risk Factors for MDD?",
    "## Q.3.k. Can Pharmacogenetic Testing Inform Medication Selection?",
    "## Q.6.a. How is Remission Maintained?",
    "## Q.7.g. What are the Risks and Benefits of Specific Adjunctive Medications?",
    "### Glutamate Modulators",
    "# Question 8. When Should Neuromodulation Treatments be Used?",
    "### Electroconvulsive Therapy",
    "### Transcranial Magnetic Stimulation",
    "# Key References",
]
TABLE_ROWS = [
    "Line of treatment: First line | Criteria: Level 1 or Level 2 evidence, plus clinical support",
    "Risk of discontinuation symptoms: High risk | Antidepressant: Paroxetine; Venlafaxine",
    "Abbreviation: rTMS | Definition: Repetitive transcranial magnetic stimulation",
]
CHROME = ["Open in a new tab", "official website of the United States government",
          "Here's how you know", "Search in PMC", "Google Scholar", "PMC Disclaimer", "Permalink",
          "Show available content", "Add to search", "View in NLM Catalog", "Inline graphic",
          "Contexte", "PMC Copyright Notice"]


@pytest.fixture(scope="module")
def canmat():
    [doc] = read_file(HTML)
    return doc


@pytest.fixture(scope="module")
def shown(tmp_path_factory) -> tuple[str, str]:
    """`ragqa index` output and `ragqa show` output for a corpus of the CANMAT page alone."""
    corpus = tmp_path_factory.mktemp("canmat-corpus")
    shutil.copy(HTML, corpus)
    shutil.copy(HTML.with_name(HTML.name + ".meta.yaml"), corpus)
    index_dir = corpus.parent / "canmat-index"
    patch = pytest.MonkeyPatch()
    patch.setattr(cli, "_load_embedder", lambda args, all_cores=False: FakeEmbedder())
    try:
        from contextlib import redirect_stdout
        from io import StringIO

        indexed, show = StringIO(), StringIO()
        with redirect_stdout(indexed):
            assert cli.main(["index", "--corpus", str(corpus), "--index-dir", str(index_dir)]) == 0
        with redirect_stdout(show):
            assert cli.main(["show", DOC_ID, "--index-dir", str(index_dir)]) == 0
    finally:
        patch.undo()
    return indexed.getvalue(), show.getvalue()


def test_show_has_the_guideline_headings_in_its_own_order(shown):
    text = shown[1]
    positions = [text.find(f"\n{heading}\n") for heading in HEADINGS]
    assert all(p >= 0 for p in positions), [h for h, p in zip(HEADINGS, positions) if p < 0]
    assert positions == sorted(positions)


def test_show_has_tables_as_header_labelled_rows(shown):
    lines = shown[1].splitlines()
    for row in TABLE_ROWS:
        assert row in lines
    caption = lines.index("Table B. CANMAT Criteria for Line of Treatment.")
    assert lines[caption + 1] == "Line of treatment | Criteria"
    assert "Table 8.2 (image in source): Summary Recommendations for Repetitive Transcranial " \
           "Stimulation (rTMS) Protocols." in lines


def test_show_has_no_site_chrome(shown):
    for chrome in CHROME:
        assert chrome not in shown[1]


def test_show_has_the_citation_metadata(shown):
    text = shown[1]
    assert "doi: 10.1177/07067437241245384" in text and "pmcid: PMC11351064" in text
    assert "year: 2024" in text and "doc_type: guideline" in text
    assert "authors: Raymond W Lam, Sidney H Kennedy" in text


def test_index_reports_what_it_read_from_the_page(shown):
    report = next(line for line in shown[0].splitlines() if line.startswith("read "))
    assert f"[html] as {DOC_ID}" in report
    counts = {what: int(n) for n, what in re.findall(
        r"(\d+) (sections|quotable sentences|tables only as images|tables|figures|references|"
        r"chrome elements)", report)}
    assert counts["sections"] >= 90 and counts["quotable sentences"] >= 1000
    assert counts["tables"] == 12 and counts["tables only as images"] == 17
    assert counts["references"] >= 100 and counts["chrome elements"] >= 100


def test_reading_is_deterministic_and_offsets_are_verbatim(canmat):
    [again] = read_file(HTML)
    assert again.text == canmat.text and again.content_hash == canmat.content_hash
    sentences, chunks = Chunker().run([canmat])
    assert all(canmat.text[s.char_start:s.char_end] == s.text for s in sentences)
    assert all(canmat.text[c.char_start:c.char_end] == c.text for c in chunks)


def test_sections_carry_the_question_headings(canmat):
    sentences, _ = Chunker().run([canmat])
    light = next(s for s in sentences if s.text.startswith("A typical protocol for light therapy"))
    assert light.section == ("Question 2. What are the Principles for Depression Management?",
                             "Q.2.f. What Lifestyle Interventions are Effective?")
    row = next(s for s in sentences if s.text == TABLE_ROWS[0])
    assert row.kind is BlockKind.TABLE_ROW
    assert row.section[-1] == "Table B. CANMAT Criteria for Line of Treatment."


def test_a_table_row_is_quoted_with_its_column_headers(canmat):
    sentences, _ = Chunker().run([canmat])
    index = next(i for i, s in enumerate(sentences) if s.text == TABLE_ROWS[1])
    span = quote_span(sentences, index)
    assert canmat.text[span.start:span.end] == TABLE_ROWS[1]
    assert canmat.text[span.header[0]:span.header[1]] == "Risk of discontinuation symptoms | Antidepressant"
    # every row of every table with a header line quotes each column header verbatim as its label
    rows = [i for i, s in enumerate(sentences) if s.kind is BlockKind.TABLE_ROW]
    labelled = 0
    for i in rows:
        span = quote_span(sentences, i)
        quote = canmat.text[span.start:span.end]
        assert quote == sentences[i].text
        if span.header is not None:
            labelled += 1
            for label in canmat.text[span.header[0]:span.header[1]].split(" | "):
                assert f"{label}: " in quote, (label, quote[:80])
    assert labelled >= 80


def test_a_row_spanning_a_table_heads_its_group_and_is_not_quoted_alone(canmat):
    sentences, _ = Chunker().run([canmat])
    group = next(s for s in sentences if s.text == "Guided (facilitated) DHIs")
    assert group.kind is BlockKind.TABLE_HEADER and not group.quotable
    index = next(i for i, s in enumerate(sentences)
                 if s.text.startswith("Guided (facilitated) DHIs | DHI: BounceBack | Description: "))
    span = quote_span(sentences, index)
    assert canmat.text[span.header[0]:span.header[1]] == "DHI | Description | Comments"


def test_reference_list_is_a_section_the_answer_never_quotes(canmat):
    sentences, chunks = Chunker().run([canmat])
    references = [s for s in sentences if s.section[:1] == ("Key References",)]
    assert len(references) > 100
    assert all(s.kind is BlockKind.REFERENCE and not s.quotable for s in references)
    assert not any(c.section[:1] == ("Key References",) for c in chunks)


def test_no_context_safe_quote_of_the_guideline_dangles_unless_nothing_precedes_it(canmat):
    sentences, _ = Chunker().run([canmat])
    dangling = []
    for i, s in enumerate(sentences):
        if not s.quotable:
            continue
        span = quote_span(sentences, i)
        quote = canmat.text[span.start:span.end]
        assert quote.endswith(s.text)
        if dangles(quote):
            # allowed only where the section gives no earlier sentence to lean on
            starts_section = span.first == 0 or sentences[span.first - 1].section != s.section
            chain_limit = span.last - span.first >= 3
            if not (starts_section or chain_limit):
                dangling.append(quote[:80])
    assert not dangling, dangling
    openers = sum(dangles(s.text) for s in sentences if s.quotable)
    assert openers > 50  # the guideline leans on context often: the check has work to do
