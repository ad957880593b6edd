"""Eval suites: JSONL files of questions with what a good answer must (and must not) contain.

One case per line, with exactly these fields (only `id` and `question` are required):

    {"id": "dose-trd-iv", "question": "What IV ketamine dose is used for depression?",
     "facts": ["0\\.5 ?mg/kg"], "forbid": ["microdos"], "abstain": false,
     "regimen_supported": true, "docs": ["sanacora-2017-apa-ketamine-consensus"],
     "tags": ["dosing", "clinician"], "lead": ["0\\.5 ?mg/kg"],
     "relevant": "\\d ?mg|dos(e|es|ing)|infus", "max_statements": 8}

`lead`: regexes that must each match the quoted sentences of the bottom line (the direct answer
comes first); `relevant`: a regex an extract statement on the question's topic matches;
`max_statements`: the most extract statements the answer may have.

Sentence-level evidence (SciFact): `evidence_spans` lists the gold rationale sentences as
{"doc_id", "start", "end"} into the document's text; an empty list means the corpus holds no
evidence for the claim, and `cited_docs` then names the abstracts an answer should not quote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ragqa.errors import SuiteError

FIELDS = ("id", "question", "facts", "forbid", "abstain", "regimen_supported", "docs", "tags",
          "lead", "relevant", "max_statements")
EVIDENCE_FIELDS = ("evidence_spans", "cited_docs")


class EvidenceSpan(NamedTuple):
    """A gold rationale sentence: document.text[start:end] of document `doc_id`."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Case:
    """One question of a suite and its expectations; None and () mean "not checked"."""

    id: str
    question: str
    facts: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    abstain: bool | None = None
    regimen_supported: bool | None = None
    docs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    lead: tuple[str, ...] = ()
    relevant: str | None = None
    max_statements: int | None = None
    # None: not checked; (): the corpus holds no evidence for this case (see cited_docs)
    evidence_spans: tuple[EvidenceSpan, ...] | None = None
    cited_docs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The case as one suite line (fields left unchecked are omitted)."""
        record: dict[str, Any] = {"id": self.id, "question": self.question}
        for name in ("facts", "forbid", "docs", "tags", "lead"):
            if getattr(self, name):
                record[name] = list(getattr(self, name))
        for name in ("abstain", "regimen_supported", "relevant", "max_statements"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        if self.evidence_spans is not None:
            record["evidence_spans"] = [span._asdict() for span in self.evidence_spans]
        if self.cited_docs:
            record["cited_docs"] = list(self.cited_docs)
        return record


def parse_case(record: Any, where: str) -> Case:
    """Validate one decoded JSON line into a Case; errors start with `where` ("file:line")."""

    def fail(field: str, problem: str) -> SuiteError:
        return SuiteError(f"{where}: field '{field}': {problem}")

    if not isinstance(record, dict):
        raise fail("", f"expected a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(FIELDS) - set(EVIDENCE_FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field (known: {', '.join(FIELDS + EVIDENCE_FIELDS)})")
    for name in ("id", "question"):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise fail(name, f"must be a non-empty string, got {value!r}")
    lists: dict[str, tuple[str, ...]] = {}
    for name in ("facts", "forbid", "docs", "tags", "lead"):
        value = record.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(name, f"must be a list of non-empty strings, got {value!r}")
        lists[name] = tuple(value)
    relevant = record.get("relevant")
    if relevant is not None and (not isinstance(relevant, str) or not relevant):
        raise fail("relevant", f"must be a non-empty string (a regex), got {relevant!r}")
    for name, patterns in (("facts", lists["facts"]), ("forbid", lists["forbid"]),
                           ("lead", lists["lead"]), ("relevant", (relevant,) if relevant else ())):
        for pattern in patterns:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise fail(name, f"invalid regular expression {pattern!r} ({exc})") from None
    max_statements = record.get("max_statements")
    if max_statements is not None and (
            isinstance(max_statements, bool) or not isinstance(max_statements, int) or max_statements < 1):
        raise fail("max_statements", f"must be a positive integer, got {max_statements!r}")
    flags: dict[str, bool | None] = {}
    for name in ("abstain", "regimen_supported"):
        value = record.get(name)
        if value is not None and not isinstance(value, bool):
            raise fail(name, f"must be true, false or null, got {value!r}")
        flags[name] = value
    return Case(
        id=record["id"].strip(), question=record["question"].strip(),
        facts=lists["facts"], forbid=lists["forbid"], abstain=flags["abstain"],
        regimen_supported=flags["regimen_supported"], docs=lists["docs"], tags=lists["tags"],
        lead=lists["lead"], relevant=relevant, max_statements=max_statements,
        **parse_evidence(record, fail),
    )


def parse_evidence(record: dict[str, Any], fail) -> dict[str, Any]:
    """The `evidence_spans` and `cited_docs` fields of a case record, validated."""
    spans = record.get("evidence_spans")
    parsed: tuple[EvidenceSpan, ...] | None = None
    if spans is not None:
        if not isinstance(spans, list):
            raise fail("evidence_spans", f"must be a list of {{doc_id, start, end}}, got {spans!r}")
        items = []
        for i, span in enumerate(spans):
            ok = (isinstance(span, dict) and set(span) == {"doc_id", "start", "end"}
                  and isinstance(span["doc_id"], str) and span["doc_id"]
                  and all(isinstance(span[k], int) and not isinstance(span[k], bool)
                          for k in ("start", "end")))
            if not ok or not 0 <= span["start"] < span["end"]:
                raise fail("evidence_spans", f"item {i} must be {{doc_id, start, end}} with "
                                             f"0 <= start < end, got {span!r}")
            items.append(EvidenceSpan(span["doc_id"], span["start"], span["end"]))
        parsed = tuple(items)
    cited = record.get("cited_docs") or []
    if not isinstance(cited, list) or not all(isinstance(d, str) and d for d in cited):
        raise fail("cited_docs", f"must be a list of non-empty strings, got {cited!r}")
    return {"evidence_spans": parsed, "cited_docs": tuple(cited)}


def parse_suite(text: str, name: str = "<suite>") -> list[Case]:
    """Parse suite text (JSONL, one case per line; blank lines are skipped)."""
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{where}: field 'json': invalid JSON ({exc.msg})") from None
        case = parse_case(record, where)
        if case.id in first_line:
            raise SuiteError(f"{where}: field 'id': duplicate id {case.id!r} "
                             f"(first on line {first_line[case.id]})")
        first_line[case.id] = number
        cases.append(case)
    if not cases:
        raise SuiteError(f"{name}:1: field 'id': the suite holds no cases")
    return cases


def load_suite(path: Path) -> list[Case]:
    """Read and validate a suite file."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}:1: field 'file': no such suite file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}:1: field 'encoding': not UTF-8 ({exc.reason})") from None
    return parse_suite(text, str(path))


def check_gold_docs(cases: list[Case], known: set[str] | frozenset[str], name: str) -> None:
    """Refuse gold document ids that the index does not hold (a typo would zero the recall)."""
    missing = [(case.id, doc) for case in cases for doc in case.docs if doc not in known]
    if missing:
        shown = ", ".join(f"{case_id}: {doc}" for case_id, doc in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise SuiteError(f"{name}: field 'docs': not in the index: {shown}{more}")


def check_evidence_spans(cases: list[Case], documents: Mapping[str, str], name: str) -> None:
    """Refuse evidence spans and cited documents that the index's documents do not hold."""
    problems = []
    for case in cases:
        for span in case.evidence_spans or ():
            text = documents.get(span.doc_id)
            if text is None:
                problems.append(f"{case.id}: {span.doc_id} is not in the index")
            elif span.end > len(text):
                problems.append(f"{case.id}: {span.doc_id}[{span.start}:{span.end}] is past the "
                                f"end of its text ({len(text)} characters)")
        problems += [f"{case.id}: cited {doc} is not in the index"
                     for doc in case.cited_docs if doc not in documents]
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise SuiteError(f"{name}: field 'evidence_spans': {'; '.join(problems[:5])}{more}")
