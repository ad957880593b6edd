"""The model exported to ONNX and run with onnxruntime and `tokenizers`, verified against torch.

The ONNX file is made here, once, from the installed model's own weights (`export_onnx`, run by
`make install` or on first use; nothing is downloaded): the encoder, mean pooling and L2
normalisation in one graph, so its output is the sentence-transformers vector. Tokenisation copies
sentence-transformers: the model's `tokenizer.json` truncates and pads at 128 tokens, while
sentence-transformers truncates at `max_seq_length` (256) and pads to the longest text of a batch.

Before a file is used it is checked twice: its sha256 must be the one written when it was exported,
and its vectors of fixed sentences must equal the ones stored then within 1e-5 (for fp32, torch's
own vectors; for int8, the quantised file's, its distance to torch being recorded beside them).
Only the export imports torch.

Layout of one model's folder in the cache (setting RAGQA_ONNX_CACHE):
    model.onnx            fp32: input_ids, attention_mask, token_type_ids -> sentence_embedding
    model.int8.onnx       dynamic int8 quantisation of model.onnx, per-channel weights
    reference.npy         torch's vectors of VERIFY_SENTENCES
    reference.int8.npy    model.int8.onnx's vectors of VERIFY_SENTENCES
    verify.json           hashes, versions and measured differences (written last)

>>> embedder = OnnxEmbedder()                     # the installed model, fp32, one thread
>>> embedder.embed(["Is ketamine addictive?"]).shape
(1, 384)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ragqa.config import ONNX_CACHE
from ragqa.errors import EmbedderMismatchError
from ragqa.index.embed import Embedder, EmbedderRecord, model_name, resolve_model_path

log = logging.getLogger(__name__)

DEFAULT_CACHE = ONNX_CACHE
TOLERANCE = 1e-5
VERIFY_FILE = "verify.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Fixed sentences the exported file must embed as torch does: short and long (past 128 and past
# 256 tokens, so both truncation limits are exercised), numbers and units, accents, blank edges.
VERIFY_SENTENCES = (
    "Is microdosing ketamine effective for depression?",
    "0.5 mg/kg IV over 40 minutes, twice weekly for 2-4 weeks.",
    "  Esketamine nasal spray (56 or 84 mg) is given with an oral antidepressant.  ",
    "Naïve patients — café, Ünïcödé and CAPS-5 scores ≥ 33.",
    "a",
    " ".join(["Ketamine reduced depressive symptoms within hours of a single infusion."] * 14),
    " ".join(["Dissociation and blood pressure were monitored for two hours."] * 6),
)
# the cheap subset checked every time a file is loaded (the long ones are checked at export)
LOAD_CHECK = VERIFY_SENTENCES[:4]


class Precision(str, Enum):
    """fp32 (equal to torch) or int8 (dynamic quantisation: faster, not identical)."""

    FP32 = "fp32"
    INT8 = "int8"

    @property
    def file_name(self) -> str:
        """The model file of this precision in a model's cache folder."""
        return "model.onnx" if self is Precision.FP32 else "model.int8.onnx"

    @property
    def reference_name(self) -> str:
        """The stored vectors this precision's file must reproduce."""
        return "reference.npy" if self is Precision.FP32 else "reference.int8.npy"


@dataclass(frozen=True)
class Pipeline:
    """What sentence-transformers does around the encoder, read from the model's own files."""

    max_seq_length: int
    do_lower_case: bool
    dim: int

    @classmethod
    def read(cls, model_dir: Path) -> Pipeline:
        """Read modules.json and the module configs; refuse what the ONNX graph does not compute."""
        modules = _read_json(model_dir / "modules.json")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
            raise EmbedderMismatchError(
                f"{model_dir}: modules {kinds} are not Transformer, Pooling[, Normalize]; the ONNX "
                "embedder cannot compute this model (use --embedder torch)")
        pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
        modes = [key for key, on in pooling.items() if key.startswith("pooling_mode") and on]
        if modes != ["pooling_mode_mean_tokens"]:
            raise EmbedderMismatchError(
                f"{model_dir}: pooling {modes} is not mean pooling; the ONNX embedder cannot "
                "compute this model (use --embedder torch)")
        config = _read_json(model_dir / "sentence_bert_config.json")
        return cls(int(config["max_seq_length"]), bool(config.get("do_lower_case", False)),
                   int(pooling["word_embedding_dimension"]))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EmbedderMismatchError(f"{path}: cannot read ({exc})") from None


def load_tokenizer(model_dir: Path, pipeline: Pipeline):
    """The model's fast tokenizer, truncating at max_seq_length as sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json says truncate at 128 and pad to 128; sentence-transformers overrides both
    tokenizer.enable_truncation(max_length=pipeline.max_seq_length, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


def model_folder(model_dir: Path, cache_dir: Path) -> Path:
    """The cache folder of one installed model: a re-installed or edited model gets a new one."""
    weights = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin"))
    stamp = [str(model_dir.resolve())]
    for path in [*weights, model_dir / "tokenizer.json"]:
        stat = path.stat()
        stamp.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    key = hashlib.sha1("\n".join(stamp).encode()).hexdigest()[:12]
    slug = model_name(model_dir).rsplit("/", 1)[-1]
    return Path(cache_dir) / f"{slug}-{key}"


def _stat(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest absolute difference between two sets of vectors (inf if shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of corresponding rows of two sets of unit vectors."""
    return float(np.mean(np.sum(a.astype(np.float64) * b.astype(np.float64), axis=1)))


def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, longest first, so little is padding.

    A batch holds at most `batch_size` texts and `max_tokens` tokens once padded to its longest.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start:start + size])
        start += size
    return batches


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # idle worker threads sleep instead of spinning: the cores are shared with other processes
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session, encodings: Sequence[Any], pad_id: int) -> np.ndarray:
    """One padded batch of encodings through the graph: its sentence embeddings."""
    length = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), length), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]


class OnnxEmbedder(Embedder):
    """The sentence-transformers model as an onnxruntime graph: same vectors, no torch at run time.

    >>> OnnxEmbedder(precision=Precision.INT8, threads=1)    # the quantised file, one thread
    """

    def __init__(self, model_path: str | Path | None = None, cache_dir: str | Path | None = None,
                 precision: Precision | str = Precision.FP32, threads: int | None = 1,
                 batch_size: int = 32, max_batch_tokens: int = 512,
                 export_if_missing: bool = True) -> None:
        if threads is not None and threads < 1:
            raise EmbedderMismatchError(f"onnx threads must be >= 1 or None, got {threads}")
        self.model_dir = resolve_model_path(model_path)
        self.precision = Precision(precision)
        self.pipeline = Pipeline.read(self.model_dir)
        self.name = model_name(self.model_dir)
        self.dim = self.pipeline.dim
        self.max_tokens = self.pipeline.max_seq_length
        # int8 quantises each batch's activations with one scale, so a text's vector would depend
        # on its batch-mates (and its padding): one text per batch keeps it equal to the vector
        # the same text gets as a query
        self.batch_size = 1 if self.precision is Precision.INT8 else batch_size
        self.max_batch_tokens = max_batch_tokens
        self.folder = model_folder(self.model_dir, Path(cache_dir or DEFAULT_CACHE))
        if not (self.folder / VERIFY_FILE).is_file() or not (
                self.precision.value in _read_json(self.folder / VERIFY_FILE).get("files", {})):
            if not export_if_missing:
                raise EmbedderMismatchError(
                    f"no exported ONNX model in {self.folder}: run `ragqa export-onnx`")
            log.warning("exporting %s to ONNX into %s (once; needs torch)", self.name, self.folder)
            export_onnx(self.model_dir, cache_dir or DEFAULT_CACHE)
        self.tokenizer = load_tokenizer(self.model_dir, self.pipeline)
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self.path = self.folder / self.precision.file_name
        self.sha256 = self._check_hash()
        # `threads` intra-op threads per call (a query); None: one per call and as many calls at
        # once as there are cores (indexing), which on this hardware beats splitting each batch
        self.workers = (os.cpu_count() or 1) if threads is None else 1
        self.session = _session(self.path, threads or 1)
        self._check_vectors()
        log.info("loaded ONNX %s model %s (%d threads, %d at once) from %s",
                 self.precision.value, self.name, threads or 1, self.workers, self.path)

    @property
    def record(self) -> EmbedderRecord:
        """onnx, with its precision and file hash."""
        return EmbedderRecord("onnx", self.precision.value, self.sha256)

    def _check_hash(self) -> str:
        entry = _read_json(self.folder / VERIFY_FILE)["files"][self.precision.value]
        if not self.path.is_file():
            raise EmbedderMismatchError(f"{self.path} is missing: run `ragqa export-onnx --force`")
        if entry.get("stat") == _stat(self.path):
            return str(entry["sha256"])  # untouched since it was hashed: spare the 90 MB read
        actual = file_sha256(self.path)
        if actual != entry["sha256"]:
            raise EmbedderMismatchError(
                f"{self.path} was changed after it was exported and verified (sha256 {actual[:12]}, "
                f"expected {entry['sha256'][:12]}); refusing it: run `ragqa export-onnx --force`")
        return actual

    def _check_vectors(self) -> None:
        reference = np.load(self.folder / self.precision.reference_name, allow_pickle=False)
        vectors = np.vstack([self.embed([text]) for text in LOAD_CHECK])
        diff = max_difference(vectors, reference[:len(LOAD_CHECK)])
        if not diff <= TOLERANCE:
            raise EmbedderMismatchError(
                f"{self.path}: vectors differ from the stored {self.precision.value} reference by "
                f"{diff:.2e} (> {TOLERANCE:.0e}); refusing it: run `ragqa export-onnx --force`")

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts in batches of similar length, normalised for inner-product search."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self.pipeline.do_lower_case:
            texts = [text.lower() for text in texts]
        if len(texts) == 1:  # a query: no batching to plan
            out[0] = _run(self.session, [self.tokenizer.encode(texts[0])], self.pad_id)[0]
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        batches = length_batches([len(e.ids) for e in encodings], self.batch_size,
                                 self.max_batch_tokens)
        bar = None
        if show_progress:
            from ragqa.index.progress import progress

            bar = progress(len(texts), f"embedding (onnx {self.precision.value})", "sentences")
        def run(batch: np.ndarray) -> None:
            out[batch] = _run(self.session, [encodings[i] for i in batch], self.pad_id)
            if bar is not None:
                bar.update(len(batch))

        try:
            if self.workers == 1:
                for batch in batches:
                    run(batch)
            else:  # onnxruntime releases the GIL, and one session may run calls concurrently
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(self.workers, thread_name_prefix="ragqa-embed") as pool:
                    for _ in pool.map(run, batches):
                        pass
        finally:
            if bar is not None:
                bar.close()
        return out


# -- export (the one place torch is needed) ------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What `export_onnx` did and measured."""

    folder: Path
    exported: tuple[str, ...]
    files: dict[str, dict[str, Any]]
    seconds: float


def export_onnx(model_path: str | Path | None = None, cache_dir: str | Path | None = None,
                force: bool = False) -> ExportReport:
    """Export the fp32 and int8 ONNX files of the installed model, verified against torch.

    Refuses (EmbedderMismatchError) and keeps nothing when the fp32 vectors differ from torch's
    beyond TOLERANCE. Files already exported and recorded are kept unless `force`.
    """
    started = time.perf_counter()
    model_dir = resolve_model_path(model_path)
    folder = model_folder(model_dir, Path(cache_dir or DEFAULT_CACHE))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes exporting at once take turns
        record: dict[str, Any] = {}
        if (folder / VERIFY_FILE).is_file() and not force:
            record = _read_json(folder / VERIFY_FILE)
        files: dict[str, dict[str, Any]] = dict(record.get("files", {}))
        todo = [p for p in Precision if p.value not in files]
        if todo:
            _export_missing(model_dir, folder, todo, files, record)
    return ExportReport(folder, tuple(p.value for p in todo), files,
                        round(time.perf_counter() - started, 1))


def _export_missing(model_dir: Path, folder: Path, todo: list[Precision],
                    files: dict[str, dict[str, Any]], record: dict[str, Any]) -> None:
    import onnxruntime
    import torch

    from ragqa.index.embed import SentenceTransformerEmbedder

    pipeline = Pipeline.read(model_dir)
    tokenizer = load_tokenizer(model_dir, pipeline)
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    torch_model = SentenceTransformerEmbedder(model_dir)
    reference = torch_model.embed(list(VERIFY_SENTENCES))
    fp32 = folder / Precision.FP32.file_name
    if Precision.FP32 in todo:
        tmp = folder / f".model.onnx.{os.getpid()}"
        _torch_export(torch_model.model[0].auto_model, tmp)
        vectors = _embed_file(tmp, tokenizer, pad_id)
        diff = max_difference(vectors, reference)
        if not diff <= TOLERANCE:
            tmp.unlink(missing_ok=True)
            raise EmbedderMismatchError(
                f"the exported ONNX model's vectors differ from torch's by {diff:.2e} "
                f"(> {TOLERANCE:.0e}) on the verification sentences; not using it (use "
                "--embedder torch)")
        os.replace(tmp, fp32)
        _save_npy(folder / Precision.FP32.reference_name, reference)
        files["fp32"] = {"file": fp32.name, "sha256": file_sha256(fp32), "stat": _stat(fp32),
                         "max_abs_diff_to_torch": diff, "mean_cosine_to_torch":
                         round(mean_cosine(vectors, reference), 9)}
    if Precision.INT8 in todo:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = folder / Precision.INT8.file_name
        tmp = folder / f".model.int8.onnx.{os.getpid()}"
        logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
        try:
            quantize_dynamic(str(fp32), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        vectors = _embed_file(tmp, tokenizer, pad_id)
        os.replace(tmp, int8)
        _save_npy(folder / Precision.INT8.reference_name, vectors)
        files["int8"] = {"file": int8.name, "sha256": file_sha256(int8), "stat": _stat(int8),
                         "quantisation": "dynamic, QInt8 weights per channel, uint8 activations",
                         "max_abs_diff_to_torch": max_difference(vectors, reference),
                         "mean_cosine_to_torch": round(mean_cosine(vectors, reference), 6)}
    record.update({
        "model": model_name(model_dir), "model_dir": str(model_dir),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "tolerance": TOLERANCE, "max_seq_length": pipeline.max_seq_length,
        "verify_sentences": list(VERIFY_SENTENCES), "files": files,
    })
    tmp_json = folder / f".{VERIFY_FILE}.{os.getpid()}"
    tmp_json.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    os.replace(tmp_json, folder / VERIFY_FILE)  # last: a folder without it is not an export


def _embed_file(path: Path, tokenizer, pad_id: int) -> np.ndarray:
    """VERIFY_SENTENCES through a freshly exported file, one at a time (as queries are)."""
    session = _session(path, 1)
    return np.vstack([_run(session, [tokenizer.encode(s)], pad_id) for s in VERIFY_SENTENCES])


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.npy")
    np.save(tmp, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    os.replace(tmp, path)


def _torch_export(encoder, path: Path) -> None:
    """The encoder plus sentence-transformers' mean pooling and normalisation, as one ONNX graph."""
    import warnings

    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, encoder) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids)[0]
            # as sentence_transformers' Pooling (mean) and Normalize modules compute it
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            summed = (tokens * mask).sum(dim=1)
            counts = torch.clamp(mask.sum(dim=1), min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2, dim=1)

    module = SentenceEmbedding(encoder).eval()
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # dynamo=False: the TorchScript exporter needs neither onnxscript nor a traced program
        torch.onnx.export(module, (example, example, torch.zeros_like(example)), str(path),
                          input_names=list(INPUTS), output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                          opset_version=17, do_constant_folding=True, dynamo=False)
