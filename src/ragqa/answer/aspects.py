"""Clinical aspects: what a question asks about (a dose, a harm, a time...) and which sentences speak to it.

The aspects are data (`answer/data/aspects.json`), generic to clinical questions, not to one drug.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Aspect:
    """One clinical aspect: the question wordings that ask it and the sentence wordings that answer it."""

    id: str
    heading: str
    asks: tuple[re.Pattern[str], ...]
    speaks: tuple[re.Pattern[str], ...]
    # forms a sentence in this form does not also answer in ("largest at 40 minutes" states a peak,
    # not how soon an effect begins)
    instead_of: tuple[str, ...] = ()
    # `asks` with each any-character gap as a group (see _gapped), for reading a cue's own words
    gapped: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gapped", tuple(_gapped(p) for p in self.asks))

    def asked_by(self, question: str) -> bool:
        """Whether the question asks about this aspect."""
        return any(p.search(question) for p in self.asks)

    def cues(self, question: str) -> list[tuple[int, int]]:
        """The spans of the question that ask about this aspect."""
        return [m.span() for p in self.asks for m in p.finditer(question) if m.end() > m.start()]

    def spoken_by(self, text: str) -> bool:
        """Whether a sentence speaks to this aspect."""
        return any(p.search(text) for p in self.speaks)


@dataclass(frozen=True)
class Reading:
    """What a question's wording asks: its aspects and answer forms, and its aspect cue words."""

    aspects: tuple[Aspect, ...]
    forms: tuple[Aspect, ...]
    cue_words: frozenset[str]


@dataclass(frozen=True)
class AspectBook:
    """The aspects in display order, the answer forms, the overview cues and the question-frame words."""

    aspects: tuple[Aspect, ...]
    broad: tuple[re.Pattern[str], ...]
    passing_words: frozenset[str]
    forms: tuple[Aspect, ...] = ()
    population_phrases: tuple[re.Pattern[str], ...] = ()
    not_asking: tuple[re.Pattern[str], ...] = ()
    excluding: tuple[re.Pattern[str], ...] = ()
    subgroup_openings: tuple[re.Pattern[str], ...] = ()
    source_phrases: tuple[re.Pattern[str], ...] = ()

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> AspectBook:
        """The aspects shipped in `answer/data/aspects.json`."""
        data = json.loads(resources.files("ragqa.answer").joinpath("data/aspects.json").read_text())
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: dict) -> AspectBook:
        """Build from the JSON form (see the file's _comment for the fields)."""
        def compile_all(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
            return tuple(re.compile(p, re.IGNORECASE) for p in patterns)

        aspects = tuple(Aspect(a["id"], a["heading"], compile_all(a["asks"]), compile_all(a["speaks"]))
                        for a in data["aspects"])
        # an answer form is read like an aspect: the question asks it, a sentence answers in it
        forms = tuple(Aspect(f["id"], f["id"], compile_all(f["asks"]), compile_all(f["answers"]),
                             tuple(f.get("instead_of", ())))
                      for f in data.get("forms", ()))
        return cls(aspects, compile_all(data["broad"]), frozenset(data["passing_words"]), forms,
                   compile_all(data.get("population_phrases", ())), compile_all(data.get("not_asking", ())),
                   compile_all(data.get("excluding", ())), compile_all(data.get("subgroup_openings", ())),
                   # zero-width, so that a word before the name ("In the ...") does not hide it
                   tuple(re.compile(f"(?={p})") for p in data.get("source_phrases", ())))

    def asked(self, question: str) -> tuple[Aspect, ...]:
        """The aspects a question asks about, in data order.

        The last aspect of the data (efficacy) is the general one: "does it work" is read into many
        questions, so it counts only when no more specific aspect is asked. An aspect whose every
        cue lies inside a longer cue of another is that one's wording, not a second thing asked
        ("how long do I have to stay" asks how long to be observed, not how long an effect lasts).
        """
        return self.read(question).aspects

    def forms_asked(self, question: str) -> tuple[Aspect, ...]:
        """The forms a direct answer to the question takes ("how soon" asks a time to effect,
        "what share" a proportion); none for a question that asks no particular form. As with
        aspects, a form whose every cue lies inside a longer cue of another is that one's wording
        ("at what point ... was the difference largest" asks for the peak, not the onset)."""
        return self.read(question).forms

    def read(self, question: str) -> Reading:
        """The aspects and forms a question asks and its cue words, read in one pass (see
        `asked`, `forms_asked` and `cue_words`)."""
        blanked = self._blank_time_points(question)
        cued = [a for a in self.aspects if a.asked_by(question)]
        # blanking only removes cues: only the aspects cued in the question itself can remain
        hits = cued if blanked == question else [a for a in cued if a.asked_by(blanked)]
        asked = _not_inside(hits, blanked)
        general = self.aspects[-1]
        if len(asked) > 1 and general in asked:
            asked = tuple(a for a in asked if a is not general)
        forms = _not_inside([f for f in self.forms if f.asked_by(blanked)], blanked)
        return Reading(asked, forms, frozenset(self._cue_words(question, cued)))

    def is_broad(self, question: str) -> bool:
        """Whether the question asks for an overview rather than one aspect.

        A question that selects ("which patients", "what conditions") asks for the few that answer
        it, whatever class of disorders it names.
        """
        if _SELECTING.match(question):
            return False
        return any(p.search(question) for p in self.broad)

    def _blank_time_points(self, question: str) -> str:
        """The question with each dose or session named only as a point in time blanked out."""
        return _blanked(question, self.not_asking)

    def without_populations(self, text: str) -> str:
        """The text with each phrase that says who was studied blanked out (same length): "adults
        with alcohol dependence" names the participants' condition, not what a drug does."""
        return _blanked(text, self.population_phrases)

    def set_aside(self, question: str) -> list[tuple[str, tuple[int, int]]]:
        """The phrases a question sets aside ("depression" in "Besides depression, what ..."), each
        with the span of its whole wording."""
        return [(m.group(1), m.span()) for p in self.excluding for m in p.finditer(question)]

    def named_sources(self, question: str) -> list[tuple[str, tuple[int, int]]]:
        """The names a question gives a source by ("CANMAT" in "What does the CANMAT guideline say
        ..."), each with its span; case-sensitive, as a name is written."""
        return [(m.group(1), m.span(1)) for p in self.source_phrases for m in p.finditer(question)]

    def subgroup(self, sentence: str) -> str | None:
        """The subgroup a sentence's opening restricts it to ("risk factors for recurrence" in "For
        patients with risk factors for recurrence, ..."), if any."""
        for pattern in self.subgroup_openings:
            if m := pattern.search(sentence):
                return m.group(1)
        return None

    def forms_of(self, sentence: str) -> frozenset[str]:
        """The ids of the forms a sentence states an answer in."""
        spoken = [f for f in self.forms if f.spoken_by(sentence)]
        overridden = {g for f in spoken for g in f.instead_of}
        return frozenset(f.id for f in spoken if f.id not in overridden)

    def cue_words(self, question: str) -> set[str]:
        """Lower-cased words of the question that belong to an aspect cue ("dose", "addictive");
        the words a cue only spans ("light therapy" in "how is light therapy given") are not."""
        return self._cue_words(question, [a for a in self.aspects if a.asked_by(question)])

    @staticmethod
    def _cue_words(question: str, cued: list[Aspect]) -> set[str]:
        """cue_words, read from the aspects whose cues occur in the question."""
        words: set[str] = set()
        for aspect in cued:
            for pattern in aspect.gapped:
                for match in pattern.finditer(question):
                    text = _whole_words(question, match)
                    for gap in range(1, (match.lastindex or 0) + 1):
                        start, end = match.span(gap)
                        if start >= 0:  # a gap as wide as its words, so the cue's own words stay apart
                            text = text.replace(question[start:end], " " * (end - start), 1)
                    words.update(w.lower() for w in re.findall(r"[\w-]+", text))
        return words


# "which patients ...", "Besides depression, what conditions ...": a wh-word followed by a noun,
# not by a verb ("what does the evidence say" is not selecting)
_SELECTING = re.compile(
    r"^\s*(?:[\w-]+,?\s+){0,3}?(?:in |for |among |with )?(?:which|what)\s+"
    r"(?!(?:does|do|did|is|are|was|were|can|could|should|would|will|has|have|had|about)\b)[a-z]",
    re.IGNORECASE)


def _gapped(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The pattern with each any-character gap ('.{0,50}') as a group of its own, and no other
    group: the words a cue spans but does not name."""
    plain = re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern.pattern)
    return re.compile(re.sub(r"\.\{0,(\d+)\}", r"(.{0,\1})", plain), pattern.flags)


def _not_inside(asked: list[Aspect], question: str) -> tuple[Aspect, ...]:
    """The aspects (or forms) the question asks, less those each of whose cues lies inside a longer
    cue of another."""
    if len(asked) < 2:
        return tuple(asked)
    cues = {a.id: a.cues(question) for a in asked}
    return tuple(a for a in asked if not all(
        any(o is not a and _within(span, other) for o in asked for other in cues[o.id])
        for span in cues[a.id]))


def _within(span: tuple[int, int], other: tuple[int, int]) -> bool:
    """Whether a span lies inside a longer one."""
    return other[0] <= span[0] and span[1] <= other[1] and other[1] - other[0] > span[1] - span[0]


def _blanked(text: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    """The text with every match of the patterns replaced by as many spaces (offsets are kept)."""
    for pattern in patterns:
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def _whole_words(text: str, match: re.Match[str]) -> str:
    """The matched text widened to whole words ('addict' in 'addictive' -> 'addictive')."""
    start, end = match.start(), match.end()
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "-"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "-"):
        end += 1
    return text[start:end]
