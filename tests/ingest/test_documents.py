"""The corpus reader: formats, validation errors that name file, line and field, duplicate ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragqa.errors import CorpusError
from ragqa.ingest.documents import (
    CheckedAgainst,
    DocType,
    Document,
    Provenance,
    corpus_fingerprint,
    read_corpus,
    read_markdown,
)

GOOD_MD = """---
id: doc-one
title: "A title"
publisher: "A journal"
year: 2020
doc_type: rct
authors: ["Smith J"]
pmid: 12345
---

# Methods

Ketamine 0.5 mg/kg IV was given.
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_document_is_read_with_metadata(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD)
    [doc] = read_corpus(tmp_path)
    assert doc.id == "doc-one"
    assert doc.doc_type is DocType.RCT
    assert doc.pmid == "12345"
    assert doc.authors == ("Smith J",)
    assert doc.text == "# Methods\n\nKetamine 0.5 mg/kg IV was given."


def test_jsonl_sections_become_markdown_headings(tmp_path):
    record = {"id": "j1", "title": "T", "publisher": "P", "year": 2001, "doc_type": "other",
              "sections": [{"heading": "Background", "text": "First."}, {"text": "Second."}]}
    write(tmp_path / "c.jsonl", json.dumps(record) + "\n")
    [doc] = read_corpus(tmp_path)
    assert doc.text == "# Background\n\nFirst.\n\nSecond."


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("year: 2020", "year: twenty", r"doc-one.md:5: field 'year'"),
        ("doc_type: rct", "doc_type: blog", r"doc-one.md:6: field 'doc_type': must be one of"),
        ('title: "A title"\n', "", r"field 'title': missing"),
        ("id: doc-one", "id: Doc One", r"doc-one.md:2: field 'id'"),
        ("pmid: 12345", "pmid: 12345\ncolour: red", r"field 'colour': unknown field"),
        ("year: 2020", "year: [2020", r"field 'front matter': invalid YAML"),
    ],
)
def test_malformed_markdown_names_file_line_and_field(tmp_path, replace, by, message):
    write(tmp_path / "doc-one.md", GOOD_MD.replace(replace, by))
    with pytest.raises(CorpusError, match=message):
        read_corpus(tmp_path)


def test_missing_front_matter_is_refused(tmp_path):
    write(tmp_path / "x.md", "# Just a heading\n\nText.\n")
    with pytest.raises(CorpusError, match=r"x.md:1: field 'front matter'"):
        read_corpus(tmp_path)


def test_malformed_jsonl_line_is_named(tmp_path):
    good = {"id": "a", "title": "T", "publisher": "P", "year": 2001, "doc_type": "rct", "text": "x."}
    write(tmp_path / "c.jsonl", json.dumps(good) + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"c.jsonl:2: field 'json'"):
        read_corpus(tmp_path)


def test_empty_text_is_refused(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD.split("# Methods")[0])
    with pytest.raises(CorpusError, match=r"field 'text': missing or empty"):
        read_corpus(tmp_path)


def test_duplicate_ids_are_refused(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD)
    write(tmp_path / "copy.md", GOOD_MD)
    with pytest.raises(CorpusError, match=r"duplicate id 'doc-one'"):
        read_corpus(tmp_path)


def test_fingerprint_ignores_file_order_but_not_content(tmp_path, fixture_corpus):
    docs = read_corpus(fixture_corpus)
    assert corpus_fingerprint(docs) == corpus_fingerprint(list(reversed(docs)))
    write(tmp_path / "doc-one.md", GOOD_MD)
    changed = read_corpus([fixture_corpus, tmp_path])
    assert corpus_fingerprint(changed) != corpus_fingerprint(docs)


PROVENANCE = """provenance:
  checked_against: [abstract, secondary_source]
  checked_on: 2026-11-26
  note: "Figures compared with the abstract; all match."
"""


def test_provenance_is_read_typed_and_kept_through_json(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD.replace("pmid: 12345\n", "pmid: 12345\n" + PROVENANCE))
    [doc] = read_corpus(tmp_path)
    assert doc.provenance == Provenance(
        (CheckedAgainst.ABSTRACT, CheckedAgainst.SECONDARY_SOURCE), "2026-11-26",
        "Figures compared with the abstract; all match.")
    record = json.loads(json.dumps(doc.to_json()))
    assert record["provenance"]["checked_against"] == ["abstract", "secondary_source"]
    # An index stores documents as JSON and rebuilds them with Document(**record).
    record["doc_type"], record["authors"] = DocType(record["doc_type"]), tuple(record["authors"])
    assert Document(**record).provenance == doc.provenance


def test_provenance_is_optional_for_a_corpus(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD)
    [doc] = read_corpus(tmp_path)
    assert doc.provenance is None
    assert doc.to_json()["provenance"] is None


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("[abstract, secondary_source]", "[hearsay]", r"checked_against must be among"),
        ("[abstract, secondary_source]", "[]", r"checked_against must list one or more"),
        ("checked_on: 2026-11-26", "checked_on: last week", r"checked_on must be a date"),
        ('  note: "Figures compared with the abstract; all match."\n', "", r"note must say"),
        ("  checked_on:", "  by: me\n  checked_on:", r"unknown key 'by'"),
    ],
)
def test_malformed_provenance_names_the_field(tmp_path, replace, by, message):
    bad = PROVENANCE.replace(replace, by)
    write(tmp_path / "doc-one.md", GOOD_MD.replace("pmid: 12345\n", "pmid: 12345\n" + bad))
    with pytest.raises(CorpusError, match=rf"doc-one.md:\d+: field 'provenance': {message}"):
        read_corpus(tmp_path)


def test_secondary_summary_is_a_document_type(tmp_path):
    write(tmp_path / "doc-one.md", GOOD_MD.replace("doc_type: rct", "doc_type: secondary_summary"))
    [doc] = read_corpus(tmp_path)
    assert doc.doc_type is DocType.SECONDARY_SUMMARY
def test_year_and_publisher_are_optional_but_checked_when_given(tmp_path):
    bare = {"id": "a", "title": "An abstract", "doc_type": "other", "text": "One sentence."}
    dated = {**bare, "id": "b", "publisher": "P", "year": 2001}
    write(tmp_path / "c.jsonl", json.dumps(bare) + "\n" + json.dumps(dated) + "\n")
    first, second = read_corpus(tmp_path)
    assert (first.year, first.publisher) == (None, None)
    assert (second.year, second.publisher) == (2001, "P")
    write(tmp_path / "c.jsonl", json.dumps({**bare, "year": "2001"}) + "\n")
    with pytest.raises(CorpusError, match=r"c.jsonl:1: field 'year'"):
        read_corpus(tmp_path)


@pytest.mark.parametrize(("front_matter", "line", "words"), [
    ('id: x\ntitle: "unclosed\npublisher: P\nyear: 2020\ndoc_type: rct\n', 3, "quoted scalar"),
    ("id: x\ntitle: ok\npublisher: P: Q\nyear: 2020\ndoc_type: rct\n", 4, "mapping values"),
    ("id: x\nauthors: [A, B\nyear: 2020\ndoc_type: rct\n", 3, "flow sequence"),
])
def test_a_yaml_error_points_at_the_line_at_fault(tmp_path, front_matter, line, words):
    path = tmp_path / "broken.md"
    path.write_text(f"---\n{front_matter}---\n\nText.\n")
    with pytest.raises(CorpusError, match=rf"broken\.md:{line}: .*{words}") as exc:
        read_markdown(path)
    assert "\n" not in str(exc.value)
