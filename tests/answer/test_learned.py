"""The fitted answer stage's maths and weights file (fast: synthetic rows, no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from ragqa.answer.learned import (
    ANSWERABLE_FEATURES,
    FEATURES,
    WEIGHTS_FILE,
    Adapter,
    Labelled,
    Weights,
    balanced_weights,
    default_weights,
    fit_adapter,
    fit_answerable,
    fit_leading,
    fit_relevance,
    load_weights,
    readapted,
)


def _question(rng: np.random.Generator, group: str, answerable: bool = True,
              informative: int = 0) -> Labelled:
    """Twelve candidates of random features; the one highest on feature `informative` leads."""
    rows = rng.random((12, len(FEATURES)))
    lead = np.zeros(12, dtype=bool)
    lead[int(np.argmax(rows[:, informative]))] = True
    answer_row = rng.random(len(ANSWERABLE_FEATURES))
    answer_row[0] = (0.7 if answerable else 0.3) + rng.normal(0, 0.05)
    return Labelled(group, f"{group}-{rng.integers(1 << 30)}", rows, lead, answer_row, answerable)


def test_the_shipped_weights_name_every_feature_and_say_how_they_were_fitted():
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert set(data["relevance"]) == set(FEATURES)
    assert set(data["answerable"]) == set(ANSWERABLE_FEATURES)
    assert data["provenance"]["command"].startswith("ragqa fit")
    assert data["provenance"]["suites"], "the weights must name the suites they were fitted on"
    assert default_weights().relevance == tuple(float(data["relevance"][n]) for n in FEATURES)


def test_weights_round_trip_through_their_file(tmp_path):
    weights = Weights(tuple(float(i) for i in range(len(FEATURES))), 0.5,
                      tuple(i / 4 for i in range(len(ANSWERABLE_FEATURES))), -1.0, 0.4, 0.2,
                      {"command": "ragqa fit"}, leading=tuple(-i / 8 for i in range(len(FEATURES))),
                      leading_bias=0.75)
    weights.save(tmp_path / "w.json")
    assert load_weights(tmp_path / "w.json") == weights


def test_a_weights_file_missing_a_feature_is_refused_by_name(tmp_path):
    data = default_weights().to_json()
    del data["relevance"]["similarity"]
    (tmp_path / "w.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"field 'relevance': features differ.*similarity"):
        load_weights(tmp_path / "w.json")


def test_a_weights_file_of_another_version_is_refused(tmp_path):
    data = {**default_weights().to_json(), "version": 99}
    (tmp_path / "w.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"field 'version': expected 1, got 99"):
        load_weights(tmp_path / "w.json")


def test_the_relevance_fit_finds_the_feature_that_picks_the_lead():
    rng = np.random.default_rng(0)
    informative = FEATURES.index("coverage")
    data = [_question(rng, "a", informative=informative) for _ in range(400)]
    w = fit_relevance(data, l2=0.001)
    assert int(np.argmax(w)) == informative
    held = [_question(rng, "b", informative=informative) for _ in range(40)]
    top1 = np.mean([d.lead[int(np.argmax(d.rows @ w))] for d in held])
    assert top1 >= 0.85


def test_the_relevance_fit_is_deterministic():
    rng = np.random.default_rng(1)
    data = [_question(rng, "a") for _ in range(30)]
    assert np.array_equal(fit_relevance(data), fit_relevance(data))


def test_a_prior_holds_weights_the_data_does_not_move():
    rng = np.random.default_rng(2)
    data = [_question(rng, "a") for _ in range(30)]
    prior = np.zeros(len(FEATURES))
    prior[FEATURES.index("asks")] = -3.0
    w = fit_relevance(data, l2=1.0, prior=prior)
    assert w[FEATURES.index("asks")] < -1.0


def test_a_fit_without_any_leading_candidate_is_refused():
    rng = np.random.default_rng(3)
    q = _question(rng, "a")
    with pytest.raises(ValueError, match="no labelled question"):
        fit_relevance([Labelled("a", "x", q.rows, np.zeros(12, dtype=bool), q.answer_row, True)])


def test_every_suite_and_class_weighs_the_same():
    groups = ["big"] * 8 + ["small"] * 2
    positive = np.array([True] * 6 + [False] * 2 + [True, False])
    w = balanced_weights(groups, positive)
    cells: dict[tuple[str, bool], float] = {}
    for g, p, x in zip(groups, positive.tolist(), w):
        cells[(g, p)] = cells.get((g, p), 0.0) + x
    assert np.allclose(list(cells.values()), next(iter(cells.values())))
    assert w.mean() == pytest.approx(1.0)


def test_answerability_separates_both_classes_at_even_odds():
    rng = np.random.default_rng(4)
    data = [_question(rng, g, answerable=bool(i % 4)) for g in ("a", "b") for i in range(40)]
    w, b = fit_answerable(data)
    threshold = 0.5  # the balanced model's own boundary (fit.ANSWERABLE_THRESHOLD)
    p = np.array([1 / (1 + np.exp(-(d.answer_row @ w + b))) for d in data])
    y = np.array([d.answerable for d in data])
    assert (p[y] >= threshold).mean() > 0.9 and (p[~y] < threshold).mean() > 0.9


def test_the_leading_model_tells_an_answering_candidate_from_none_across_questions():
    # within a question the relevance score ignores what all candidates share; the leading model
    # sees it: a question whose candidates all score low on the informative feature has no answer
    rng = np.random.default_rng(6)
    informative = FEATURES.index("similarity")

    def question(answerable: bool) -> Labelled:
        q = _question(rng, "a", answerable=answerable, informative=informative)
        rows = q.rows.copy()
        rows[:, informative] *= 1.0 if answerable else 0.5
        return Labelled("a", q.case_id, rows, q.lead if answerable else np.zeros(12, dtype=bool),
                        q.answer_row, answerable)

    data = [question(bool(i % 3)) for i in range(300)]
    w, b = fit_leading(data)
    assert int(np.argmax(w)) == informative
    weights = Weights(tuple(0.0 for _ in FEATURES), 1.0, tuple(0.0 for _ in ANSWERABLE_FEATURES),
                      0.0, 0.5, leading=tuple(w), leading_bias=b)
    held = [question(bool(i % 2)) for i in range(60)]
    best = np.array([weights.best_lead(d.rows) for d in held])
    answerable = np.array([d.answerable for d in held])
    assert best[answerable].mean() > best[~answerable].mean() + 0.2
    assert np.array_equal(fit_leading(data)[0], w)  # deterministic
    assert weights.best_lead(np.zeros((0, len(FEATURES)))) == 0.0


def test_answerability_needs_both_classes():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="both answerable and unanswerable"):
        fit_answerable([_question(rng, "a") for _ in range(5)])


@pytest.mark.parametrize("text, kind, section, labels", [
    ("Figure 2 Investigation of the patient with non-responsive disease.", "caption", ("Doc",), True),
    ("No follow-up time is reported in these studies.", "table_note", ("Doc",), True),
    ("Guideline for the treatment of hypertension in adults.", "prose", ("Doc",), True),   # the title again
    ("Monitoring.", "prose", ("Doc", "Monitoring"), True),                                 # its heading again
    ("Coeliac Disease Center at Columbia University, New York, New York, USA", "prose", ("Doc",), True),
    ("Bone density should be measured after 1 year of diet.", "prose", ("Doc",), False),
])
def test_the_aside_feature_marks_what_labels_rather_than_states(text, kind, section, labels):
    from types import SimpleNamespace

    from ragqa.answer.learned import CandidateFeatures
    from ragqa.ingest.layout import BlockKind

    owner = SimpleNamespace(index=SimpleNamespace(documents={
        "d": SimpleNamespace(title="Guideline for the treatment of hypertension in adults")}))
    sentence = SimpleNamespace(doc_id="d", kind=BlockKind(kind), section=section)
    assert CandidateFeatures._labels(owner, sentence, text) is labels


def test_the_before_weights_let_the_coverage_check_decide(tmp_path):
    from ragqa.answer.learned import load_weights
    from ragqa.config import PROJECT_ROOT

    before = load_weights(PROJECT_ROOT / "eval" / "hand_weights.json")
    assert before.by_coverage
    path = tmp_path / "w.json"
    before.save(path)
    assert load_weights(path).by_coverage
    data = json.loads(path.read_text())
    data["answerability"] = "vibes"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="field 'answerability'"):
        load_weights(path)


# -- the query adapter ----------------------------------------------------------------------------

DIM = 8
# the answers are phrased differently from their questions: the leading sentence lies along a fixed
# permutation of the question's vector, while its distractors share the question's own direction
PHRASING = np.eye(DIM)[np.roll(np.arange(DIM), 3)]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _asked(rng: np.random.Generator, group: str) -> Labelled:
    q = _unit(rng.normal(size=DIM))
    distractors = _unit(q + 0.8 * rng.normal(size=(7, DIM)))
    sentences = np.vstack([_unit(PHRASING @ q + 0.1 * rng.normal(size=DIM)), distractors])
    lead = np.zeros(8, dtype=bool)
    lead[0] = True
    rows = np.zeros((8, len(FEATURES)))
    return readapted(Labelled(group, f"{group}-{rng.integers(1 << 30)}", rows, lead,
                              np.zeros(len(ANSWERABLE_FEATURES)), True, q, sentences), None)


def _top1(cases: list[Labelled], adapter: Adapter | None) -> float:
    similarity = FEATURES.index("similarity")
    return float(np.mean([readapted(d, adapter).rows[:, similarity].argmax() == 0 for d in cases]))


def test_the_adapter_learns_how_answers_are_phrased_and_holds_on_new_questions():
    rng = np.random.default_rng(5)
    train = [_asked(rng, g) for g in ("a", "b") for _ in range(40)]
    unseen = [_asked(rng, "c") for _ in range(40)]
    adapter = fit_adapter(train, "model-x", l2=0.001)
    assert _top1(unseen, None) < 0.5
    assert _top1(unseen, adapter) >= 0.9


def test_the_adapter_fit_is_deterministic():
    rng = np.random.default_rng(6)
    train = [_asked(rng, "a") for _ in range(30)]
    assert fit_adapter(train, "m") == fit_adapter(train, "m")


def test_readapting_without_an_adapter_gives_the_plain_similarity_features():
    rng = np.random.default_rng(7)
    d = _asked(rng, "a")
    sims = d.sentences @ d.vector
    assert np.allclose(d.rows[:, FEATURES.index("similarity")], sims)
    assert np.allclose(d.rows[:, FEATURES.index("gap")], sims - sims.max())


def test_readapting_recomputes_best_coverage_so_a_fold_does_not_depend_on_the_shipped_adapter():
    # the answerability row's best_coverage is the best coverage among the candidates near the best
    # similarity: which are near depends on the adapter, so it is read again for the fold's adapter
    rng = np.random.default_rng(9)
    d = _asked(rng, "a")
    coverage = np.linspace(0.1, 0.8, len(d.sentences))
    collected = replace(d, coverage=coverage)
    adapter = Adapter.fitted(rng.normal(size=(DIM, DIM)), "model-x")
    # as the same case collected under two other shipped adapters: same result for the fold's one
    stale_a = replace(collected, answer_row=np.full(len(ANSWERABLE_FEATURES), 0.0))
    stale_b = replace(collected, answer_row=np.full(len(ANSWERABLE_FEATURES), 1.0))
    column = ANSWERABLE_FEATURES.index("best_coverage")
    sims = d.sentences @ adapter.adapt(d.vector)
    expected = coverage[sims >= sims.max() - 0.1].max()
    assert readapted(stale_a, adapter).answer_row[column] == pytest.approx(expected)
    assert readapted(stale_b, adapter).answer_row[column] == pytest.approx(expected)


def test_weights_and_their_adapter_round_trip_through_their_files(tmp_path):
    rng = np.random.default_rng(8)
    adapter = Adapter.fitted(rng.normal(size=(DIM, DIM)) * 0.1, "model-x")
    weights = Weights(tuple(float(i) for i in range(len(FEATURES))), 0.5,
                      tuple(i / 4 for i in range(len(ANSWERABLE_FEATURES))), -1.0, 0.4, 0.2,
                      {"command": "ragqa fit"}, adapter=adapter)
    weights.save(tmp_path / "w.json")
    assert (tmp_path / "w.adapter.npy").is_file()
    assert load_weights(tmp_path / "w.json") == weights


def test_an_adapter_file_that_changed_or_names_a_path_is_refused(tmp_path):
    weights = Weights(tuple(0.0 for _ in FEATURES), 0.5, tuple(0.0 for _ in ANSWERABLE_FEATURES),
                      0.0, 0.5, adapter=Adapter.fitted(np.eye(DIM) * 0.1, "model-x"))
    weights.save(tmp_path / "w.json")
    matrix = np.load(tmp_path / "w.adapter.npy", allow_pickle=False)
    np.save(tmp_path / "w.adapter.npy", matrix * 2, allow_pickle=False)
    with pytest.raises(ValueError, match=r"field 'adapter': w.adapter.npy does not match its recorded SHA-256"):
        load_weights(tmp_path / "w.json")
    data = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    data["adapter"]["file"] = "../elsewhere.npy"
    (tmp_path / "w.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"field 'adapter': file must be a .npy name beside the weights"):
        load_weights(tmp_path / "w.json")


def test_an_adapter_is_used_only_with_the_model_it_was_fitted_for():
    adapter = Adapter.fitted(np.zeros((DIM, DIM)), "model-x")
    index = SimpleNamespace(manifest={"model": {"name": "model-x", "dim": DIM}},
                            sentence_vectors=np.zeros((3, DIM), dtype=np.float32))
    assert adapter.fits(index)
    assert not adapter.fits(SimpleNamespace(manifest={"model": {"name": "model-y", "dim": DIM}},
                                            sentence_vectors=index.sentence_vectors))
    assert not adapter.fits(SimpleNamespace(manifest=index.manifest,
                                            sentence_vectors=np.zeros((3, 4), dtype=np.float32)))


def test_the_shipped_adapter_is_fitted_for_the_default_model():
    adapter = default_weights().adapter
    assert adapter is not None
    assert adapter.model == "sentence-transformers/all-MiniLM-L6-v2" and adapter.dim == 384


def test_ragqa_fit_brings_the_guideline_suites_index_up_to_date_before_it_fits(monkeypatch, tmp_path):
    from ragqa.evaluation import commands, fit, suites

    calls = []
    monkeypatch.setattr(commands, "load_embedder", lambda *a, **k: "embedder")
    monkeypatch.setattr(suites, "load_suite_documents", lambda *a, **k: {})
    monkeypatch.setattr(suites, "read_suite_documents", lambda corpus, entries: ["documents"])
    monkeypatch.setattr(suites, "suite_index", lambda documents, directory, embedder, seed=None: (
        calls.append(("index", directory, embedder)) or SimpleNamespace(rebuilt=False)))
    monkeypatch.setattr(fit, "load_groups", lambda *a: calls.append(("groups", a[-1])) or [])

    class Fitted(Exception):
        pass

    def fit_weights(*args, **kwargs):
        raise Fitted

    args = SimpleNamespace(suites=fit.GUIDELINE_SUITES, suite=None, exclude=None,
                           suites_index=tmp_path / "suites", index_dir=tmp_path / "default",
                           out=tmp_path / "w.json")
    monkeypatch.setattr(fit, "fit_weights", fit_weights)
    with pytest.raises(Fitted):
        fit.fit_command(args)
    assert calls == [("index", tmp_path / "suites", "embedder"), ("groups", "embedder")]


def test_a_sentence_leaning_on_the_one_before_is_featured_by_what_its_quote_holds(tmp_path, fake_embedder):
    # "It is taken at 120 mg ..." names no drug: its quote reaches back to the sentence that does,
    # so the subject and form features see the drug as the answer will show it
    from ragqa.answer.engine import AnswerEngine
    from ragqa.index.store import load_index, update_index
    from ragqa.ingest.context import quote_span

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "orlistat.md").write_text(
        "---\nid: orlistat\ntitle: Orlistat\npublisher: P\nyear: 2022\ndoc_type: guideline\n---\n\n"
        "# Drugs\n\nOrlistat is a lipase inhibitor approved for weight loss. "
        "It is taken at a dose of 120 mg three times a day with meals.\n", encoding="utf-8")
    update_index(corpus, tmp_path / "idx", fake_embedder)
    engine = AnswerEngine(load_index(tmp_path / "idx", fake_embedder), fake_embedder)
    sentences = engine.index.sentences
    leaning = next(i for i, s in enumerate(sentences) if s.text.startswith("It is taken"))
    assert quote_span(sentences, leaning).first == leaning - 1
    terms, _ = engine.ranker.features._quoted(leaning)
    assert "orlistat" in terms and "orlistat" not in engine.ranker.features.facts[leaning].terms
    alone = next(i for i, s in enumerate(sentences) if s.text.startswith("Orlistat is"))
    assert engine.ranker.features._quoted(alone)[0] == engine.ranker.features.facts[alone].terms


def test_each_suites_answerability_inputs_come_from_models_fitted_without_it():
    # suite "a" is led by coverage, suite "b" by bm25: the models that score a's questions for the
    # answerability fit must be b's (a new guideline is scored by models that never saw it)
    from ragqa.evaluation.fit import cross_models

    rng = np.random.default_rng(7)
    cov, bm25 = FEATURES.index("coverage"), FEATURES.index("bm25")
    data = ([_question(rng, "a", informative=cov) for _ in range(200)]
            + [_question(rng, "b", informative=bm25) for _ in range(200)])
    models = cross_models(data)
    assert sorted(models) == ["a", "b"]
    relevance_for_a, leading_for_a, _ = models["a"]
    relevance_for_b, leading_for_b, _ = models["b"]
    assert relevance_for_a[bm25] > relevance_for_b[bm25]
    assert relevance_for_b[cov] > relevance_for_a[cov]
    assert leading_for_a[bm25] > leading_for_b[bm25]
    assert cross_models(data[:200]) == {}
