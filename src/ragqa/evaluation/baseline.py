"""The naive baseline: quote the sentences that sentence retrieval ranks first, nothing else.

What any answer stage must beat: no question analysis, no selection, no abstention. Its answers
use the same contract as the answer engine's (faithful spans, numbered references), so the
evaluation scores both with the same scorer.
"""

from __future__ import annotations

import time

from ragqa.answer.contract import Answer, Reference, RegimenCheck, Statement
from ragqa.errors import InvalidQueryError
from ragqa.index.embed import Embedder
from ragqa.index.store import HybridIndex
from ragqa.ingest.documents import Document
from ragqa.retrieve import Filters, Mode, Retriever

# sentences retrieved to find `n` quotable ones (reference entries and bare table headers are not)
SEARCH_DEPTH = 20


class TopSentences:
    """Answers with the `n` quotable sentences `Retriever.search_sentences` ranks first, in that
    order, as the bottom line; it never abstains and checks no regimen.

    >>> TopSentences(index, embedder, n=2).ask("How often is blood pressure rechecked?")
    """

    def __init__(self, index: HybridIndex, embedder: Embedder, n: int = 2,
                 mode: Mode = Mode.HYBRID) -> None:
        if n < 1:
            raise InvalidQueryError(f"n must be > 0, got {n}")
        self.index = index
        self.embedder = embedder
        self.n = n
        self.mode = mode
        self.retriever = Retriever(index, embedder)

    def ask(self, question: str, top_k: int | None = None, filters: Filters | None = None) -> Answer:
        """Quote the top `n` sentences for `question` (`top_k` is the engine's chunk count: unused)."""
        started = time.perf_counter()
        if not question or not question.strip():
            raise InvalidQueryError("question must not be empty")
        vector = self.embedder.embed([question])[0]
        found = self.retriever.search_sentences(question, vector, max(SEARCH_DEPTH, self.n),
                                                self.mode, filters)
        picked = [h for h in found.hits if self.index.sentences[h.sentence_id].quotable][: self.n]
        numbers: dict[str, int] = {}
        statements = []
        for hit in picked:
            sentence = self.index.sentences[hit.sentence_id]
            number = numbers.setdefault(sentence.doc_id, len(numbers) + 1)
            statements.append(Statement(
                text=sentence.text, kind="extract", citations=[number], doc_id=sentence.doc_id,
                char_start=sentence.char_start, char_end=sentence.char_end,
                section=list(sentence.section), page=sentence.page, score=round(hit.score, 4)))
        return Answer(
            question=question, abstained=False, bottom_line=statements, sections=[],
            regimen_check=RegimenCheck(asked=None, asked_label=None, supported=None, evidence=[],
                                       note="not checked by the naive baseline"),
            references=[reference(self.index.documents[d], n) for d, n in numbers.items()],
            retrieved_doc_ids=list(dict.fromkeys(h.doc_id for h in found.hits)),
            index_version=self.index.version,
            index_built_at=self.index.manifest.get("built_at"),
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 3)},
        )


def reference(doc: Document, n: int) -> Reference:
    """Reference number `n` to a document, as the answer engine lists it."""
    return Reference(n=n, doc_id=doc.id, title=doc.title, publisher=doc.publisher, year=doc.year,
                     doc_type=doc.doc_type.value, authors=list(doc.authors), url=doc.url,
                     doi=doc.doi, pmid=doc.pmid)
