"""Re-index on the Milvus backend while questions keep coming: count lost requests.

Loads an on-disk index, publishes it to a fresh embedded Milvus (or RAGQA_MILVUS_URI when it names
a server), then asks the suite's questions in a loop from `--clients` threads through the answer
engine on the Milvus backend while the index is re-published `--reindexes` times, alternating
between the corpus minus one document and the whole corpus (vectors reused from the on-disk build,
as `ragqa index` does). Prints every request's outcome count and the collections the alias served.

    python eval/milvus_reindex_loop.py --index-dir indexes/default --suite eval/guidelines.jsonl
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from ragqa.answer.engine import AnswerEngine
from ragqa.config import get_settings
from ragqa.errors import RagqaError
from ragqa.evaluation.suite import load_suite
from ragqa.index.embed import SentenceTransformerEmbedder
from ragqa.index.milvus import Kind, MilvusStore, is_embedded
from ragqa.index.store import build_index, load_index
from ragqa.retrieve import MilvusBackend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="indexes/default")
    parser.add_argument("--suite", default="eval/guidelines.jsonl")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--reindexes", type=int, default=4)
    args = parser.parse_args()

    settings = get_settings()
    embedder = SentenceTransformerEmbedder.from_settings(settings)
    index = load_index(Path(args.index_dir), embedder)
    uri = settings.milvus_uri
    if is_embedded(uri):
        uri = str(Path(tempfile.mkdtemp(prefix="ragqa-reindex-")) / "loop.db")
    store = MilvusStore.open(uri, "reindex_loop", settings.milvus_token)
    store.drop_all()
    store.publish(index)
    dropped = min(index.documents)
    smaller = build_index([d for d in index.documents.values() if d.id != dropped], embedder,
                          previous=index)
    questions = [case.question for case in load_suite(Path(args.suite))]

    stop = threading.Event()
    lock = threading.Lock()
    counts = {"answered": 0, "abstained": 0, "refused": 0, "failed": 0}
    failures: list[str] = []

    def client(offset: int) -> None:
        engine = AnswerEngine(index, embedder)
        engine.retriever.backend = MilvusBackend(index, store)
        i = offset
        while not stop.is_set():
            question = questions[i % len(questions)]
            i += 1
            try:
                answer = engine.ask(question)
                outcome = "abstained" if answer.abstained else "answered"
            except RagqaError:
                outcome = "refused"  # a question the engine refuses by design (too long, ...)
            except Exception as exc:  # noqa: BLE001 - anything else is a lost request
                outcome = "failed"
                with lock:
                    failures.append(f"{question!r}: {exc!r}")
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=client, args=(n * 7,)) for n in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    served = [store.served()[Kind.CHUNKS.value]]
    publish_s = []
    for n in range(args.reindexes):
        time.sleep(2.0)
        report = store.publish(smaller if n % 2 == 0 else index)
        publish_s.append(report.seconds)
        served.append(report.collections[Kind.CHUNKS.value])
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(f"{total} requests from {args.clients} clients in {seconds:.1f} s during "
          f"{args.reindexes} re-indexes (publish {min(publish_s):.1f}-{max(publish_s):.1f} s each): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"alias {store.alias(Kind.CHUNKS)} served, in turn: {' -> '.join(served)}")
    left = [c for c in store.client.list_collections() if c.startswith(f"{store.base}_")]
    print(f"collections left after the last switch: {', '.join(sorted(left))}")
    for failure in failures[:10]:
        print(f"  lost: {failure}")
    store.drop_all()
    return 1 if counts["failed"] or len(set(served)) != len(served) else 0


if __name__ == "__main__":
    raise SystemExit(main())
