"""The fast transformer lane: a Detoxify checkpoint exported to ONNX, int8, on ONNX Runtime.

Detoxify as shipped runs fp32 PyTorch and pads every batch to 512 tokens' worth of
model; on a 2-core CPU that is ~25 messages/s one at a time. This lane keeps Detoxify's
weights and decisions and changes how they run:

* the model is exported once to ONNX and quantised to int8 (dynamic, per-tensor weights,
  MatMuls only), cached on disk next to a fingerprint of the checkpoint;
* chat is tokenised with the fast (Rust) tokenizer and truncated to ``max_length`` tokens
  (64 by default: chat is short, and cost grows with length);
* each text runs alone, unpadded. Dynamic int8 quantisation picks one activation scale per
  tensor, i.e. per batch: batched, a message's scores moved with whatever else was in
  its batch (298 of 300 messages changed when the batches were regrouped), so the same
  chat log could get different verdicts. Alone, a text's scores depend on the text only;
  on a 2-core box that costs no measurable int8 throughput (sub-batches of 8: ~100
  msg/s, alone: ~95, 12 × 768 BERT, 64-token tweets) and ~25 % of fp32's;
* ONNX Runtime runs with ``threads`` intra-op threads and releases the GIL.

Agreement with fp32 ``Detoxify.predict`` is measured by ``benchmarks/detoxify_lane.py``.
Needs ``onnxruntime``, and for the one-time export ``torch`` and ``onnx``.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livepilot.ml.detoxify_scorer import load_detoxify
from livepilot.ml.scorer import LOADING, ScorerStatus, Scores

__all__ = ["OnnxDetoxifyScorer", "default_cache_dir", "export_onnx", "quantize_onnx"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livepilot" / "onnx"


def _fingerprint(checkpoint: Path) -> str:
    stat = checkpoint.stat()
    key = f"{checkpoint.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def export_onnx(model: Any, out: Path, *, quantize: bool = True) -> Path:
    """Export a ``transformers`` sequence classifier to ``out`` (fp32), and an int8 copy.

    Returns the path of the file to run (the int8 one when ``quantize``).
    """
    torch: Any = importlib.import_module("torch")
    out.parent.mkdir(parents=True, exist_ok=True)
    names = ["input_ids", "attention_mask"]
    if getattr(model.config, "type_vocab_size", 0) > 1:
        names.append("token_type_ids")

    class Logits(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).logits

    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["logits"] = {0: "batch"}
    model.eval()
    # The tracer warns about shape-dependent Python branches in transformers' masking code;
    # they are constant for padded encoder inputs, so the warnings are noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Logits(model), dummy, str(out), input_names=names, output_names=["logits"],
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    return quantize_onnx(out) if quantize else out


def quantize_onnx(fp32: Path) -> Path:
    """Dynamic int8 quantisation of an exported model; returns the new file's path."""
    quantization: Any = importlib.import_module("onnxruntime.quantization")
    int8 = fp32.with_suffix(".int8.onnx")
    # Per-tensor weights: ORT's per-channel MatMul quantisation agreed worse with fp32 here.
    quantization.quantize_dynamic(str(fp32), str(int8), weight_type=quantization.QuantType.QInt8)
    return int8


class OnnxDetoxifyScorer:
    """Detoxify's model on ONNX Runtime (int8 by default), for chat-length texts."""

    name = "detoxify"
    covers_german = False

    def __init__(
        self,
        checkpoint: Path | None,
        config_dir: Path | None = None,
        *,
        model_type: str = "multilingual",
        max_length: int = 64,
        threads: int = 2,
        quantize: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.config_dir = config_dir
        self.model_type = model_type
        self.max_length = max_length
        self.threads = threads
        self.quantize = quantize
        self.cache_dir = cache_dir or default_cache_dir()
        self.classes: list[str] = []
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: list[str] = []
        reason = LOADING if checkpoint else "LIVEPILOT_DETOXIFY_CHECKPOINT is not set"
        self._status = ScorerStatus(self.name, False, reason)

    @property
    def status(self) -> ScorerStatus:
        return self._status

    def load(self) -> None:
        if self.checkpoint is None or self._session is not None:
            return
        try:
            self._load(self.checkpoint)
        except ImportError as exc:
            self._status = ScorerStatus(
                self.name, False, f"{exc}: install livepilot[ml] (onnxruntime, onnx, torch)"
            )
        except Exception as exc:
            self._status = ScorerStatus(self.name, False, f"cannot load {self.checkpoint}: {exc}")
            log.debug("onnx lane load failed", exc_info=True)
        else:
            kind = "int8" if self.quantize else "fp32"
            self._status = ScorerStatus(
                self.name, True, f"{self.model_type}, ONNX {kind}, ≤{self.max_length} tokens"
            )

    def _load(self, checkpoint: Path) -> None:
        ort: Any = importlib.import_module("onnxruntime")
        transformers: Any = importlib.import_module("transformers")
        target = self.cache_dir / _fingerprint(checkpoint)
        run = target / ("model.int8.onnx" if self.quantize else "model.onnx")
        det = load_detoxify(checkpoint, self.config_dir)
        self.classes = list(det.class_names)
        fp32 = target / "model.onnx"
        if not fp32.is_file():
            log.info("exporting %s to ONNX in %s (once)", checkpoint, target)
            export_onnx(det.model, fp32, quantize=False)
        if not run.is_file():
            quantize_onnx(fp32)
        tokenizer_dir = str(self.config_dir or det.tokenizer.name_or_path)
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(
            tokenizer_dir, use_fast=True, local_files_only=True
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # ORT's worker threads spin between ops (≈ +25 % throughput here). They are created
        # by the thread that calls load(); the batcher runs that at a lower CPU priority,
        # so spinning never takes a core from the event loop.
        self._session = ort.InferenceSession(
            str(run), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]

    def _run(self, encoded: dict[str, list[int]]) -> np.ndarray[Any, np.dtype[np.float32]]:
        feed = {name: np.asarray([encoded[name]], dtype=np.int64) for name in self._inputs}
        (logits,) = self._session.run(["logits"], feed)
        out: np.ndarray[Any, np.dtype[np.float32]] = 1.0 / (1.0 + np.exp(-logits[0]))
        return out

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores per text; each text runs alone, so they never depend on the others."""
        if self._session is None:
            raise RuntimeError(f"ONNX lane is not loaded: {self._status.reason}")
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), truncation=True, max_length=self.max_length)
        rows = [
            self._run({name: encoded[name][i] for name in self._inputs})
            for i in range(len(texts))
        ]
        return [
            {c: float(p) for c, p in zip(self.classes, row, strict=True)} for row in rows
        ]
