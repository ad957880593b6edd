"""Context-safe quote spans: a dependent sentence is quoted with the one it leans on."""

from __future__ import annotations

import pytest

from ragqa.ingest.chunker import Chunker, Sentence
from ragqa.ingest.context import MAX_LOOKBACK, dangles, quote_span
from ragqa.ingest.documents import DocType, Document
from ragqa.ingest.layout import BlockKind, TextBuilder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("These antidepressants can increase blood levels of other drugs.", True),
        ("Hence, the recommendation has been adjusted to second line.", True),
        ("However, no dissenting opinions were identified.", True),
        ("In contrast, failure to achieve remission is associated with burden.", True),
        ("It is also worth noting that residual symptoms are common.", True),
        ("This evidence places bright light therapy as a second-line treatment.", True),
        ("The trial found a response rate of 50%.", True),
        ("\u201cThese\u201d symptoms should be identified.", True),
        ("Thus ketamine was superior.", True),
        ("The trial of esketamine in TRD found a response rate of 50%.", False),
        ("In the Zarate 2006 trial, ketamine 0.5 mg/kg IV improved depression.", False),
        ("Light therapy is first-line monotherapy for seasonal depression.", False),
        ("Thiazides are not antidepressants.", False),
        ("Italy and Canada publish guidelines.", False),
        ("Therapists deliver CBT.", False),
        ("There is no consensus on the best strategy for stopping antidepressants.", False),
        # a demonstrative in the opening words points back as surely as a sentence-initial one
        ("Given these issues, lamotrigine is recommended as a third-line adjunctive agent.", True),
        ("There is no new evidence available to change these recommendations (Table 3.6).", True),
        ("In this network meta-analysis, agomelatine showed advantages.", True),
        ("Taken together, these findings support supervised exercise.", True),
        ("Collectively, evidence supports the conclusion that antidepressants reduce suicidality.",
         True),
        ("As such, pramipexole has been added as a third-line adjunctive recommendation.", True),
        ("* These have robust evidence as risk factors for recurrence.", True),
        # ... but not the document naming itself, "such as", or a demonstrative far into the sentence
        ("Throughout these guidelines, all recommendations carry a level of evidence.", False),
        ("Several conventions are used in these updated guidelines.", False),
        ("Other herbs such as saffron and lavender have only modest evidence.", False),
        ("Ketamine 0.5 mg/kg IV improved depression within 24 hours in this trial.", False),
        ("Fluvoxamine inhibits CYP1A2. These antidepressants can increase clozapine levels.", False),
    ],
)
def test_dangles(text, expected):
    assert dangles(text) is expected


def document(*sections: tuple[str, list[str]]) -> Document:
    out = TextBuilder()
    for heading, paragraphs in sections:
        out.heading(1, heading)
        for paragraph in paragraphs:
            out.block(paragraph)
    return Document(id="d", title="T", text=out.text, publisher="P", year=2024,
                    doc_type=DocType.GUIDELINE, layout=tuple(out.blocks))


def test_a_dependent_sentence_is_quoted_from_the_sentence_it_leans_on():
    paragraph = ("Fluvoxamine inhibits CYP1A2. These antidepressants can increase blood levels "
                 "of clozapine. Hence, monitoring is advised.")
    doc = document(("Drugs", [paragraph]))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 2)
    quote = doc.text[span.start:span.end]
    assert quote == ("Fluvoxamine inhibits CYP1A2. These antidepressants can increase blood levels "
                     "of clozapine. Hence, monitoring is advised.")
    assert (span.first, span.last) == (0, 2) and not dangles(quote)
    assert quote_span(sentences, 0).start == sentences[0].char_start  # stands alone: unchanged


def test_a_quote_never_reaches_into_the_previous_section():
    doc = document(("A", ["Ketamine is an NMDA antagonist."]), ("B", ["It is fast."]))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 1)
    assert doc.text[span.start:span.end] == "It is fast."
    assert dangles(doc.text[span.start:span.end])  # the caller must drop it, not quote it


def test_a_chain_of_dependent_sentences_is_bounded():
    chain = ["Ketamine was studied."] + ["Then it was studied again."] * (MAX_LOOKBACK + 2)
    doc = document(("A", [" ".join(chain)]))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, len(sentences) - 1)
    assert span.last - span.first == MAX_LOOKBACK


def test_a_sentence_ending_on_a_colon_is_quoted_with_what_it_introduces():
    # a run-in list: the next sentence
    doc = document(("Drugs", ["WHO recommends drugs from any of the following three classes: ",
                              "1. thiazides 2. angiotensin-converting enzyme inhibitors 3. calcium channel blockers.",
                              "Strong recommendation."]))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 0)
    assert doc.text[span.start:span.end].endswith("3. calcium channel blockers.")
    assert (span.first, span.last) == (0, 1)
    # list items: every one (up to MAX_LOOKAHEAD), not the prose after them
    out = TextBuilder()
    out.heading(1, "Drugs")
    out.block("Avoid these drugs in pregnancy:")
    for item in ("ACE inhibitors.", "Angiotensin-receptor blockers.", "Direct renin inhibitors."):
        out.block(item, BlockKind.LIST_ITEM, tight=True)
    out.block("Labetalol is preferred.")
    doc = Document(id="d", title="T", text=out.text, publisher="P", year=2024,
                   doc_type=DocType.GUIDELINE, layout=tuple(out.blocks))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 0)
    quote = doc.text[span.start:span.end]
    assert quote.startswith("Avoid these drugs") and quote.endswith("Direct renin inhibitors.")
    assert span.last == 3
    # a sentence that does not end on a colon is quoted alone
    assert quote_span(sentences, 4).last == 4


def test_a_table_row_is_quoted_with_its_header_line():
    out = TextBuilder()
    out.heading(1, "Treatment")
    section = ("Treatment", "Table 1. Lines.")
    out.line("Table 1. Lines.")
    out.block("Line | Criteria", BlockKind.TABLE_HEADER, section=section, tight=True)
    out.block("Line: First | Criteria: Level 1", BlockKind.TABLE_ROW, section=section, tight=True)
    out.block("Line: Second | Criteria: Level 3", BlockKind.TABLE_ROW, section=section, tight=True)
    doc = Document(id="d", title="T", text=out.text, publisher="P", year=2024,
                   doc_type=DocType.GUIDELINE, layout=tuple(out.blocks))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 2)
    assert doc.text[span.start:span.end] == "Line: Second | Criteria: Level 3"
    assert span.header is not None
    assert doc.text[span.header[0]:span.header[1]] == "Line | Criteria"


def test_a_row_under_a_group_row_keeps_the_column_header_line():
    out = TextBuilder()
    section = ("Table 4.2. DHIs.",)
    out.line("Table 4.2. DHIs.")
    out.block("DHI | Description", BlockKind.TABLE_HEADER, section=section, tight=True)
    out.block("Guided DHIs", BlockKind.TABLE_HEADER, section=section, tight=True)
    out.block("Guided DHIs | DHI: MoodGYM | Description: Online CBT.", BlockKind.TABLE_ROW,
              section=section, tight=True)
    doc = Document(id="d", title="T", text=out.text, publisher="P", year=2024,
                   doc_type=DocType.GUIDELINE, layout=tuple(out.blocks))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 2)
    assert doc.text[span.start:span.end] == "Guided DHIs | DHI: MoodGYM | Description: Online CBT."
    assert doc.text[span.header[0]:span.header[1]] == "DHI | Description"


def test_a_table_note_leans_on_the_rows_it_marks():
    out = TextBuilder()
    section = ("Table 6.2. Risk factors.",)
    out.line("Table 6.2. Risk factors.")
    out.block("Residual symptoms*; Childhood maltreatment*; Older age", BlockKind.TABLE_ROW,
              section=section, tight=True)
    out.block("* These have robust evidence as risk factors.", BlockKind.TABLE_NOTE,
              section=section, tight=True)
    doc = Document(id="d", title="T", text=out.text, publisher="P", year=2024,
                   doc_type=DocType.GUIDELINE, layout=tuple(out.blocks))
    sentences, _ = Chunker().run([doc])
    span = quote_span(sentences, 1)
    assert doc.text[span.start:span.end] == ("Residual symptoms*; Childhood maltreatment*; Older age"
                                             "\n* These have robust evidence as risk factors.")


def sentence(text: str, section=("S",), kind=BlockKind.PROSE, start=0) -> Sentence:
    return Sentence("d", start, start + len(text), text, section, None, kind)


def test_a_reference_entry_is_never_pulled_into_a_quote():
    first = sentence("Smith A. A trial. 2020.", kind=BlockKind.REFERENCE)
    second = sentence("These results held.", start=30)
    assert quote_span([first, second], 1).first == 1
