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
* ONNX Runtime runs with ``threads`` intra-op threads (all cores but one, which the event
  loop keeps), without spinning, and releases the GIL.

Agreement with fp32 ``Detoxify.predict`` is checked on every export (see
:class:`OnnxDetoxifyScorer`) and measured on more text by ``benchmarks/detoxify_lane.py``.
Needs ``onnxruntime`` and ``tokenizers``; for the one-time export also ``torch``,
``transformers`` and ``onnx``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from livepilot.ml.detoxify_scorer import DetoxifyFiles, load_detoxify
from livepilot.ml.scorer import LOADING, ScorerStatus, Scores

__all__ = [
    "OnnxDetoxifyScorer", "agreement", "default_cache_dir", "export_onnx", "probe_texts",
    "quantize_onnx",
]

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


#: Lines the agreement probe takes from each of livepilot's chat files: the check runs
#: every line through PyTorch one at a time (about 30 ms each with Detoxify's BERT), and
#: the files grow with the German model's training data.
PROBE_PER_FILE = 200


def probe_texts(per_file: int = PROBE_PER_FILE) -> list[str]:
    """The agreement probe: livepilot's own short chat lines, friendly and offensive, at
    most ``per_file`` from each file, spread evenly over it (the same on every run)."""
    here = resources.files("livepilot") / "ml"
    texts: list[str] = []
    for name in ("chat_friendly.txt", "chat_offensive.txt"):
        lines = [line.strip() for line in (here / name).read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")]
        step = max(1, -(-len(lines) // per_file))
        texts.extend(lines[::step])
    return texts


def _labels(scores: Scores, threshold: float) -> frozenset[str]:
    return frozenset(c for c, v in scores.items() if v >= threshold)


def agreement(a: Sequence[Scores], b: Sequence[Scores], threshold: float = 0.5) -> float:
    """Share of texts whose set of categories at or above ``threshold`` is the same."""
    if not a:
        return 1.0
    same = sum(_labels(x, threshold) == _labels(y, threshold) for x, y in zip(a, b, strict=True))
    return same / len(a)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class OnnxDetoxifyScorer:
    """Detoxify's model on ONNX Runtime (int8 by default), for chat-length texts.

    The first load exports and quantises the model and checks it against PyTorch on
    :func:`probe_texts`: at least ``min_agreement`` of them must get the same labels
    (categories ≥ 0.5). Below that, or without ``onnxruntime``, it scores with PyTorch
    instead and its status says why. The export, the tokenizer and the check's result are
    cached next to each other, so later loads need neither PyTorch nor transformers.
    """

    name = "detoxify"
    covers_german = False

    def __init__(
        self,
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        *,
        model_type: str = "multilingual",
        max_length: int = 64,
        threads: int | None = None,
        quantize: bool = True,
        cache_dir: Path | None = None,
        files: DetoxifyFiles | None = None,
        min_agreement: float = 0.99,
        probe: Sequence[str] | None = None,
    ) -> None:
        if not 0 <= min_agreement <= 1:
            raise ValueError("min_agreement must be in [0, 1]")
        self.files = files or DetoxifyFiles(model_type, checkpoint, config_dir)
        self.model_type = self.files.name
        self.max_length = max_length
        #: Intra-op threads: all cores but one (the event loop's), at least one.
        self.threads = threads or max(1, (os.cpu_count() or 2) - 1)
        self.quantize = quantize
        self.cache_dir = cache_dir or default_cache_dir()
        self.min_agreement = min_agreement
        self._probe = list(probe) if probe is not None else None
        self.classes: list[str] = []
        #: The measured agreement with PyTorch on the probe (``None``: not measured).
        self.agreement: float | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: list[str] = []
        self._fallback: Any = None
        reason = LOADING if self.files.configured else self.files.unset_reason
        self._status = ScorerStatus(self.name, False, reason)

    @property
    def status(self) -> ScorerStatus:
        return self._status

    @property
    def runtime(self) -> str:
        """``onnx-int8``, ``onnx-fp32``, ``torch`` (the fallback) or ``none``."""
        if self._session is not None:
            return "onnx-int8" if self.quantize else "onnx-fp32"
        return "torch" if self._fallback is not None else "none"

    def load(self) -> None:
        if not self.files.configured or self._session is not None or self._fallback is not None:
            return
        try:
            why = self._load()
        except ImportError as exc:
            self._status = ScorerStatus(
                self.name, False, f"{exc}: install livepilot[ml] (onnxruntime, onnx, torch)"
            )
        except Exception as exc:
            self._status = ScorerStatus(self.name, False, f"cannot load {self.files.label}: {exc}")
            log.debug("onnx lane load failed", exc_info=True)
        else:
            kind = "int8" if self.quantize else "fp32"
            if why:
                log.warning("Detoxify runs on PyTorch, not ONNX %s: %s", kind, why)
                self._status = ScorerStatus(
                    self.name, True, f"{self.model_type}, PyTorch fp32 (fallback: {why})"
                )
            else:
                self._status = ScorerStatus(
                    self.name, True, f"{self.model_type}, ONNX {kind}, ≤{self.max_length} tokens"
                )

    def _load(self) -> str:
        """Load; return why PyTorch runs instead of ONNX, or ``""``."""
        checkpoint, config_dir = self.files.resolve()
        target = self.cache_dir / _fingerprint(checkpoint)
        run = target / ("model.int8.onnx" if self.quantize else "model.onnx")
        meta = _read_json(target / "meta.json")
        probe = self._probe if self._probe is not None else probe_texts()
        # The check's result holds for this file, truncation and probe set only.
        digest = hashlib.sha256("\n".join(probe).encode()).hexdigest()[:12]
        key = f"{run.name}:{self.max_length}:{digest}"
        checked = meta.get("agreement", {}).get(key)
        try:
            importlib.import_module("onnxruntime")
        except ImportError as exc:
            self._fallback = load_detoxify(checkpoint, config_dir)
            self.classes = list(self._fallback.class_names)
            return f"{exc} (install livepilot[ml])"
        if run.is_file() and (target / "tokenizer.json").is_file() and checked is not None:
            self.classes = list(meta["classes"])
            self._open(target, run)
            self.agreement = float(checked)
        else:
            det = load_detoxify(checkpoint, config_dir)
            self.classes = list(det.class_names)
            self._export(det, target, config_dir)
            self._open(target, run)
            self.agreement = self._check(det, probe)
            meta = _read_json(target / "meta.json")
            meta["classes"] = self.classes
            meta.setdefault("agreement", {})[key] = self.agreement
            _write_json(target / "meta.json", meta)
            log.info("ONNX %s agrees with PyTorch on %.1f %% of the probe texts",
                     run.name, 100 * self.agreement)
        if self.agreement >= self.min_agreement:
            return ""
        why = (f"ONNX {'int8' if self.quantize else 'fp32'} gave the same labels as PyTorch "
               f"on only {100 * self.agreement:.1f} % of the probe texts (< "
               f"{100 * self.min_agreement:.0f} %)")
        self._session = None
        self._fallback = load_detoxify(checkpoint, config_dir)
        return why

    def _export(self, det: Any, target: Path, config_dir: Path | None) -> None:
        transformers: Any = importlib.import_module("transformers")
        fp32 = target / "model.onnx"
        if not fp32.is_file():
            log.info("exporting %s to ONNX in %s (once)", self.files.label, target)
            export_onnx(det.model, fp32, quantize=False)
        if self.quantize and not (target / "model.int8.onnx").is_file():
            quantize_onnx(fp32)
        tokenizer_dir = str(config_dir or det.tokenizer.name_or_path)
        fast = transformers.AutoTokenizer.from_pretrained(
            tokenizer_dir, use_fast=True, local_files_only=True
        )
        # The fast tokenizer's own file: later loads tokenise without transformers.
        fast.backend_tokenizer.save(str(target / "tokenizer.json"))

    def _open(self, target: Path, run: Path) -> None:
        ort: Any = importlib.import_module("onnxruntime")
        tokenizers: Any = importlib.import_module("tokenizers")
        tokenizer = tokenizers.Tokenizer.from_file(str(target / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_length)
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # No spinning between ops: spinning threads hold cores even at a lower priority,
        # and on a small box the chat's event loop needs one (a saturated lane with two
        # spinning threads raised the console's p99 five-fold on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(run), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]

    def _check(self, det: Any, texts: Sequence[str]) -> float:
        """Agreement of this session with ``det`` (PyTorch, as shipped) on ``texts``."""
        ours = self._score_onnx(texts)
        theirs = [{c: float(v) for c, v in det.predict(t).items()} for t in texts]
        return agreement(ours, theirs)

    def _run(self, encoding: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
        values = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
                  "token_type_ids": encoding.type_ids}
        feed = {name: np.asarray([values[name]], dtype=np.int64) for name in self._inputs}
        (logits,) = self._session.run(["logits"], feed)
        out: np.ndarray[Any, np.dtype[np.float32]] = 1.0 / (1.0 + np.exp(-logits[0]))
        return out

    def _score_onnx(self, texts: Sequence[str]) -> list[Scores]:
        rows = [self._run(e) for e in self._tokenizer.encode_batch(list(texts))]
        return [
            {c: float(p) for c, p in zip(self.classes, row, strict=True)} for row in rows
        ]

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores per text; each text runs alone, so they never depend on the others."""
        if not texts:
            return []
        if self._session is not None:
            return self._score_onnx(texts)
        if self._fallback is not None:
            return [
                {c: float(v) for c, v in self._fallback.predict(t).items()} for t in texts
            ]
        raise RuntimeError(f"ONNX lane is not loaded: {self._status.reason}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)
