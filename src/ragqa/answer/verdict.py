"""The regimen check: did the evidence study the dose regimen the question asks about?

QuestionAnalysis + candidates -> RegimenVerdict (before selection, which quotes what supports it);
then, on the selected statements, the table of regimens they cover and the verdict's note.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragqa.answer.analysis import AskedRegimen, QuestionAnalysis
from ragqa.answer.evidence import Candidate, FactBook
from ragqa.answer.regimen import RegimenHit, RegimenTable
from ragqa.index.store import HybridIndex


@dataclass(frozen=True)
class RegimenVerdict:
    """Whether the asked regimen was studied (None when none was asked) and the sentences that say so."""

    asked: AskedRegimen | None
    supported: bool | None
    supporting: tuple[Candidate, ...]


@dataclass(frozen=True)
class RegimenRow:
    """One regimen the answer's statements cover: its doses, routes and the documents they come from."""

    regimen_id: str
    label: str
    doses: list[str]
    routes: list[str]
    doc_ids: list[str]


class RegimenJudge:
    """Judges the asked regimen against the candidates' regimen mentions."""

    def __init__(self, index: HybridIndex, table: RegimenTable, facts: FactBook,
                 min_similarity: float = 0.25) -> None:
        self.index = index
        self.table = table
        self.facts = facts
        self.min_similarity = min_similarity

    def judge(self, analysis: QuestionAnalysis, candidates: tuple[Candidate, ...]) -> RegimenVerdict:
        """Supported when a candidate near the question studies the asked regimen."""
        asked = analysis.regimen
        if asked is None:
            return RegimenVerdict(None, None, ())
        near = sorted((c for c in candidates if c.similarity >= self.min_similarity),
                      key=lambda c: -c.similarity)
        supporting = tuple(
            c for c in near
            if any(self._supports(asked, hit, c.sentence_id)
                   for hit in self.facts[c.sentence_id].regimens)
        )
        return RegimenVerdict(asked, bool(supporting), supporting)

    def _supports(self, asked: AskedRegimen, hit: RegimenHit, sid: int) -> bool:
        """Whether one regimen found in evidence sentence `sid` studies the asked regimen."""
        regimen = asked.regimen
        if hit.dose is None and (hit.negated or
                                 not self.table.study.search(self.index.sentences[sid].text)):
            return False
        if regimen.id == self.table.microdose.id:
            if hit.regimen.group != regimen.group:
                return False
            if asked.drug is None:
                return True
            if self.facts.table is self.table:  # the drugs it names are among its facts
                return asked.drug in self.facts[sid].drugs
            return any(d == asked.drug for _, d in self.table.drugs_in(self.index.sentences[sid].text))
        if hit.regimen.id == regimen.id:
            return True
        # a regimen named only by its group ("subanesthetic ketamine") is met by any of the group
        return regimen.unit is None and hit.regimen.group == regimen.group and hit.regimen.drug == regimen.drug

    def rows(self, sentence_ids: list[int], drug: str | None = None) -> list[RegimenRow]:
        """The dose-bearing regimens of these sentences, in the table's order (only the regimens of
        `drug` when one is given: a verdict on ketamine cites ketamine's regimens, not LSD's)."""
        table: dict[str, RegimenRow] = {}
        for sid in sentence_ids:
            for hit in self.facts[sid].regimens:
                if hit.dose is None or (drug is not None and hit.regimen.drug != drug):
                    continue
                row = table.setdefault(hit.regimen.id, RegimenRow(hit.regimen.id, hit.regimen.label,
                                                                   [], [], []))
                _add(row.doses, hit.dose.describe())
                if hit.dose.route:
                    _add(row.routes, hit.dose.route)
                _add(row.doc_ids, self.index.sentences[sid].doc_id)
        order = [r.id for r in self.table.regimens]
        return sorted(table.values(), key=lambda r: order.index(r.regimen_id) if r.regimen_id in order else 99)


def note(verdict: RegimenVerdict, rows: list[RegimenRow], support_docs: list[str]) -> list[tuple[str, list[str]]]:
    """The regimen verdict as (text, doc ids cited right after it) segments.

    Empty when no regimen was asked, or when the asked one was studied by name or dose and is not
    microdosing: then the question is about that regimen, and the quotes answer it directly.
    """
    if verdict.asked is None:
        return []
    what = verdict.asked.label
    if verdict.supported:
        if verdict.asked.regimen.drug != "*":
            return []
        return [(f"The retrieved sources include evidence on {what}", support_docs)]
    if not rows:
        text = (f"None of the retrieved sources studied {what}, and they report no dose "
                f"regimen that could stand in for it")
        return [(text, [])]
    segments = [(f"None of the retrieved sources studied {what}; the evidence concerns", [])]
    for i, row in enumerate(rows):
        joiner = "" if i == 0 else (" and" if i == len(rows) - 1 else ",")
        segments.append((f"{joiner} {row.label}: {'; '.join(distinct_doses(row.doses)[:3])}", row.doc_ids))
    return segments


def distinct_doses(doses: list[str]) -> list[str]:
    """Drop a dose description that a longer one in the list already contains."""
    return [d for d in doses if not any(d != o and o.startswith(d) for o in doses)]


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)
