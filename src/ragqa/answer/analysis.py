"""Question analysis: what a question asks (subject, aspects, regimen, breadth), from its words alone.

question text + its vector -> QuestionAnalysis, the value every later answer stage reads.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ragqa.answer.aspects import Aspect, AspectBook
from ragqa.answer.regimen import Regimen, RegimenTable
from ragqa.answer.scoring import content_terms
from ragqa.errors import InvalidQueryError
from ragqa.index.tokenize import tokenize

MAX_QUESTION_CHARS = 2000

# Terms of at least this length share a family with the corpus tokens of the same first letters
# ("addictive" ~ "addiction"), a crude stemmer for rarity and coverage.
FAMILY_PREFIX = 6
# ... and a longer term keeps all but this many of its last letters ("addictive" ~ "addicti...",
# "electroshock" ~ "electros...", not "electroconvulsive"; "pharmacogenetic" ~ "pharmacogenomic")
FAMILY_SUFFIX = 4
# An everyday English word counts this much of its rarity toward a sentence's relevance: the
# dense side understands it in other words ("thoughts" ~ "ideation"), a name it cannot.
EVERYDAY_WEIGHT = 0.25
# Words at least this frequent in general English (Zipf scale of the wordfreq package: 3.0 is
# one per million words; "caffeine" 3.7, "vitamin" 4.0, "guideline" 3.3, while "metformin",
# "sertraline" and "ketamine" fall below) are everyday words; rarer ones name something specific
# that the evidence must cover.
EVERYDAY_ZIPF = 3.0
# a name that more documents hold ("ketamine") names a subject, not a source
MAX_NAMED_SOURCES = 3


@dataclass(frozen=True)
class SubjectTerm:
    """A word of the question's subject with its rarity weight and corpus sentence count."""

    term: str
    weight: float
    sentences: int
    specific: bool
    # the clinical words of the everyday wording the term is part of ("response" for "better" in
    # "feel better", lay_terms.json): a sentence holding one of them holds the term
    clinical: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AskedRegimen:
    """The dose regimen a question asks about, and the drug it asks it of."""

    regimen: Regimen
    drug: str | None

    @property
    def label(self) -> str:
        """How the answer names what was asked ("microdosing of ketamine")."""
        if self.regimen.drug == "*":
            return f"{self.regimen.label} of {self.drug}" if self.drug else self.regimen.label
        return self.regimen.label


@dataclass(frozen=True)
class QuestionAnalysis:
    """What the question asks: its subject, the aspects, a regimen, and whether it is broad."""

    text: str
    vector: np.ndarray
    search_text: str
    terms: frozenset[str]
    subject: tuple[SubjectTerm, ...]
    aspects: tuple[Aspect, ...]
    forms: tuple[Aspect, ...]
    regimen: AskedRegimen | None
    drugs: tuple[str, ...]
    broad: bool
    statement: bool
    set_aside: frozenset[str] = frozenset()  # words the question sets aside ("besides depression")
    sources: tuple[str, ...] = ()  # ids of the documents the question names ("the CANMAT guideline")

    @property
    def narrow(self) -> bool:
        """A narrow question gets a short answer on its aspect."""
        return not self.broad


class QuestionAnalyzer:
    """Reads a question against the corpus's term counts and the aspect and regimen data.

    >>> analyzer = QuestionAnalyzer(index.sentence_df, len(index.sentences))
    >>> analysis = analyzer.analyze("Is ketamine addictive?", vector)
    >>> [a.id for a in analysis.aspects]
    ['harms']
    """

    def __init__(self, sentence_df: dict[str, int], sentences: int,
                 table: RegimenTable | None = None, book: AspectBook | None = None,
                 documents: dict[str, tuple[str, ...]] | None = None) -> None:
        self.df = sentence_df
        # each document's naming words (its id's parts, its title's and publisher's words), lower-cased;
        # a name in capitals ("WHO") is only the words its id holds or its title writes in capitals,
        # not a title's "who"
        self._named: dict[str, list[str]] = {}
        self._named_in_capitals: dict[str, list[str]] = {}
        for doc_id, (id_text, *texts) in (documents or {}).items():
            words = {n for text in (id_text, *texts) for n in re.findall(r"[\w/-]+", text)}
            for name in {n.lower() for n in words}:
                self._named.setdefault(name, []).append(doc_id)
            capitals = set(re.findall(r"[\w/-]+", id_text.lower())) | {n.lower() for n in words if n.isupper()}
            for name in capitals:
                self._named_in_capitals.setdefault(name, []).append(doc_id)
        self.sentences = max(1, sentences)
        self.table = table or RegimenTable.default()
        self.book = book or AspectBook.default()
        warm_up()
        self._families: dict[str, list[str]] = {}
        for token in sentence_df:
            word = _POSSESSIVE.sub("", token)
            if len(word) >= FAMILY_PREFIX and word.isalpha():
                self._families.setdefault(word[:FAMILY_PREFIX], []).append(token)

    def search_text(self, question: str) -> str:
        """What the retrievers search for: the question, with the generic name after each brand name
        it uses ("Spravato" -> esketamine) and the clinical terms of its lay wordings ("brain bleed"
        -> intracerebral hemorrhage, `answer/data/lay_terms.json`) added at the end."""
        lowered = question.lower()
        added = [drug for drug in dict.fromkeys(d for _, d in self.table.drugs_in(question))
                 if drug not in lowered]
        _, clinical = lay_terms()
        added += [clinical[group] for group, _ in lay_matches(question)]
        short, long, forms = abbreviation_phrases()
        added += [forms[m.group(0)] for m in short.finditer(question)]
        added += [forms[m.group(0).lower()] for m in long.finditer(question)]
        added = [a for a in dict.fromkeys(added) if a.lower() not in lowered]
        return f"{question} ({'; '.join(added)})" if added else question

    def analyze(self, question: str, vector: np.ndarray, search_text: str | None = None) -> QuestionAnalysis:
        """The analysis of one (validated) question and the embedding of its search text (computed
        here unless given)."""
        reading = self.book.read(question)
        aspects = reading.aspects
        terms = frozenset(content_terms(question))
        # aspect cues ("dose", "addictive") and regimen names ("microdosing") are what is asked
        # about the subject, not the subject: the aspect and regimen checks judge them
        cues = set(reading.cue_words) | _words_in(question, self.table.naming_spans(question))
        # what the question sets aside ("besides depression") is not what it asks about
        aside = self.book.set_aside(question)
        set_aside = frozenset(t for phrase, _ in aside for t in content_terms(phrase))
        cues |= _words_in(question, [span for _, span in aside])
        # a source the question names ("the CANMAT guideline") is where to look, not what to find
        named = self.named_sources(question)
        sources = tuple(dict.fromkeys(d for name, _ in named for d in self._documents_named(name)))
        cues |= _words_in(question, [span for _, span in named])
        words = {_POSSESSIVE.sub("", t) for t in terms}
        clinical, wording = self._clinical_words(question)
        cues |= wording
        subject = tuple(
            term for term in (
                self._subject_term(t, clinical.get(t, frozenset())) for t in sorted(words)
                if t not in cues and t not in self.book.passing_words and not t[0].isdigit()
            ) if not carried_by_parts(term)
        )
        drugs = tuple(dict.fromkeys(d for at, d in self.table.drugs_in(question)
                                    if not any(a <= at < b for _, (a, b) in aside)))
        return QuestionAnalysis(
            text=question, vector=vector, search_text=search_text or self.search_text(question),
            terms=terms, subject=subject, aspects=aspects,
            forms=reading.forms,
            regimen=self._regimen(question), drugs=drugs,
            # "what does the CANMAT guideline say about X" asks for an overview of X from that source
            broad=self.book.is_broad(question), statement=not _is_question(question),
            set_aside=set_aside, sources=sources,
        )

    def named_sources(self, question: str) -> list[tuple[str, tuple[int, int]]]:
        """The names the question gives a source by that one to three documents hold, with spans (a
        capitalised word after the first, a name in capitals, a compound ("the dose-ranging trial"),
        or a word that is not an everyday one: "Goodwin", "NICE", "CANMAT ...", not "Do")."""
        return [(name, span) for name, span in self.book.named_sources(question)
                if (name.isupper() or span[0] > 0 and (name[0].isupper() or "-" in name)
                    or not is_everyday(name.lower()))
                and 1 <= len(self._documents_named(name)) <= MAX_NAMED_SOURCES]

    def _documents_named(self, name: str) -> list[str]:
        """The documents a name given in the question names ("WHO" only those naming it in capitals)."""
        if len(name) > 1 and name.isupper():
            return self._named_in_capitals.get(name.lower(), [])
        return self._named.get(name.lower(), [])

    def family(self, term: str) -> list[str]:
        """The corpus tokens that count as the term: itself, or those sharing its first letters,
        and its abbreviation or expansion ('intramuscular' ~ 'im')."""
        if len(term) >= FAMILY_PREFIX and term.isalpha():
            # a longer word keeps more of itself: "electroshock" is not "electroconvulsive"
            stem = term[:max(FAMILY_PREFIX, len(term) - FAMILY_SUFFIX)]
            found = [t for t in self._families.get(term[:FAMILY_PREFIX], []) if t.startswith(stem)]
        else:
            found = [term] if term in self.df else []
        for other in abbreviations().get(term, ()):
            if other in self.df and other not in found:
                found.append(other)
        return found

    def subject_family(self, term: SubjectTerm) -> set[str]:
        """The corpus words that count as a subject term: its own family and its clinical words'."""
        return set(self.family(term.term) or [term.term]).union(
            *(self.family(c) or [c] for c in term.clinical))

    def _subject_term(self, term: str, clinical: frozenset[str] = frozenset()) -> SubjectTerm:
        tokens = set(self.family(term)).union(*(self.family(c) for c in clinical))
        # an everyday wording weighs as rare as what the corpus calls it, not as its own words are
        count = min(self.sentences, sum(self.df.get(t, 0) for t in tokens))
        specific = not is_everyday(term)
        weight = math.log((self.sentences + 1) / (count + 0.5))
        if not specific:
            weight *= EVERYDAY_WEIGHT
        return SubjectTerm(term, round(max(weight, 0.0), 4), count, specific, clinical)

    @staticmethod
    def _clinical_words(question: str) -> tuple[dict[str, frozenset[str]], set[str]]:
        """The everyday wordings of the question, each as one word (its last) -> the clinical words
        of the wording, and the wordings' other words (which are not subject words of their own)."""
        _, clinical = lay_terms()
        kept: dict[str, frozenset[str]] = {}
        others: set[str] = set()
        for group, wording in lay_matches(question):
            content = content_terms(wording)
            words = [_POSSESSIVE.sub("", w) for w in dict.fromkeys(tokenize(wording)) if w in content]
            if words:
                kept[words[-1]] = kept.get(words[-1], frozenset()) | frozenset(
                    content_terms(clinical[group]))
                others.update(words[:-1])
        return kept, others - set(kept)

    def _regimen(self, question: str) -> AskedRegimen | None:
        """The regimen a question asks about (microdosing first, then a dose, then a naming term)."""
        regimen_drugs = {r.drug for r in self.table.regimens}
        drugs = [d for _, d in self.table.drugs_in(question) if d in regimen_drugs]
        drug = drugs[0] if drugs else None
        hits = self.table.find(question, default_drug=drug)
        for hit in hits:
            if hit.regimen.id == self.table.microdose.id:
                return AskedRegimen(hit.regimen, drug)
        for hit in hits:
            if hit.dose is not None:
                return AskedRegimen(hit.regimen, hit.regimen.drug)
        for hit in hits:
            return AskedRegimen(hit.regimen, hit.regimen.drug)
        return None


_POSSESSIVE = re.compile(r"['\u2019]s$")


def carried_by_parts(term: SubjectTerm) -> bool:
    """Whether a subject term is a hyphenated compound the corpus never writes ("non-infertile",
    "phagosome-lysosome"): the tokenizer yields its parts as terms too, and they carry its meaning;
    kept, it would weigh as a word the corpus never mentions and alone force an abstention."""
    return "-" in term.term and term.sentences == 0


def _words_in(text: str, spans: list[tuple[int, int]]) -> set[str]:
    """The tokens of the text inside the spans."""
    return {t for start, end in spans for t in content_terms(text[start:end])}


def validate_question(question: str) -> str:
    """The question stripped, or InvalidQueryError naming what is wrong."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidQueryError("question must not be empty")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQueryError(
            f"question must be at most {MAX_QUESTION_CHARS} characters, got {len(question)}"
        )
    return question


_QUESTION_START = re.compile(
    r"^(?:is|are|was|were|do|does|did|can|could|should|would|will|may|might|must|has|have|had|"
    r"what|which|who|whom|whose|when|where|why|how|"
    # a request asks as a question does: "Tell me ...", "List ...", "Please explain ..."
    r"(?:please\s+)?(?:tell|list|explain|describe|give|show|summari[sz]e|outline|compare|define|name))\b",
    re.IGNORECASE)


def _is_question(text: str) -> bool:
    """Whether the text reads as a question or a request (else it is a statement, such as a
    claim: "Ketamine works within a day for depression.")."""
    return text.rstrip().endswith("?") or bool(_QUESTION_START.match(text.strip()))


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, tuple[str, ...]]:
    """Single-word abbreviations and expansions of `answer/data/abbreviations.json`, both ways,
    as tokens: 'im' -> ('intramuscular',), 'intramuscular' -> ('im',)."""
    data = json.loads(resources.files("ragqa.answer").joinpath("data/abbreviations.json").read_text())
    pairs: dict[str, set[str]] = {}
    for short, long in data["abbreviations"].items():
        a, b = short.lower(), long.lower()
        pairs.setdefault(a, set()).add(b)
        pairs.setdefault(b, set()).add(a)
    return {k: tuple(sorted(v)) for k, v in pairs.items()}


@lru_cache(maxsize=1)
def abbreviation_phrases() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, str]]:
    """The abbreviations of `abbreviations.json` "phrases" as written (case-sensitive), their
    expansions (any case), and each form's other form ('CRPS' <-> 'complex regional pain
    syndrome', expansions keyed in lower case)."""
    data = json.loads(resources.files("ragqa.answer").joinpath("data/abbreviations.json").read_text())
    phrases = data.get("phrases", {})
    forms = {**phrases, **{long.lower(): short for short, long in phrases.items()}}
    short = "|".join(re.escape(a) for a in sorted(phrases, key=len, reverse=True))
    long = "|".join(re.escape(e) for e in sorted(phrases.values(), key=len, reverse=True))
    return (re.compile(rf"(?<![\w-])(?:{short})(?![\w-])"),
            re.compile(rf"(?<![\w-])(?:{long})(?![\w-])", re.IGNORECASE), forms)


@lru_cache(maxsize=1)
def spelled_out() -> dict[str, frozenset[str]]:
    """The token of each several-word abbreviation -> the tokens of its expansion ('crp' ->
    {'complex', 'regional', 'pain', 'syndrome'})."""
    _, _, forms = abbreviation_phrases()
    out = {}
    for form, other in forms.items():
        tokens, expansion = content_terms(form), content_terms(other)
        if len(tokens) == 1 and len(expansion) > 1:
            out[next(iter(tokens))] = frozenset(expansion)
    return out


@lru_cache(maxsize=1)
def lay_terms() -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The lay wordings of `answer/data/lay_terms.json` and the brand names of
    `answer/data/brands.json` as one pattern, a group each, and the clinical terms (the generic
    name, for a brand) of each group in order."""
    data = resources.files("ragqa.answer").joinpath("data")
    terms = dict(json.loads(data.joinpath("lay_terms.json").read_text())["terms"])
    for lay in terms:
        if re.compile(lay).groups:  # each wording is one group of the joined pattern
            raise ValueError(f"lay_terms.json: use (?:...) instead of a capturing group in {lay!r}")
    for generic, brands in json.loads(data.joinpath("brands.json").read_text())["generics"].items():
        terms["|".join(re.escape(b) for b in brands)] = generic
    groups = "|".join(f"({lay})" for lay in terms)
    return (re.compile(rf"(?<![\w-])(?:{groups})(?![\w-])", re.IGNORECASE), tuple(terms.values()))


@lru_cache(maxsize=256)
def lay_matches(question: str) -> tuple[tuple[int, str], ...]:
    """The lay wordings and brand names in a question: (group of `lay_terms`, its words), in
    order (one pass of the long pattern per question, kept: both the search text and the subject
    read them)."""
    pattern, _ = lay_terms()
    return tuple((m.lastindex - 1, m.group(0)) for m in pattern.finditer(question))


@lru_cache(maxsize=4096)
def is_everyday(word: str) -> bool:
    """Whether a word is common in general English (wordfreq's Zipf frequency, bundled data).

    The 'small' word list (words at Zipf 3 and above) decides the same as the full one at this
    threshold and loads in half the time.
    """
    from wordfreq import zipf_frequency

    parts = [p for p in word.split("-") if p]
    if len(parts) > 1:  # a compound ("treatment-resistant") is as everyday as its parts
        return all(is_everyday(p) for p in parts)
    return zipf_frequency(word, "en", wordlist="small") >= EVERYDAY_ZIPF


def warm_up() -> threading.Thread:
    """Load the word frequencies in the background, so neither start-up nor a question waits."""
    thread = threading.Thread(target=is_everyday, args=("the",), daemon=True,
                              name="ragqa-wordfreq")
    thread.start()
    return thread


def as_written(term: str, question: str) -> str:
    """The question's own word for a subject term (its token may be cut: "herpetiformi" for
    "herpetiformis"); the term itself when no single word of the question gives it."""
    for word in re.findall(r"[\w'\u2019-]+", question):
        if tokenize(word) == [term]:
            return word
    return term
