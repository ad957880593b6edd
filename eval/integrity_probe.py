"""Measure what issue 23 promises of a real index: `python eval/integrity_probe.py`.

On a copy of the served index (RAGQA_INDEX_DIR, or --index-dir), with the real embedder:

1. The cost of verifying: the SHA-256 of every file and the manifest's checksum, and a whole
   load (which includes it), median of 5.
2. For each kind of index file: flip one byte (same size) in the copy, then load it (it must be
   refused, naming the file) and run the repair of `ragqa index` on it, printing what was embedded
   again (nothing: the vectors' keys are kept twice and a vector file has a FAISS twin) and how
   long the repair took.
3. With --resume: a first build into an empty folder, killed (SIGKILL) once `--kill-after`
   checkpointed batches are on disk, then run again: what the second run embedded, against the
   whole.

    python eval/integrity_probe.py [--index-dir indexes/default] [--resume] [--kill-after 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ragqa.config import PROJECT_ROOT, get_settings
from ragqa.errors import IndexDamagedError
from ragqa.index.embed import load_embedder
from ragqa.index.store import (
    EmbeddingCheckpoint,
    check_files,
    load_index,
    read_manifest,
    resolve_index,
    update_index,
)

KINDS = ["documents.jsonl", "chunks.jsonl", "sentences.jsonl", "chunk_vectors.npy",
         "sentence_vectors.npy", "faiss.index", "sentence_faiss.index", "bm25_tokens.json",
         "sentence_bm25/bm25s/data.csc.index.npy", "sentence_terms.json",
         "sentence_facts/facts.json", "embedding_keys.json", "manifest.json"]


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def timed(function, repeat: int = 5) -> float:
    """Median milliseconds of `function()`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def probe_damage(index_dir: Path, corpus: Path, embedder) -> list[dict]:
    rows = []
    source = resolve_index(index_dir).resolve()
    for kind in KINDS:
        work = Path(tempfile.mkdtemp(prefix="ragqa-integrity-"))
        copy = work / "index"
        shutil.copytree(source, copy)
        flip_one_byte(copy / kind)
        try:
            load_index(copy, embedder)
            refused = "LOADED (promise broken)"
        except IndexDamagedError as exc:
            refused = "refused" if Path(kind).name in str(exc) else f"refused: {exc}"
        started = time.perf_counter()
        report = update_index(corpus, copy, embedder)
        seconds = time.perf_counter() - started
        load_index(copy, embedder)
        rows.append({"file": kind, "load": refused, "repaired": report.rebuilt,
                     "embedded": report.manifest["embedded"], "seconds": round(seconds, 1)})
        print(f"{kind:42s} {refused}; repair embedded {report.manifest['embedded']} in "
              f"{seconds:.1f} s", flush=True)
        shutil.rmtree(work)
    return rows


def probe_resume(corpus: Path, kill_after: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="ragqa-resume-"))
    target = work / "index"
    folder = EmbeddingCheckpoint.folder_for(target, load_embedder(get_settings()))
    command = [sys.executable, "-m", "ragqa.cli", "index", "--corpus", str(corpus),
               "--index-dir", str(target)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None and len(list(folder.glob("[!.]*.npz"))) < kill_after:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(EmbeddingCheckpoint(folder, load_embedder(get_settings())).load())
    started = time.perf_counter()
    second = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    manifest = read_manifest(target)
    embedded = sum(manifest["embedded"].values())
    result = {"checkpointed_when_killed": kept, "second_run_embedded": manifest["embedded"],
              "second_run_seconds": round(seconds, 1), "counts": manifest["counts"]}
    print(f"killed after {kept} checkpointed embeddings; the second run embedded {embedded} "
          f"texts ({manifest['embedded']}) in {seconds:.1f} s", flush=True)
    print(second.stdout.strip().splitlines()[-3] if second.stdout.strip() else "", flush=True)
    shutil.rmtree(work)
    return result


def main() -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=settings.index_dir)
    parser.add_argument("--corpus", type=Path, default=settings.corpus)
    parser.add_argument("--resume", action="store_true", help="also measure a killed first build")
    parser.add_argument("--kill-after", type=int, default=2, help="checkpointed batches")
    parser.add_argument("--no-damage", action="store_true", help="skip the flipped bytes")
    args = parser.parse_args()
    embedder = load_embedder(settings)
    directory = resolve_index(args.index_dir)
    manifest = read_manifest(directory)
    verify_ms = timed(lambda: check_files(directory, manifest))
    load_ms = timed(lambda: load_index(directory, embedder))
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    print(f"verifying {len(manifest['files'])} files ({size / 1e6:.1f} MB): {verify_ms:.1f} ms; "
          f"a whole load, verification included: {load_ms:.0f} ms (median of 5)", flush=True)
    results: dict = {"verify_ms": round(verify_ms, 1), "load_ms": round(load_ms, 1)}
    if not args.no_damage:
        results["damage"] = probe_damage(args.index_dir, args.corpus, embedder)
    if args.resume:
        results["resume"] = probe_resume(args.corpus, args.kill_after)
    print(json.dumps(results))
    broken = [r for r in results.get("damage", []) if r["load"] != "refused"
              or sum(r["embedded"].values()) > 0]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
