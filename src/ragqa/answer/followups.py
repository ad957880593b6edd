"""Follow-up questions: what else the corpus answers on the subject of an answer, each checked.

Answer -> list[str]. Candidates pair the question's subject (a drug the regimen table names, else
the question's rarest subject word that the index uses as a noun, alone or in a two-word phrase:
"coeliac disease") with the generic clinical aspects (`data/followups.json`) the answer did not
cover, in a wording that fits the subject ("How quickly does X work?" only of a drug). Each
candidate is run through the public `AnswerEngine.ask` and kept only when it does not abstain, so
every follow-up offered answers.
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

from ragqa.answer.analysis import is_everyday
from ragqa.answer.aspects import AspectBook
from ragqa.answer.contract import Answer
from ragqa.answer.engine import AnswerEngine
from ragqa.answer.regimen import RegimenTable
from ragqa.answer.scoring import content_terms
from ragqa.index.tokenize import tokenize

_WORD = re.compile(r"(?<![\w-])[A-Za-z][\w-]{2,}")  # a word, not the end of "24-hour"
# what follows a noun (punctuation, a verb, a preposition or a conjunction) rather than an
# adjective ("coeliac disease") or a verb ("need to")
_AFTER_NOUN = r"(?:\s*[,.;:)]|\s+(?:is|are|was|were|has|have|had|should|may|can|might|could|will|in|of|" \
              r"and|or|with|for|on|that|which|who|than|versus|vs)\b)"


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return json.loads(resources.files("ragqa.answer").joinpath("data/followups.json").read_text())


# the words after which a question's word is its verb ("who needs it", "to keep")
_BEFORE_VERB = frozenset(("i", "you", "he", "she", "it", "we", "they", "who", "that", "to", "will", "would",
                          "can", "could", "should", "may", "might", "must", "do", "does", "did", "not"))


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
        self.templates = [(t["aspect"], t["question"], t["subjects"]) for t in data["questions"]]
        unknown = {kind for _, _, kind in self.templates} - {"drug", "other", "any"}
        if unknown:
            raise ValueError(f"followups.json: unknown 'subjects' {sorted(unknown)}: use drug, other or any")
        self.noun_share = float(data["noun_share"])
        self.frame_words = frozenset(data["frame_words"])
        self.aspects = {a.id: a for a in (aspects or AspectBook.default()).aspects}
        self.table = table or RegimenTable.default()
        self.not_subjects = frozenset(data["not_subjects"])
        self._answers: dict[str, bool] = {}  # candidate -> answered without abstaining
        self._pairs: dict[str, bool] = {}  # two-word phrase -> some sentence of the index holds it
        self._nouns: dict[str, bool] = {}  # word -> the index uses it as a noun
        self._text: str | None = None  # the index's sentences, lower-cased, one per line
        self._topic_words: frozenset[str] | None = None

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
            for aspect_id, wording, fits in self.templates:
                if len(chosen) == limit or tried == self.tried:
                    break
                if fits != "any" and (fits == "drug") != is_drug:
                    continue
                if aspect_id == "overview" and AspectBook.default().is_broad(answer.question):
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
        it names, else its subject phrase (see `_phrase`); then the drugs its answer (or, for an
        abstention, the nearest passages) names most. An abstention's own subject phrase is kept:
        a question on a drug the corpus does not cover ("zuranolone for postpartum depression")
        is offered what the corpus says on the rest of it, when that answers."""
        found: list[tuple[str, bool]] = [(name, True) for name in self._named(answer.question)]
        if not found:
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
        """The question's rarest subject word in the index that names a topic (see `_topical`),
        or the phrase it makes with the word before or after it when the index holds the phrase
        and the phrase names a topic ("light therapy", "coeliac disease"). None when no word
        qualifies: "How effective is Once?" is worse than no follow-up."""
        df = self.engine.index.sentence_df
        cues = AspectBook.default().cue_words(question)
        # a source the question names ("the CANMAT guideline") is where to look, not a subject
        # (an engine without a question analyzer, as the naive baseline, names none)
        analyzer = getattr(self.engine, "analyzer", None)
        named = analyzer.named_sources(question) if analyzer is not None else []
        cues |= {w.lower() for name, _ in named for w in _WORD.findall(name)}
        words = _WORD.findall(question)

        def usable(word: str) -> int:
            """The word's sentence count in the index, 0 when it cannot be a subject."""
            low = word.lower()
            tokens = tokenize(word)
            if low in self.frame_words or low in cues or not tokens or not content_terms(word):
                return 0
            count = df.get(tokens[0], 0)
            return count if count >= 3 else 0

        counts = [usable(w) for w in words]
        for i in sorted((i for i, c in enumerate(counts) if c), key=lambda i: (counts[i], i)):
            # a verb is not a subject: a word after a pronoun, "to" or an auxiliary ("who needs
            # it") or a past participle ("reviewed")
            if i and words[i - 1].lower() in _BEFORE_VERB or words[i].lower().endswith("ed"):
                continue
            # with the word before or after, when the index holds the phrase ("light therapy",
            # "blood pressure"); the other word may frame a question alone and still complete it
            for pair in (words[i:i + 2], words[i - 1:i + 1] if i else []):
                if len(pair) == 2 and content_terms(pair[0]) and content_terms(pair[1]) \
                        and self._pair_known(pair[0].lower(), pair[1].lower()) and self._topical(pair):
                    return " ".join(pair)
            if self._topical([words[i]]):
                return words[i]
        return None

    def _topical(self, phrase: list[str]) -> bool:
        """Whether a phrase names a topic: its last word is a noun (by the index's use) and either
        one of its words is not everyday English or its last word ends a heading or a title of the
        index ("exercise", "light therapy"; not "needs" or "per day")."""
        last = phrase[-1]
        return self._noun(last) and (any(not is_everyday(w.lower()) for w in phrase)
                                     or tokenize(last)[0] in self._topics())

    def _noun(self, word: str) -> bool:
        """Whether the index uses the word as a noun: in at least `noun_share` of its uses it is
        followed by punctuation, a verb, a preposition or a conjunction (remembered per word)."""
        low = word.lower()
        known = self._nouns.get(low)
        if known is None:
            # the word first (a pattern opening with a literal is searched for fast), then that it
            # starts a word: "\bword\b" read a large corpus (SciFact's) 15 times slower
            at, text = re.escape(low), self._corpus_text()
            whole = rf"{at}(?<!\w{at})\b"
            uses = len(re.findall(whole, text))
            ends = len(re.findall(rf"{whole}{_AFTER_NOUN}", text))
            known = self._nouns[low] = uses > 0 and ends >= self.noun_share * uses
        return known

    def _pair_known(self, first: str, second: str) -> bool:
        key = f"{first} {second}"
        known = self._pairs.get(key)
        if known is None:
            known = self._pairs[key] = key in self._corpus_text()
        return known

    def _topics(self) -> frozenset[str]:
        """The last words of the index's section headings and document titles, where English puts
        the noun a heading is about (made once)."""
        if self._topic_words is None:
            index = self.engine.index
            texts = [part for c in index.chunks for part in c.section]
            texts += [d.title for d in index.documents.values()]
            self._topic_words = frozenset(tokens[-1] for text in dict.fromkeys(texts)
                                          if (tokens := tokenize(text)))
        return self._topic_words

    def _corpus_text(self) -> str:
        """The index's sentences, lower-cased, one per line (made once)."""
        if self._text is None:
            self._text = "\n".join(s.text.lower() for s in self.engine.index.sentences)
        return self._text

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
