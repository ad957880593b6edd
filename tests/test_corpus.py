"""The default corpus: every document valid, and every fact of the reference answer findable."""

from __future__ import annotations

import re

import pytest

from ragqa.ingest.check import provenance_counts
from ragqa.ingest.documents import CheckedAgainst, DocType, corpus_files, read_corpus, read_markdown
from ragqa.retrieve import Retriever
from tests.conftest import PROJECT_CORPUS

# the project-written summaries; real full-text documents (HTML, PDF) are tested in tests/ingest/
FILES = [p for p in corpus_files(PROJECT_CORPUS) if p.suffix == ".md"]


def test_corpus_has_at_least_forty_documents_with_unique_ids():
    docs = read_corpus(PROJECT_CORPUS)
    assert len(docs) >= 40
    assert len({d.id for d in docs}) == len(docs)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_document_is_valid_and_sized(path):
    doc = read_markdown(path)
    assert doc.id == path.stem, "the file name must be the document id"
    assert doc.title and doc.publisher and 1950 <= doc.year <= 2026
    assert doc.doc_type in DocType
    body_words = len(re.sub(r"^#.*$", "", doc.text, flags=re.MULTILINE).split())
    assert 150 <= body_words <= 700, f"{body_words} words"
    assert re.search(r"^# ", doc.text, flags=re.MULTILINE), "needs at least one # section heading"
    for abbreviation in ("e.g.", "i.e.", "et al.", " vs. ", "U.S."):
        assert abbreviation not in doc.text, f"{abbreviation!r} breaks sentence splitting"


def test_corpus_readme_lists_every_document():
    readme = (PROJECT_CORPUS / "README.md").read_text()
    missing = [p.stem for p in FILES if p.stem not in readme]
    assert not missing, f"corpus/README.md does not list {missing}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_document_records_its_provenance(path):
    provenance = read_markdown(path).provenance
    assert provenance is not None, "add provenance: checked_against, checked_on, note (corpus/README.md)"
    assert len(provenance.note) >= 40, "the note must say what was compared and the result"


def test_data_card_reports_how_many_documents_were_checked_against_what():
    readme = (PROJECT_CORPUS / "README.md").read_text()
    counts = provenance_counts(read_corpus(PROJECT_CORPUS))
    for kind in CheckedAgainst:
        row = re.search(rf"^\| `{kind.value}` \|.*\| (\d+) \|$", readme, flags=re.MULTILINE)
        assert row, f"corpus/README.md has no provenance row for {kind.value}"
        assert int(row.group(1)) == counts.get(kind.value, 0), kind.value


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_data_card_row_has_the_documents_type(path):
    doc = read_markdown(path)
    readme = (PROJECT_CORPUS / "README.md").read_text()
    assert f"| `{doc.id}` | {doc.doc_type.value} |" in readme


# Publishers of online medical-answer services: their summaries are secondary, never guidelines.
ANSWER_SERVICES = ("Praxis Medical Insights", "Dr.Oracle")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_answer_service_summaries_are_typed_secondary(path):
    doc = read_markdown(path)
    if doc.publisher.startswith(ANSWER_SERVICES):
        assert doc.doc_type is DocType.SECONDARY_SUMMARY


# Sentences the outside check of issue 12 found wrong: none may come back.
RETRACTED = [
    ("focus-2019-ketamine-treatment-resistant-mood-disorders", r"-28\.07|-14\.07|-8\.08"),
    ("fava-2020-ketamine-dose-ranging-rct", r"(primary outcome|at) day 1\b"),
    ("droracle-2025-guideline-directed-topic-overview", r"no psychiatric study|not been studied in psychiatric research"),
    ("praxis-2026-ketamine-hydrochloride-trd-dosing", r"American Psychiatric Association supports"),
    ("sanacora-2017-apa-ketamine-consensus", r"\brecommends\b"),
    ("feder-2014-ketamine-ptsd-rct", r"and, on a separate occasion"),
    ("rodriguez-2013-ketamine-ocd-rct", r"At 1 week after infusion in the Rodriguez"),
]


@pytest.mark.parametrize(("doc_id", "pattern"), RETRACTED, ids=[d for d, _ in RETRACTED])
def test_sentences_found_wrong_stay_fixed(doc_id, pattern):
    text = read_markdown(PROJECT_CORPUS / f"{doc_id}.md").text
    assert not re.search(pattern, text, flags=re.MULTILINE)


# (search query, pattern the retrieved text must hold): each fact of the reference answer.
REFERENCE_FACTS = [
    ("standard IV ketamine dose for treatment-resistant depression", r"0\.5 mg/kg IV.{0,20} over 40 minutes"),
    ("IV ketamine after failed adequate antidepressant trials", r"failed at least 2 adequate antidepressant trials"),
    ("how quickly does ketamine improve depression", r"within 24 hours"),
    ("how long does one ketamine infusion last for depression", r"3-4 days"),
    ("serial ketamine infusions schedule", r"twice weekly.{0,60}4-6 infusions"),
    ("what counts as a response to an IV ketamine infusion", r"at least 50%"),
    ("ketamine dose for acute suicidal ideation in the emergency setting", r"0\.2-0\.25 mg/kg.{0,40}over 1-2 minutes"),
    ("how fast does ketamine reduce suicidal ideation", r"within 40 minutes"),
    ("how long does the antisuicidal effect of ketamine last", r"2-10 days"),
    ("effect size of ketamine on suicidal ideation", r"d = 1\.05"),
    ("effect size of ketamine in high baseline suicidal ideation", r"d = 2\.36"),
    ("hallucinations with ketamine 0.5 mg/kg", r"hallucinations in about 20%"),
    ("nightmares with ketamine 0.5 mg/kg", r"nightmares in about 12%"),
    ("common adverse effects of IV ketamine", r"nausea, ataxia"),
    ("abuse potential and dissociative side effects of ketamine", r"abuse"),
    ("ketamine PTSD PCL-5 scores", r"PCL-5.{0,80}-28\.07"),
    ("ketamine PTSD CAPS-5 scores", r"CAPS-5.{0,80}-14\.07"),
    ("ketamine OCD Y-BOCS", r"Y-BOCS.{0,80}-8\.08"),
    ("ketamine alcohol use disorder urge to drink", r"urge to drink"),
    ("ketamine in bipolar depression mood stabilizer", r"mood stabilizer.{0,40}lithium or valproate"),
    ("esketamine REMS certification", r"REMS"),
    ("esketamine monitoring after each dose", r"monitored for 2 hours"),
    ("limitations of ketamine evidence small samples", r"small (sample|samples)"),
    ("ketamine follow-up duration of studies", r"7 days or less"),
    ("ketamine maintenance treatment established", r"maintenance.{0,80}not (well )?established"),
    ("ketamine suicidal ideation versus suicidal behavior", r"suicidal behavio"),
    ("pseudospecificity of ketamine antisuicidal effect", r"pseudospecificity"),
    ("microdosing systematic review LSD psilocybin ketamine", r"LSD and psilocybin.{0,40}(does not|not) examine ketamine"),
    ("true microdoses of ketamine studied in psychiatry", r"microdoses of ketamine.{0,120}not been studied in the .{0,20}evidence"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("query", "pattern"), REFERENCE_FACTS, ids=[q for q, _ in REFERENCE_FACTS])
def test_index_holds_each_reference_fact(default_index, real_embedder, query, pattern):
    hits = Retriever(default_index, real_embedder).search(query, k=5).hits
    texts = [default_index.chunks[h.chunk_index].text for h in hits]
    assert any(re.search(pattern, t, flags=re.IGNORECASE | re.DOTALL) for t in texts), texts

