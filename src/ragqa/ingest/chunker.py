"""Sentence-aligned, heading-aware chunks within the embedding model's token budget."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ragqa.errors import InvalidQueryError
from ragqa.ingest.documents import Document
from ragqa.ingest.layout import Block, BlockKind
from ragqa.ingest.sentences import Span, paragraphs, split_sentences

_PIECES = re.compile(r"\w+|[^\w\s]")


def approx_token_count(text: str) -> int:
    """A WordPiece-like token estimate: long words split into several pieces."""
    return sum(1 + len(piece) // 7 for piece in _PIECES.findall(text))


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document; doc.text[char_start:char_end] == text."""

    doc_id: str
    char_start: int
    char_end: int
    text: str
    section: tuple[str, ...]
    page: int | None = None  # PDF documents: the page the sentence starts on
    kind: BlockKind = BlockKind.PROSE  # table row, list item, reference, ...

    @property
    def quotable(self) -> bool:
        """Whether an answer may quote this sentence (not a reference entry, an image-table
        marker or a bare table header, and not a sentence without a letter: a page number, a
        chart's value or a list's number that a PDF's layout left on a line of its own states
        nothing)."""
        return self.kind.quotable and any(c.isalpha() for c in self.text)


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive sentences of one section; doc.text[char_start:char_end] == text."""

    id: str
    doc_id: str
    char_start: int
    char_end: int
    text: str
    section: tuple[str, ...]
    sentence_ids: tuple[int, ...]
    pages: tuple[int, ...] = ()  # PDF documents: the pages the chunk spans

    def embed_text(self, title: str) -> str:
        """What the embedder sees: title and section give a passage its context."""
        heading = " > ".join(self.section)
        return " | ".join(part for part in (title, heading, self.text) if part)


def document_blocks(doc: Document) -> list[Block]:
    """A document's blocks: its reader's layout, or the paragraphs under its `#` headings."""
    if doc.layout:
        return list(doc.layout)
    return [Block(p.span.start, p.span.end, p.section) for p in paragraphs(doc.text)]


@dataclass(frozen=True)
class ChunkingParams:
    """How documents are cut into chunks."""

    max_tokens: int = 200
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise InvalidQueryError(f"max_tokens must be >= 16, got {self.max_tokens}")
        if self.overlap_sentences < 0:
            raise InvalidQueryError(
                f"overlap_sentences must be >= 0, got {self.overlap_sentences}"
            )


class Chunker:
    """Cut documents into sentences and chunks.

    >>> chunker = Chunker(ChunkingParams(max_tokens=120, overlap_sentences=1))
    >>> sentences, chunks = chunker.run(documents)
    """

    def __init__(
        self,
        params: ChunkingParams | None = None,
        count_tokens: Callable[[str], int] = approx_token_count,
    ) -> None:
        self.params = params or ChunkingParams()
        self.count_tokens = count_tokens

    def run(self, documents: Iterable[Document]) -> tuple[list[Sentence], list[Chunk]]:
        """All sentences and chunks of the documents; chunk.sentence_ids index the sentence list."""
        sentences: list[Sentence] = []
        chunks: list[Chunk] = []
        for doc in documents:
            self._chunk_document(doc, sentences, chunks)
        return sentences, chunks

    def _chunk_document(self, doc: Document, sentences: list[Sentence], chunks: list[Chunk]) -> None:
        sections: list[tuple[tuple[str, ...], list[int]]] = []
        for block in document_blocks(doc):
            if block.kind is BlockKind.REFERENCE:
                chunkable = False  # kept as sentences the answer can filter out, never retrieved
            else:
                chunkable = True
                if not sections or sections[-1][0] != block.section:
                    sections.append((block.section, []))
            spans = ([Span(block.start, block.end)] if block.kind.whole
                     else split_sentences(doc.text, Span(block.start, block.end)))
            for span in spans:
                if chunkable:
                    sections[-1][1].append(len(sentences))
                sentences.append(Sentence(doc.id, span.start, span.end,
                                          doc.text[span.start:span.end], block.section,
                                          block.page, block.kind))
        for section, ids in sections:
            for group in self._pack(ids, sentences):
                first, last = sentences[group[0]], sentences[group[-1]]
                text = doc.text[first.char_start:last.char_end]
                digest = hashlib.sha1(f"{first.char_start}:{text}".encode()).hexdigest()[:12]
                pages = tuple(sorted({p for j in group if (p := sentences[j].page) is not None}))
                chunks.append(
                    Chunk(f"{doc.id}#{digest}", doc.id, first.char_start, last.char_end, text,
                          section, tuple(group), pages)
                )

    def _pack(self, ids: list[int], sentences: list[Sentence]) -> list[list[int]]:
        """Greedy packing of sentence ids under the budget, repeating `overlap` sentences."""
        groups: list[list[int]] = []
        current: list[int] = []
        carried = 0  # how many of `current` are overlap repeated from the previous chunk
        tokens = 0
        i = 0
        while i < len(ids):
            cost = self.count_tokens(sentences[ids[i]].text)
            if current and tokens + cost > self.params.max_tokens:
                if len(current) > carried:
                    groups.append(current)
                    overlap = self.params.overlap_sentences
                    current = current[-overlap:] if overlap and len(current) > overlap else []
                else:
                    current = []  # the overlap alone leaves no room: start afresh
                carried = len(current)
                tokens = sum(self.count_tokens(sentences[j].text) for j in current)
                continue
            current.append(ids[i])
            tokens += cost
            i += 1
        if current:
            groups.append(current)
        return groups
