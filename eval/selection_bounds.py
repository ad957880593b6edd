"""Choose the selection's bounds (how many statements a narrow answer quotes, the margin that admits
them, the bottom line's size) leave-one-guideline-out, and measure a choice with refitted weights.

    python eval/selection_bounds.py --grid narrow_max=3,4,6 --grid narrow_margin=0.04,0.08,0.12 \
        --grid lead_size=2,3 [--fit-with '{"narrow_max": 6, "narrow_margin": 0.08}'] \
        [--refit '{"narrow_max": 6, "narrow_margin": 0.08}' '{}']

The grid: weights are fitted once per fold of the fit set without that fold (`HeldOut`, with the
selection bounds of `--fit-with` while fitting), then every combination of the grid is scored on
each guideline suite (`eval/suites/`), its lay questions (`eval/lay/`) and `eval/guidelines.jsonl`.
Each guideline suite is then scored with the combination best on the other suites and
`eval/guidelines.jsonl`, by the mean of pass rate and statement precision (the criterion of
`ragqa fit`'s own grid). `--refit`: for each set of bounds, every fold's weights are fitted again
under them, and the held-out and in-sample figures are printed (docs/answer-stage.md, "How long a
narrow answer is").
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ragqa.evaluation.commands import load_embedder
from ragqa.evaluation.fit import HeldOut, fit_weights
from ragqa.evaluation.runner import score_case
from ragqa.evaluation.suite import load_suite
from ragqa.evaluation.suites import suite_scores

ROOT = Path(__file__).resolve().parents[1]


def scored(engine: Any, cases: Any) -> dict[str, float]:
    """One suite's benchmark figures (`suite_scores`), with the statements and bottom-line
    statements per narrow answer."""
    documents = {d.id: d.text for d in engine.index.documents.values()}
    answers = [engine.ask(c.question) for c in cases]
    results = [score_case(c, "hybrid", a, 0.0, documents) for c, a in zip(cases, answers)]
    pooled = suite_scores(results)
    narrow = [(r, a) for r, a, c in zip(results, answers, cases) if not r.abstained and "broad" not in c.tags]
    return {"passed": pooled.passed, "cases": pooled.cases,
            "precision": pooled.statement_precision if pooled.statement_precision is not None else 1.0,
            "statements": float(np.mean([r.extract_statements for r, _ in narrow])) if narrow else 0.0,
            "bottom_line": float(np.mean([len(a.bottom_line) for _, a in narrow])) if narrow else 0.0,
            "false_abstentions": pooled.false_abstentions, "traps_abstained": pooled.trap_abstentions}


class Bounds:
    """The fit set's engines, with selection bounds set on all of them at once."""

    def __init__(self, held: HeldOut) -> None:
        self.held = held
        self.engines = {id(g.engine): g.engine for g in held.groups}
        self.base = {key: e.selector.params for key, e in self.engines.items()}
        self.lay = {g.name: load_suite(path) for g in held.groups
                    if (path := ROOT / "eval" / "lay" / f"{g.name}.jsonl").exists()}

    def set(self, bounds: dict[str, Any]) -> None:
        for key, engine in self.engines.items():
            engine.selector.params = replace(self.base[key], **bounds)

    def score(self, weights_of: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Every group, and its lay questions, scored with the weights fitted without it."""
        out = {}
        for g in self.held.groups:
            engine = g.engine.with_weights(weights_of[g.name])
            out[g.name] = scored(engine, g.cases)
            if g.name in self.lay:
                out[f"lay-{g.name}"] = scored(engine, self.lay[g.name])
        return out


def criterion(result: dict[str, float]) -> float:
    return (result["passed"] / result["cases"] + result["precision"]) / 2


def grid(bounds: Bounds, axes: dict[str, list[Any]], fit_with: dict[str, Any]) -> None:
    bounds.set(fit_with)
    weights = {g.name: bounds.held.without(g.name) for g in bounds.held.groups}
    results = {}
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values))
        bounds.set(point)
        results[json.dumps(point)] = found = bounds.score(weights)
        print(json.dumps(point), " ".join(f"{k}: {v['passed']}, {v['precision']:.3f}, {v['statements']:.2f}"
                                          for k, v in found.items()), flush=True)
    suites = [g.name for g in bounds.held.groups if g.name in bounds.lay]
    others = [g.name for g in bounds.held.groups if g.name not in bounds.lay]
    total = lay = 0
    for name in suites:
        train = [s for s in suites if s != name] + others
        best = max(results, key=lambda k: np.mean([criterion(results[k][t]) for t in train]))
        total += results[best][name]["passed"]
        lay += results[best][f"lay-{name}"]["passed"]
        print(f"held out {name}: chose {best}, passed {results[best][name]['passed']}")
    print(f"leave-one-guideline-out choice: suites {total} passed, lay {lay} passed")


def refit(bounds: Bounds, points: list[dict[str, Any]]) -> None:
    suites = [g.name for g in bounds.held.groups if g.name in bounds.lay]
    for point in points:
        bounds.set(point)
        bounds.held.forget()
        found = bounds.score({g.name: bounds.held.without(g.name) for g in bounds.held.groups})
        everything = fit_weights(bounds.held.groups, collected=bounds.held.collected())
        for g in bounds.held.groups:
            if g.name not in bounds.lay:
                found[f"{g.name} (in sample)"] = scored(g.engine.with_weights(everything), g.cases)
        pooled = {k: sum(found[s][k] for s in suites) for k in ("passed", "false_abstentions", "traps_abstained")}
        print(json.dumps(point), f"suites held out: {pooled['passed']} passed, "
              f"{pooled['false_abstentions']} false abstentions, {pooled['traps_abstained']} traps abstained, "
              f"statements {np.mean([found[s]['statements'] for s in suites]):.2f}, "
              f"bottom line {np.mean([found[s]['bottom_line'] for s in suites]):.2f}, "
              f"precision {np.mean([found[s]['precision'] for s in suites]):.3f}; "
              f"lay {sum(found[f'lay-{s}']['passed'] for s in suites)} passed", flush=True)
        for name, result in found.items():
            print(f"    {name}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in result.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="a SelectionParams field and the values to try (repeatable)")
    parser.add_argument("--fit-with", default="{}", help="the bounds the grid's weights are fitted under (JSON)")
    parser.add_argument("--refit", nargs="*", default=[], metavar="JSON",
                        help="sets of bounds to refit every fold under and measure")
    args = parser.parse_args()
    bounds = Bounds(HeldOut.default(load_embedder()))
    if args.grid:
        axes = {}
        for item in args.grid:
            name, _, values = item.partition("=")
            axes[name] = [json.loads(v) for v in values.split(",")]
        grid(bounds, axes, json.loads(args.fit_with))
    if args.refit:
        refit(bounds, [json.loads(p) for p in args.refit])


if __name__ == "__main__":
    main()
