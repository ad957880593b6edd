"""Per-sentence facts: what the answer stage reads from a sentence's text, computed once.

sentence text -> SentenceFacts: its content terms, how concrete it is, its topic, the topics and
aspects its wording touches, the regimens, drugs and microdosing it names. A question only looks
these up: `FactTable` holds them for every sentence of an index as plain arrays, computed when the
index is built and stored in its `sentence_facts/` directory:

    facts.json        fingerprint, the column names of flags.npy, the content-term vocabulary,
                      the topic ids, and each sentence's regimen hits (only sentences with any)
    term_ptr.npy      int64, sentence i's content terms are terms.npy[ptr[i]:ptr[i + 1]]
    terms.npy         int32 ids into the vocabulary
    specificity.npy   float64 per sentence
    topic.npy         int16 per sentence, an index into the topic ids
    flags.npy         bool, one row per sentence, one column per yes/no fact (facts.json names
                      them: "touches:<topic>", "aspect:<id>", "named:<regimen>", "drug:<name>",
                      "microdosing", "negated")

The facts are a function of the answer data (topics, aspects, regimens) and of the code that reads
them, so a table records a fingerprint of both; a table whose fingerprint differs from the running
code's is never used (the FactBook then derives facts from the text, and `ragqa index` rebuilds).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ragqa.answer import framing
from ragqa.answer.aspects import Aspect, AspectBook
from ragqa.answer.framing import is_agenda, is_design, is_framing
from ragqa.answer.regimen import DoseMention, RegimenHit, RegimenTable
from ragqa.answer.scoring import (
    FIGURE,
    QUESTION_WORDS,
    Topic,
    content_terms,
    default_topics,
    specificity,
    strongest_topic,
)
from ragqa.index.tokenize import STOPWORDS

FACTS_DIR = "sentence_facts"


@dataclass(frozen=True)
class SentenceFacts:
    """What the answer stage derives from one sentence's text."""

    terms: frozenset[str]
    specificity: float
    regimens: tuple[RegimenHit, ...]
    topic: Topic
    touches: frozenset[str]  # ids of the topics any of whose patterns the text matches
    aspects: frozenset[str]  # ids of the aspects the text speaks to
    forms: frozenset[str] = frozenset()  # ids of the answer forms the text states an answer in
    framing: bool = False  # states a study's aim, design or background, not a finding
    design: bool = False  # states who a trial assigned to what: an answer to what was given only
    agenda: bool = False  # states what future research should do: an answer to the evidence's limits only
    microdosing: bool = False  # names microdosing (RegimenTable.speaks_of_microdosing)
    negated: bool = False  # holds a negation of the regimen table ("not studied", ...)
    named: frozenset[str] = frozenset()  # regimens whose naming terms occur, whatever drug is named
    drugs: frozenset[str] = frozenset()  # drugs (and comparators) the regimen table finds named


@dataclass(frozen=True)
class AnswerData:
    """The data facts are read with: the regimen table, the topics and the aspects."""

    table: RegimenTable
    topics: tuple[Topic, ...]
    book: AspectBook

    @classmethod
    def default(cls) -> AnswerData:
        """The data shipped in `answer/data/`."""
        return cls(RegimenTable.default(), default_topics(), AspectBook.default())

    def fingerprint(self) -> str:
        """A hash of this data and of the code that derives facts with it."""
        patterns = {
            "regimens": self.table.source_hash,
            "topics": [[t.id, t.weight, [[p.pattern, p.flags] for p in t.patterns]]
                       for t in self.topics],
            "aspects": [[a.id, [[p.pattern, p.flags] for p in a.speaks]] for a in self.book.aspects],
            "forms": [[f.id, [[p.pattern, p.flags] for p in f.speaks], list(f.instead_of)]
                      for f in self.book.forms],
            "framing": framing.framing_pattern().pattern,
            "design": framing.cue_pattern("design").pattern,
            "agenda": framing.cue_pattern("agenda").pattern,
            "code": _code_hash(),
        }
        return hashlib.sha256(json.dumps(patterns, sort_keys=True).encode()).hexdigest()[:16]

    def facts(self, text: str) -> SentenceFacts:
        """The facts of one sentence's text."""
        table = self.table
        counts = [sum(1 for p in t.patterns if p.search(text)) for t in self.topics]
        return SentenceFacts(
            terms=frozenset(content_terms(text)),
            specificity=specificity(text),
            regimens=tuple(table.find(text)),
            topic=strongest_topic(counts, self.topics),
            touches=frozenset(t.id for t, n in zip(self.topics, counts) if n),
            aspects=frozenset(a.id for a in self.book.aspects if a.spoken_by(text)),
            forms=self.book.forms_of(text),
            framing=is_framing(text),
            design=is_design(text),
            agenda=is_agenda(text),
            microdosing=table.speaks_of_microdosing(text),
            negated=bool(table.negation.search(text)),
            named=frozenset(r.id for r in table.regimens if any(t.search(text) for t in r.terms)),
            drugs=frozenset(drug for _, drug in table.drugs_in(text)),
        )


@lru_cache(maxsize=1)
def _code_hash() -> str:
    """A hash of the code that turns a text into its facts (given the data): a change to it makes
    facts stored by older code unusable. Only that code counts, so that editing, say, how facts
    are stored or how MMR picks does not make every index stale."""
    from ragqa import __version__
    from ragqa.answer import regimen
    from ragqa.index import tokenize as tokenizer
    from ragqa.ingest import sentences

    try:
        parts = [inspect.getsource(part) for part in (
            sentences,  # the whole module: where sentences part (a fact belongs to its sentence)
            AnswerData.facts, content_terms, specificity, strongest_topic, Aspect.spoken_by,
            framing,  # the whole module: its reading of answer/data/framing.json
            tokenizer.tokenize, tokenizer.s_stem,
            regimen,  # the whole module: its patterns, the table's reading of its data, find()
        )]
    except (OSError, TypeError):  # installed without its sources: the release stands for the code
        parts = [f"ragqa {__version__}"]
    parts += [tokenizer.TOKENIZER_VERSION, FIGURE.pattern, *sorted(STOPWORDS),
              *sorted(QUESTION_WORDS)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class FactTable:
    """The facts of every sentence of an index, as arrays (see the module docstring).

    >>> table = FactTable.build([s.text for s in sentences], AnswerData.default())
    >>> table.facts(0, AnswerData.default()).specificity
    0.5
    """

    fingerprint: str
    vocabulary: tuple[str, ...]
    topic_ids: tuple[str, ...]
    columns: tuple[str, ...]
    term_ptr: np.ndarray
    terms: np.ndarray
    specificity: np.ndarray
    topic: np.ndarray
    flags: np.ndarray
    hits: dict[int, list[dict[str, Any]]]

    def __len__(self) -> int:
        return len(self.specificity)

    @classmethod
    def build(cls, texts: list[str], data: AnswerData) -> FactTable:
        """Derive the facts of each text (a text repeated in the corpus is read once)."""
        unique: dict[str, SentenceFacts] = {}
        for text in texts:
            if text not in unique:
                unique[text] = data.facts(text)
        rows = [unique[text] for text in texts]
        vocabulary = sorted({t for f in unique.values() for t in f.terms})
        term_id = {t: i for i, t in enumerate(vocabulary)}
        topic_ids = [t.id for t in data.topics]
        columns = ([f"touches:{t}" for t in topic_ids]
                   + [f"aspect:{a.id}" for a in data.book.aspects]
                   + [f"form:{f.id}" for f in data.book.forms]
                   + [f"named:{r.id}" for r in data.table.regimens]
                   + [f"drug:{d}" for d in data.table.drug_names]
                   + ["microdosing", "negated", "framing", "design", "agenda"])
        column = {c: j for j, c in enumerate(columns)}
        flags = np.zeros((len(rows), len(columns)), dtype=bool)
        lengths = np.zeros(len(rows) + 1, dtype=np.int64)
        terms: list[int] = []
        hits: dict[int, list[dict[str, Any]]] = {}
        for i, f in enumerate(rows):
            ids = sorted(term_id[t] for t in f.terms)
            terms.extend(ids)
            lengths[i + 1] = len(ids)
            on = ([f"touches:{t}" for t in f.touches] + [f"aspect:{a}" for a in f.aspects]
                  + [f"form:{x}" for x in f.forms]
                  + [f"named:{r}" for r in f.named] + [f"drug:{d}" for d in f.drugs]
                  + ["microdosing"] * f.microdosing + ["negated"] * f.negated
                  + ["framing"] * f.framing + ["design"] * f.design
                  + ["agenda"] * f.agenda)
            flags[i, [column[c] for c in on]] = True
            if f.regimens:
                hits[i] = [_hit_json(h) for h in f.regimens]
        return cls(
            fingerprint=data.fingerprint(), vocabulary=tuple(vocabulary),
            topic_ids=tuple(topic_ids), columns=tuple(columns),
            term_ptr=np.cumsum(lengths), terms=np.asarray(terms, dtype=np.int32),
            specificity=np.array([f.specificity for f in rows], dtype=np.float64),
            topic=np.array([topic_ids.index(f.topic.id) for f in rows], dtype=np.int16),
            flags=flags, hits=hits,
        )

    def flagged(self, column: str) -> np.ndarray:
        """The ids of the sentences whose yes/no fact `column` holds ("aspect:dose"); empty when
        the table has no such column."""
        if column not in self.columns:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.flags[:, self.columns.index(column)])

    def facts(self, sid: int, data: AnswerData) -> SentenceFacts:
        """Sentence `sid`'s facts, with `data` (of this table's fingerprint) for the objects."""
        return self.reader(data)(sid)

    def reader(self, data: AnswerData) -> FactReader:
        """Reads sentences' facts with `data` (of this table's fingerprint) for the objects."""
        return FactReader(self, data)

    def save(self, directory: Path) -> None:
        """Write the table's files into `directory` (created)."""
        directory.mkdir()
        meta = {"fingerprint": self.fingerprint, "columns": list(self.columns),
                "topic_ids": list(self.topic_ids), "vocabulary": list(self.vocabulary),
                "hits": {str(i): h for i, h in self.hits.items()}}
        (directory / "facts.json").write_text(json.dumps(meta, ensure_ascii=False))
        for name in ("term_ptr", "terms", "specificity", "topic", "flags"):
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> FactTable:
        """Read a table written by `save`."""
        meta = json.loads((directory / "facts.json").read_text(encoding="utf-8"))
        arrays = {name: np.load(directory / f"{name}.npy", allow_pickle=False)
                  for name in ("term_ptr", "terms", "specificity", "topic", "flags")}
        table = cls(fingerprint=meta["fingerprint"], vocabulary=tuple(meta["vocabulary"]),
                    topic_ids=tuple(meta["topic_ids"]), columns=tuple(meta["columns"]),
                    hits={int(i): h for i, h in meta["hits"].items()}, **arrays)
        n = len(table.specificity)
        if (len(table.term_ptr) != n + 1 or len(table.topic) != n
                or table.flags.shape != (n, len(table.columns))):
            raise ValueError(f"{directory}: the fact arrays disagree on the number of sentences")
        return table


class FactReader:
    """Turns a FactTable's rows back into SentenceFacts, with the column names decoded once."""

    def __init__(self, table: FactTable, data: AnswerData) -> None:
        self.table = table
        self.data = data
        topics = {t.id: t for t in data.topics}
        self._topics = [topics[t] for t in table.topic_ids]
        self._columns = [c.partition(":")[::2] for c in table.columns]  # (kind, value)

    def __call__(self, sid: int) -> SentenceFacts:
        table = self.table
        on: dict[str, set[str]] = {}
        for j in table.flags[sid].nonzero()[0].tolist():
            kind, value = self._columns[j]
            on.setdefault(kind, set()).add(value)
        vocabulary = table.vocabulary
        start, end = table.term_ptr[sid:sid + 2].tolist()
        terms = table.terms[start:end].tolist()
        return SentenceFacts(
            terms=frozenset([vocabulary[i] for i in terms]),
            specificity=float(table.specificity[sid]),
            regimens=tuple(_hit_from(h, self.data.table) for h in table.hits.get(sid, ())),
            topic=self._topics[int(table.topic[sid])],
            touches=frozenset(on.get("touches", ())), aspects=frozenset(on.get("aspect", ())),
            forms=frozenset(on.get("form", ())),
            microdosing="microdosing" in on, negated="negated" in on, framing="framing" in on,
            design="design" in on, agenda="agenda" in on,
            named=frozenset(on.get("named", ())), drugs=frozenset(on.get("drug", ())),
        )


def _hit_json(hit: RegimenHit) -> dict[str, Any]:
    return {"regimen": hit.regimen.id, "negated": hit.negated,
            "dose": asdict(hit.dose) if hit.dose is not None else None}


def _hit_from(record: dict[str, Any], table: RegimenTable) -> RegimenHit:
    dose = DoseMention(**record["dose"]) if record["dose"] is not None else None
    return RegimenHit(table.by_id[record["regimen"]], dose, record["negated"])
