"""Composition: the selected statements, the regimen verdict and the references as one Answer.

Selection + RegimenVerdict -> Answer (or Coverage -> an abstaining Answer). Every extract quotes
its sentence verbatim with its document offsets; references are numbered by first citation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragqa.answer.analysis import QuestionAnalysis, as_written
from ragqa.answer.contract import (
    AbstentionRecord,
    Answer,
    NearestSentence,
    Reference,
    RegimenCheck,
    RegimenEvidence,
    RejectedPassage,
    Section,
    Statement,
)
from ragqa.answer.coverage import Coverage
from ragqa.answer.evidence import Candidate, Evidence
from ragqa.answer.overview import corpus_overview, looks_english
from ragqa.answer.provenance import RAGQA_OWN, source_provenance
from ragqa.answer.selection import Scored, Selection, Selector
from ragqa.answer.verdict import RegimenJudge, RegimenVerdict, distinct_doses, note
from ragqa.index.store import HybridIndex
from ragqa.ingest.context import quote_span

ABSTAIN_MESSAGE = "The corpus does not answer this question, so ragqa gives no clinical answer."
# the sentences an abstention quotes as what was found nearest the question
NEAREST = 3
NOT_ENGLISH = ("The question does not read as English, and ragqa's corpus and its search are in "
               "English: please ask in English.")


@dataclass(frozen=True)
class _Segments:
    """A statement written by ragqa: (text, doc ids cited right after it) parts."""

    parts: list[tuple[str, list[str]]]


class Composer:
    """Turns the stages' values into the answer contract."""

    def __init__(self, index: HybridIndex, selector: Selector, judge: RegimenJudge) -> None:
        self.index = index
        self.selector = selector
        self.judge = judge
        self._owner = index.sentence_chunk()

    def answer(self, analysis: QuestionAnalysis, evidence: Evidence, selection: Selection,
               verdict: RegimenVerdict) -> Answer:
        """The answer: verdict note and lead quotes, then the groups, then the references."""
        chosen = selection.all()
        rows = self.judge.rows([s.candidate.sentence_id for s in chosen],
                               verdict.asked.drug if verdict.asked else None)
        support_ids = {c.sentence_id for c in verdict.supporting}
        support_docs = list(dict.fromkeys(
            s.candidate.doc_id for s in chosen if s.candidate.sentence_id in support_ids))
        segments = note(verdict, rows, support_docs)
        bottom: list[Scored | _Segments] = [_Segments(segments)] if segments else []
        bottom.extend(selection.lead)
        # the quotable answer is read first; a table the source shows only as an image follows it
        bottom.extend(_Segments(self._image_note(s, after=bool(selection.lead)))
                      for s in selection.image_tables)
        numbers: dict[str, int] = {}
        for item in [*bottom, *(s for _, _, group in selection.groups for s in group)]:
            for doc_id in _doc_ids(item):
                numbers.setdefault(doc_id, len(numbers) + 1)
        verdict_statements = [self._statement(item, numbers) for item in bottom]
        check = RegimenCheck(
            asked=verdict.asked.regimen.id if verdict.asked else None,
            asked_label=verdict.asked.label if verdict.asked else None,
            supported=verdict.supported,
            evidence=[RegimenEvidence(regimen=r.regimen_id, label=r.label, doses=distinct_doses(r.doses),
                                      routes=r.routes, citations=sorted(numbers[d] for d in r.doc_ids))
                      for r in rows],
            note=verdict_statements[0].text if segments else "The question names no dose regimen.",
        )
        return Answer(
            question=analysis.text, abstained=False, bottom_line=verdict_statements,
            sections=[Section(heading=heading, topic=topic,
                              statements=[self._statement(s, numbers) for s in group])
                      for heading, topic, group in selection.groups],
            regimen_check=check,
            references=[self._reference(doc_id, n) for doc_id, n in numbers.items()],
            retrieved_doc_ids=_doc_order(evidence), index_version=self.index.version,
            index_built_at=self.index.manifest.get("built_at"), timings_ms={},
        )

    def abstain(self, analysis: QuestionAnalysis, evidence: Evidence, coverage: Coverage,
                searched: str, threshold: float, ranked: Sequence[Candidate] = ()) -> Answer:
        """An answer that gives no clinical statement, with what was searched and found instead:
        the nearest documents, and up to `NEAREST` sentences quoted (where the corpus names the
        question's subject in passing, then the quotable candidates `ranked`, best first by the
        relevance score), unless the question is not near the corpus."""
        qv = analysis.vector
        closest = []
        # the scope statement that leaves the question out, then where the corpus names the subject
        scope = list(coverage.outside.sentence_ids) if coverage.outside else []
        passing = [sid for m in coverage.uncovered for sid in m.sentence_ids]
        for sid in [*scope, *passing]:  # before the nearest passages
            sentence = self.index.sentences[sid]
            closest.append(RejectedPassage(
                chunk_id=self.index.chunks[int(self._owner[sid])].id, doc_id=sentence.doc_id,
                title=self.index.documents[sentence.doc_id].title,
                score=round(float(self.index.sentence_vectors[sid] @ qv), 4), text=sentence.text[:400],
            ))
        for hit in evidence.chunks.hits[:5]:
            chunk = self.index.chunks[hit.chunk_index]
            closest.append(RejectedPassage(
                chunk_id=chunk.id, doc_id=chunk.doc_id, title=self.index.documents[chunk.doc_id].title,
                score=round(float(self.index.chunk_vectors[hit.chunk_index] @ qv), 4),
                text=chunk.text[:400],
            ))
        label = analysis.regimen.label if analysis.regimen else None
        closest = _sorted_unique(closest)
        found_in = list(dict.fromkeys(_short_title(p.title) for p in closest))[:3]
        english = looks_english(analysis.text, self.index)
        covers = corpus_overview(self.index).covers()
        # what is nearest is worth quoting only for a question near the corpus: not below the
        # relevance floor, in English, and not on a subject the corpus never names
        near = (english and evidence.best_chunk_similarity >= threshold
                and not any(m.sentences == 0 for m in coverage.uncovered))
        where = f" The nearest passages are in: {'; '.join(found_in)}." if found_in else ""
        message = ((f"{NOT_ENGLISH} " if not english else "") + f"{ABSTAIN_MESSAGE}"
                   f"{self._subject_note(coverage, analysis.text)}{where} {covers}")
        return Answer(
            question=analysis.text, abstained=True,
            message=message,
            bottom_line=[], sections=[], references=[],
            regimen_check=RegimenCheck(
                asked=analysis.regimen.regimen.id if analysis.regimen else None, asked_label=label,
                supported=None, evidence=[], note="No evidence was selected (the answer abstained).",
            ),
            abstention=AbstentionRecord(
                reason=coverage.reason, searched=searched, query_terms=evidence.chunks.query_tokens,
                threshold=threshold, best_score=round(evidence.best_chunk_similarity, 4),
                closest=closest, found_in=found_in, corpus_covers=covers, english=english,
                nearest=self._nearest(passing, ranked, qv, scope) if near else [],
            ),
            retrieved_doc_ids=_doc_order(evidence), index_version=self.index.version,
            index_built_at=self.index.manifest.get("built_at"), timings_ms={},
        )

    def _nearest(self, mentioned: Sequence[int], ranked: Sequence[Candidate],
                 qv: np.ndarray, scope: Sequence[int] = ()) -> list[NearestSentence]:
        """Up to NEAREST distinct quotable sentences, quoted with where they stand: first the
        `scope` statements that leave the question out, then where the corpus names a subject of
        the question in passing (nearest first), then the candidates `ranked` (best first)."""
        vectors = self.index.sentence_vectors
        passing = sorted((sid for sid in dict.fromkeys(mentioned) if self.selector.quotable_alone(sid)),
                         key=lambda sid: -float(vectors[sid] @ qv))
        out: list[NearestSentence] = []
        for sid in [*scope, *passing, *(c.sentence_id for c in ranked)]:
            sentence = self.index.sentences[sid]
            if any(n.text == sentence.text for n in out):
                continue
            doc = self.index.documents[sentence.doc_id]
            out.append(NearestSentence(
                text=sentence.text, doc_id=doc.id, title=doc.title, char_start=sentence.char_start,
                char_end=sentence.char_end, section=list(sentence.section), page=sentence.page,
                similarity=round(float(vectors[sid] @ qv), 4), provenance=source_provenance(doc)))
            if len(out) == NEAREST:
                break
        return out

    def _subject_note(self, coverage: Coverage, question: str) -> str:
        """Where the corpus names the words of the question its evidence leaves out, by title:
        " It names sertraline only in passing (in ...)." or " It never mentions sertraline." """
        parts = []
        if coverage.outside is not None:
            titles = "; ".join(_short_title(self.index.documents[d].title or d)
                               for d in coverage.outside.doc_ids[:2])
            parts.append(f"The scope of {titles} leaves out {coverage.outside.what}.")
        for m in coverage.uncovered[:3]:
            written = as_written(m.term, question)
            term = f"{written} ({', '.join(m.clinical)})" if m.clinical else written
            if m.sentences == 0:
                parts.append(f"It never mentions {term}.")
            else:
                titles = "; ".join(_short_title(self.index.documents[d].title) for d in m.doc_ids[:2])
                parts.append(f"It names {term} only in passing (in {titles}), not on what was asked.")
        return (" " + " ".join(parts)) if parts else ""

    def _statement(self, item: Scored | _Segments, numbers: dict[str, int]) -> Statement:
        if isinstance(item, _Segments):
            text = "".join(
                f"{part} [{', '.join(str(numbers[d]) for d in dict.fromkeys(docs))}]" if docs else part
                for part, docs in item.parts
            ) + "."
            cited = {numbers[d] for _, docs in item.parts for d in docs}
            return Statement(text=text, kind="system", citations=sorted(cited), provenance=RAGQA_OWN)
        sentence = self.index.sentences[item.candidate.sentence_id]
        # a sentence that leans on the one before it ("These ...", "Hence, ...") is quoted with it
        span = quote_span(self.index.sentences, item.candidate.sentence_id)
        text = self.index.documents[sentence.doc_id].text[span.start:span.end]
        return Statement(
            text=text, kind="extract", citations=[numbers[sentence.doc_id]],
            doc_id=sentence.doc_id, chunk_id=self.index.chunks[item.candidate.chunk_index].id,
            char_start=span.start, char_end=span.end, section=list(sentence.section),
            page=sentence.page, regimen=self.selector.regimen_of(item), score=round(item.score, 4),
            provenance=source_provenance(self.index.documents[sentence.doc_id]),
        )

    def _image_note(self, item: Scored, after: bool) -> list[tuple[str, list[str]]]:
        """What to say of a table the source shows only as an image, ranked with the best evidence
        (`after` the quoted answer, or in its place)."""
        sentence = self.index.sentences[item.candidate.sentence_id]
        caption = re.sub(r"\s*\(image in source\)", "", sentence.text).strip()
        opening = ("The source also has a table on this shown only as an image" if after
                   else "The closest evidence in the source is a table shown only as an image")
        text = f"{opening}, so its content cannot be quoted: {caption.rstrip('.')}"
        return [(text, [sentence.doc_id])]

    def _reference(self, doc_id: str, n: int) -> Reference:
        doc = self.index.documents[doc_id]
        return Reference(n=n, doc_id=doc.id, title=doc.title, publisher=doc.publisher, year=doc.year,
                         doc_type=doc.doc_type.value, authors=list(doc.authors), url=doc.url,
                         doi=doc.doi, pmid=doc.pmid, provenance=source_provenance(doc))


def _doc_ids(item: Scored | _Segments) -> list[str]:
    if isinstance(item, _Segments):
        return [d for _, docs in item.parts for d in docs]
    return [item.candidate.doc_id]


def _short_title(title: str, most: int = 160) -> str:
    """A title to name in a sentence: cut at a subtitle when it is long."""
    if len(title) <= most:
        return title
    head = title.split(": ")[0]
    return head if len(head) <= most else title[:most].rsplit(" ", 1)[0] + "\u2026"


def _sorted_unique(passages: list[RejectedPassage]) -> list[RejectedPassage]:
    """The closest passages, best first, each passage once (a sentence and its chunk count once)."""
    kept: list[RejectedPassage] = []
    for passage in sorted(passages, key=lambda p: -p.score):
        if not any(passage.text in k.text or k.text in passage.text for k in kept):
            kept.append(passage)
    return kept


def _doc_order(evidence: Evidence) -> list[str]:
    return list(dict.fromkeys(h.doc_id for h in evidence.chunks.hits))
