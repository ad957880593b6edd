"""A quick held-out reading of the fitted models, for trying a feature before a full benchmark run.

    python eval/held_out_quick.py [--out FILE.json]

Collects every case of the fit set once (as `ragqa fit` does: `eval/guidelines.jsonl` over the
default index, `eval/suites/*.jsonl` over `indexes/suites`), then for each suite fits the query
adapter, the relevance model and the leading model without it (`fit.fit_models`, as `ragqa fit`
does), and the answerability model on their scores, without the score's scale and margin grid, which
asks whole answers, and reads on the held-out suite:

- top 1 / top 3: answerable cases with a leading candidate whose best- (top three-) scored
  candidate may lead the answer, of `n` such cases;
- no lead: answerable cases with a `lead` label where no candidate may lead (a retrieval miss);
- false abstention and traps refused, by the answerability model at its threshold (the scope check
  that `ragqa ask` runs after it is not applied, so fewer traps are refused than in a full run).

About a minute and a half on 2 cores. It is a screen, not a result: the figures a change is judged
by are `ragqa eval --suites` and `ragqa eval --suite eval/guidelines.jsonl --held-out`
(eval/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ragqa.answer.learned import readapted
from ragqa.evaluation import fit as F
from ragqa.evaluation.commands import load_embedder, suite_name


def held_out(collected: dict, model: str, name: str) -> dict[str, int]:
    """The figures of suite `name` read with models fitted on the other suites."""
    fitted = F.fit_models([d for g, data in collected.items() if g != name for d in data], model)
    weights = fitted.weights(1.0)
    w, b = F.fit_answerability(fitted.data, weights, fitted.inner)
    weights = replace(weights, answerable=tuple(w), answerable_bias=b)
    found = {key: 0 for key in ("top1", "top3", "n", "no_lead", "answerable", "false_abstention",
                                "traps", "traps_refused")}
    for d in collected[name]:
        d = F.rescored(readapted(d, fitted.adapter), weights)
        refused = weights.answerability(d.answer_row) < weights.threshold
        if not d.answerable:
            found["traps"] += 1
            found["traps_refused"] += refused
            continue
        found["answerable"] += 1
        found["false_abstention"] += refused
        if not d.lead.any():
            found["no_lead"] += bool(len(d.rows))
            continue
        order = np.argsort(-weights.score(d.rows))
        found["n"] += 1
        found["top1"] += bool(d.lead[order[0]])
        found["top3"] += bool(d.lead[order[:3]].any())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    held = F.HeldOut.default(load_embedder())
    collected = held.collected()
    model = F.model_of(held.groups)
    figures = {}
    for name in sorted(collected):
        figures[name] = held_out(collected, model, name)
        print(name, json.dumps(figures[name]), flush=True)
    suites = [n for n in figures if n not in {suite_name(Path(s)) for s in F.DEFAULT_SUITES}]
    print("guideline suites", json.dumps({k: sum(figures[n][k] for n in suites) for k in figures[suites[0]]}))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
