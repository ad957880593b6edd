"""The HTML reader on small inline pages: chrome, sections, tables, image tables, references."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.errors import CorpusError
from ragqa.ingest.chunker import Chunker
from ragqa.ingest.documents import DocType, read_corpus, read_file
from ragqa.ingest.layout import BlockKind

PAGE = """<!DOCTYPE html>
<html lang="en"><head>
<title>Site title - Journal site</title>
<meta name="citation_title" content="Light Therapy Guideline">
<meta name="citation_author" content="Ann Smith">
<meta name="citation_author" content="Bob Jones">
<meta name="citation_journal_title" content="Journal of Tests">
<meta name="citation_publication_date" content="2024 May 6">
<meta name="citation_doi" content="10.1234/abc.5678">
<meta name="citation_pmid" content="123456">
<link rel="canonical" href="https://example.org/articles/PMC7654321/">
</head><body>
<nav><a href="/">Home</a> <a href="/journals">Journal list</a></nav>
<div class="cookie-banner">We use cookies. Accept cookies</div>
<main><article>
<h1>Light Therapy Guideline</h1>
<section><h2>Treatment</h2>
<p>A typical protocol for light therapy uses 10,000 lux white light for 30 min daily.
This protocol is <img class="inline" src="x.jpg" alt="Inline graphic">. Hence, light therapy is first line.</p>
<ul><li><p>Morning sessions</p></li><li>Evening sessions are avoided</li></ul>
<section class="tw" id="t1"><h4>Table 1.</h4><div class="caption"><p>Lines of treatment.</p></div>
<table><thead><tr><th>Line</th><th>Criteria</th></tr></thead>
<tbody><tr><td>First line</td><td>Level 1 evidence<sup>a</sup></td></tr>
<tr><td>Second line</td><td><ul><li><p>Level 3 evidence</p></li><li><p>Clinical support</p></li></ul></td></tr>
</tbody></table>
<div class="p"><a href="table/t1/" target="_blank">Open in a new tab</a></div>
<div class="tw-foot"><div class="fn"><sup>a</sup><p>Clinical support applies.</p></div></div>
</section>
<p>After the table, the treatment section continues.</p>
<section class="tw" id="t2"><h4>Table 2.</h4><div class="caption"><p>Summary Recommendations.</p></div>
<p class="img-box"><img src="table2.jpg" alt="graphic"></p>
<div class="p"><a href="table/t2/">Open in a new tab</a></div></section>
<div hidden="hidden"><p>Hidden translation of the abstract.</p></div>
</section>
<section class="ref-list"><h2>References</h2>
<ol class="ref-list"><li><cite>Smith A. Light therapy. J Tests 2020; 1:1-2.</cite>
[<a href="https://doi.org/x">DOI</a>] [<a href="https://scholar.google.com">Google Scholar</a>]</li></ol>
</section>
</article></main>
<footer>Contact us | Privacy</footer>
</body></html>
"""

SIDECAR = "id: light-guideline\ndoc_type: guideline\n"


def write_page(folder: Path, page: str = PAGE, sidecar: str | None = SIDECAR,
               name: str = "light.html") -> Path:
    path = folder / name
    path.write_text(page, encoding="utf-8")
    if sidecar is not None:
        (folder / f"{name}.meta.yaml").write_text(sidecar, encoding="utf-8")
    return path


def test_metadata_comes_from_citation_tags_and_the_sidecar(tmp_path):
    [doc] = read_file(write_page(tmp_path))
    assert doc.id == "light-guideline" and doc.doc_type is DocType.GUIDELINE
    assert doc.title == "Light Therapy Guideline"
    assert doc.authors == ("Ann Smith", "Bob Jones")
    assert doc.publisher == "Journal of Tests" and doc.year == 2024
    assert (doc.doi, doc.pmid, doc.pmcid) == ("10.1234/abc.5678", "123456", "PMC7654321")


def test_chrome_is_dropped_and_article_text_kept(tmp_path):
    [doc] = read_file(write_page(tmp_path))
    for chrome in ("Journal list", "cookies", "Open in a new tab", "Contact us",
                   "Hidden translation", "Google Scholar", "[DOI]", "Light Therapy Guideline"):
        assert chrome not in doc.text
    assert "uses 10,000 lux white light for 30 min daily." in doc.text
    # the dropped inline image leaves no space before the full stop
    assert "This protocol is. Hence, light therapy is first line." in doc.text
    assert doc.report is not None and doc.report.chrome_skipped >= 4


def test_headings_tables_and_lists_become_typed_blocks_with_section_paths(tmp_path):
    [doc] = read_file(write_page(tmp_path))
    by_text = {doc.text[b.start:b.end]: b for b in doc.layout}
    assert all(doc.text[b.start:b.end].strip() == doc.text[b.start:b.end] for b in doc.layout)
    assert by_text["Morning sessions"].kind is BlockKind.LIST_ITEM
    row = by_text["Line: First line | Criteria: Level 1 evidence"]
    assert row.kind is BlockKind.TABLE_ROW
    assert row.section == ("Treatment", "Table 1. Lines of treatment.")
    assert by_text["Line: Second line | Criteria: Level 3 evidence; Clinical support"].kind \
        is BlockKind.TABLE_ROW
    assert by_text["Line | Criteria"].kind is BlockKind.TABLE_HEADER
    assert by_text["Clinical support applies."].kind is BlockKind.TABLE_NOTE
    # prose after a table is back in the enclosing section
    assert by_text["After the table, the treatment section continues."].section == ("Treatment",)
    assert "# Treatment" in doc.text


def test_a_table_present_only_as_an_image_is_recorded_by_its_caption(tmp_path):
    [doc] = read_file(write_page(tmp_path))
    [marker] = [b for b in doc.layout if b.kind is BlockKind.IMAGE_TABLE]
    assert doc.text[marker.start:marker.end] == "Table 2 (image in source): Summary Recommendations."
    assert not marker.kind.quotable
    assert doc.report.image_tables == 1


def test_reference_entries_are_kept_but_never_quotable_nor_chunked(tmp_path):
    [doc] = read_file(write_page(tmp_path))
    sentences, chunks = Chunker().run([doc])
    [reference] = [s for s in sentences if s.kind is BlockKind.REFERENCE]
    assert reference.text == "Smith A. Light therapy. J Tests 2020; 1:1-2."
    assert reference.section == ("References",) and not reference.quotable
    chunked = {i for chunk in chunks for i in chunk.sentence_ids}
    assert sentences.index(reference) not in chunked
    assert all(doc.text[s.char_start:s.char_end] == s.text for s in sentences)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.7\n binary", r"light.html:1: field 'format': not an HTML file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"light.html:1: field 'format': not an HTML file"),
        (b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
         r"light.html:1: field 'text': no article text found"),
    ],
)
def test_a_file_that_is_not_a_readable_page_is_an_error_naming_it(tmp_path, content, message):
    (tmp_path / "light.html").write_bytes(content)
    (tmp_path / "light.html.meta.yaml").write_text(SIDECAR)
    with pytest.raises(CorpusError, match=message):
        read_corpus(tmp_path)


def test_a_doc_type_neither_the_page_nor_the_sidecar_gives_is_the_documented_default(tmp_path):
    from ragqa.ingest.documents import DEFAULT_DOC_TYPE

    write_page(tmp_path, sidecar="id: light-guideline\n")
    [doc] = read_corpus(tmp_path)
    assert doc.doc_type is DEFAULT_DOC_TYPE
    assert any(note.startswith("doc_type 'other' (the default; set it in light.html.meta.yaml")
               for note in doc.report.assumed)


def test_a_page_without_sidecar_or_citation_tags_indexes_from_its_title(tmp_path):
    (tmp_path / "light-therapy.html").write_text(
        "<html><head><title>Light therapy for depression</title></head><body><main>"
        "<h1>Light therapy for depression</h1><p>Light therapy uses 10,000 lux for 30 min.</p>"
        "</main></body></html>")
    [doc] = read_corpus(tmp_path)
    assert (doc.id, doc.title, doc.doc_type.value) == (
        "light-therapy", "Light therapy for depression", "other")
    assert "10,000 lux" in doc.text
    assert doc.report.assumed[:2] == (
        "id 'light-therapy' from the file name",
        "doc_type 'other' (the default; set it in light-therapy.html.meta.yaml)")
    assert "title 'Light therapy for depression' from the the page's <title>" not in \
        doc.report.assumed
    assert "title 'Light therapy for depression' from the page's <title>" in doc.report.assumed


def test_a_page_without_citation_tags_takes_its_authors_and_year_from_its_plain_meta_tags(tmp_path):
    (tmp_path / "light-therapy.html").write_text(
        '<html><head><title>Light therapy for depression</title>'
        '<meta name="author" content="Jane Smith; Peter Jones">'
        '<meta property="article:published_time" content="2021-03-04T10:00:00Z"></head><body><main>'
        "<h1>Light therapy for depression</h1><p>Light therapy uses 10,000 lux for 30 min.</p>"
        "</main></body></html>")
    [doc] = read_corpus(tmp_path)
    assert (doc.authors, doc.year) == (("Jane Smith", "Peter Jones"), 2021)
    assert "authors 'Jane Smith, Peter Jones' from the page's <meta name=\"author\">" in doc.report.assumed
    # a name written surname first is one person, and a login name is no one's name
    for content, authors in (("Smith, Jane", ("Smith, Jane",)), ("jsmith", ())):
        (tmp_path / "light-therapy.html").write_text(
            f'<html><head><title>Light</title><meta name="author" content="{content}"></head>'
            "<body><main><p>Light therapy uses 10,000 lux for 30 min.</p></main></body></html>")
        [doc] = read_corpus(tmp_path)
        assert tuple(doc.authors) == authors

def test_without_a_sidecar_id_the_file_name_is_the_id(tmp_path):
    write_page(tmp_path, sidecar=None, name="Light Guide.htm",
               page=PAGE.replace("<title>", '<meta name="dc.type" content="x"><title>'))
    (tmp_path / "Light Guide.htm.meta.yaml").write_text("doc_type: guideline\n")
    [doc] = read_corpus(tmp_path)
    assert doc.id == "light-guide"
