"""The answer stage's fitted choices: what a candidate sentence looks like to the stage, the weights
that turn that into a score, and the fit that learns those weights from labelled suites.

    question vector                      -> its adapted form: q + Mq, unit length   (Adapter)
    QuestionAnalysis + Evidence          -> one feature row per candidate  (CandidateFeatures)
    feature rows                         -> relevance score = w . x          (Weights.score)
    QuestionAnalysis + Evidence + Coverage + scores -> P(answerable)        (Weights.answerable)

Every feature is a general property of a sentence and the question (how near in meaning, how many
of the question's rarer words it holds, whether it reads as a whole sentence, whether its section
heading is on the question ...), never a word of one guideline. The weights are fitted, not set by
hand: `ragqa fit` reads suites whose cases label the sentence that must lead the answer (`lead`) and
whether the corpus answers at all (`abstain`), and writes `weights.json` beside this module with the
command and suites that produced it. Fitting is deterministic (L-BFGS from zeros).

The similarity features (similarity, gap, standing) compare a candidate with the question's vector
moved by a fitted linear map (the query adapter, `weights.adapter.npy`): the embedding model places
a question near sentences that share its words and subject; the map, fitted on which sentence
answered each labelled question, moves it towards how answers are phrased (a question on "how
often" towards sentences that state an interval). It is tied to the embedding model it was fitted
for; with another model the plain vector is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ragqa.answer.analysis import QuestionAnalysis, QuestionAnalyzer
from ragqa.answer.evidence import Candidate, Evidence, FactBook
from ragqa.answer.scoring import content_terms
from ragqa.index.store import HybridIndex
from ragqa.ingest.context import quote_span
from ragqa.ingest.layout import BlockKind

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
WEIGHTS_VERSION = 1

# A candidate's features, each in [0, 1] (or a small signed range), in this order.
FEATURES = (
    "similarity",      # cosine of the sentence's vector to the question's (adapted, see Adapter)
    "gap",             # similarity minus the best candidate's (<= 0)
    "rank",            # the fused retrieval rank as 1 / (1 + 0.25 (rank - 1))
    "bm25",            # the sentence's BM25 for the question's words, over the best candidate's
    "coverage",        # share of the question's content words (rarer ones weigh more) it holds
    "subject",         # share of the question's subject terms (with their word families) it holds
    "heading",         # share of the question's content words in its section headings
    "aspect",          # it speaks to the aspect the question asks, of the question's subject
    "form",            # it states its answer in the asked form (a dose, a duration, ...)
    "figures",         # share of the figures the question names that it states
    "subgroup",        # it restricts itself to a subgroup the question does not name
    "level",           # the evidence level of its document type
    "specificity",     # doses, durations, rates and named scales it states
    "framing",         # it states a study's aim, design, background or future research
    "top_source",      # its document is the one the chunk retriever ranks first
    "fragment",        # it does not read as a whole sentence (lower-case start, no end stop)
    "table",           # it is a table row
    "length",          # log of its length, scaled
    "asks",            # it is itself a question
    "context",         # similarity of its chunk (title, section path and neighbours) to the question
    "neighbours",      # the best similarity of the sentences just before and after it
    "amount",          # the question asks for an amount, a time or a threshold and it states a figure
    "recommends",      # it states a recommendation (should, recommend, suggest, advise ...)
    "hub",             # its similarity to its own document's mean sentence: near every question
                       # about the document, so nearness to this one says less
    "standing",        # its similarity in standard deviations above the candidates' mean
    "distinct",        # cosine of question and sentence once their document's common direction
                       # is taken out of both: nearness in what sets the sentence apart
    "aside",           # it labels rather than states: a caption, a table's footnote, a heading or
                       # the title repeated, a line in capitalised words (an affiliation, a name)
)
ANSWERABLE_FEATURES = (
    "best_similarity",   # the nearest candidate sentence's similarity
    "best_chunk",        # the nearest retrieved chunk's similarity
    "on_aspect",         # share of it that near evidence on the asked aspect names, anywhere in it
    "best_score",        # the best candidate's relevance score
    "best_coverage",     # the most of the question's words one near candidate holds
    "in_passing",        # the evidence leaves out a subject word the corpus names only in passing
    "best_lead",         # the highest probability, by the fitted leading model, that a quotable
                         # candidate states the answer (see Weights.leading)
)

_FIGURE = re.compile(r"\d+(?:\.\d+)?")
# questions whose answer is a figure (an amount, a frequency, a duration, a time, a threshold)
_ASKS_AMOUNT = re.compile(r"\b(how (many|much|often|long|soon|frequently|low|high)|what (dose|dosage|amount|"
                          r"level|threshold|target|percentage|age|interval|number)|at what|by how much|"
                          r"when)\b", re.IGNORECASE)
# the wording of a recommendation, in the grammar guidelines share
_RECOMMENDS = re.compile(r"\b(should|recommend\w*|suggest\w*|advis\w*|must|is indicated|are indicated|"
                         r"consider\w*)\b", re.IGNORECASE)
# the coverage and heading features match words by their first _PREFIX letters ("monitor",
# "monitoring"); six letters were tried and not adopted (docs/answer-stage.md)
_PREFIX = 5


def rank_score(rank: int) -> float:
    """The retrieval rank as a score: 1 for the top sentence, decaying with rank."""
    return 1.0 / (1.0 + 0.25 * (rank - 1))


def _prefixes(words: Iterable[str]) -> set[str]:
    return {w[:_PREFIX] for w in words if w.isalpha() or len(w) > 2}


@dataclass(frozen=True, eq=False)
class Adapter:
    """The query adapter: a square matrix M for the embedding model `model`; a question vector q
    becomes (q + Mq) / |q + Mq| for the similarity features."""

    matrix: np.ndarray
    model: str

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Adapter) and self.model == other.model
                and np.array_equal(self.matrix, other.matrix))

    def __hash__(self) -> int:
        return hash((self.model, self.matrix.shape))

    @classmethod
    def fitted(cls, matrix: np.ndarray, model: str) -> Adapter:
        """An adapter as it will be stored (float16), so a saved and reloaded one is the same."""
        return cls(np.asarray(matrix).astype(np.float16).astype(np.float32), model)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[0])

    def fits(self, index: HybridIndex) -> bool:
        """Whether it was fitted for the model that made the index's vectors."""
        model = (index.manifest or {}).get("model") or {}
        return model.get("name") == self.model and int(index.sentence_vectors.shape[1]) == self.dim

    def adapt(self, vector: np.ndarray) -> np.ndarray:
        """The adapted question vector, unit length."""
        q = np.asarray(vector, dtype=np.float32)
        moved = q + self.matrix @ q
        norm = float(np.linalg.norm(moved))
        return moved / norm if norm > 0 else q

    def save(self, path: Path) -> str:
        """Write the matrix (float16 .npy, aside then renamed); its SHA-256."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("wb") as handle:
            np.save(handle, self.matrix.astype(np.float16), allow_pickle=False)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        tmp.replace(path)
        return digest

    @classmethod
    def load(cls, path: Path, model: str, sha256: str, where: str) -> Adapter:
        """The matrix of a .npy file, checked against the SHA-256 its weights file records."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{where}: field 'adapter': cannot read {path.name} ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"{where}: field 'adapter': {path.name} does not match its recorded SHA-256")
        matrix = np.load(io.BytesIO(data), allow_pickle=False)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{where}: field 'adapter': {path.name} is not a square matrix")
        return cls(matrix.astype(np.float32), model)


@dataclass(frozen=True)
class Weights:
    """The fitted weights: a linear relevance score over FEATURES and a logistic answerability
    model over ANSWERABLE_FEATURES, each with the feature names it was fitted on."""

    relevance: tuple[float, ...]
    scale: float
    answerable: tuple[float, ...]
    answerable_bias: float
    threshold: float
    # how far below the best score a second sentence may be and still join the bottom line
    lead_margin: float = 0.1
    provenance: dict[str, Any] = field(default_factory=dict)
    # the coverage check's verdict decides answerability, not the model (the previous stage, kept
    # as the 'before' of `ragqa eval --suites`; "answerability": "coverage" in the file)
    by_coverage: bool = False
    # the query adapter of the similarity features (None: the question's own vector)
    adapter: Adapter | None = None
    # the leading model: a logistic regression over FEATURES giving, for one candidate row on its
    # own, P(it states the answer). The relevance score only orders one question's candidates
    # (what they share moves none of them); this one is comparable across questions, so its best
    # value tells the answerability model whether any candidate answers at all
    leading: tuple[float, ...] = (0.0,) * len(FEATURES)
    leading_bias: float = 0.0

    def __post_init__(self) -> None:
        if len(self.relevance) != len(FEATURES):
            raise ValueError(f"relevance weights: expected {len(FEATURES)}, got {len(self.relevance)}")
        if len(self.leading) != len(FEATURES):
            raise ValueError(f"leading weights: expected {len(FEATURES)}, got {len(self.leading)}")
        if len(self.answerable) != len(ANSWERABLE_FEATURES):
            raise ValueError(f"answerable weights: expected {len(ANSWERABLE_FEATURES)}, "
                             f"got {len(self.answerable)}")

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The relevance score of each candidate row."""
        if not len(rows):
            return np.zeros(0)
        return self.scale * (rows @ np.asarray(self.relevance))

    def best_lead(self, rows: np.ndarray) -> float:
        """The highest P(states the answer) of the leading model over candidate rows (0 for none)."""
        if not len(rows):
            return 0.0
        z = np.clip(rows @ np.asarray(self.leading) + self.leading_bias, -30.0, 30.0)
        return float((1.0 / (1.0 + np.exp(-z))).max())

    def answerability(self, row: np.ndarray) -> float:
        """P(the evidence answers the question) for one question's answerability row."""
        z = float(row @ np.asarray(self.answerable)) + self.answerable_bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict[str, Any]:
        """The weights as written to weights.json."""
        return {
            "version": WEIGHTS_VERSION,
            "relevance": dict(zip(FEATURES, map(_round, self.relevance))),
            "scale": _round(self.scale),
            "answerable": dict(zip(ANSWERABLE_FEATURES, map(_round, self.answerable))),
            "answerable_bias": _round(self.answerable_bias),
            "leading": dict(zip(FEATURES, map(_round, self.leading))),
            "leading_bias": _round(self.leading_bias),
            "threshold": _round(self.threshold),
            "lead_margin": _round(self.lead_margin),
            **({"answerability": "coverage"} if self.by_coverage else {}),
            "provenance": self.provenance,
        }

    def adapter_file(self, path: Path) -> Path:
        """Where the adapter of the weights file `path` lives: beside it."""
        return path.with_name(path.stem + ".adapter.npy")

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "weights",
                  directory: Path | None = None) -> Weights:
        """Weights from their JSON form; a missing or unknown feature is refused by name."""
        if data.get("version") != WEIGHTS_VERSION:
            raise ValueError(f"{where}: field 'version': expected {WEIGHTS_VERSION}, "
                             f"got {data.get('version')!r}")
        for key, names in (("relevance", FEATURES), ("answerable", ANSWERABLE_FEATURES),
                           ("leading", FEATURES)):
            got = set(data.get(key) or {})
            if got != set(names):
                bad = sorted(got ^ set(names))
                raise ValueError(f"{where}: field '{key}': features differ from the code's: {bad}")
        return cls(
            relevance=tuple(float(data["relevance"][n]) for n in FEATURES),
            scale=float(data["scale"]),
            answerable=tuple(float(data["answerable"][n]) for n in ANSWERABLE_FEATURES),
            answerable_bias=float(data["answerable_bias"]),
            leading=tuple(float(data["leading"][n]) for n in FEATURES),
            leading_bias=float(data.get("leading_bias", 0.0)),
            threshold=float(data["threshold"]),
            lead_margin=float(data.get("lead_margin", 0.1)),
            provenance=dict(data.get("provenance") or {}),
            by_coverage=_answerability_by(data.get("answerability", "model"), where),
            adapter=_adapter_of(data.get("adapter"), where, directory),
        )

    def save(self, path: Path) -> None:
        """Write the weights as JSON, and the adapter beside them (each aside, then renamed into
        place; the JSON records the adapter's file and SHA-256)."""
        data = self.to_json()
        if self.adapter is not None:
            target = self.adapter_file(path)
            data["adapter"] = {"file": target.name, "model": self.adapter.model,
                               "dim": self.adapter.dim, "sha256": self.adapter.save(target)}
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def _adapter_of(value: Any, where: str, directory: Path | None) -> Adapter | None:
    """The adapter a weights file names (its "adapter" field), read from beside the file."""
    if value is None:
        return None
    if directory is None:
        raise ValueError(f"{where}: field 'adapter': names a file, but the weights were not read from one")
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("file", "model", "sha256")):
        raise ValueError(f"{where}: field 'adapter': expected {{file, model, dim, sha256}}, got {value!r}")
    name = value["file"]
    # the file is a plain name beside the weights file, never a path
    if Path(name).name != name or not name.endswith(".npy"):
        raise ValueError(f"{where}: field 'adapter': file must be a .npy name beside the weights, got {name!r}")
    adapter = Adapter.load(directory / name, value["model"], value["sha256"], where)
    if value.get("dim") != adapter.dim:
        raise ValueError(f"{where}: field 'adapter': dim {value.get('dim')!r} but the file holds {adapter.dim}")
    return adapter


def _answerability_by(value: Any, where: str) -> bool:
    """Whether a weights file's "answerability" field says the coverage check decides."""
    if value not in ("model", "coverage"):
        raise ValueError(f"{where}: field 'answerability': expected 'model' or 'coverage', got {value!r}")
    return value == "coverage"


def _round(x: float) -> float:
    return round(float(x), 6)


@lru_cache(maxsize=1)
def default_weights() -> Weights:
    """The weights shipped beside this module."""
    return load_weights(WEIGHTS_FILE)


def load_weights(path: Path) -> Weights:
    """Weights from a JSON file."""
    return Weights.from_json(json.loads(path.read_text(encoding="utf-8")), str(path), path.parent)


def similarity_features(sims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three FEATURES read from the candidates' similarities alone, per candidate: the
    similarity, its gap to the best one and its standing in standard deviations above the mean."""
    best, mean, spread = float(sims.max()), float(sims.mean()), float(sims.std()) or 1.0
    return sims, sims - best, (sims - mean) / spread


class CandidateFeatures:
    """Computes each candidate's feature row for an analysed question."""

    def __init__(self, index: HybridIndex, analyzer: QuestionAnalyzer, facts: FactBook) -> None:
        self.index = index
        self.analyzer = analyzer
        self.facts = facts
        self._figures: dict[int, frozenset[float]] = {}
        self._subgroups: dict[int, frozenset[str]] = {}
        self._headings: dict[tuple[str, ...], frozenset[str]] = {}
        self._shape: dict[int, tuple[float, float, float, float, float, float]] = {}
        self._hub, self._centres, self._centre_of = _hubness(index)
        self._prefix_cache: dict[int, frozenset[str]] = {}
        self._quoted_cache: dict[int, tuple[frozenset[str], frozenset[str]]] = {}

    def rows(self, analysis: QuestionAnalysis, evidence: Evidence,
             adapter: Adapter | None = None) -> np.ndarray:
        """One row of FEATURES per candidate of the evidence, in candidate order; the similarity
        features with the question's vector moved by `adapter` (one fitted for the index's model)."""
        candidates = evidence.candidates
        if not candidates:
            return np.zeros((0, len(FEATURES)))
        weights = {t.term: t.weight for t in analysis.subject}
        families = {t.term: self.analyzer.subject_family(t) for t in analysis.subject}
        expansions = {t: words for t in weights if (words := self.facts.spelled_out(t))}
        total = max(sum(weights.values()), 1.0) if weights else 0.0
        limits_asked = any(a.id == "limitations" for a in analysis.aspects)
        given_asked = any(a.id == "dose" for a in analysis.aspects) or any(
            f.id in ("dose-amount", "schedule", "count") for f in analysis.forms)
        specific = [t.term for t in analysis.subject if t.specific and t.weight > 0]
        drugs = set(analysis.drugs)
        asked_figures = {float(f) for f in _FIGURE.findall(analysis.text)}
        asked_words = set().union(*families.values(), analysis.terms)
        aside = set().union(*(self.analyzer.family(t) or [t] for t in analysis.set_aside))
        aspect_ids = {a.id for a in analysis.aspects}
        form_ids = {f.id for f in analysis.forms}
        # the question's words, each weighted by how rare it is among the index's sentences
        words = [w for w in analysis.terms if not w[0].isdigit()]
        idf = {w: math.log(1 + self.analyzer.sentences / (1 + self._df(w))) for w in words}
        word_total = sum(idf.values()) or 1.0
        word_prefix = {w: w[:_PREFIX] for w in words}
        bm25 = self._bm25(words, candidates)
        top_doc = evidence.chunks.hits[0].doc_id if evidence.chunks.hits else None
        qv = analysis.vector
        chunk_sims = self.index.chunk_vectors[[c.chunk_index for c in candidates]] @ qv
        vectors = self.index.sentence_vectors
        asks_amount = bool(_ASKS_AMOUNT.search(analysis.text))
        if adapter is not None and adapter.fits(self.index):
            sims = vectors[[c.sentence_id for c in candidates]] @ adapter.adapt(qv)
        else:
            sims = np.array([c.similarity for c in candidates])
        similarity, gap, standing = similarity_features(sims)
        distinct = self._distinct(qv, candidates)
        out = np.zeros((len(candidates), len(FEATURES)))
        for i, c in enumerate(candidates):
            facts = self.facts[c.sentence_id]
            # what a quote of it holds: a sentence opening "It is used at ..." is quoted with the
            # sentence it leans on, which names what "it" is
            terms, named = self._quoted(c.sentence_id)
            held = {t for t in weights if not terms.isdisjoint(families[t])
                    or (t in expansions and expansions[t] <= terms)}
            of_subject = not specific or not named.isdisjoint(drugs) or any(t in held for t in specific)
            prefixes = self._prefixes_of(c.sentence_id, terms)
            heading = self._heading(c.section)
            fragment, table, length, asks, recommends, labels = self._shape_of(c.sentence_id)
            out[i] = (
                similarity[i],
                gap[i],
                rank_score(c.rank),
                bm25[i],
                sum(idf[w] for w in words if word_prefix[w] in prefixes) / word_total,
                sum(weights[t] for t in held) / total if total else 0.0,
                sum(idf[w] for w in words if word_prefix[w] in heading) / word_total,
                float((not aspect_ids or not facts.aspects.isdisjoint(aspect_ids)) and of_subject),
                float(of_subject and not facts.forms.isdisjoint(form_ids)),
                (len(asked_figures & self._figures_of(c.sentence_id)) / len(asked_figures))
                if asked_figures else 0.0,
                float(self._narrower(c.sentence_id, asked_words)),
                c.level,
                facts.specificity,
                float(bool((aside and not terms.isdisjoint(aside)) or facts.framing
                           or (facts.design and not given_asked) or (facts.agenda and not limits_asked))),
                float(c.doc_id == top_doc),
                fragment, table, length, asks,
                float(chunk_sims[i]),
                max((float(vectors[n] @ qv) for n in (c.previous, c.next) if n is not None),
                    default=0.0),
                float(asks_amount and bool(self._figures_of(c.sentence_id))),
                recommends,
                float(self._hub[c.sentence_id]),
                standing[i],
                float(distinct[i]),
                labels,
            )
        return out

    def _distinct(self, qv: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        """Per candidate, the cosine of question and sentence with their document's centre
        projected out of both."""
        ids = np.fromiter((c.sentence_id for c in candidates), dtype=np.int64, count=len(candidates))
        s = self.index.sentence_vectors[ids].astype(np.float64)
        c = self._centres[self._centre_of[ids]].astype(np.float64)
        q = np.asarray(qv, dtype=np.float64)[None, :]
        q_rest = q - (c @ q[0])[:, None] * c
        s_rest = s - np.sum(s * c, axis=1)[:, None] * c
        norms = np.linalg.norm(q_rest, axis=1) * np.linalg.norm(s_rest, axis=1)
        return np.sum(q_rest * s_rest, axis=1) / np.where(norms > 0, norms, 1.0)

    def _quoted(self, sid: int) -> tuple[frozenset[str], frozenset[str]]:
        """The content terms and drugs of the sentence's quote: the sentence, and when it opens
        by leaning on the one before ("It is ...", "These ..."), the sentences its quote reaches
        back to (cached per sentence)."""
        found = self._quoted_cache.get(sid)
        if found is None:
            span = quote_span(self.index.sentences, sid)
            books = [self.facts[i] for i in range(span.first, span.last + 1)]
            found = self._quoted_cache[sid] = (frozenset().union(*(b.terms for b in books)),
                                               frozenset().union(*(b.drugs for b in books)))
        return found

    def _prefixes_of(self, sid: int, terms: frozenset[str]) -> frozenset[str]:
        found = self._prefix_cache.get(sid)
        if found is None:
            found = self._prefix_cache[sid] = frozenset(_prefixes(terms))
        return found

    def _df(self, word: str) -> int:
        return self.analyzer.df.get(word, 0)

    def _bm25(self, words: list[str], candidates: Sequence[Candidate]) -> np.ndarray:
        if not words:
            return np.zeros(len(candidates))
        scores = self.index.sentence_bm25.scores(words)
        ids = np.fromiter((c.sentence_id for c in candidates), dtype=np.int64, count=len(candidates))
        picked = np.asarray(scores[ids], dtype=float)
        top = picked.max() if len(picked) else 0.0
        return picked / top if top > 0 else np.zeros(len(candidates))

    def _heading(self, section: tuple[str, ...]) -> frozenset[str]:
        words = self._headings.get(section)
        if words is None:
            words = self._headings[section] = frozenset(_prefixes(content_terms(" ".join(section))))
        return words

    def _figures_of(self, sid: int) -> frozenset[float]:
        found = self._figures.get(sid)
        if found is None:
            found = self._figures[sid] = frozenset(float(f) for f in
                                                   _FIGURE.findall(self.index.sentences[sid].text))
        return found

    def _narrower(self, sid: int, asked_words: set[str]) -> bool:
        words = self._subgroups.get(sid)
        if words is None:
            subgroup = self.facts.book.subgroup(self.index.sentences[sid].text)
            words = self._subgroups[sid] = frozenset(content_terms(subgroup)) if subgroup else frozenset()
        return bool(words) and words.isdisjoint(asked_words)

    def _shape_of(self, sid: int) -> tuple[float, float, float, float, float, float]:
        shape = self._shape.get(sid)
        if shape is None:
            sentence = self.index.sentences[sid]
            text = sentence.text.strip()
            fragment = float(bool(text) and (text[0].islower() or text[-1] not in ".!?)\"'”’:;"))
            table = float(sentence.kind in (BlockKind.TABLE_ROW, BlockKind.TABLE_HEADER))
            length = min(1.0, math.log1p(len(text)) / math.log1p(600))
            shape = self._shape[sid] = (fragment, table, length, float(text.endswith("?")),
                                        float(bool(_RECOMMENDS.search(text))),
                                        float(self._labels(sentence, text)))
        return shape

    def _labels(self, sentence: Any, text: str) -> bool:
        """Whether the sentence labels rather than states (the "aside" feature)."""
        if sentence.kind in (BlockKind.CAPTION, BlockKind.TABLE_NOTE):
            return True
        bare = text.rstrip(".:;").strip().lower()
        document = self.index.documents.get(sentence.doc_id)
        if bare and (bare in (h.strip().lower() for h in sentence.section)
                     or document is not None and bare == (document.title or "").strip().lower()):
            return True
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]*", text) if len(w) > 3]
        return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def _hubness(index: HybridIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sentence's cosine to its document's centre (the normalised mean of its sentence
    vectors), the centres, and each sentence's centre row (one pass over the sentences)."""
    vectors = index.sentence_vectors
    docs, centre_of = np.unique([s.doc_id for s in index.sentences], return_inverse=True)
    sums = np.zeros((len(docs), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, centre_of, vectors)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centres = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    hub = np.einsum("ij,ij->i", vectors, centres[centre_of]).astype(np.float32)
    return hub, centres, centre_of.astype(np.int64)


@dataclass(frozen=True)
class Labelled:
    """One suite case's candidates as the fit sees them: feature rows, which rows may lead the
    answer, the answerability row, and whether the corpus answers it."""

    group: str
    case_id: str
    rows: np.ndarray
    lead: np.ndarray  # bool per row
    answer_row: np.ndarray
    answerable: bool
    # the question's vector, every candidate's sentence vector and which candidates are the rows:
    # what the query adapter is fitted on (the similarity features are relative to all candidates)
    vector: np.ndarray | None = None
    sentences: np.ndarray | None = None
    kept: np.ndarray | None = None
    # every candidate's coverage (not only the rows'): the answerability row's best_coverage is
    # read from it again when the similarity features are recomputed for another adapter
    coverage: np.ndarray | None = None

    def row_vectors(self) -> np.ndarray:
        """The sentence vectors of the rows."""
        assert self.sentences is not None
        return self.sentences if self.kept is None else self.sentences[self.kept]


def best_coverage(gap: np.ndarray, coverage: np.ndarray) -> float:
    """The most of the question's words one near candidate (within 0.1 of the best similarity)
    holds, from every candidate's gap and coverage."""
    near = gap >= -0.1
    return float(coverage[near].max()) if near.any() else 0.0


def answerability_row(evidence: Evidence, on_aspect: float, in_passing: float, rows: np.ndarray,
                      scores: np.ndarray, best_lead: float) -> np.ndarray:
    """The answerability features of one question."""
    best_score = float(scores.max()) if len(scores) else 0.0
    covered = best_coverage(rows[:, FEATURES.index("gap")], rows[:, FEATURES.index("coverage")])
    return np.array([
        evidence.best_similarity(), evidence.best_chunk_similarity, on_aspect,
        best_score, covered, in_passing, best_lead,
    ])


def kept_rows(quotable: np.ndarray) -> np.ndarray:
    """Which candidates the fit and the leading model see: the quotable ones, or all when none is
    (the fit's rows and the answer-time best leading probability use the same)."""
    return quotable if quotable.any() else np.ones(len(quotable), dtype=bool)


def balanced_weights(groups: Sequence[str], positive: np.ndarray) -> np.ndarray:
    """Per-row weights that give every (group, class) cell the same total, averaging 1."""
    keys = list(zip(groups, positive.tolist()))
    counts: dict[tuple[str, bool], int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    w = np.array([1.0 / counts[key] for key in keys])
    return w * len(w) / w.sum()


# -- fitting --------------------------------------------------------------------------------------

def fit_relevance(data: Sequence[Labelled], l2: float = 0.001,
                  prior: np.ndarray | None = None) -> np.ndarray:
    """Weights of a conditional logit: per question, a softmax over its candidates that puts its
    mass on the candidates that may lead the answer (questions with none, or only such, teach
    nothing and are left out). The L2 penalty pulls towards `prior` (zeros when None); every
    suite weighs the same in the loss."""
    used = [d for d in data if d.answerable and d.lead.any() and not d.lead.all()]
    if not used:
        raise ValueError("no labelled question has both a leading and a non-leading candidate")
    sizes: dict[str, int] = {}
    for d in used:
        sizes[d.group] = sizes.get(d.group, 0) + 1
    share = [1.0 / (len(sizes) * sizes[d.group]) for d in used]
    centre = np.zeros(len(FEATURES)) if prior is None else np.asarray(prior, dtype=float)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        gap = w - centre
        total, grad = l2 * float(gap @ gap), 2 * l2 * gap
        for d, weight in zip(used, share):
            z = d.rows @ w
            z = z - z.max()
            p = np.exp(z)
            p /= p.sum()
            mass = float(p[d.lead].sum())
            total -= weight * math.log(max(mass, 1e-12))
            q = np.where(d.lead, p / max(mass, 1e-12), 0.0)
            grad += weight * (d.rows.T @ (p - q))
        return total, grad

    result = minimize(loss, centre.copy(), jac=True, method="L-BFGS-B")
    return np.asarray(result.x)


def fit_leading(data: Sequence[Labelled], l2: float = 0.0003) -> tuple[np.ndarray, float]:
    """The leading model: a logistic regression of "this candidate may lead the answer" over each
    candidate row on its own, every candidate of an unanswerable question a negative. Every
    question weighs the same (its rows share its weight) and the leading and the other rows weigh
    the same in total; L2 on the weights, not the bias. Convex; L-BFGS from zeros, deterministic."""
    used = [d for d in data if len(d.rows)]
    if not used:
        raise ValueError("the leading model needs labelled questions with candidates")
    x = np.vstack([d.rows for d in used])
    y = np.concatenate([d.lead if d.answerable else np.zeros(len(d.rows), dtype=bool)
                        for d in used]).astype(float)
    if y.all() or not y.any():
        raise ValueError("the leading model needs both leading and other candidates")
    weight = np.concatenate([np.full(len(d.rows), 1.0 / len(d.rows)) for d in used])
    weight = np.where(y == 1, weight / weight[y == 1].sum(), weight / weight[y == 0].sum()) / 2

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        p = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30)))
        value = -float(weight @ (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        g = weight * (p - y)
        return value + l2 * float(w @ w), np.concatenate([x.T @ g + 2 * l2 * w, [g.sum()]])

    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return np.asarray(result.x[:-1]), float(result.x[-1])


def fit_adapter(data: Sequence[Labelled], model: str, l2: float = 2.5,
                temperature: float = 20.0) -> Adapter:
    """The query adapter: the matrix M for which, per question, a softmax over its candidates'
    similarity to q + Mq puts its mass on the candidates that may lead the answer (as the relevance
    fit does, every suite weighing the same), with an L2 penalty on M of `l2` per question (fewer
    labelled questions, a smaller move). The loss is convex in M; L-BFGS from zeros makes it
    deterministic."""
    used = [d for d in data if d.answerable and d.vector is not None and d.sentences is not None
            and d.lead.any() and not d.lead.all()]
    if not used:
        raise ValueError("no labelled question with vectors has both a leading and a non-leading candidate")
    dim = len(used[0].vector)
    width = max(len(d.rows) for d in used)
    sentences = np.zeros((len(used), width, dim))
    lead = np.zeros((len(used), width), dtype=bool)
    present = np.zeros((len(used), width), dtype=bool)
    for i, d in enumerate(used):
        sentences[i, :len(d.rows)] = d.row_vectors()
        lead[i, :len(d.lead)] = d.lead
        present[i, :len(d.lead)] = True
    questions = np.stack([d.vector for d in used]).astype(float)
    sizes: dict[str, int] = {}
    for d in used:
        sizes[d.group] = sizes.get(d.group, 0) + 1
    share = np.array([1.0 / (len(sizes) * sizes[d.group]) for d in used])
    penalty = l2 / len(used)

    def loss(m: np.ndarray) -> tuple[float, np.ndarray]:
        matrix = m.reshape(dim, dim)
        moved = questions + questions @ matrix.T
        z = temperature * np.einsum("bnd,bd->bn", sentences, moved)
        z = np.where(present, z, -1e9)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        mass = (p * lead).sum(axis=1)
        value = -float(share @ np.log(np.maximum(mass, 1e-12))) + penalty * float((matrix * matrix).sum())
        q = np.where(lead, p / np.maximum(mass, 1e-12)[:, None], 0.0)
        pull = np.einsum("bn,bnd->bd", (p - q) * share[:, None], sentences)
        grad = temperature * pull.T @ questions + 2 * penalty * matrix
        return value, grad.ravel()

    result = minimize(loss, np.zeros(dim * dim), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return Adapter.fitted(result.x.reshape(dim, dim), model)


def readapted(d: Labelled, adapter: Adapter | None) -> Labelled:
    """The case with its similarity features, and the answerability row's best_coverage that
    depends on them, recomputed for `adapter` (as CandidateFeatures.rows and answerability_row
    compute them)."""
    if d.vector is None or d.sentences is None or not len(d.rows):
        return d
    q = adapter.adapt(d.vector) if adapter is not None else d.vector
    kept = d.kept if d.kept is not None else np.ones(len(d.sentences), dtype=bool)
    rows = d.rows.copy()
    features = dict(zip(("similarity", "gap", "standing"), similarity_features(d.sentences @ q)))
    for name, column in features.items():
        rows[:, FEATURES.index(name)] = column[kept]
    answer_row = d.answer_row
    if d.coverage is not None:
        answer_row = answer_row.copy()
        answer_row[ANSWERABLE_FEATURES.index("best_coverage")] = best_coverage(features["gap"], d.coverage)
    return replace(d, rows=rows, answer_row=answer_row)


def fit_answerable(data: Sequence[Labelled], l2: float = 0.1) -> tuple[np.ndarray, float]:
    """Logistic regression of answerability; within each suite the two classes weigh equally, and
    every suite weighs the same (a large suite does not set what counts as answerable elsewhere)."""
    x = np.array([d.answer_row for d in data])
    y = np.array([d.answerable for d in data], dtype=float)
    if y.all() or not y.any():
        raise ValueError("answerability needs both answerable and unanswerable cases")
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    weight = balanced_weights([d.group for d in data], y.astype(bool))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        logits = z @ w + b
        p = 1 / (1 + np.exp(-np.clip(logits, -30, 30)))
        eps = 1e-12
        value = -float(np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))) / len(y)
        value += l2 * float(w @ w)
        g = weight * (p - y) / len(y)
        return value, np.concatenate([z.T @ g + 2 * l2 * w, [g.sum()]])

    result = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    w_std, b_std = result.x[:-1], result.x[-1]
    # back to the raw features' units, so the stored weights apply to raw rows
    w = w_std / std
    b = b_std - float((mean / std) @ w_std)
    return w, float(b)


@dataclass(frozen=True)
class Answerability:
    """Whether the evidence answers the question, as the fitted model judges it."""

    answerable: bool
    probability: float


class Ranker:
    """Scores candidates with the fitted weights and judges answerability.

    >>> ranker = Ranker(CandidateFeatures(index, analyzer, facts), default_weights())
    >>> scores = ranker.scores(analysis, evidence)
    """

    def __init__(self, features: CandidateFeatures, weights: Weights | None = None) -> None:
        self.features = features
        self.weights = weights or default_weights()

    def rows(self, analysis: QuestionAnalysis, evidence: Evidence) -> np.ndarray:
        """Each candidate's feature row, in candidate order."""
        return self.features.rows(analysis, evidence, self.weights.adapter)

    def scores(self, analysis: QuestionAnalysis, evidence: Evidence,
               rows: np.ndarray | None = None) -> np.ndarray:
        """The relevance score of each candidate, in candidate order (from `rows` if given)."""
        return self.weights.score(self.rows(analysis, evidence) if rows is None else rows)

    def answerability(self, analysis: QuestionAnalysis, evidence: Evidence, coverage: Any,
                      rows: np.ndarray, scores: np.ndarray,
                      quotable: np.ndarray | None = None) -> Answerability:
        """P(answerable) from the evidence, the coverage check's findings and the candidates' rows
        and scores (`quotable`: which candidates an answer may quote; None: all)."""
        if self.weights.by_coverage:
            return Answerability(coverage.answerable, float(coverage.answerable))
        own = rows if quotable is None else rows[kept_rows(quotable)]
        row = answerability_features(analysis, evidence, coverage, rows, scores, self.weights.best_lead(own))
        p = self.weights.answerability(row)
        return Answerability(p >= self.weights.threshold, p)


def answerability_features(analysis: QuestionAnalysis, evidence: Evidence, coverage: Any,
                           rows: np.ndarray, scores: np.ndarray, best_lead: float) -> np.ndarray:
    """The answerability row of one question from its coverage check (a `Coverage`). Neither a
    subject word the corpus never uses nor the check's strict share (the subject words the
    evidence speaks of near a cue of the asked aspect) is a feature: held out, each refused
    answerable questions of the new guidelines and their lay questions and no more traps
    (docs/answer-stage.md)."""
    # a word the corpus names in a sentence or two, left out by the evidence, marks a subject the
    # corpus does not treat; one it names in hundreds of sentences does not
    in_passing = max((1.0 / math.log2(2 + m.sentences) for m in coverage.uncovered if m.sentences),
                     default=0.0)
    return answerability_row(evidence, coverage.on_aspect, in_passing, rows, scores, best_lead)
