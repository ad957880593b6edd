"""Per-sentence facts derived at index time: stored, loaded and looked up equal to the text's own."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace

import numpy as np
import pytest

from ragqa.answer.evidence import FactBook
from ragqa.answer.facts import FACTS_DIR, AnswerData, FactTable
from ragqa.answer.scoring import default_topics
from ragqa.errors import IndexFormatError
from ragqa.index.store import IndexParams, load_index, staleness, update_index
from ragqa.ingest.documents import read_corpus

TEXTS = [
    "Ketamine 0.5 mg/kg IV over 40 minutes is the standard dose for treatment-resistant depression.",
    "Microdosing of ketamine has not been studied in randomised trials.",
    "Psilocybin microdoses were compared with placebo in a small study.",
    "Esketamine 56 or 84 mg intranasal twice weekly; monitor blood pressure for 2 hours.",
    "Hallucinations occurred in about 20% of patients.",
    "The weather was mild.",
    "Ketamine 0.5 mg/kg IV over 40 minutes is the standard dose for treatment-resistant depression.",
    "",
    "Adults were randomized 1:1 to esketamine 84 mg or placebo nasal spray.",
]


@pytest.fixture(scope="module")
def data() -> AnswerData:
    return AnswerData.default()


@pytest.fixture(scope="module")
def table(data) -> FactTable:
    return FactTable.build(TEXTS, data)


def test_each_sentence_reads_back_the_facts_of_its_text(table, data):
    assert len(table) == len(TEXTS)
    for sid, text in enumerate(TEXTS):
        assert table.facts(sid, data) == data.facts(text)


def test_the_facts_hold_what_the_answer_stage_reads(table, data):
    standard = table.facts(0, data)
    assert [h.regimen.id for h in standard.regimens] == ["ketamine-standard-subanesthetic"]
    assert standard.regimens[0].dose.route == "IV" and standard.specificity == 1.0
    assert "ketamine" in standard.drugs and "dose" in standard.aspects
    assert {"ketamine", "0.5mg/kg", "depression"} <= standard.terms
    micro = table.facts(1, data)
    assert micro.microdosing and micro.negated and "regimen" in micro.touches
    plain = table.facts(5, data)
    assert not plain.regimens and not plain.drugs and plain.topic is default_topics()[-1]
    assert table.facts(8, data).design and not standard.design


def test_the_table_lists_the_sentences_of_a_fact(table, data):
    harms = table.flagged("aspect:harms").tolist()
    assert harms == [sid for sid, text in enumerate(TEXTS) if "harms" in data.facts(text).aspects]
    assert 4 in harms and 5 not in harms
    assert table.flagged("aspect:no-such-aspect").tolist() == []


def test_a_repeated_text_is_read_once_and_stored_per_sentence(table, data):
    assert table.facts(6, data) == table.facts(0, data)
    assert table.hits[6] == table.hits[0]


def test_the_table_round_trips_through_plain_files(table, data, tmp_path):
    table.save(tmp_path / FACTS_DIR)
    names = sorted(p.name for p in (tmp_path / FACTS_DIR).iterdir())
    assert names == ["facts.json", "flags.npy", "specificity.npy", "term_ptr.npy", "terms.npy",
                     "topic.npy"]
    loaded = FactTable.load(tmp_path / FACTS_DIR)
    assert loaded.fingerprint == table.fingerprint == data.fingerprint()
    for sid in range(len(TEXTS)):
        assert loaded.facts(sid, data) == table.facts(sid, data)


def test_arrays_of_different_lengths_are_refused(table, tmp_path):
    table.save(tmp_path / FACTS_DIR)
    np.save(tmp_path / FACTS_DIR / "topic.npy", table.topic[:-1], allow_pickle=False)
    with pytest.raises(ValueError, match="disagree on the number of sentences"):
        FactTable.load(tmp_path / FACTS_DIR)


def test_the_fingerprint_follows_the_data(data):
    topics = default_topics()
    other = replace(topics[0], patterns=topics[0].patterns[:-1])
    assert AnswerData(data.table, (other, *topics[1:]), data.book).fingerprint() != data.fingerprint()
    assert AnswerData(data.table, topics, data.book).fingerprint() == data.fingerprint()


@pytest.fixture
def built(tmp_path, fixture_corpus, fake_embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(fixture_corpus, corpus)
    update_index(corpus, tmp_path / "idx", fake_embedder)
    return corpus, tmp_path / "idx"


def test_an_index_stores_the_facts_of_every_sentence(built, fake_embedder, data):
    _, directory = built
    index = load_index(directory, fake_embedder)
    assert index.sentence_facts is not None
    assert index.manifest["facts"]["fingerprint"] == data.fingerprint()
    book = FactBook(index, data.table, data.topics, data.book)
    for sid, sentence in enumerate(index.sentences):
        assert book[sid] == data.facts(sentence.text)


def test_facts_of_other_data_are_not_used(built, fake_embedder, data, caplog):
    _, directory = built
    index = load_index(directory, fake_embedder)
    topics = data.topics[1:]  # another topic list: the stored topic of a sentence would be wrong
    with caplog.at_level(logging.WARNING):
        book = FactBook(index, data.table, topics, data.book)
    assert "rebuild with `ragqa index`" in caplog.text
    other = AnswerData(data.table, topics, data.book)
    for sid, sentence in enumerate(index.sentences):
        assert book[sid] == other.facts(sentence.text)


def test_facts_of_other_code_or_data_make_the_index_stale(built, fake_embedder):
    corpus, directory = built
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["facts"]["fingerprint"] = "0" * 16
    manifest_path.write_text(json.dumps(manifest))
    reason = staleness(directory, read_corpus(corpus), IndexParams(), fake_embedder.name)
    assert reason == "the answer data or the code deriving sentence facts changed"


def test_an_index_of_the_previous_format_is_refused_with_how_to_rebuild(built, fake_embedder):
    _, directory = built
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 3
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"index format 3, this ragqa reads 4; rebuild with "
                                               r"`ragqa index --force`"):
        load_index(directory, fake_embedder)


def test_rebuilding_an_index_of_the_previous_format_reuses_its_vectors(built, fake_embedder):
    corpus, directory = built
    served = directory.resolve()
    shutil.rmtree(served / FACTS_DIR)  # what a format-3 index lacks
    manifest = json.loads((served / "manifest.json").read_text())
    manifest["format_version"] = 3
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith(FACTS_DIR)}
    (served / "manifest.json").write_text(json.dumps(manifest))
    fake_embedder.calls.clear()
    report = update_index(corpus, directory, fake_embedder)
    assert report.rebuilt and report.reason == "index format 3 != 4"
    assert report.manifest["embedded"] == {"chunks": 0, "sentences": 0}
    assert fake_embedder.calls == []
    assert load_index(directory, fake_embedder).sentence_facts is not None
