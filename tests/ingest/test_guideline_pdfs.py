"""The PDF reader on real guidelines (slow): the three development PDFs of
`../shared/datasets/guidelines-dev/` and the CANMAT 2023 page printed to PDF by headless Chromium,
whose HTML reading is the ground truth for its PDF reading (issue 22).

The PDFs are read where they are (never copied into the project); a test skips, saying why, when
a file or Chromium is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ragqa.ingest.chunker import Chunker
from ragqa.ingest.documents import read_corpus, read_file
from ragqa.ingest.furniture import furniture_key
from ragqa.ingest.hyphens import SOFT_HYPHEN
from ragqa.ingest.layout import BlockKind
from ragqa.ingest.reading import quotable_sentences, read_summary
from tests.conftest import PROJECT_CORPUS

pytestmark = pytest.mark.slow
_DIGITS = re.compile(r"\d+")

DEV = PROJECT_CORPUS.parent.parent / "shared" / "datasets" / "guidelines-dev"
COELIAC = DEV / "bsg-coeliac-2014" / "bsg-coeliac-2014.pdf"
DEV_PDFS = [COELIAC, DEV / "who-hypertension-2021" / "who-hypertension-2021.pdf",
            DEV / "esi-obesity-2022" / "esi-obesity-2022.pdf"]
CANMAT_HTML = PROJECT_CORPUS / "lam-2024-canmat-2023-mdd-guideline.html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def needs(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is missing (the development guidelines are not on this machine)")
    return path


@pytest.fixture(scope="module")
def canmat_pdf(tmp_path_factory) -> Path:
    """The CANMAT page printed to PDF by Chromium's own --print-to-pdf (with its date, title, URL
    and page-number header and footer on every page)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run this test")
    target = tmp_path_factory.mktemp("canmat-pdf") / "canmat-2023.pdf"
    subprocess.run([CHROMIUM, *CHROMIUM_ARGS, f"--print-to-pdf={target}",
                    CANMAT_HTML.resolve().as_uri()], check=True, capture_output=True, timeout=180)
    return target


@pytest.fixture(scope="module")
def read(canmat_pdf):
    """Each PDF read once: path -> Document."""
    cache = {}

    def get(path: Path):
        if path not in cache:
            [cache[path]] = read_file(needs(path))
        return cache[path]

    return get


def all_pdfs(canmat_pdf) -> list[Path]:
    return [*DEV_PDFS, canmat_pdf]


def margin_lines(path: Path) -> list[str]:
    """A second look at running heads and feet: the lines of 12 characters or more in the top or
    bottom tenth of a page that recur there, digits aside, on 30% of the pages (and 3 or more)."""
    import pypdfium2 as pdfium

    from ragqa.ingest.pdf import _page_lines

    pdf = pdfium.PdfDocument(str(path))
    try:
        seen: dict[str, set[int]] = {}
        texts: dict[str, str] = {}
        for number in range(len(pdf)):
            for line in _page_lines(pdf, number)[0]:
                height = line.page_height or 0
                if len(line.text) >= 12 and not 0.1 * height < line.y < 0.9 * height:
                    seen.setdefault(furniture_key(line.text), set()).add(number)
                    texts[furniture_key(line.text)] = line.text
        return [texts[key] for key, pages in seen.items() if len(pages) >= max(3, 0.3 * len(pdf))]
    finally:
        pdf.close()


@pytest.mark.parametrize("which", range(4), ids=["coeliac", "hypertension", "obesity", "canmat"])
def test_no_running_header_or_footer_is_left_in_the_text(read, canmat_pdf, which):
    path = all_pdfs(canmat_pdf)[which]
    doc = read(path)
    furniture = margin_lines(path)
    assert furniture, "the check found the file's running heads and feet"
    left = []
    for line in furniture:
        pattern = r"\s*".join(r"\d+" if part == "#" else re.escape(part)
                              for part in re.findall(r"#|[^\s#]+", _DIGITS.sub("#", line)))
        if re.search(pattern, doc.text):
            left.append(line)
    assert left == []
    assert doc.report.chrome_skipped >= len(furniture)
    assert "furniture lines removed" in read_summary(doc)


def test_canmat_html_sentences_appear_verbatim_in_its_pdf_reading(read, canmat_pdf):
    [html] = read_file(CANMAT_HTML)
    pdf_text = " ".join(read(canmat_pdf).text.split())
    sentences, _ = Chunker().run([html])
    prose = [" ".join(s.text.split()) for s in sentences
             if s.kind in (BlockKind.PROSE, BlockKind.LIST_ITEM)]
    found = [s for s in prose if s in pdf_text]
    assert len(prose) > 1000
    assert len(found) / len(prose) >= 0.95, [s for s in prose if s not in pdf_text][:10]


def test_canmat_tables_read_as_labelled_rows_as_in_its_html(read, canmat_pdf):
    rows = {s for s in quotable_sentences(read(canmat_pdf)) if " | " in s}
    for row in (("Line of treatment: First line | Criteria: Level 1 or Level 2 evidence, plus "
                "clinical support"),
                "Abbreviation: CBT | Definition: Cognitive-behavioural therapy"):
        assert row in rows
    assert read(canmat_pdf).report.tables >= 5


def test_sentences_are_not_cut_at_column_and_page_breaks(read, canmat_pdf):
    for path in all_pdfs(canmat_pdf):
        doc = read(path)
        sentences, _ = Chunker().run([doc])
        prose = [s for s in sentences if s.kind is BlockKind.PROSE]
        halves = [s.text for s in prose if s.text[:1].islower()]
        assert len(halves) <= 0.04 * len(prose), (path.name, len(halves), halves[:10])


def test_a_table_cells_wrapped_lines_stay_in_its_row(read):
    """A cell that wraps over several lines is one cell of one row, not a row per line ("is not
    approved for" / "obesity management.")."""
    for path in DEV_PDFS:
        sentences, _ = Chunker().run([read(path)])
        rows = [s.text for s in sentences if s.kind in (BlockKind.TABLE_ROW, BlockKind.TABLE_NOTE)]
        halves = [text for text in rows if text[:1].islower()]
        assert rows and len(halves) <= 0.1 * len(rows), (path.name, len(halves), len(rows), halves[:10])
    obesity = " ".join(quotable_sentences(read(DEV_PDFS[2])))
    assert "However oral semaglutide is not approved for obesity management." in obesity


def test_superscript_citations_are_not_glued_to_words(read):
    doc = read(COELIAC)
    assert "the NIH consensus on CD in 2005" in doc.text
    assert "consensus6" not in doc.text and doc.report.superscripts_dropped > 100


def test_bullets_drawn_from_a_symbol_font_open_list_items(read):
    """The hypertension guideline prints its bullets as "[" in a symbol font (DeltaSymbol): each
    opens a list item and none is quoted as a bracket ("... (to less than 5g daily) [ eating more
    fruit ..." was one sentence); the ≥ of its Symbol font stays text."""
    text = read(DEV_PDFS[1]).text
    assert "[ " not in text
    assert "\n\neating more fruit and vegetables\n\nbeing physically active on a regular basis\n\n" in text
    assert "Implementation remarks:\n\nCombination medication therapy may be especially valuable" in text
    assert "≥20/10 mmHg" in text


def test_the_coeliac_references_are_references_and_not_quotable(read):
    doc = read(COELIAC)
    sentences, _ = Chunker().run([doc])
    references = [s for s in sentences if s.kind is BlockKind.REFERENCE]
    assert len(references) >= 280
    assert any(s.text.startswith("1 Husby S, Koletzko S, Korponay-Szabo IR") for s in references)
    quotable = quotable_sentences(doc)
    assert not any(re.match(r"\d{1,3} [A-Z][a-z]+ [A-Z]{1,3}, [A-Z][a-z]+ [A-Z]{1,3},", s)
                   for s in quotable)


def test_the_coeliac_sections_are_sections(read):
    doc = read(COELIAC)
    assert doc.report.sections >= 40
    sentences, _ = Chunker().run([doc])
    serology = next(s for s in sentences if s.section[-1:] == ("Serology in CD diagnosis",))
    assert serology.section[-2:] == ("DIAGNOSTICS", "Serology in CD diagnosis")
    assert {"BACKGROUND", "FOLLOW-UP", "GLUTEN-FREE DIET", "Dermatitis herpetiformis"} <= {
        s.section[-1] for s in sentences if s.section}


def test_the_hypertension_numbered_recommendation_headings_are_sections(read):
    doc = read(DEV_PDFS[1])
    headings = re.findall(r"^#+ (.+)$", doc.text, re.MULTILINE)
    assert "2.1 Guideline contributors" in headings
    sentences, _ = Chunker().run([doc])
    contributors = next(s for s in sentences if s.section[-1:] == ("2.1 Guideline contributors",))
    assert contributors.section[-2] == "2 Method for developing the guideline"


def test_a_paragraph_whose_last_line_stops_short_ends_at_a_page_break(read):
    """A recommendation's strength closes it at a page's foot, its line well short of the column's
    edge: the recommendation opening the next page is a paragraph of its own, not the same
    sentence ("... high-certainty evidence WHO suggests ...")."""
    text = read(DEV_PDFS[1]).text
    assert "evidence WHO" not in text
    assert ("Strong recommendation, moderate- to high-certainty evidence\n\nWHO suggests "
            "pharmacological antihypertensive treatment") in text
    # the obesity guideline's recommendations, printed without full stops, part the same way
    assert "overt phenotype of obesity\n\n3.3 Emerging literature suggests" in read(DEV_PDFS[2]).text


def test_a_sentence_cut_by_a_table_runs_on_after_it(read):
    """A paragraph that stops mid-sentence where a table (its caption, a dozen rows and notes)
    is set goes on after the table: the sentence is one, whatever the table's length."""
    text = read(COELIAC).text
    assert "alternative mucosal cause of malabsorption is present. In fact, it has been suggested" in text
    assert "\n\nfact, it has been suggested" not in text
    obesity = read(DEV_PDFS[2]).text
    assert ("the root cause of obesity needs to be identified in each patient, as only once it is "
            "assessed appropriately") in obesity


def test_a_heading_between_numbered_chapters_is_inside_the_first(read):
    """The obesity guideline sets "Conclusions" (closing chapter 2) in a larger type than its
    numbered chapters: chapters 3 to 14 are not filed under it."""
    sentences, _ = Chunker().run([read(DEV_PDFS[2])])
    medications = [s for s in sentences if s.section[-1:] == ("7d. Medications",)]
    assert medications and all(s.section[-2] == "7. Treatment of Obesity" for s in medications)
    assert not any("Conclusions" in s.section for s in medications)


def test_line_end_hyphens_follow_each_documents_vocabulary(read, canmat_pdf):
    for path in all_pdfs(canmat_pdf):
        doc = read(path)
        assert SOFT_HYPHEN not in doc.text and "\x02" not in doc.text
        text = doc.text.casefold()
        if "long-term" in text:
            assert "longterm" not in text, path.name


def test_contents_entries_are_not_quotable(read):
    doc = read(DEV_PDFS[1])
    sentences, _ = Chunker().run([doc])
    assert any(s.kind is BlockKind.CONTENTS for s in sentences)
    assert not any(re.search(r"(\.\s?){6,}", s) for s in quotable_sentences(doc))


def test_a_pdf_without_a_sidecar_indexes_and_is_answered_from(tmp_path, fake_embedder):
    from ragqa.index.store import load_index, update_index
    from ragqa.retrieve import Mode, Retriever

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(needs(COELIAC), corpus / "Coeliac Guideline.pdf")  # a temporary copy only
    [doc] = read_corpus(corpus)
    assert doc.id == "coeliac-guideline" and doc.doc_type.value == "other"
    assert doc.title.startswith("Diagnosis and management of adult coeliac disease")
    assert doc.year == 2014 and doc.authors[:2] == ("Jonas F Ludvigsson", "Julio C Bai")
    summary = read_summary(doc)
    assert "assumed doc_type 'other' (the default; set it in Coeliac Guideline.pdf.meta.yaml)" \
        in summary and "assumed id 'coeliac-guideline' from the file name" in summary
    update_index(corpus, tmp_path / "index", fake_embedder)
    index = load_index(tmp_path / "index", fake_embedder)
    hits = Retriever(index, fake_embedder).search(
        "HLA typing rule out coeliac disease", k=5, mode=Mode.BM25).hits
    assert any("HLA" in index.chunks[h.chunk_index].text for h in hits)

    (corpus / "Coeliac Guideline.pdf.meta.yaml").write_text(
        "id: bsg-coeliac-2014\ntitle: BSG coeliac guideline\ndoc_type: guideline\n")
    [doc] = read_corpus(corpus)
    assert (doc.id, doc.title, doc.doc_type.value) == (
        "bsg-coeliac-2014", "BSG coeliac guideline", "guideline")
    assert not any(note.startswith(("doc_type", "title", "id")) for note in doc.report.assumed)


def test_a_printed_html_table_with_tight_borders_reads_as_rows_and_cited_years_are_not_its_year(
        tmp_path):
    """A page with a bordered table whose cells sit closer than a word space apart, printed by
    Chromium: the drawn borders part the cells. Its one page also lists references from 2011 to
    2019: the document's year is not one of theirs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run this test")
    cells = "".join(f"<tr><td>{d}</td><td>{s}</td><td>{m}</td></tr>" for d, s, m in (
        ("Allopurinol", "100 mg daily", "900 mg daily"), ("Febuxostat", "80 mg daily", "120 mg daily")))
    references = "".join(f"<li>Author{i} A, Writer B. A study of gout number {i}. J Rheumatol. "
                         f"20{10 + i % 10};{i}:1-10.</li>" for i in range(1, 30))
    page = tmp_path / "gout.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>Management of gout in adults</title><style>"
        "td, th { border: 1px solid #000; padding: 2px; } table { border-collapse: collapse; }"
        "</style></head><body><h1>Management of gout in adults</h1>"
        "<p>Allopurinol is the first-line urate-lowering drug for most patients.</p>"
        f"<table><tr><th>Drug</th><th>Starting dose</th><th>Maximum dose</th></tr>{cells}</table>"
        f"<h2>References</h2><ol>{references}</ol></body></html>")
    target = tmp_path / "gout-guideline.pdf"
    subprocess.run([CHROMIUM, *CHROMIUM_ARGS, "--no-pdf-header-footer", f"--print-to-pdf={target}",
                    page.as_uri()], check=True, capture_output=True, timeout=180)
    [doc] = read_file(target)
    assert "Drug: Allopurinol | Starting dose: 100 mg daily | Maximum dose: 900 mg daily" in doc.text
    assert doc.report.tables == 1
    assert doc.year not in range(2010, 2020)
