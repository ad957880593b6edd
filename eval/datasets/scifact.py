"""Convert SciFact (claims, abstracts and rationale sentences) into a ragqa JSONL corpus and a suite.

    python eval/datasets/scifact.py [--source ../shared/datasets/scifact] --out DIR
                                    [--claims N --docs N]   # a small slice (tests, quick runs)

writes DIR/corpus.jsonl (one document per abstract: its title, and its sentences stripped of outer
whitespace and joined by one space, so that every sentence is an exact character span of the text;
SciFact gives no year, publisher or PMID, so the documents have none) and DIR/suite.jsonl: one case
per training claim, asked as is.

- A claim with evidence: gold `docs` = the abstracts holding its rationales, `evidence_spans` = every
  rationale sentence as {doc_id, start, end} into that document's text, tags `scifact`, `support` /
  `contradict` (or both).
- A claim without evidence in the corpus: `evidence_spans: []` and `cited_docs` = the abstracts it
  cites (which hold no rationale for it), tags `scifact`, `no-evidence`. No `abstain`: such a claim
  is scored by whether the answer avoids quoting the cited abstracts, not by abstention.

Source: Wadden et al., "Fact or Fiction: Verifying Scientific Claims", EMNLP 2020 (allenai/scifact).
Claims and annotations CC BY 4.0; abstracts from S2ORC, ODC-By 1.0. Keep this attribution.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "datasets" / "scifact"
SEPARATOR = " "


def doc_id(source_id: int | str) -> str:
    """The corpus document id of a SciFact abstract id."""
    return f"scifact-{source_id}"


def load(source: Path = DEFAULT_SOURCE) -> tuple[list[dict], list[dict]]:
    """The raw abstracts (corpus.jsonl) and training claims (claims_train.jsonl)."""
    corpus, claims = source / "corpus.jsonl", source / "claims_train.jsonl"
    for path in (corpus, claims):
        if not path.is_file():
            raise SystemExit(f"SciFact not found: {path} (see shared/datasets/scifact/README.md)")
    return _read_jsonl(corpus), _read_jsonl(claims)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def join_sentences(sentences: Iterable[str]) -> tuple[str, list[tuple[int, int]]]:
    """The text of an abstract and each sentence's (start, end) in it; empty sentences get (n, n)."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for sentence in sentences:
        piece = sentence.strip()
        if piece and parts:
            position += len(SEPARATOR)
        spans.append((position, position + len(piece)))
        if piece:
            parts.append(piece)
            position += len(piece)
    return SEPARATOR.join(parts), spans


def to_document(abstract: dict) -> tuple[dict, list[tuple[int, int]]]:
    """One ragqa document record for an abstract, and its sentences' spans."""
    text, spans = join_sentences(abstract["abstract"])
    record = {
        "id": doc_id(abstract["doc_id"]),
        "title": abstract["title"].strip(),
        "doc_type": "other",
        "text": text,
    }
    return record, spans


def to_corpus(abstracts: Iterable[dict]) -> tuple[list[dict], dict[str, list[tuple[int, int]]]]:
    """The document records and, by document id, the spans of their sentences."""
    documents, spans = [], {}
    for abstract in abstracts:
        record, sentence_spans = to_document(abstract)
        documents.append(record)
        spans[record["id"]] = sentence_spans
    return documents, spans


def to_case(claim: dict, spans: dict[str, list[tuple[int, int]]]) -> dict:
    """One suite case for a claim (see the module docstring for the two kinds)."""
    case: dict = {"id": f"scifact-{claim['id']}", "question": claim["claim"].strip()}
    evidence = claim.get("evidence") or {}
    if not evidence:
        case["evidence_spans"] = []
        case["cited_docs"] = [doc_id(d) for d in claim.get("cited_doc_ids") or []]
        case["tags"] = ["scifact", "no-evidence"]
        return case
    gold: set[tuple[str, int, int]] = set()
    labels: set[str] = set()
    for source_id, sets in evidence.items():
        document = doc_id(source_id)
        for evidence_set in sets:
            labels.add(evidence_set["label"].lower())
            for i in evidence_set["sentences"]:
                start, end = spans[document][i]
                if end > start:
                    gold.add((document, start, end))
    case["docs"] = sorted({doc_id(d) for d in evidence}, key=list(map(doc_id, evidence)).index)
    case["evidence_spans"] = [{"doc_id": d, "start": s, "end": e} for d, s, e in sorted(gold)]
    case["tags"] = ["scifact", *sorted(labels)]
    return case


def select_slice(abstracts: list[dict], claims: list[dict], n_claims: int,
                 n_docs: int) -> tuple[list[dict], list[dict]]:
    """A small consistent slice: the first claims (about a third without evidence), every abstract
    they need, then other abstracts in corpus order up to `n_docs`."""
    no_evidence = max(1, n_claims // 3) if n_claims > 1 else 0
    with_evidence = [c for c in claims if c.get("evidence")][: n_claims - no_evidence]
    without = [c for c in claims if not c.get("evidence")][:no_evidence]
    chosen = sorted(with_evidence + without, key=lambda c: c["id"])
    needed = {str(d) for c in chosen for d in [*(c.get("evidence") or {}), *c["cited_doc_ids"]]}
    kept = [a for a in abstracts if str(a["doc_id"]) in needed]
    for abstract in abstracts:
        if len(kept) >= n_docs:
            break
        if str(abstract["doc_id"]) not in needed:
            kept.append(abstract)
    return kept, chosen


def write(out: Path, source: Path = DEFAULT_SOURCE, n_claims: int | None = None,
          n_docs: int | None = None) -> tuple[Path, Path]:
    """Write corpus.jsonl and suite.jsonl into `out` (a slice when n_claims is given)."""
    abstracts, claims = load(source)
    if n_claims is not None:
        abstracts, claims = select_slice(abstracts, claims, n_claims, n_docs or 0)
    documents, spans = to_corpus(abstracts)
    out.mkdir(parents=True, exist_ok=True)
    corpus, suite = out / "corpus.jsonl", out / "suite.jsonl"
    corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents),
                      encoding="utf-8")
    suite.write_text("".join(json.dumps(to_case(c, spans), ensure_ascii=False) + "\n"
                             for c in claims), encoding="utf-8")
    return corpus, suite


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder with corpus.jsonl and claims_train.jsonl")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--claims", type=int, help="only this many claims (a slice)")
    parser.add_argument("--docs", type=int, help="with --claims: abstracts in the slice")
    args = parser.parse_args()
    corpus, suite = write(args.out, args.source, args.claims, args.docs)
    print(f"wrote {corpus} and {suite}")


if __name__ == "__main__":
    main()
