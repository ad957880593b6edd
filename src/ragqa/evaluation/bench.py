"""`ragqa bench`: index build throughput and memory, search and ask latency, stage by stage.

Three corpora: the default corpus (built fresh), PubMedQA (converted with
eval/datasets/pubmedqa.py; its index is kept in a cache directory because embedding its 3,680
chunks takes minutes) and a synthetic corpus of 100,000 chunks derived from PubMedQA (see
ragqa.evaluation.synthetic). Each corpus is built and timed in its own worker process, so the
peak memory (ru_maxrss) is that build's; the worker then times queries after a warm-up:

- stages: `embed` (the query), `bm25` and `dense` (each retriever alone, given the query vector),
  `fusion` (reciprocal rank fusion of their candidate lists) and `answer` (the engine's work after
  retrieval: sentence selection, regimen check, composition);
- `search` per mode as `ragqa search` runs it (query embedding included), and `ask` end to end.

The index is built with every core and queried with one thread, by the settings' embedder (onnx
unless RAGQA_EMBEDDER says otherwise). On the default corpus the worker also times one
sentence-transformers encode of each question just before its `ask` (the ratio of their p50s, under
the same load) and compares the embedder variants (torch, onnx fp32, onnx int8) in the same
process; the main process times `ragqa serve` from start to ready.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragqa.config import PROJECT_ROOT
from ragqa.errors import RagqaError
from ragqa.evaluation.metrics import percentile

log = logging.getLogger(__name__)

DEFAULT_CACHE = PROJECT_ROOT / "indexes"
PUBMEDQA_SOURCE = PROJECT_ROOT.parent / "shared" / "datasets" / "pubmedqa" / "ori_pqal.json"
PUBMEDQA_CONVERTER = PROJECT_ROOT / "eval" / "datasets" / "pubmedqa.py"
GUIDELINES = PROJECT_ROOT / "eval" / "guidelines.jsonl"
GUIDELINE_PDFS = PROJECT_ROOT.parent / "shared" / "datasets" / "guidelines-dev"
STAGES = ("embed", "bm25", "dense", "fusion", "answer")
ASK_TARGETS_MS = {"default": 10.0, "synthetic-100k": 40.0}
VARIANTS = ("torch", "onnx", "onnx-int8")
ST_RATIO_TARGET = 0.5  # ask p50 / one sentence-transformers encode p50
SERVE_READY_TARGET_S = 2.0


@dataclass(frozen=True)
class BenchConfig:
    """What `ragqa bench` measures."""

    corpus: Path = PROJECT_ROOT / "corpus"
    pubmedqa_source: Path = PUBMEDQA_SOURCE
    cache_dir: Path = DEFAULT_CACHE
    queries: int = 40
    warmup: int = 3
    skip_large: bool = False
    large_chunks: int = 100_000
    suite: Path = GUIDELINES
    # search backends timed on each corpus: "inprocess" and/or "milvus" (embedded in a temporary
    # file unless RAGQA_MILVUS_URI names a server)
    backends: tuple[str, ...] = ("inprocess",)
    serve_runs: int = 3
    pdfs: Path = GUIDELINE_PDFS  # PDFs (searched recursively) the PDF reader's speed is timed on


@dataclass(frozen=True)
class Stats:
    """Latency summary of repeated timings, in milliseconds."""

    n: int
    p50: float
    p95: float
    mean: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Stats:
        """Summarise timings (ms)."""
        if not values_ms:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        return cls(len(values_ms), round(percentile(values_ms, 50), 3),
                   round(percentile(values_ms, 95), 3),
                   round(sum(values_ms) / len(values_ms), 3), round(max(values_ms), 3))


def slowest_stage(stages: dict[str, dict[str, float]]) -> str | None:
    """The stage with the highest p50 (ties broken by name)."""
    if not stages:
        return None
    return max(sorted(stages), key=lambda name: stages[name]["p50"])


def rss_now_mb() -> float:
    """This process's resident set size now, in MiB (Linux; 0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 1024 if sys.platform != "darwin" else peak / 2**20, 1)


# -- timing one loaded index (runs inside a worker) ---------------------------------------------


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def time_queries(index, embedder, questions: Sequence[str], warmup: int = 3,
                 engine_factory: Callable[[Any], Any] | None = None,
                 backend: Any = None, encoder: Any = None) -> dict[str, Any]:
    """Stage, search and ask latencies over `questions` after `warmup` untimed rounds (on
    `backend`, a ragqa.retrieve.SearchBackend, else the settings' backend). With `encoder` (the
    sentence-transformers embedder), one encode of each question is timed just before its `ask`,
    so the two are compared under the same load: timed apart, minutes away, the machine's speed
    drifted between them by a third."""
    from ragqa.retrieve import Mode, Retriever, rrf_scores

    if engine_factory is None:
        from ragqa.answer.engine import AnswerEngine

        def engine_factory(idx):
            return AnswerEngine(idx, embedder)

    retriever = Retriever(index, embedder, backend=backend)
    engine = engine_factory(index)
    if backend is not None and getattr(engine, "retriever", None) is not None:
        engine.retriever.backend = backend
    n = retriever.candidates
    samples: dict[str, list[float]] = {name: [] for name in
                                       (*STAGES, "search_hybrid", "search_bm25", "search_dense",
                                        "ask", "ask_cpu", "st_encode", "st_encode_cpu")}
    engine_samples: dict[str, list[float]] = {}

    def one(question: str, record: bool) -> None:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = embedder.embed([question])[0]
        timings["embed"] = _ms(t0)
        t0 = time.perf_counter()
        lexical = retriever.search(question, k=n, mode=Mode.BM25, query_vector=vector)
        timings["bm25"] = _ms(t0)
        t0 = time.perf_counter()
        dense = retriever.search(question, k=n, mode=Mode.DENSE, query_vector=vector)
        timings["dense"] = _ms(t0)
        t0 = time.perf_counter()
        fused = rrf_scores([[h.chunk_index for h in lexical.hits],
                            [h.chunk_index for h in dense.hits]], retriever.rrf_k)
        sorted(fused, key=lambda item: (-fused[item], item))
        timings["fusion"] = _ms(t0)
        for mode in Mode:
            t0 = time.perf_counter()
            retriever.search(question, k=10, mode=mode)
            timings[f"search_{mode.value}"] = _ms(t0)
        if encoder is not None:
            t0, c0 = time.perf_counter(), time.thread_time()
            encoder.embed([question])
            timings["st_encode"] = _ms(t0)
            timings["st_encode_cpu"] = (time.thread_time() - c0) * 1000
        t0, c0 = time.perf_counter(), time.thread_time()
        answer = engine.ask(question)
        timings["ask"] = _ms(t0)
        # CPU time of this thread (one-thread embedders run in it): what a busy machine inflates least
        timings["ask_cpu"] = (time.thread_time() - c0) * 1000
        own = answer.timings_ms
        retrieval = own.get("embed", 0.0) + sum(
            v for k, v in own.items() if k.startswith("retrieve_"))
        timings["answer"] = max(own.get("total", timings["ask"]) - retrieval, 0.0)
        if record:
            for name, value in timings.items():
                samples[name].append(value)
            for name, value in own.items():
                engine_samples.setdefault(name, []).append(value)

    for question in questions[:warmup]:
        one(question, record=False)
    for question in questions:
        one(question, record=True)
    stats = {name: asdict(Stats.of(values)) for name, values in samples.items()}
    stages = {name: stats[name] for name in STAGES}
    interleaved = {"st_encode": stats["st_encode"], "st_encode_cpu": stats["st_encode_cpu"]} \
        if encoder is not None else {}
    return {
        **interleaved,
        "queries": len(questions), "warmup": warmup, "stages": stages,
        "slowest_stage": slowest_stage(stages),
        "search": {mode: stats[f"search_{mode}"] for mode in ("hybrid", "bm25", "dense")},
        "ask": stats["ask"],
        "ask_cpu": stats["ask_cpu"],
        "engine_timings": {k: asdict(Stats.of(v)) for k, v in engine_samples.items()},
        "embed_one_thread": _embed_one_thread(embedder, questions),
    }


def _embed_one_thread(embedder, questions: Sequence[str]) -> dict[str, float] | None:
    """Query embedding with torch limited to one thread (a diagnostic: see the bench notes)."""
    try:
        import torch
    except ImportError:
        return None
    if not hasattr(embedder, "model"):
        return None
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        embedder.embed(list(questions[:2]))
        values = []
        for question in questions:
            t0 = time.perf_counter()
            embedder.embed([question])
            values.append(_ms(t0))
    finally:
        torch.set_num_threads(threads)
    return asdict(Stats.of(values))


# -- worker tasks (each in its own process, so ru_maxrss is the build's own) ---------------------


def _load_embedder(kind: str | None = None, all_cores: bool = False):
    from ragqa.config import get_settings
    from ragqa.index.embed import load_embedder

    return load_embedder(get_settings(), kind, all_cores=all_cores)


def time_embed(embedder, questions: Sequence[str], warmup: int = 3) -> dict[str, float]:
    """Latency of embedding one question at a time (the query path)."""
    for question in questions[:warmup]:
        embedder.embed([question])
    values, cpu = [], []
    for question in questions:
        t0, c0 = time.perf_counter(), time.thread_time()
        embedder.embed([question])
        values.append(_ms(t0))
        cpu.append((time.thread_time() - c0) * 1000)
    return {**asdict(Stats.of(values)), "cpu_p50": round(percentile(cpu, 50), 3)}


def compare_variants(index, questions: Sequence[str], warmup: int = 3) -> dict[str, Any]:
    """torch, onnx fp32 and onnx int8 side by side in this process, one thread each.

    Per variant: load time and RSS added, query embedding latency, batch throughput, distance of
    its question vectors to torch's, overlap of its dense top 10 with torch's and `ask` p50 on an
    index it may query (int8 builds its own from the same documents: `build_s`).
    """
    import numpy as np

    from ragqa.answer.engine import AnswerEngine
    from ragqa.index.embed import incompatibility
    from ragqa.index.store import IndexParams, build_index, embedder_record
    from ragqa.retrieve import Mode, Retriever

    sample = [s.text for s in index.sentences[:200]]
    documents = list(index.documents.values())
    params = IndexParams.from_json(index.manifest["params"])
    rows: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for kind in VARIANTS:
        rss, t0 = rss_now_mb(), time.perf_counter()
        embedder = _load_embedder(kind)
        row: dict[str, Any] = {"load_s": round(time.perf_counter() - t0, 2),
                               "rss_added_mb": round(rss_now_mb() - rss, 1),
                               "embed": time_embed(embedder, questions, warmup)}
        t0 = time.perf_counter()
        embedder.embed(sample)
        row["batch_texts_per_s"] = round(len(sample) / (time.perf_counter() - t0), 1)
        vectors = np.vstack([embedder.embed([q]) for q in questions])
        target = index
        if incompatibility(embedder_record(index.manifest), embedder.record) is not None:
            t0 = time.perf_counter()
            target = build_index(documents, embedder, params)
            row["build_s"] = round(time.perf_counter() - t0, 1)
        retriever = Retriever(target, embedder)
        top = [[h.chunk_id for h in retriever.search(q, k=10, mode=Mode.DENSE,
                                                     query_vector=v).hits]
               for q, v in zip(questions, vectors)]
        if kind == "torch":
            reference = {"vectors": vectors, "top": top}
        row["max_abs_diff_to_torch"] = float(np.max(np.abs(vectors - reference["vectors"])))
        row["mean_cosine_to_torch"] = round(float(np.mean(np.sum(
            vectors.astype(np.float64) * reference["vectors"], axis=1))), 6)
        row["top10_overlap_with_torch"] = round(float(np.mean(
            [len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(top, reference["top"])])), 4)
        engine = AnswerEngine(target, embedder)
        for question in questions[:warmup]:
            engine.ask(question)
        asks = []
        for question in questions:
            t0 = time.perf_counter()
            engine.ask(question)
            asks.append(_ms(t0))
        row["ask"] = asdict(Stats.of(asks))
        rows[kind] = row
        del embedder, engine, retriever, target
    return rows


def _questions(path: str, limit: int) -> list[str]:
    from ragqa.evaluation.suite import load_suite

    cases = load_suite(Path(path))
    answerable = [c.question for c in cases if not c.abstain] or [c.question for c in cases]
    return answerable[:limit]


def _task_corpus(spec: dict[str, Any]) -> dict[str, Any]:
    """Build (or refresh from a cache) one real corpus's index, then time queries on it."""
    from ragqa.index.store import IndexParams, build_index, load_index, save_index, staleness
    from ragqa.ingest.documents import read_corpus

    t0 = time.perf_counter()
    builder = _load_embedder(all_cores=True)  # every core to build, one thread to answer
    out: dict[str, Any] = {"model_load_s": round(time.perf_counter() - t0, 2),
                           "rss_after_model_mb": peak_rss_mb(),
                           "embedder": builder.record.option()}
    params = IndexParams()
    documents = read_corpus([Path(p) for p in spec["corpus"]])
    cache = Path(spec["cache"]) if spec.get("cache") else None
    previous = None
    if cache is not None and staleness(cache, documents, params, builder.name,
                                       builder.record) is None:
        previous = load_index(cache, builder)
        out["cache"] = {"directory": str(cache), "built_at": previous.manifest.get("built_at"),
                        "build_seconds": previous.manifest.get("build_seconds"),
                        "counts": previous.manifest.get("counts"),
                        "embedder": previous.manifest.get("embedder")}
    t0, cpu = time.perf_counter(), cpu_seconds()
    index = build_index(documents, builder, params, previous=previous)
    seconds = time.perf_counter() - t0
    counts = index.manifest["counts"]
    embedded = index.manifest["embedded"]
    out["build"] = {
        "seconds": round(seconds, 2), "chunks_per_s": round(counts["chunks"] / seconds, 1),
        "sentences_per_s": round(counts["sentences"] / seconds, 1),
        "texts_embedded_per_s": round((embedded["chunks"] + embedded["sentences"]) / seconds, 1),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
        "peak_rss_mb": peak_rss_mb(), "embedded": embedded,
        "reused_vectors": previous is not None,
    }
    del builder
    embedder = _load_embedder()
    out["counts"] = counts
    out["bm25_backend"] = params.bm25.value
    if cache is not None and previous is None:
        save_index(index, cache)
        out["cache"] = {"directory": str(cache), "written": True}
    if spec.get("save"):
        save_index(index, Path(spec["save"]))
    questions = _questions(spec["suite"], spec["queries"])
    out["latency"] = {}
    if "inprocess" in spec.get("backends", ["inprocess"]):
        out["latency"][params.bm25.value] = time_queries(
            index, embedder, questions, spec["warmup"], backend=_inprocess(index))
    if "milvus" in spec.get("backends", []):
        with _on_milvus(index, spec) as (backend, out["milvus_publish"]):
            out["latency"]["milvus"] = time_queries(index, embedder, questions, spec["warmup"],
                                                    backend=backend)
    if spec.get("variants") and params.bm25.value in out["latency"]:
        del embedder
        out["variants"] = compare_variants(index, questions, spec["warmup"])
        # then the asks again, one sentence-transformers encode of each question timed just
        # before it (after the variants, whose load time and memory torch's would otherwise hide)
        from ragqa.answer.analysis import lay_matches

        lay_matches.cache_clear()  # per question: asked again, it would be remembered
        timing = time_queries(index, _load_embedder(), questions, spec["warmup"],
                              backend=_inprocess(index), encoder=_load_embedder("torch"))
        encode, encode_cpu = timing["st_encode"]["p50"], timing["st_encode_cpu"]["p50"]
        out["st_ratio"] = {
            "ask_p50_ms": timing["ask"]["p50"], "st_encode_p50_ms": encode,
            "ratio": round(timing["ask"]["p50"] / encode, 3) if encode else None,
            "ask_cpu_p50_ms": timing["ask_cpu"]["p50"], "st_encode_cpu_p50_ms": encode_cpu,
            "cpu_ratio": round(timing["ask_cpu"]["p50"] / encode_cpu, 3) if encode_cpu else None,
            # the variants table's own torch encode, timed on its own
            "st_encode_apart_p50_ms": out["variants"]["torch"]["embed"]["p50"],
            "interleaved": True}
    return out


def _inprocess(index):
    from ragqa.retrieve import InProcessBackend

    return InProcessBackend(index)


@contextmanager
def _on_milvus(index, spec: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A Milvus backend over `index`, published into a temporary embedded engine (or into the
    server RAGQA_MILVUS_URI names), with the publish's figures; its collections (and the
    temporary engine's file) are removed afterwards."""
    from ragqa.config import get_settings
    from ragqa.index.milvus import MilvusStore, disconnect, is_embedded
    from ragqa.retrieve import MilvusBackend

    settings = get_settings()
    name = f"bench_{spec['name']}"
    temporary = Path(tempfile.mkdtemp(prefix="ragqa-bench-milvus-")) \
        if is_embedded(settings.milvus_uri) else None
    uri = str(temporary / "bench.db") if temporary else settings.milvus_uri
    try:
        store = MilvusStore.open(uri, name, settings.milvus_token)
        try:
            report = store.publish(index)
            published = {"uri": "embedded (milvus-lite, temporary file)" if temporary else uri,
                         "seconds": report.seconds, "rows": report.rows,
                         "peak_rss_mb": peak_rss_mb()}
            yield MilvusBackend(index, store), published
        finally:
            store.drop_all()
            disconnect(uri, settings.milvus_token)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _task_synthetic(spec: dict[str, Any]) -> dict[str, Any]:
    """Generate the large corpus from the PubMedQA index, index it, time both BM25 backends."""
    from ragqa.evaluation.synthetic import (
        VECTORS_NOTE,
        SyntheticParams,
        chunk_tokens,
        synthetic_index,
        with_bm25,
    )
    from ragqa.index.bm25 import BM25Backend
    from ragqa.index.store import IndexParams, load_index

    embedder = _load_embedder()
    out: dict[str, Any] = {"rss_after_model_mb": peak_rss_mb(), "note": VECTORS_NOTE}
    source = load_index(Path(spec["source"]), embedder)
    out["rss_after_source_mb"] = peak_rss_mb()
    t0 = time.perf_counter()
    index = synthetic_index(source, SyntheticParams(chunks=spec["chunks"]),
                            IndexParams(bm25=BM25Backend.BM25S))
    seconds = time.perf_counter() - t0
    counts = index.manifest["counts"]
    out["counts"] = counts
    out["build"] = {
        "seconds": round(seconds, 2), "chunks_per_s": round(counts["chunks"] / seconds, 1),
        "peak_rss_mb": peak_rss_mb(), "embedded": index.manifest["embedded"],
        "what": "generate text, chunk, derive vectors, FAISS flat, BM25 (bm25s); no embedding",
    }
    del source
    questions = _questions(spec["suite"], spec["queries"])
    tokens = chunk_tokens(index.chunks, index.documents)
    out["bm25_builds"] = {}
    out["latency"] = {}
    in_process = "inprocess" in spec.get("backends", ["inprocess"])
    for backend in (BM25Backend.BM25S, BM25Backend.RANK_BM25) if in_process else ():
        t0 = time.perf_counter()
        variant = with_bm25(index, backend, tokens)
        out["bm25_builds"][backend.value] = {"seconds": round(time.perf_counter() - t0, 2),
                                             "peak_rss_mb": peak_rss_mb()}
        out["latency"][backend.value] = time_queries(variant, embedder, questions, spec["warmup"],
                                                     backend=_inprocess(variant))
        del variant
    if "milvus" in spec.get("backends", []):
        with _on_milvus(index, spec) as (milvus, out["milvus_publish"]):
            out["latency"]["milvus"] = time_queries(index, embedder, questions, spec["warmup"],
                                                    backend=milvus)
    return out


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "corpus": _task_corpus, "synthetic": _task_synthetic,
}


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one bench task in a fresh Python process and return its JSON result."""
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        result_path = Path(tmp) / "result.json"
        spec_path.write_text(json.dumps({**spec, "result": str(result_path)}))
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "ragqa.evaluation.bench", str(spec_path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not result_path.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise RagqaError(f"bench task {spec['task']} failed (exit {proc.returncode}):\n{tail}")
        result = json.loads(result_path.read_text())
        result["process_seconds"] = round(time.perf_counter() - started, 1)
        return result


def _worker_main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.WARNING)
    result = TASKS[spec["task"]](spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# -- the whole benchmark -------------------------------------------------------------------------


@dataclass
class _Run:
    config: BenchConfig
    progress: Callable[[str], None]
    corpora: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    serve: dict[str, Any] = field(default_factory=dict)


def serve_startup(index_dir: Path, embedder: str, runs: int = 3,
                  timeout_s: float = 120.0) -> dict[str, Any]:
    """Seconds from starting `ragqa serve` to /readyz answering 200, and its RSS then (median)."""
    import socket
    import statistics
    import urllib.error
    import urllib.request

    ready, rss, peak, cpu = [], [], [], []
    for _ in range(runs):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "ragqa.cli", "serve", "--port", str(port),
                   "--index-dir", str(index_dir), "--embedder", embedder]
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while True:
                if proc.poll() is not None or time.perf_counter() - started > timeout_s:
                    detail = proc.stderr.read().decode()[-500:] if proc.poll() is not None else ""
                    raise RagqaError(f"`ragqa serve --embedder {embedder}` was not ready "
                                     f"after {time.perf_counter() - started:.0f} s {detail}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.01)
            ready.append(time.perf_counter() - started)
            stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu.append((int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"))
            fields = {}
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) / 1024  # kB
            rss.append(fields.get("VmRSS", 0.0))
            peak.append(fields.get("VmHWM", 0.0))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
    return {"runs": runs, "ready_s": round(statistics.median(ready), 2),
            "ready_s_all": [round(v, 2) for v in ready],
            "cpu_s": round(statistics.median(cpu), 2),
            "rss_mb": round(statistics.median(rss), 1), "peak_rss_mb": round(max(peak), 1)}


def convert_pubmedqa(source: Path, out: Path) -> tuple[Path, Path]:
    """Run eval/datasets/pubmedqa.py into `out`; returns (corpus.jsonl, suite.jsonl)."""
    proc = subprocess.run([sys.executable, str(PUBMEDQA_CONVERTER), "--source", str(source),
                           "--out", str(out)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise RagqaError(f"PubMedQA conversion failed: {detail}")
    return out / "corpus.jsonl", out / "suite.jsonl"


def time_pdf_reader(root: Path) -> dict[str, Any] | None:
    """The PDF reader's speed (pages per second, one thread) over the PDFs under `root`, or None
    when there are none."""
    from ragqa.ingest.pdf import read_pdf_file

    files = sorted(Path(root).rglob("*.pdf")) if Path(root).is_dir() else []
    if not files:
        return None
    pages = 0
    started = time.perf_counter()
    for file in files:
        pages += read_pdf_file(file).report.pages or 0
    seconds = time.perf_counter() - started
    return {"files": len(files), "pages": pages, "seconds": round(seconds, 2),
            "pages_per_s": round(pages / max(seconds, 1e-9), 1), "root": str(root)}


def run_bench(config: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every benchmark the config asks for; returns JSON-ready figures."""
    run = _Run(config, progress or (lambda message: log.info("%s", message)))
    load_before = os.getloadavg()
    started = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    common = {"queries": config.queries, "warmup": config.warmup,
              "backends": list(config.backends)}

    run.progress(f"PDF reader: pages per second on the PDFs under {config.pdfs}")
    reader = time_pdf_reader(config.pdfs)
    if reader is None:
        run.notes.append(f"PDF reader speed skipped: no PDF under {config.pdfs}")
    run.progress(f"default corpus {config.corpus}: build with the model, time queries, "
                 "compare the embedders")
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-default-") as tmp:
        run.corpora["default"] = run_worker({"task": "corpus", "corpus": [str(config.corpus)],
                                             "suite": str(config.suite), "variants": True,
                                             "save": str(Path(tmp) / "index"), "name": "default",
                                             **common})
        run.progress("`ragqa serve` from start to ready on the default index")
        run.serve = {kind: serve_startup(Path(tmp) / "index", kind, runs)
                     for kind, runs in (("onnx", config.serve_runs), ("torch", 1))}

    pubmedqa_index = Path(config.cache_dir) / "pubmedqa"
    if not Path(config.pubmedqa_source).is_file():
        run.notes.append(f"PubMedQA skipped: {config.pubmedqa_source} not found")
    else:
        with tempfile.TemporaryDirectory(prefix="ragqa-pubmedqa-") as tmp:
            corpus, suite = convert_pubmedqa(Path(config.pubmedqa_source), Path(tmp))
            cached = (pubmedqa_index / "manifest.json").is_file()
            how = "refresh from the cached index" if cached else "embed (minutes)"
            run.progress(f"PubMedQA: {how} at {pubmedqa_index}, then time queries")
            run.corpora["pubmedqa"] = run_worker({"task": "corpus", "corpus": [str(corpus)],
                                                  "suite": str(suite), "cache": str(pubmedqa_index),
                                                  "name": "pubmedqa", **common})
            if not config.skip_large:
                run.progress(f"synthetic corpus of {config.large_chunks:,} chunks from PubMedQA: "
                             "generate, index, time both BM25 backends")
                run.corpora[f"synthetic-{config.large_chunks // 1000}k"] = run_worker({
                    "task": "synthetic", "source": str(pubmedqa_index), "suite": str(suite),
                    "chunks": config.large_chunks, "name": "synthetic", **common})
    if config.skip_large:
        run.notes.append("synthetic large corpus skipped (--skip-large)")
    return {
        "started_at": started_at,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_1min": {"before": round(load_before[0], 2),
                                          "after": round(os.getloadavg()[0], 2)}},
        "config": {k: str(v) for k, v in asdict(config).items()},
        "corpora": run.corpora,
        "serve": run.serve,
        "pdf_reader": reader,
        "targets_ms": ASK_TARGETS_MS,
        "notes": run.notes,
    }


# -- rendering -----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _pp(stats: dict[str, float]) -> str:
    return f"{stats['p50']:.1f} / {stats['p95']:.1f}"


def _build_note(name: str, data: dict[str, Any]) -> str:
    build = data["build"]
    if name.startswith("synthetic"):
        return "no embedding: vectors derived from PubMedQA's (see below)"
    if build.get("reused_vectors"):
        cache = data.get("cache", {})
        counts = cache.get("counts") or {}
        full = cache.get("build_seconds")
        first = (f"; the cached full build with embedding took {full:.0f} s "
                 f"({counts.get('chunks', 0) / full:.1f} chunks/s, {cache.get('built_at')})"
                 if full else "")
        return f"refresh reusing cached vectors{first}"
    embedded = build.get("embedded", {})
    return (f"full build: embedded {embedded.get('chunks')} chunks and "
            f"{embedded.get('sentences')} sentences")


def _opt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _variants_part(corpora: dict[str, Any]) -> list[str]:
    """The embedder variants table of each corpus that measured them."""
    parts: list[str] = []
    for name, data in corpora.items():
        variants = data.get("variants")
        if not variants:
            continue
        rows = [[kind, f"{v['load_s']:.2f}", f"{v['rss_added_mb']:,.0f}", _pp(v["embed"]),
                 _opt(v["embed"].get("cpu_p50"), ".1f"),
                 f"{v['batch_texts_per_s']:,.1f}", f"{v['max_abs_diff_to_torch']:.1e}",
                 f"{v['mean_cosine_to_torch']:.4f}", f"{v['top10_overlap_with_torch']:.3f}",
                 _pp(v["ask"]), _opt(v.get("build_s"), ".1f")]
                for kind, v in variants.items()]
        parts += [
            f"### Embedders side by side ({name} corpus, one thread each, same process)",
            "",
            ("`embed` is one question's embedding (ms p50 / p95); batch is 200 of the corpus's "
             "sentences in one call; the distance, cosine and dense top-10 overlap are against "
             "torch's vectors of the same questions; `ask` runs on an index the embedder may "
             "query (int8 builds its own: build s)."),
            "",
            _table(["embedder", "load s", "RSS added MiB", "embed", "embed CPU p50",
                    "batch texts/s",
                    "max abs diff to torch", "mean cosine to torch", "dense top-10 overlap",
                    "ask", "build s"], rows),
            "",
        ]
    return parts


def _serve_part(serve: dict[str, Any]) -> list[str]:
    """`ragqa serve` start-up: seconds to ready and memory, per embedder."""
    if not serve:
        return []
    rows = [[kind, f"{v['ready_s']:.2f}", ", ".join(f"{x:.2f}" for x in v["ready_s_all"]),
             _opt(v.get("cpu_s"), ".2f"), f"{v['rss_mb']:,.0f}", f"{v['peak_rss_mb']:,.0f}"]
            for kind, v in serve.items()]
    return ["### `ragqa serve` start-up on the default index", "",
            ("From starting the process to `/readyz` answering 200 (model and index loaded); RSS "
             "read from /proc at that moment."), "",
            _table(["embedder", "ready s (median)", "runs", "CPU s to ready (median)",
                    "RSS MiB at ready", "peak RSS MiB"], rows), ""]


def _reader_part(reader: dict[str, Any] | None) -> list[str]:
    if not reader:
        return []
    return ["### PDF reader", "",
            (f"{reader['pages_per_s']:,.1f} pages/s: {reader['files']} PDFs, {reader['pages']} pages "
             f"read in {reader['seconds']:.2f} s (`{reader['root']}`, one thread, text and layout)."),
            ""]


def render_bench(result: dict[str, Any], command: str) -> str:
    """The bench figures as Markdown (what --results writes into RESULTS.md)."""
    corpora = result["corpora"]
    machine = result["machine"]
    load = machine.get("load_average_1min", {})
    build_rows = []
    for name, data in corpora.items():
        counts, build = data["counts"], data["build"]
        build_rows.append([name, data.get("embedder", "—"), f"{counts['documents']:,}",
                           f"{counts['chunks']:,}", f"{counts['sentences']:,}",
                           f"{build['seconds']:.1f}", f"{build['chunks_per_s']:,.1f}",
                           f"{counts['sentences'] / max(build['seconds'], 1e-9):,.1f}",
                           _opt(build.get("cpu_seconds"), ".1f"),
                           f"{build['peak_rss_mb']:,.0f}",
                           f"{data.get('rss_after_model_mb', 0):,.0f}", _build_note(name, data)])
        for backend, extra in (data.get("bm25_builds") or {}).items():
            build_rows.append([f"{name} (BM25 {backend} only)", "", "", "", "",
                               f"{extra['seconds']:.1f}",
                               f"{counts['chunks'] / max(extra['seconds'], 1e-9):,.0f}", "", "",
                               f"{extra['peak_rss_mb']:,.0f}", "", "building the BM25 side alone"])
    latency_rows, stage_rows = [], []
    engine_rows: list[tuple[str, str, dict[str, Any]]] = []
    engine_keys: dict[str, None] = {}
    verdicts = []
    for name, data in corpora.items():
        for backend, timing in data["latency"].items():
            search, ask = timing["search"], timing["ask"]
            target = result["targets_ms"].get(name)
            met = "—" if target is None else ("yes" if ask["p50"] <= target else "**no**")
            cpu = timing.get("ask_cpu")
            latency_rows.append([name, backend, _pp(search["hybrid"]), _pp(search["bm25"]),
                                 _pp(search["dense"]), _pp(ask),
                                 _opt(cpu["p50"] if cpu else None, ".1f"),
                                 f"<= {target:.0f}" if target else "—", met])
            stages = timing["stages"]
            one = timing.get("embed_one_thread")
            stage_rows.append([name, backend, *(f"{stages[s]['p50']:.1f}" for s in STAGES),
                               f"**{timing['slowest_stage']}**",
                               f"{one['p50']:.1f}" if one else "—"])
            own = timing.get("engine_timings", {})
            engine_keys.update(own)
            engine_rows.append((name, backend, own))
            if target is not None:
                verdicts.append(
                    f"- {name}, BM25 {backend}: ask p50 {ask['p50']:.1f} ms against the target of "
                    f"{target:.0f} ms: "
                    + ("met." if ask["p50"] <= target else
                       f"missed by {ask['p50'] - target:.1f} ms ({ask['p50'] / target:.1f}×); the "
                       f"slowest stage is {timing['slowest_stage']} "
                       f"({stages[timing['slowest_stage']]['p50']:.1f} ms p50).")
                )
    for name, data in corpora.items():
        st = data.get("st_ratio")
        if st and st.get("ratio") is not None:
            verdicts.append(
                f"- {name}: ask p50 {st['ask_p50_ms']:.1f} ms / one sentence-transformers encode "
                f"p50 {st['st_encode_p50_ms']:.1f} ms ("
                + ("timed just before each ask" if st.get("interleaved") else "same process")
                + f") = {st['ratio']:.2f} against "
                f"the target of {ST_RATIO_TARGET}: "
                + ("met" if st["ratio"] <= ST_RATIO_TARGET else "**missed**")
                + (f" (in CPU time of the asking thread: {st['ask_cpu_p50_ms']:.1f} / "
                   f"{st['st_encode_cpu_p50_ms']:.1f} ms = {st['cpu_ratio']:.2f})."
                   if st.get("cpu_ratio") is not None else "."))
    for kind, start in (result.get("serve") or {}).items():
        verdicts.append(
            f"- `ragqa serve --embedder {kind}` ready after {start['ready_s']:.2f} s (median of "
            f"{start['runs']}) against the target of {SERVE_READY_TARGET_S:.0f} s: "
            + ("met." if start["ready_s"] <= SERVE_READY_TARGET_S else "**missed**."))
    queries = next(iter(next(iter(corpora.values()))["latency"].values()), {}) if corpora else {}
    notes = list(result.get("notes", []))
    for name, data in corpora.items():
        if data.get("note"):
            notes.append(f"{name}: {data['note']}.")
        published = data.get("milvus_publish")
        if published:
            rows = ", ".join(f"{n:,} {kind}" for kind, n in published["rows"].items())
            notes.append(f"{name}: rows `milvus` ran on Milvus ({published['uri']}): BM25, dense "
                         f"search and RRF inside the engine; publishing {rows} took "
                         f"{published['seconds']:.1f} s (vectors from the ragqa build).")
    parts = [
        "## Bench",
        "",
        f"Command: `{command}`  ",
        (f"Run: {result['started_at']}, {result['seconds']:.0f} s on {machine['cpus']} CPUs "
         f"(Python {machine['python']}, {machine['platform']}); 1-minute load average "
         f"{load.get('before', '?')} before and {load.get('after', '?')} after the run (other "
         "processes on the machine inflate the latencies)."),
        "",
        "### Index build",
        "",
        ("Each build runs in its own process; peak RSS is that process's `ru_maxrss` and includes "
         "the embedding model (RSS after loading the model alone is in its own column)."),
        "",
        _table(["corpus", "embedder", "documents", "chunks", "sentences", "build s", "chunks/s",
                "sentences/s", "CPU s", "peak RSS MiB", "RSS model MiB", "what was built"],
               build_rows),
        "",
        ("sentences/s is the corpus's sentences over the build's wall time (its chunks are "
         "embedded too); CPU s is the build's user + system time, which a busy machine inflates "
         "less than the wall time."),
        "",
        (f"### Latency (ms, p50 / p95 over {queries.get('queries', '?')} questions after "
         f"{queries.get('warmup', '?')} warm-up rounds)"),
        "",
        ("`search` is `ragqa search` in each mode (query embedding included); `ask` is the whole "
         "answer; ask CPU is the asking thread's CPU time, which a busy machine inflates least."),
        "",
        _table(["corpus", "backend", "search hybrid", "search bm25", "search dense", "ask",
                "ask CPU p50", "ask p50 target", "met"], latency_rows),
        "",
        "### Stages (p50 ms)",
        "",
        ("`bm25` and `dense` are each retriever alone given the query vector; `fusion` is "
         "reciprocal rank fusion of their candidates; `answer` is the engine's work after "
         "retrieval."),
        "",
        _table(["corpus", "backend", *STAGES, "slowest", "embed, torch 1 thread"],
               stage_rows),
        "",
        "The engine's own timings (`answer.timings_ms`, p50 ms):",
        "",
        _table(["corpus", "backend", *engine_keys],
               [[name, backend,
                 *(f"{own[k]['p50']:.1f}" if k in own else "—" for k in engine_keys)]
                for name, backend, own in engine_rows]),
        "",
        *_variants_part(corpora),
        *_serve_part(result.get("serve") or {}),
        *_reader_part(result.get("pdf_reader")),
        "### Against the targets",
        "",
        "\n".join(verdicts) or "_no target applies to the corpora run_",
    ]
    if notes:
        parts += ["", "### Notes", "", "\n".join(f"- {n}" for n in notes)]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
