"""Framing sentences: a study's aim, design or background, which restate a question, not a finding.

The cues are data (`answer/data/framing.json`): the framing headings of structured abstracts and
the wordings of a stated aim. Selection demotes such a sentence; it is never evidence for or
against a statement or an answer to a question, however close its words are.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def framing_pattern() -> re.Pattern[str]:
    """The compiled cues of `answer/data/framing.json` (headings and aim phrases)."""
    data = json.loads(resources.files("ragqa.answer").joinpath("data/framing.json").read_text())
    labels = "|".join(re.escape(label) for label in sorted(data["labels"], key=len, reverse=True))
    # a heading in capitals opens the sentence, possibly joined to others ("DESIGN, SETTING, AND
    # PARTICIPANTS"), then the sentence itself
    heading = rf"^(?:{labels})(?:(?:,|,? AND)\s+[A-Z]{{2,}}(?:\s+[A-Z]{{2,}})*?)*\s+(?=\S)"
    phrases = "|".join(f"(?i:{p})" for p in data["phrases"])
    return re.compile(f"{heading}|{phrases}")


def is_framing(text: str) -> bool:
    """Whether a sentence states a study's aim, design or background rather than a finding."""
    return bool(framing_pattern().search(text.strip()))


@lru_cache(maxsize=2)
def cue_pattern(kind: str) -> re.Pattern[str]:
    """The compiled cues of one kind of `answer/data/framing.json` ("design": who was assigned to
    what; "agenda": what future research should do), case-insensitive."""
    data = json.loads(resources.files("ragqa.answer").joinpath("data/framing.json").read_text())
    return re.compile("|".join(f"(?:{p})" for p in data[kind]), re.IGNORECASE)


def is_design(text: str) -> bool:
    """Whether a sentence states a trial's assignment (an answer to what was given, nothing else)."""
    return bool(cue_pattern("design").search(text))


def is_agenda(text: str) -> bool:
    """Whether a sentence states what future research should do (an answer to the evidence's
    limits and gaps, nothing else)."""
    return bool(cue_pattern("agenda").search(text))
