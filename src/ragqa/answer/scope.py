"""A document's stated scope: whom its recommendations are for, and what it says it leaves out.

QuestionAnalysis + Evidence (ranked) -> OutOfScope or None. Guidelines state their scope near the
start: "The recommendations target the general adult, non-pregnant, hypertensive population";
"... but non-coeliac gluten sensitivity (NCGS) was not considered". Two questions fall outside it:

- one about a population the scope leaves out ("a 10-year-old", when the scope is adults), unless a
  retrieved sentence of the document speaks of that population and of the question's own subject
  (a word of the question that is not in the document's title);
- one whose subject is, for the most part, a thing the document says it does not address.

When every document that the best evidence comes from leaves the question out, the answer abstains
and quotes the scope statement, so that a clinician sees why rather than reading adult evidence as
an answer about a child. The wordings are data (`answer/data/scope.json`), generic to guidelines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ragqa.answer.analysis import QuestionAnalysis, QuestionAnalyzer
from ragqa.answer.evidence import Candidate, FactBook
from ragqa.answer.scoring import content_terms
from ragqa.index.store import HybridIndex

# the documents of this many best-ranked candidates must all leave the question out
LEADING = 3
# a subject a document says it does not address: the clause holds this share of the question's
# specific subject weight
MOST = 0.5
_CLAUSE_END = re.compile(r"\s(?:such as|as|because|since|but|which|while|although|so that|given)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Group:
    """A population a question may ask about, and how a scope statement leaves it out."""

    id: str
    label: str
    asks: tuple[re.Pattern[str], ...]
    speaks: tuple[re.Pattern[str], ...]
    outside: tuple[re.Pattern[str], ...]

    def asked_by(self, question: str) -> bool:
        return any(p.search(question) for p in self.asks)

    def spoken_by(self, text: str) -> bool:
        return any(p.search(text) for p in self.speaks)


@dataclass(frozen=True)
class ScopeRules:
    """How scope statements are found and read (`answer/data/scope.json`)."""

    statement: re.Pattern[str]
    near_start: re.Pattern[str]
    heading: re.Pattern[str]
    opening_share: float
    not_addressed: tuple[re.Pattern[str], ...]
    groups: tuple[Group, ...]

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> ScopeRules:
        data = json.loads(resources.files("ragqa.answer").joinpath("data/scope.json").read_text())

        def compiled(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
            return tuple(re.compile(p, re.IGNORECASE) for p in patterns)

        groups = tuple(Group(g["id"], g["label"], compiled(g["asks"]), compiled(g["speaks"]),
                             compiled(g["outside"])) for g in data["groups"])
        return cls(re.compile(data["statement"], re.IGNORECASE),
                   re.compile(data["statement_near_start"], re.IGNORECASE),
                   re.compile(data["heading"], re.IGNORECASE), float(data["opening_share"]),
                   compiled(data["not_addressed"]), groups)


@dataclass(frozen=True)
class DocumentScope:
    """What one document's scope statements say: the groups they leave out and the things they
    say the document does not address, each with the sentence that says so."""

    statements: tuple[int, ...]
    leaves_out: tuple[tuple[str, int], ...]  # (group id, sentence id)
    not_addressed: tuple[tuple[str, frozenset[str], int], ...]  # (clause, its terms, sentence id)


@dataclass(frozen=True)
class OutOfScope:
    """Why a question falls outside the scope of the documents its evidence comes from."""

    what: str  # "children", or the clause the document leaves out
    doc_ids: tuple[str, ...]
    sentence_ids: tuple[int, ...]  # the scope statements, to quote


class ScopeCheck:
    """Reads each document's scope statements (once, when first needed) and judges questions."""

    def __init__(self, index: HybridIndex, analyzer: QuestionAnalyzer, facts: FactBook,
                 rules: ScopeRules | None = None) -> None:
        self.index = index
        self.analyzer = analyzer
        self.facts = facts
        self.rules = rules or ScopeRules.default()
        self._scopes: dict[str, DocumentScope] = {}
        self._by_doc: dict[str, list[int]] | None = None

    def check(self, analysis: QuestionAnalysis, ranked: Sequence[Candidate],
              candidates: Sequence[Candidate]) -> OutOfScope | None:
        """The reason the question is outside the scope of every document of its best `ranked`
        candidates, or None. `candidates` is all the evidence gathered."""
        docs = list(dict.fromkeys(c.doc_id for c in ranked[:LEADING]))
        if not docs:
            return None
        found = []
        for doc in docs:
            verdict = self._outside(analysis, doc, candidates)
            if verdict is None:  # one document that covers the question is enough
                return None
            found.append(verdict)
        return OutOfScope(found[0][0], tuple(docs), tuple(dict.fromkeys(sid for _, sid in found)))

    def _outside(self, analysis: QuestionAnalysis, doc_id: str,
                 candidates: Sequence[Candidate]) -> tuple[str, int] | None:
        scope = self.scope(doc_id)
        left_out = dict(scope.leaves_out)
        for group in self.rules.groups:
            if group.id in left_out and group.asked_by(analysis.text) \
                    and not self._speaks_of(group, analysis, doc_id, candidates):
                return group.label, left_out[group.id]
        subject = [t for t in analysis.subject if t.specific and t.weight > 0]
        total = sum(t.weight for t in subject)
        # the document's own topic ("coeliac" in "non-coeliac gluten sensitivity", for a coeliac
        # guideline) is not what a clause leaves out
        title = self._title_terms(doc_id)
        for clause, terms, sid in scope.not_addressed:
            held = sum(t.weight for t in subject if self.analyzer.subject_family(t) & (terms - title))
            if total and held >= MOST * total:
                return clause, sid
        return None

    def _speaks_of(self, group: Group, analysis: QuestionAnalysis, doc_id: str,
                   candidates: Sequence[Candidate]) -> bool:
        """Whether a sentence of the document among the evidence speaks of the group (or stands
        under a heading that does) and names a word of the question's subject that the document's
        title does not hold."""
        title = self._title_terms(doc_id)
        # the words that name the population ("10-year-old") are what the group check reads
        naming = {t for p in group.asks for m in p.finditer(analysis.text) for t in content_terms(m.group())}
        families = [self.analyzer.subject_family(t) - title for t in analysis.subject
                    if t.term not in naming]
        families = [f for f in families if f]
        for c in candidates:
            sentence = self.index.sentences[c.sentence_id]
            if c.doc_id != doc_id or not any(group.spoken_by(t) for t in (sentence.text, *sentence.section)):
                continue
            terms = self.facts[c.sentence_id].terms
            if any(terms & f for f in families):
                return True
        return False

    def _title_terms(self, doc_id: str) -> frozenset[str]:
        return frozenset(content_terms(self.index.documents[doc_id].title or ""))

    def scope(self, doc_id: str) -> DocumentScope:
        """The document's scope statements and what they leave out (cached per document)."""
        found = self._scopes.get(doc_id)
        if found is None:
            found = self._scopes[doc_id] = self._read(doc_id)
        return found

    def _read(self, doc_id: str) -> DocumentScope:
        rules = self.rules
        if self._by_doc is None:
            self._by_doc = {}
            for i, s in enumerate(self.index.sentences):
                self._by_doc.setdefault(s.doc_id, []).append(i)
        ids = self._by_doc.get(doc_id, [])
        opening = max(1, int(len(ids) * rules.opening_share))
        statements = []
        for n, sid in enumerate(ids):
            s = self.index.sentences[sid]
            if not s.quotable:
                continue
            placed = n < opening or any(rules.heading.search(h) for h in s.section[-1:])
            if rules.statement.search(s.text) or placed and (
                    rules.near_start.search(s.text) or any(p.search(s.text) for p in rules.not_addressed)):
                statements.append(sid)
        leaves_out = []
        texts = [(sid, self.index.sentences[sid].text) for sid in statements]
        for group in rules.groups:
            if any(group.spoken_by(t) for _, t in texts):
                continue
            sid = next((sid for sid, t in texts if any(p.search(t) for p in group.outside)), None)
            if sid is not None:
                leaves_out.append((group.id, sid))
        not_addressed = []
        for sid in statements:
            text = self.index.sentences[sid].text
            for pattern in rules.not_addressed:
                for m in pattern.finditer(text):
                    # the clause ends where a reason or contrast begins ("... as it is focused on")
                    clause = _CLAUSE_END.split(m.group(1))[0].strip()
                    not_addressed.append((clause, frozenset(content_terms(clause)), sid))
        return DocumentScope(tuple(statements), tuple(leaves_out), tuple(not_addressed))
