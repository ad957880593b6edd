"""Dose regimens: extract dose mentions from text and classify them with a per-drug table (data)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

_NUMBER = r"\d+(?:\.\d+)?"
_UNIT = (
    r"mg/kg(?:/h(?:r|our)?\b|\s+per\s+hour)?|mcg/kg|µg/kg|micrograms?\b|mcg\b|µg\b|milligrams?\b|mg\b"
)
# a dose: numbers joined by range or list words, then a unit ("0.2-0.25 mg/kg", "56 or 84 mg")
_DOSE = re.compile(
    rf"(?<![\w.])(?P<values>{_NUMBER}(?:\s*(?:-|–|to|,|or|and|, and|, or)\s*{_NUMBER})*)\s*(?P<unit>{_UNIT})",
    re.IGNORECASE,
)
_RANGE_WORDS = re.compile(r"-|–|\bto\b")
_ROUTES = {
    "IV": r"\bIV\b|intravenous(?:ly)?|\binfus(?:ed|ion|ions)\b",
    "IM": r"\bIM\b|intramuscular(?:ly)?",
    "intranasal": r"intranasal(?:ly)?|nasal spray|\bnasal\b",
    "oral": r"\boral(?:ly)?\b|by mouth|\btablets?\b|lozenges?|troches?",
    "sublingual": r"sublingual(?:ly)?",
    "subcutaneous": r"subcutaneous(?:ly)?|\bSC\b",
}
_DURATION = re.compile(
    r"\bover\s+(?:about\s+)?\d+(?:\.\d+)?(?:\s*(?:-|–|to)\s*\d+(?:\.\d+)?)?\s*(?:minutes?|min\b|seconds?|hours?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DoseMention:
    """One dose found in a text: its surface form, values, unit, drug, route and duration."""

    text: str
    start: int
    end: int
    low: float
    high: float
    unit: str
    drug: str | None
    route: str | None
    duration: str | None

    def describe(self) -> str:
        """The dose as shown to readers: surface text, then route and duration when known."""
        parts = [self.text]
        if self.route and self.route.lower() not in self.text.lower():
            parts.append(self.route)
        if self.duration:
            parts.append(self.duration)
        return " ".join(parts)


@dataclass(frozen=True)
class Regimen:
    """A named dose regimen of one drug."""

    id: str
    label: str
    drug: str
    group: str
    unit: str | None
    low: float | None
    high: float | None
    routes: tuple[str | None, ...]
    terms: tuple[re.Pattern[str], ...]

    def fits(self, dose: DoseMention) -> bool:
        """Whether a dose mention of this regimen's drug falls in its unit, routes and band."""
        if self.unit is None or dose.drug != self.drug or dose.unit != self.unit:
            return False
        if self.routes and dose.route not in self.routes:
            return False
        value = dose.high
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value < self.high


@dataclass(frozen=True)
class RegimenHit:
    """A regimen found in a text, by a dose or by a naming term, with negation noted."""

    regimen: Regimen
    dose: DoseMention | None
    negated: bool


class RegimenTable:
    """The per-drug regimen table loaded from `answer/data/regimens.json`.

    >>> table = RegimenTable.default()
    >>> [h.regimen.id for h in table.find("Ketamine 0.5 mg/kg IV over 40 minutes.")]
    ['ketamine-standard-subanesthetic']
    """

    def __init__(self, data: dict[str, Any]) -> None:
        # what the table was read from: facts derived with another table are not reused
        self.source_hash = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        self.regimens: list[Regimen] = []
        self.drug_names: dict[str, re.Pattern[str]] = {}
        for drug, spec in data["drugs"].items():
            self.drug_names[drug] = _alternation(spec["names"])
            for r in spec["regimens"]:
                self.regimens.append(Regimen(
                    r["id"], r["label"], drug, r["group"], _norm_unit(r["unit"]) if r["unit"] else None,
                    r["min"], r["max"], tuple(r["routes"]),
                    tuple(re.compile(t, re.IGNORECASE) for t in r["terms"]),
                ))
        for name in data["comparators"]:
            self.drug_names[name.lower()] = _alternation([name])
        micro = data["microdose"]
        self.microdose = Regimen(micro["id"], micro["label"], "*", micro["group"], None, None, None,
                                 (), tuple(re.compile(rf"\b(?:{t})", re.IGNORECASE) for t in micro["terms"]))
        self._micro_size = _alternation(micro["size"])
        self._micro_dose = _alternation(micro["dose"])
        self._micro_window = int(micro["window"])
        self.negation = re.compile("|".join(data["negations"]), re.IGNORECASE)
        self.study = re.compile(r"\b(?:" + "|".join(data["study_words"]) + r")\b", re.IGNORECASE)
        self.by_id = {r.id: r for r in self.regimens} | {self.microdose.id: self.microdose}
        # every drug's names in one pattern, a named group per drug, for one pass over a text
        self._drug_groups = list(self.drug_names)
        self._any_drug = re.compile("|".join(
            f"(?P<d{i}>{'(?i:' if p.flags & re.IGNORECASE else '(?:'}{p.pattern}))"
            for i, p in enumerate(self.drug_names.values())))

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> RegimenTable:
        """The table shipped with ragqa."""
        text = resources.files("ragqa.answer").joinpath("data/regimens.json").read_text()
        return cls(json.loads(text))

    def drugs_in(self, text: str) -> list[tuple[int, str]]:
        """(position, drug) of every drug name in the text, in order."""
        groups = self._drug_groups
        return [(m.start(), groups[int(m.lastgroup[1:])]) for m in self._any_drug.finditer(text)]

    def doses(self, text: str) -> list[DoseMention]:
        """Every dose mention in the text, attributed to a drug, a route and a duration."""
        drugs = self.drugs_in(text)
        routes = [(m.start(), name) for name, pat in _ROUTE_PATTERNS.items() for m in pat.finditer(text)]
        mentions = []
        for match in _DOSE.finditer(text):
            unit = _norm_unit(match.group("unit"))
            raw_values = match.group("values")
            values = [float(v) for v in re.findall(_NUMBER, raw_values)]
            drug = _nearest(drugs, match.start(), match.end())
            route = _nearest(routes, match.start(), match.end(), window=60)
            duration = None
            after = _DURATION.search(text, match.end(), min(len(text), match.end() + 40))
            if after:
                duration = after.group(0)
            is_range = bool(_RANGE_WORDS.search(raw_values)) and len(values) == 2
            groups = [values] if is_range else [[v] for v in values]
            for group in groups:
                mentions.append(DoseMention(
                    match.group(0) if (is_range or len(values) == 1) else f"{_fmt(group[0])} {match.group('unit')}",
                    match.start(), match.end(), min(group), max(group), unit, drug, route, duration,
                ))
        return mentions

    def find(self, text: str, default_drug: str | None = None) -> list[RegimenHit]:
        """The regimens a text mentions, by dose or by naming term (`default_drug` for bare terms)."""
        negated = bool(self.negation.search(text))
        hits: list[RegimenHit] = []
        seen: set[str] = set()
        for dose in self.doses(text):
            for regimen in self.regimens:
                if regimen.fits(dose):
                    hits.append(RegimenHit(regimen, dose, negated))
                    seen.add(regimen.id)
                    break
        named = {drug for _, drug in self.drugs_in(text)}
        if default_drug:
            named.add(default_drug)
        for regimen in self.regimens:
            if regimen.id in seen or regimen.drug not in named:
                continue
            if any(t.search(text) for t in regimen.terms):
                hits.append(RegimenHit(regimen, None, negated))
                seen.add(regimen.id)
        if self.speaks_of_microdosing(text):
            hits.append(RegimenHit(self.microdose, None, negated))
        return hits

    def naming_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the words that name a regimen: doses, microdosing terms, size words."""
        patterns = [*self.microdose.terms, self._micro_size,
                    *(t for r in self.regimens for t in r.terms)]
        spans = [m.span() for p in patterns for m in p.finditer(text)]
        return spans + [(d.start, d.end) for d in self.doses(text)]

    def speaks_of_microdosing(self, text: str) -> bool:
        """Whether a text names microdosing: a naming term, or a size word near a dose word."""
        if any(t.search(text) for t in self.microdose.terms):
            return True
        sizes = [_word_index(text, m.start()) for m in self._micro_size.finditer(text)]
        if not sizes:
            return False
        doses = [_word_index(text, m.start()) for m in self._micro_dose.finditer(text)]
        return any(abs(a - b) <= self._micro_window for a in sizes for b in doses)


def _norm_unit(unit: str) -> str:
    unit = unit.lower().replace("µ", "mc")
    if unit.startswith("mg/kg") and ("h" in unit[5:]):
        return "mg/kg/h"
    if unit in ("mcg", "microgram", "micrograms"):
        return "microgram"
    if unit.startswith("milligram"):
        return "mg"
    return unit


def _alternation(names: list[str]) -> re.Pattern[str]:
    flags = 0 if any(n.isupper() for n in names) else re.IGNORECASE
    return re.compile(r"\b(?:" + "|".join(names) + r")\b", flags)


def _word_index(text: str, position: int) -> int:
    """How many words of the text come before a character position."""
    return len(_WORDS.findall(text, 0, position))


_WORDS = re.compile(r"\w+")


def _nearest(found: list[tuple[int, str]], start: int, end: int, window: int | None = None) -> str | None:
    """The item named closest before the span, else closest after it (within `window` chars)."""
    before = [(start - pos, name) for pos, name in found if pos < start]
    after = [(pos - end, name) for pos, name in found if pos >= end]
    for distance, name in sorted(before)[:1] + sorted(after)[:1]:
        if window is None or distance <= window:
            return name
    return None


def _fmt(value: float) -> str:
    return f"{value:g}"


_ROUTE_PATTERNS = {name: re.compile(p, re.IGNORECASE) for name, p in _ROUTES.items()}
