"""The PDF reader: headings from font sizes, paragraphs, pages (fast, on lines); a PDF printed from
the CANMAT page by headless Chromium indexes with pages and finds a sentence on its page (slow)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ragqa.errors import CorpusError
from ragqa.ingest.chunker import Chunker
from ragqa.ingest.documents import read_corpus, read_file
from ragqa.ingest.pdf import Line, parse_lines
from tests.conftest import PROJECT_CORPUS

HTML = PROJECT_CORPUS / "lam-2024-canmat-2023-mdd-guideline.html"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def body(text: str, y: float, page: int) -> Line:
    return Line(text, 10.0, y, page)


def test_lines_become_headings_paragraphs_and_pages():
    lines = [
        Line("Guideline on Light", 20.0, 800, 1),
        Line("Treatment", 14.0, 770, 1),
        body("Light therapy uses 10,000 lux white light for", 750, 1),
        body("30 min daily. It is first line.", 738, 1),
        body("A new paragraph starts after a gap.", 700, 1),
        body("It continues on the next page without a full", 100, 1),
        body("stop at the end of the page.", 780, 2),
        Line("Safety", 14.0, 700, 2),
        body("Side effects are mild.", 680, 2),
    ]
    parsed = parse_lines(lines, pages=2, info={"Title": "Light  guideline"})
    text = parsed.text
    assert text.startswith("# Guideline on Light\n\n## Treatment\n\n")
    blocks = [(text[b.start:b.end], b.section, b.page) for b in parsed.layout]
    assert blocks == [
        ("Light therapy uses 10,000 lux white light for 30 min daily. It is first line.",
         ("Guideline on Light", "Treatment"), 1),
        ("A new paragraph starts after a gap.", ("Guideline on Light", "Treatment"), 1),
        ("It continues on the next page without a full stop at the end of the page.",
         ("Guideline on Light", "Treatment"), 1),
        ("Side effects are mild.", ("Guideline on Light", "Safety"), 2),
    ]
    assert parsed.metadata == {"title": "Light guideline"}
    assert parsed.report.pages == 2


def test_ligatures_and_dashes_of_a_font_without_unicode_are_written_out():
    """pdflatex's bitmap fonts give "fi", "ff", "fl" and the dashes as T1's own codes
    (tests/fixtures/pdf/README.md); a quote must read as the page does."""
    [doc] = read_file(Path(__file__).parents[1] / "fixtures" / "pdf" / "t1-bitmap-fonts.pdf")
    sentences = [
        ("Colchicine, a non-steroidal anti-inflammatory drug or a short course of oral "
         "corticosteroids should be offered as first-line treatment of an acute flare."),
        ("Low-dose colchicine is as effective as high-dose colchicine and causes fewer "
         "gastrointestinal adverse effects."),
        ("The target is reached within 4\u20136 months in most patients, and it is difficult to sustain "
         "a diet low in purines \u2014 its effect is modest."),
    ]
    for sentence in sentences:
        assert sentence in doc.text
    assert not re.search(r"[\x00-\x08\x0e-\x1f\ufb00-\ufb06]", doc.text)


def test_a_justified_line_whose_spaces_are_stretched_past_a_cell_gap_stays_one_line():
    """A narrow justified column (tests/fixtures/pdf/README.md) stretches "Colchicine, a
    non-steroidal anti-" across its width: its spaces are word spaces, not a table's cell gaps."""
    [doc] = read_file(Path(__file__).parents[1] / "fixtures" / "pdf" / "narrow-justified-column.pdf")
    assert ("Colchicine, a non-steroidal anti-inflammatory drug or a short course of oral "
            "corticosteroids should be offered as first-line treatment of an acute flare.") in doc.text
    assert doc.report.tables == 0


def test_a_stretched_sentence_space_and_a_word_broken_twice_read_as_printed():
    """tests/fixtures/pdf/README.md: the line "mains low.   Adults presenting with" is one line
    of prose, and "pharmacovigi-" + "lance" is the word the document also breaks as "phar-" +
    "macovigilance"."""
    [doc] = read_file(Path(__file__).parents[1] / "fixtures" / "pdf" / "sentence-space-marks.pdf")
    assert ("the certainty of the evidence remains low. Adults presenting with suspected condition X "
            "consistently emphasise") in doc.text
    assert "The available pharmacovigilance reports highlighted" in doc.text
    assert doc.report.tables == 0


def test_running_heads_repeated_on_most_pages_are_dropped():
    lines = []
    for page in range(1, 5):
        lines += [body("Can J Psychiatry 2024", 820, page), body("Results", 790, page),
                  body(f"Sentence {page} in the middle of page {page}.", 700, page),
                  body("Repeated mid-page text stays.", 600, page),
                  body("Discussion", 300, page), body(f"{page} / 4", 20, page)]
    parsed = parse_lines(lines, pages=4, info={})
    assert "Can J Psychiatry" not in parsed.text and "/ 4" not in parsed.text
    assert parsed.report.chrome_skipped == 16  # heads, footers, and the lines beside them
    assert parsed.text.count("Repeated mid-page text stays.") == 4
    assert {b.page for b in parsed.layout} == {1, 2, 3, 4}


def test_computer_moderns_bold_labels_a_tables_rows_and_makes_a_heading():
    """TeX's bold face weighs 545 to 570 to pdfium (tests/fixtures/pdf/README.md): its header row labels
    the rows and a bold third-level heading is a section."""
    [doc] = read_file(Path(__file__).parents[1] / "fixtures" / "pdf" / "cm-bold-table.pdf")
    assert "Parameter: Renal function | Threshold: eGFR below 60 | Interval: every 12 months" in doc.text
    assert any(block.section[-1:] == ("1.0.1 Dose adjustment",) for block in doc.layout)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body><p>Not a PDF.</p></body></html>", r"guide.pdf:1: field 'format': not a PDF"),
        (b"%PDF-1.7\n%%EOF garbage", r"guide.pdf:1: field 'format': unreadable PDF"),
    ],
)
def test_a_file_that_is_not_a_pdf_is_an_error_naming_it(tmp_path, content, message):
    (tmp_path / "guide.pdf").write_bytes(content)
    (tmp_path / "guide.pdf.meta.yaml").write_text("doc_type: guideline\nyear: 2024\n")
    with pytest.raises(CorpusError, match=message):
        read_corpus(tmp_path)


def print_to_pdf(html: Path, target: Path) -> None:
    """Print a saved page to PDF with headless Chromium, with the network cut off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith("file:") else route.abort())
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.pdf(path=str(target), format="A4")
        finally:
            browser.close()


@pytest.fixture(scope="module")
def printed_corpus(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (`make browser`) to run this test"
        print(reason)
        pytest.skip(reason)
    corpus = tmp_path_factory.mktemp("pdf-corpus")
    print_to_pdf(HTML, corpus / "canmat-2023.pdf")
    (corpus / "canmat-2023.pdf.meta.yaml").write_text(
        "id: canmat-2023-pdf\ndoc_type: guideline\nyear: 2024\n"
        "publisher: Canadian Journal of Psychiatry\n")
    return corpus


def norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


@pytest.mark.slow
def test_a_pdf_printed_from_the_page_indexes_with_pages_and_is_searchable(
        printed_corpus, tmp_path, fake_embedder):
    import pypdfium2 as pdfium

    from ragqa.index.store import load_index, update_index
    from ragqa.retrieve import Mode, Retriever

    [doc] = read_file(printed_corpus / "canmat-2023.pdf")
    assert doc.report.pages > 20
    assert all(block.page is not None for block in doc.layout)
    assert "## Question 6. What Should be Done When a Patient Has Achieved Remission?" in doc.text \
        or "Q.6.a. How is Remission Maintained?" in doc.text
    sentences, _ = Chunker().run([doc])
    assert all(s.page is not None for s in sentences)
    assert all(doc.text[s.char_start:s.char_end] == s.text for s in sentences)

    # the fake embedder keeps this test to the reader: the search is BM25 over the PDF's chunks
    update_index(printed_corpus, tmp_path / "index", fake_embedder)
    index = load_index(tmp_path / "index", fake_embedder)
    sentence = "A typical protocol for light therapy uses 10,000 lux fluorescent white light"
    hits = Retriever(index, fake_embedder).search(
        "typical protocol for light therapy 10,000 lux", k=5, mode=Mode.BM25).hits
    chunk = next(index.chunks[h.chunk_index] for h in hits
                 if sentence in index.chunks[h.chunk_index].text)
    assert chunk.pages, "a PDF chunk records its pages"
    # plausible: the printed page the index names holds the sentence (or it starts there)
    pdf = pdfium.PdfDocument(str(printed_corpus / "canmat-2023.pdf"))
    try:
        pages_text = {p: norm(pdf[p - 1].get_textpage().get_text_range()) for p in chunk.pages}
    finally:
        pdf.close()
    assert any(norm(sentence)[:40] in text for text in pages_text.values()), chunk.pages
    # and about where the sentence sits in the HTML, as a fraction of the document
    [html_doc] = read_file(HTML)
    where = html_doc.text.index(sentence) / len(html_doc.text)
    assert abs(chunk.pages[0] / doc.report.pages - where) < 0.15


def test_a_bad_file_leaves_the_previous_index_in_place(tmp_path, fixture_corpus, fake_embedder):
    from ragqa.index.store import read_manifest, update_index

    corpus = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, corpus)
    index_dir = tmp_path / "index"
    update_index(corpus, index_dir, fake_embedder)
    before = read_manifest(index_dir)
    (corpus / "broken.pdf").write_bytes(b"<html>saved with the wrong extension</html>")
    with pytest.raises(CorpusError, match=r"broken.pdf:1: field 'format': not a PDF"):
        update_index(corpus, index_dir, fake_embedder, force=True)
    assert read_manifest(index_dir) == before
