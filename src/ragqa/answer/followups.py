"""Follow-up questions: what else the corpus answers on the subject of an answer, each checked.

Answer -> list[str]. Candidates pair the question's subject (from the index: a drug the regimen
table names, else the question's rarest word the index holds) with the generic clinical aspects
(`data/followups.json`) the answer did not cover. Each candidate is run through the public
`AnswerEngine.ask` and kept only when it does not abstain, so every follow-up offered answers.
For an abstention the same candidates, on the subject of the nearest passages, are the questions
the corpus can answer nearby.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from ragqa.answer.aspects import AspectBook
from ragqa.answer.contract import Answer
from ragqa.answer.engine import AnswerEngine
from ragqa.answer.regimen import RegimenTable
from ragqa.index.tokenize import tokenize

_WORD = re.compile(r"[A-Za-z][\w-]{2,}")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads(resources.files("ragqa.answer").joinpath("data/followups.json").read_text())


@dataclass(frozen=True)
class Candidate:
    """A follow-up wording and the aspect it asks about."""

    aspect: str
    question: str


def same_question(a: str, b: str) -> bool:
    """Two questions are the same when their words are (case, punctuation and plurals aside)."""
    return tokenize(a) == tokenize(b)


class FollowUps:
    """Suggests follow-up questions that the engine answers without abstaining.

    >>> followups = FollowUps(engine)
    >>> followups.attach(engine.ask("What dose of ketamine is used for depression?")).followups
    ['What are the side effects of ketamine?', 'How quickly does ketamine work?', ...]
    """

    def __init__(self, engine: AnswerEngine, offered: int | None = None, tried: int | None = None,
                 aspects: AspectBook | None = None, table: RegimenTable | None = None) -> None:
        data = _data()
        self.engine = engine
        self.offered = offered if offered is not None else int(data["offered"])
        self.tried = tried if tried is not None else int(data["tried"])
        if not 0 <= self.offered <= 4:
            raise ValueError(f"offered must be between 0 and 4, got {self.offered}")
        self.nearby = min(int(data["nearby"]), self.offered or int(data["nearby"]))
        self.covered_at = int(data["covered_at"])
        self.templates = [(t["aspect"], t["question"], bool(t.get("drug_only")))
                          for t in data["questions"]]
        self.frame_words = frozenset(data["frame_words"])
        self.aspects = {a.id: a for a in (aspects or AspectBook.default()).aspects}
        self.table = table or RegimenTable.default()
        self.not_subjects = frozenset(data["not_subjects"])
        self._answers: dict[str, bool] = {}  # candidate -> answered without abstaining
        self._pairs: dict[str, bool] = {}  # two-word phrase -> some sentence of the index holds it

    def attach(self, answer: Answer) -> Answer:
        """The answer with its follow-ups filled in."""
        answer.followups = self.suggest(answer)
        return answer

    def suggest(self, answer: Answer) -> list[str]:
        """Two to four checked follow-up questions (up to three nearby ones for an abstention)."""
        if self.offered == 0:
            return []
        subjects = self.subjects(answer)
        if not subjects:  # nothing to go on: what the nearest documents answer best
            if not answer.abstained:
                return []
            near = {p.doc_id for p in answer.abstention.closest} if answer.abstention else set()
            return self.examples(self.nearby, near)
        limit = self.nearby if answer.abstained else self.offered
        texts = [s.text for s in answer.statements()]
        chosen: list[str] = []
        for subject, is_drug in subjects:
            tried = 0
            for aspect_id, wording, drug_only in self.templates:
                if len(chosen) == limit or tried == self.tried:
                    break
                if drug_only and not is_drug:
                    continue
                aspect = self.aspects.get(aspect_id)
                if aspect is not None and not answer.abstained:
                    if aspect.asked_by(answer.question):
                        continue
                    if sum(aspect.spoken_by(t) for t in texts) >= self.covered_at:
                        continue
                question = wording.format(subject=subject)
                if same_question(question, answer.question) or question in chosen:
                    continue
                tried += 1
                if self.answers(question):
                    chosen.append(question)
            if len(chosen) >= min(2, limit):
                break
        return chosen

    def answers(self, question: str) -> bool:
        """Whether the engine answers the question without abstaining (remembered per question)."""
        known = self._answers.get(question)
        if known is None:
            known = not self.engine.ask(question).abstained
            self._answers[question] = known
        return known

    def subjects(self, answer: Answer) -> list[tuple[str, bool]]:
        """What the question is about, as it spells it, each with whether it is a drug: the drugs
        it names, else its first subject phrase the index holds; then the drugs its answer (or,
        for an abstention, the nearest passages) names most."""
        found: list[tuple[str, bool]] = [(name, True) for name in self._named(answer.question)]
        if not found and not answer.abstained:
            phrase = self._phrase(answer.question)
            if phrase:
                found.append((phrase, False))
        if answer.abstained:
            texts = [p.text for p in answer.abstention.closest] if answer.abstention else []
        else:
            texts = [s.text for s in answer.statements()]
        counts = Counter(name.lower() for text in texts for name in self._named(text))
        for name, _ in counts.most_common(2):
            if all(name != f.lower() for f, _ in found):
                found.append((name, True))
        return found[:3]

    def _phrase(self, question: str) -> str | None:
        """The question's first word that names a subject the index holds (with the next word
        when the index holds the pair: "light therapy")."""
        df = self.engine.index.sentence_df
        cues = AspectBook.default().cue_words(question)
        words = _WORD.findall(question)
        for i, word in enumerate(words):
            low = word.lower()
            tokens = tokenize(word)
            if low in self.frame_words or low in cues or not tokens or df.get(tokens[0], 0) < 3:
                continue
            if i + 1 < len(words) and self._pair_known(low, words[i + 1].lower()):
                return f"{word} {words[i + 1]}"
            return word
        return None

    def _pair_known(self, first: str, second: str) -> bool:
        key = f"{first} {second}"
        known = self._pairs.get(key)
        if known is None:
            known = any(key in s.text.lower() for s in self.engine.index.sentences)
            self._pairs[key] = known
        return known

    def _named(self, text: str) -> list[str]:
        """The drugs a text names, spelled as the text spells them, comparators aside."""
        out = []
        for position, drug in self.table.drugs_in(text):
            if drug in self.not_subjects:
                continue
            match = self.table.drug_names[drug].match(text, position)
            out.append(match.group(0) if match else drug)
        return out

    def examples(self, count: int = 4, doc_ids: set[str] | None = None) -> list[str]:
        """Example questions drawn from the corpus (or from the documents `doc_ids`, when given:
        none when their titles name no drug, rather than questions on another subject): its most
        named drugs, one aspect each, checked."""
        index = self.engine.index
        named = Counter(drug for doc in index.documents.values() if doc_ids is None or doc.id in doc_ids
                        for drug in {d for _, d in self.table.drugs_in(doc.title)}
                        if drug not in self.not_subjects)
        out: list[str] = []
        templates = self.templates
        for i, (drug, _) in enumerate(named.most_common(count * 2)):
            for j in range(len(templates)):
                question = templates[(i + j) % len(templates)][1].format(subject=drug)
                if self.answers(question):
                    out.append(question)
                    break
            if len(out) == count:
                break
        return out
