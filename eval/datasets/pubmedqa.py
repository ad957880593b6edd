"""Convert PubMedQA (PQA-L) into a ragqa JSONL corpus and a question list.

    python eval/datasets/pubmedqa.py [--source ../shared/datasets/pubmedqa/ori_pqal.json] --out DIR

writes DIR/corpus.jsonl (one document per PMID, its context paragraphs as sections, labelled by their
section labels; the question is not used, so it cannot leak into the document) and DIR/suite.jsonl
(one eval case per question, gold `docs` = that PMID's document id, `facts` empty).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "datasets" / "pubmedqa" / "ori_pqal.json"


def doc_id(pmid: str) -> str:
    """The corpus document id of a PubMed id."""
    return f"pubmed-{pmid}"


def load(source: Path = DEFAULT_SOURCE) -> dict[str, dict]:
    """The raw PubMedQA entries keyed by PMID."""
    if not source.is_file():
        raise SystemExit(f"PubMedQA not found at {source} (see shared/datasets/pubmedqa/README.md)")
    return json.loads(source.read_text(encoding="utf-8"))


def to_documents(entries: dict[str, dict]) -> list[dict]:
    """One ragqa document record per PMID; the title names the PMID, never the question."""
    documents = []
    for pmid, entry in entries.items():
        labels = entry.get("LABELS") or []
        sections = [
            {"heading": (labels[i] if i < len(labels) else "").title(), "text": context}
            for i, context in enumerate(entry["CONTEXTS"])
        ]
        documents.append({
            "id": doc_id(pmid),
            "title": f"PubMed abstract {pmid}",
            "publisher": "PubMed",
            "year": int(entry.get("YEAR") or 2000),
            "doc_type": "other",
            "pmid": pmid,
            "sections": sections,
        })
    return documents


def to_suite(entries: dict[str, dict]) -> list[dict]:
    """One eval case per question: the gold document is the abstract it was written from."""
    return [
        {"id": f"pubmedqa-{pmid}", "question": entry["QUESTION"], "docs": [doc_id(pmid)],
         "tags": ["pubmedqa", entry.get("final_decision", "unknown")]}
        for pmid, entry in entries.items()
    ]


def write(out: Path, source: Path = DEFAULT_SOURCE) -> tuple[Path, Path]:
    """Write corpus.jsonl and suite.jsonl into `out`; returns their paths."""
    entries = load(source)
    out.mkdir(parents=True, exist_ok=True)
    corpus, suite = out / "corpus.jsonl", out / "suite.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in to_documents(entries)))
    suite.write_text("".join(json.dumps(c) + "\n" for c in to_suite(entries)))
    return corpus, suite


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    corpus, suite = write(args.out, args.source)
    print(f"wrote {corpus} and {suite}")


if __name__ == "__main__":
    main()
