"""Metric functions: small, pure and tested on hand-made examples."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ragqa.answer.contract import Answer, Statement


def doc_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Collapse a ranked list of chunk doc ids into unique documents, first occurrence wins."""
    seen: dict[str, None] = {}
    for doc_id in doc_ids:
        seen.setdefault(doc_id, None)
    return list(seen)


def recall_at(ranking: Sequence[str], gold: set[str], k: int) -> float:
    """Share of gold documents found in the top k."""
    if not gold:
        return 0.0
    return len(set(ranking[:k]) & gold) / len(gold)


def mrr_at(ranking: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold document in the top k (0 when none)."""
    for rank, doc_id in enumerate(ranking[:k], start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(ranking[:k], start=1) if d in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


def fact_hits(patterns: Sequence[str], texts: Sequence[str]) -> list[bool]:
    """For each case-insensitive regex, whether it matches any one of the texts (each on its own, so
    an anchor such as `^(?=.*suicid)` applies to every statement, not only the first)."""
    return [any(re.search(p, t, flags=re.IGNORECASE) for t in texts) for p in patterns]


def precision_recall(predicted: Sequence[bool], expected: Sequence[bool]) -> tuple[float, float]:
    """Precision and recall of the positive class (for abstention: abstained == True)."""
    tp = sum(p and e for p, e in zip(predicted, expected))
    fp = sum(p and not e for p, e in zip(predicted, expected))
    fn = sum(e and not p for p, e in zip(predicted, expected))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def fact_recall(hits: Sequence[bool]) -> float | None:
    """Share of expected facts found; None when the case lists none."""
    return sum(hits) / len(hits) if hits else None


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def share(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None for an empty denominator."""
    return numerator / denominator if denominator else None


def span_is_faithful(
    text: str, doc_id: str | None, start: int | None, end: int | None, documents: Mapping[str, str]
) -> bool:
    """Whether `text` is exactly documents[doc_id][start:end] (the document is the judge)."""
    if doc_id is None or doc_id not in documents or start is None or end is None:
        return False
    doc_text = documents[doc_id]
    if not 0 <= start < end <= len(doc_text):
        return False
    return doc_text[start:end] == text


def faithfulness(statements: Sequence[Statement], documents: Mapping[str, str]) -> tuple[int, int]:
    """(faithful, total) over the `extract` statements, checked against the document texts."""
    extracts = [s for s in statements if s.kind == "extract"]
    faithful = sum(
        span_is_faithful(s.text, s.doc_id, s.char_start, s.char_end, documents) for s in extracts
    )
    return faithful, len(extracts)


@dataclass(frozen=True)
class CitationCheck:
    """Citation validity of one answer: how many citing items, how many valid, what was wrong."""

    items: int
    valid: int
    problems: tuple[str, ...]


def check_citations(answer: Answer) -> CitationCheck:
    """Every citation names an existing reference; an extract cites (only) its own document.

    Citing items are the statements (every `extract`, and `system` ones that cite) and the
    regimen-check evidence entries.
    """
    refs: dict[int, str] = {}
    problems: list[str] = []
    for ref in answer.references:
        if ref.n in refs:
            problems.append(f"reference [{ref.n}] is numbered twice")
        refs[ref.n] = ref.doc_id
    items = valid = 0
    for i, statement in enumerate(answer.statements(), start=1):
        if statement.kind != "extract" and not statement.citations:
            continue
        items += 1
        found: list[str] = []
        missing = [n for n in statement.citations if n not in refs]
        if missing:
            found.append(f"statement {i} cites {missing}, not in the references")
        if statement.kind == "extract":
            if not statement.citations:
                found.append(f"statement {i} quotes {statement.doc_id} without a citation")
            wrong = [n for n in statement.citations if n in refs and refs[n] != statement.doc_id]
            if wrong:
                found.append(
                    f"statement {i} quotes {statement.doc_id} but cites {wrong} "
                    f"({', '.join(refs[n] for n in wrong)})"
                )
        problems.extend(found)
        valid += not found
    for evidence in answer.regimen_check.evidence:
        items += 1
        missing = [n for n in evidence.citations if n not in refs]
        if missing:
            problems.append(
                f"regimen evidence {evidence.regimen!r} cites {missing}, not in the references")
        valid += not missing
    return CitationCheck(items, valid, tuple(problems))


def lead_hit(patterns: Sequence[str], lead_texts: Sequence[str]) -> bool | None:
    """Whether every lead regex matches the bottom line's quoted sentences; None when none is set."""
    if not patterns:
        return None
    return all(fact_hits(patterns, lead_texts)) if lead_texts else False


def statement_precision(pattern: str | None, texts: Sequence[str]) -> float | None:
    """Share of extract statements matching the case's `relevant` regex; None when unset or empty."""
    if pattern is None or not texts:
        return None
    compiled = re.compile(pattern, re.IGNORECASE)
    return sum(1 for t in texts if compiled.search(t)) / len(texts)


def first_match_rank(patterns: Sequence[str], texts: Sequence[str]) -> int | None:
    """Rank (from 1) of the first text that every regex matches; None when none does."""
    compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
    for rank, text in enumerate(texts, start=1):
        if all(c.search(text) for c in compiled):
            return rank
    return None


def word_count(texts: Sequence[str]) -> int:
    """Words in the texts (whitespace-separated)."""
    return sum(len(t.split()) for t in texts)
# Sentence-level evidence (SciFact-style rationales): spans are (doc_id, start, end), half-open
# character ranges into the document's canonical text.

SpanKey = tuple[str, int, int]


def spans_overlap(a: SpanKey, b: SpanKey) -> bool:
    """Whether two spans of the same document share at least one character."""
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


@dataclass(frozen=True)
class QuoteMatch:
    """How the quoted spans of one answer meet the gold rationale spans of its case."""

    quoted: int
    quoted_on_gold: int
    gold: int
    gold_quoted: int

    @property
    def precision(self) -> float | None:
        """Share of quoted spans that overlap a gold span (None when nothing was quoted)."""
        return share(self.quoted_on_gold, self.quoted)

    @property
    def recall(self) -> float | None:
        """Share of gold spans that some quote overlaps (None when there is no gold span)."""
        return share(self.gold_quoted, self.gold)


def match_quotes(quoted: Iterable[SpanKey], gold: Iterable[SpanKey]) -> QuoteMatch:
    """Count quotes overlapping a gold sentence and gold sentences overlapped by a quote.

    Quotes are deduplicated first: the same sentence in the bottom line and a section counts once.
    """
    quotes, golds = sorted(set(quoted)), sorted(set(gold))
    on_gold = sum(any(spans_overlap(q, g) for g in golds) for q in quotes)
    covered = sum(any(spans_overlap(g, q) for q in quotes) for g in golds)
    return QuoteMatch(len(quotes), on_gold, len(golds), covered)


def f1(precision: float | None, recall: float | None) -> float | None:
    """Harmonic mean of precision and recall; None if either is None, 0 when both are 0."""
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def pooled_quote_scores(matches: Iterable[QuoteMatch]) -> tuple[float | None, float | None,
                                                                float | None]:
    """Micro-averaged (precision, recall, F1) over many answers, as SciFact scores rationales."""
    items = list(matches)
    precision = share(sum(m.quoted_on_gold for m in items), sum(m.quoted for m in items))
    recall = share(sum(m.gold_quoted for m in items), sum(m.gold for m in items))
    if precision is None and items and sum(m.gold for m in items):
        precision = 0.0  # nothing quoted at all: no quote was right
    return precision, recall, f1(precision, recall)


def quoted_spans(statements: Sequence[Statement]) -> list[SpanKey]:
    """The (doc_id, start, end) of every `extract` statement that carries a span."""
    return [
        (s.doc_id, s.char_start, s.char_end) for s in statements
        if s.kind == "extract" and s.doc_id is not None and s.char_start is not None
        and s.char_end is not None
    ]


def avoids_documents(quoted: Iterable[SpanKey], documents: Iterable[str]) -> bool:
    """Whether none of the quotes comes from any of `documents` (an abstention quotes nothing)."""
    avoided = set(documents)
    return not any(doc_id in avoided for doc_id, _, _ in quoted)
