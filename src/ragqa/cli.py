"""The `ragqa` command: a thin edge over the library (index, search, ask, show, documents, corpus, serve, eval, bench)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ragqa.defaults import quick_settings
from ragqa.errors import RagqaError


def get_settings():
    """The settings (pydantic; imported only by the commands that need more than quick_settings)."""
    from ragqa.config import get_settings as build

    return build()


def _load_embedder(args: argparse.Namespace, all_cores: bool = False):
    """The embedder of --embedder, else of the settings (RAGQA_EMBEDDER; onnx by default)."""
    from ragqa.index.embed import load_embedder

    return load_embedder(get_settings(), getattr(args, "embedder", None), all_cores=all_cores)


def cmd_index(args: argparse.Namespace) -> int:
    """Build or refresh an index."""
    from ragqa.index.bm25 import BM25Backend
    from ragqa.index.store import FaissKind, IndexParams, update_index
    from ragqa.ingest.chunker import ChunkingParams
    from ragqa.retrieve import Backend

    backend = Backend.parse(args.backend)
    params = IndexParams(
        chunking=ChunkingParams(max_tokens=args.max_tokens, overlap_sentences=args.overlap),
        faiss=FaissKind.parse(args.faiss),
        bm25=BM25Backend.parse(args.bm25),
    )
    corpus = [Path(p) for p in args.corpus] if args.corpus else [get_settings().corpus]
    _print_read_report(corpus)
    report = update_index(corpus, Path(args.index_dir), _load_embedder(args, all_cores=True), params,
                          force=args.force, progress=True)
    _print_build(args, report)
    if backend is Backend.MILVUS:
        _publish_to_milvus(args)
    return 0


def _print_build(args: argparse.Namespace, report) -> None:
    """What `ragqa index` built: counts, embeddings reused, and the diff."""
    manifest = report.manifest
    if not report.rebuilt:
        print(f"index {args.index_dir} is up to date (version {manifest['index_version']}, "
              f"{len(manifest['files'])} files match their SHA-256)")
        return
    counts, diff = manifest["counts"], manifest["diff"]
    print(f"built index {args.index_dir} (version {manifest['index_version']}, {report.reason}) in "
          f"{manifest['build_seconds']:.1f} s: {counts['documents']} documents, "
          f"{counts['chunks']} chunks, {counts['sentences']} sentences")
    print(f"embedded {manifest['embedded']['chunks']} chunks and "
          f"{manifest['embedded']['sentences']} sentences (the rest reused)")
    docs = diff["documents"]
    print(f"diff: documents +{len(docs['added'])} -{len(docs['removed'])} ~{len(docs['changed'])}; "
          f"chunks +{diff['chunks']['added']} -{diff['chunks']['removed']} "
          f"={diff['chunks']['unchanged']}")
    for label in ("added", "removed", "changed"):
        if docs[label] and len(docs[label]) <= 20:
            print(f"  {label}: {', '.join(docs[label])}")


def _publish_to_milvus(args: argparse.Namespace) -> None:
    """Write the index build just made (or found up to date) into Milvus collections beside the
    served ones and switch the aliases, unless Milvus already serves this version."""
    from ragqa.index.milvus import ensure_published
    from ragqa.index.store import load_index
    from ragqa.retrieve import milvus_store

    settings = get_settings()
    index = load_index(Path(args.index_dir))
    store = milvus_store(settings, Path(args.index_dir).name)
    report = (store.publish(index, print) if args.force else
              ensure_published(store, index, print))
    if report is None:
        print(f"milvus {settings.milvus_uri}: already serves version {index.version}")
        return
    rows = ", ".join(f"{n:,} {kind}" for kind, n in report.rows.items())
    print(f"milvus {settings.milvus_uri}: published version {index.version} ({rows}) in "
          f"{report.seconds:.1f} s; aliases switched in {report.switch_ms:.0f} ms; dropped "
          f"{', '.join(report.dropped) or 'nothing'}")


def _print_read_report(corpus: list[Path]) -> None:
    """Per HTML/PDF file, what the reader took (sections, sentences, tables, pages) and skipped."""
    from ragqa.ingest.documents import read_corpus
    from ragqa.ingest.reading import read_summaries

    for line in read_summaries(read_corpus(corpus)):
        print(line)


def cmd_search(args: argparse.Namespace) -> int:
    """Print the top chunks for a query."""
    from ragqa.index.store import load_index
    from ragqa.retrieve import Backend, Mode, Retriever, open_backend

    embedder = _load_embedder(args)
    index = load_index(Path(args.index_dir), embedder)
    backend = open_backend(index, Backend.parse(args.backend))
    result = Retriever(index, embedder, backend=backend).search(args.query, k=args.k,
                                                                 mode=Mode.parse(args.mode))
    rows = []
    for hit in result.hits:
        chunk = index.chunks[hit.chunk_index]
        doc = index.documents[hit.doc_id]
        rows.append({
            "rank": hit.rank, "chunk_id": hit.chunk_id, "doc_id": hit.doc_id, "title": doc.title,
            "section": list(chunk.section), "score": round(hit.score, 5),
            "bm25_rank": hit.bm25_rank, "bm25_score": hit.bm25_score,
            "dense_rank": hit.dense_rank, "dense_score": hit.dense_score,
            "char_start": chunk.char_start, "char_end": chunk.char_end, "text": chunk.text,
        })
    if args.json:
        print(json.dumps({"query": args.query, "hits": rows, "timings_ms": result.timings_ms}, indent=2))
        return 0
    for row in rows:
        print(f"{row['rank']:>2}. [{row['doc_id']}] {row['title']} > {' > '.join(row['section'])}"
              f"  (score {row['score']}, bm25 #{row['bm25_rank']}, dense #{row['dense_rank']})")
        print(f"    {row['text'][:300]}")
    return 0


def _engine(args: argparse.Namespace):
    from ragqa.answer.engine import AnswerEngine
    from ragqa.index.store import load_index
    from ragqa.retrieve import Backend, open_backend

    embedder = _load_embedder(args)
    engine = AnswerEngine(load_index(Path(args.index_dir), embedder), embedder)
    if getattr(args, "backend", None) is not None:  # the engine's retriever took the settings'
        engine.retriever.backend = open_backend(engine.index, Backend.parse(args.backend))
    return engine


ABSTAINED_EXIT = 3  # `ragqa ask --fail-on-abstain` when the answer abstains
ABSTAINED_HEADER = "X-Ragqa-Abstained"  # on a Markdown answer from the server: "true" or "false"


def _ask_server(args: argparse.Namespace) -> tuple[str, bool] | None:
    """(the answer as the server renders it, whether it abstained) from a running server on
    --server that serves the same index; None when none does."""
    import urllib.error
    import urllib.request

    base = args.server.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:
            ready = json.loads(response.read())
        # the manifest alone (not ragqa.index.store, which loads FAISS): a question costs ms
        local = json.loads((Path(args.index_dir) / "manifest.json").read_text())["index_version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if ready.get("status") != "ready" or ready.get("index_version") != local:
        return None  # another index, or not ready: answer in-process instead
    body = {"question": args.question, "followups": True} | (
        {"top_k": args.k} if args.k is not None else {})
    accept = "application/json" if args.json else "text/markdown"
    request = urllib.request.Request(f"{base}/v1/ask", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read().decode()
            abstained = response.headers.get(ABSTAINED_HEADER, "").lower() == "true"
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            message = str(exc)
        raise RagqaError(f"the server at {base} refused the question: {message}") from None
    except (OSError, ValueError):
        return None
    if args.json:
        record = json.loads(text)
        return json.dumps(record, indent=2, ensure_ascii=False), bool(record["abstained"])
    return text, abstained


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question with quoted, cited evidence (through a running server when one answers)."""
    served = None
    if not args.local and args.backend is None and args.embedder is None:
        served = _ask_server(args)
    if served is not None:
        text, abstained = served
    else:
        from ragqa.answer.followups import FollowUps
        from ragqa.answer.render import to_markdown

        engine = _engine(args)
        answer = FollowUps(engine).attach(engine.ask(args.question, top_k=args.k))
        text = answer.model_dump_json(indent=2) if args.json else to_markdown(answer)
        abstained = answer.abstained
    print(text)
    return ABSTAINED_EXIT if args.fail_on_abstain and abstained else 0


def cmd_documents(args: argparse.Namespace) -> int:
    """List the documents of an index: id, type, year, whose text it is, what it was checked against."""
    from ragqa.index.store import read_documents, read_manifest

    read_manifest(Path(args.index_dir))
    documents = sorted(read_documents(Path(args.index_dir)).values(), key=lambda d: d.id)
    rows = []
    for doc in documents:
        p = doc.provenance
        rows.append({"id": doc.id, "title": doc.title, "doc_type": doc.doc_type.value,
                     "year": doc.year, "publisher": doc.publisher,
                     "form": p.form.value if p and p.form else None,
                     "checked_against": [c.value for c in p.checked_against] if p else [],
                     "checked_on": p.checked_on if p else None})
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        checked = ", ".join(row["checked_against"]) or "provenance not recorded"
        print(f"{row['id']}\n    {row['title']}\n    {row['doc_type']}, {row['year'] or 'no year'}; "
              f"{row['form'] or 'form not recorded'}; checked against {checked}")
    print(f"{len(rows)} documents")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a document's metadata and canonical text (what answer offsets point into)."""
    from ragqa.errors import DocumentNotFoundError
    from ragqa.index.store import read_documents, read_manifest

    read_manifest(Path(args.index_dir))
    doc = read_documents(Path(args.index_dir)).get(args.doc_id)
    if doc is None:
        raise DocumentNotFoundError(f"no document {args.doc_id!r} in {args.index_dir}")
    record = doc.to_json()
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return 0
    for key, value in record.items():
        if key not in ("text", "source") and value:
            print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    print()
    print(doc.text)
    return 0


def cmd_corpus_check(args: argparse.Namespace) -> int:
    """List every figure-bearing sentence of a corpus document, to tick against its source."""
    from dataclasses import asdict

    from ragqa.ingest.check import check_documents, checklist_markdown
    from ragqa.ingest.documents import read_corpus

    corpus = [Path(p) for p in args.corpus] if args.corpus else [get_settings().corpus]
    checks = check_documents(read_corpus(corpus), doc_id=args.doc_id)
    if args.json:
        rows = [{**asdict(c), "provenance": c.provenance.to_json() if c.provenance else None}
                for c in checks]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(checklist_markdown(checks))
    return 1 if any(c.provenance is None for c in checks) else 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API and the web page."""
    from ragqa.api.app import serve

    update = {"host": args.host, "port": args.port, "index_dir": Path(args.index_dir)}
    if args.embedder:
        update["embedder"] = args.embedder
    serve(get_settings().model_copy(update=update))
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """Export the model to ONNX (fp32 and int8) from its local weights, verified against torch."""
    from ragqa.index.onnx_embed import export_onnx

    settings = get_settings()
    report = export_onnx(settings.model, settings.onnx_cache, force=args.force)
    done = f"exported {', '.join(report.exported)} in {report.seconds:.1f} s" if report.exported \
        else "already exported and verified"
    print(f"ONNX model in {report.folder}: {done}")
    for precision, entry in report.files.items():
        print(f"  {precision}: {entry['file']} sha256 {entry['sha256'][:12]}, max |difference| to "
              f"torch {entry['max_abs_diff_to_torch']:.2e}, mean cosine "
              f"{entry['mean_cosine_to_torch']:.6f}")
    return 0


def add_embedder_argument(parser: argparse.ArgumentParser) -> None:
    """--embedder torch | onnx | onnx-int8 (default: the RAGQA_EMBEDDER setting, onnx)."""
    parser.add_argument("--embedder", default=None,
                        help="torch | onnx | onnx-int8 (default: RAGQA_EMBEDDER, else onnx); "
                             "onnx-int8 only with an index it built")


INDEX_HELP = "index directory (default: RAGQA_INDEX_DIR, else indexes/default)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of every subcommand (eval's and bench's arguments only when `command`
    is one of them or unknown, as their module is slow to import)."""
    settings = quick_settings()  # index_dir, backend, host, port: all the defaults below need
    parser = argparse.ArgumentParser(prog="ragqa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or refresh an index from a corpus")
    p.add_argument("--corpus", action="append", help="corpus file or folder (repeatable)")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--verify", action="store_true",
                   help="kept for scripts: every index file's SHA-256 is always checked now")
    p.add_argument("--max-tokens", type=int, default=200, help="chunk token budget")
    p.add_argument("--overlap", type=int, default=1, help="sentences repeated between chunks")
    p.add_argument("--faiss", default="flat", help="flat | hnsw")
    p.add_argument("--bm25", default="rank_bm25", help="rank_bm25 | bm25s")
    p.add_argument("--backend", default=settings.backend,
                   help="inprocess | milvus: also publish the build to Milvus collections "
                        "(RAGQA_MILVUS_URI) and switch their aliases (default: RAGQA_BACKEND)")
    add_embedder_argument(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="rank chunks for a query")
    p.add_argument("query", help="the words to search for (quote them)")
    p.add_argument("-k", type=int, default=5, help="how many chunks to print (default 5)")
    p.add_argument("--mode", default="hybrid", help="hybrid | bm25 | dense")
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    p.add_argument("--backend", default=settings.backend,
                   help="inprocess | milvus (default: RAGQA_BACKEND)")
    add_embedder_argument(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question from the index (through a running "
                                   "`ragqa serve` when one answers, else in this process)")
    p.add_argument("question", help="the question, in English (quote it)")
    p.add_argument("-k", type=int, default=None, help="chunks to retrieve (1-50)")
    p.add_argument("--json", action="store_true", help="print the JSON contract")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    p.add_argument("--backend", default=None,
                   help="inprocess | milvus (default: RAGQA_BACKEND); answers in this process")
    p.add_argument("--server", default=f"http://{settings.host}:{settings.port}",
                   help="a running `ragqa serve` to ask first; used only when it serves the same "
                        "index version (default: RAGQA_HOST and RAGQA_PORT)")
    p.add_argument("--local", action="store_true",
                   help="answer in this process even when a server answers")
    p.add_argument("--fail-on-abstain", action="store_true",
                   help=f"exit {ABSTAINED_EXIT} when the answer abstains (default: exit 0)")
    add_embedder_argument(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("show", help="print a document of the index")
    p.add_argument("doc_id", help="the document's id (see `ragqa documents`)")
    p.add_argument("--json", action="store_true", help="print metadata and text as JSON")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("documents", help="list the documents of the index with their provenance")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    p.set_defaults(func=cmd_documents)

    p = sub.add_parser("corpus", help="review the corpus files")
    corpus_sub = p.add_subparsers(dest="corpus_command", required=True)
    p = corpus_sub.add_parser(
        "check", help="list each document's figure-bearing sentences to tick against the source "
                      "(exit 1 when a listed document has no provenance)")
    p.add_argument("doc_id", nargs="?", help="one document (default: all)")
    p.add_argument("--corpus", action="append", help="corpus file or folder (repeatable)")
    p.add_argument("--json", action="store_true", help="print the checklist as JSON")
    p.set_defaults(func=cmd_corpus_check)

    p = sub.add_parser("serve", help="serve the HTTP API and web page")
    p.add_argument("--host", default=settings.host, help="address to listen on (RAGQA_HOST)")
    p.add_argument("--port", type=int, default=settings.port, help="port to listen on (RAGQA_PORT)")
    p.add_argument("--index-dir", default=str(settings.index_dir), help=INDEX_HELP)
    add_embedder_argument(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export-onnx", help="export the model to ONNX (fp32, int8), verified "
                                           "against torch (make install runs it)")
    p.add_argument("--force", action="store_true", help="export again even if already done")
    p.set_defaults(func=cmd_export_onnx)

    evaluating = sub.add_parser("eval", help="evaluate answers on a suite of questions")
    benching = sub.add_parser("bench", help="benchmark index builds and latency")
    fitting = sub.add_parser("fit", help="fit the answer stage's weights on labelled suites")
    if command not in LIGHT_COMMANDS:
        from ragqa.evaluation.commands import (
            add_bench_arguments,
            add_eval_arguments,
            bench_command,
            eval_command,
        )
        from ragqa.evaluation.fit import add_fit_arguments, fit_command

        add_eval_arguments(evaluating)
        evaluating.set_defaults(func=eval_command)
        add_bench_arguments(benching)
        benching.set_defaults(func=bench_command)
        add_fit_arguments(fitting)
        fitting.set_defaults(func=fit_command)
    return parser


LIGHT_COMMANDS = frozenset({"index", "search", "ask", "show", "documents", "corpus", "serve",
                            "export-onnx"})


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ragqa` console script."""
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except RagqaError as exc:
        print(f"ragqa: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
