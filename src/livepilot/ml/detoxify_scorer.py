"""Detoxify as a :class:`~livepilot.ml.scorer.Scorer`, loaded offline from local files.

Detoxify downloads its weights from the internet by default; livepilot never lets it at
run time. The files come from ``livepilot models pull NAME`` (found again by name in the
models folder, :mod:`livepilot.ml.pull`), or from your own checkpoint file
(``LIVEPILOT_DETOXIFY_CHECKPOINT``) and Hugging Face config directory with the tokenizer
files (``LIVEPILOT_DETOXIFY_CONFIG_DIR``). :class:`DetoxifyFiles` says which.

One detoxify quirk is handled here: its loader calls ``from_pretrained(model_type)`` with
the checkpoint's ``model_type`` (``bert-base-uncased`` for the released weights) even when
a config directory is given, which needs the network, and with a config directory it
takes that directory's ``config.json`` as it is (two labels), which does not fit the
checkpoint's classifier. When the checkpoint names a hub model rather than a local
directory, the model is built here from the config directory with the checkpoint's
number of classes.

Checkpoints are pickles (``torch.load(weights_only=False)``): load only trusted files.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livepilot.ml.pull import default_models_dir, find_pulled
from livepilot.ml.scorer import LOADING, ScorerStatus, Scores

__all__ = ["DetoxifyFiles", "DetoxifyScorer", "load_detoxify"]

log = logging.getLogger(__name__)

_RENAME = {
    "toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"
}


def load_detoxify(checkpoint: Path, config_dir: Path | None, device: str = "cpu") -> Any:
    """A ``detoxify.Detoxify`` built from local files only. Raises on any problem."""
    import detoxify
    import torch

    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    loaded = torch.load(str(checkpoint), map_location=device, weights_only=False)
    try:
        args = dict(loaded["config"]["arch"]["args"])
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
        state_dict = loaded["state_dict"]
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{checkpoint} is not a Detoxify checkpoint (needs config.arch.args, "
            f"config.dataset.args.classes and state_dict)"
        ) from exc
    local_type = Path(str(args.get("model_type", ""))).is_dir()
    if config_dir is None and not local_type:
        raise ValueError(
            f"the checkpoint's model type {args.get('model_type')!r} is not a local directory: "
            "set LIVEPILOT_DETOXIFY_CONFIG_DIR to its Hugging Face config and tokenizer files"
        )
    if config_dir is not None and not (config_dir / "config.json").is_file():
        raise FileNotFoundError(f"{config_dir / 'config.json'} does not exist")
    if local_type:
        # The checkpoint is self-contained: detoxify's public loader works as it is.
        return detoxify.Detoxify(
            checkpoint=str(checkpoint),
            device=device,
            huggingface_config_path=str(config_dir) if config_dir else None,
        )
    assert config_dir is not None
    transformers: Any = importlib.import_module("transformers")
    model_class = getattr(transformers, str(args["model_name"]))
    config = model_class.config_class.from_pretrained(
        str(config_dir), num_labels=int(args["num_classes"])
    )
    model = model_class.from_pretrained(None, config=config, state_dict=state_dict)
    tokenizer = getattr(transformers, str(args["tokenizer_name"])).from_pretrained(
        str(config_dir), local_files_only=True
    )
    det = object.__new__(detoxify.Detoxify)
    det.model, det.tokenizer = model, tokenizer
    det.class_names = [_RENAME.get(c, c) for c in classes]
    det.device = device
    det.model.to(device)
    return det


@dataclass(frozen=True, slots=True)
class DetoxifyFiles:
    """Where a Detoxify model's files are: a pulled model by ``name`` in ``models_dir``,
    or an own ``checkpoint`` (with ``config_dir``), which wins when both are set.

    Hashable: it is the model's identity when models are shared between streams.
    """

    name: str = "multilingual"
    checkpoint: Path | None = None
    config_dir: Path | None = None
    pulled: bool = False
    models_dir: Path | None = None

    @property
    def configured(self) -> bool:
        return self.checkpoint is not None or self.pulled

    @property
    def unset_reason(self) -> str:
        return ("Detoxify is off: run `livepilot models pull multilingual` and set "
                "LIVEPILOT_DETOXIFY=multilingual (or LIVEPILOT_DETOXIFY_CHECKPOINT)")

    @property
    def label(self) -> str:
        return str(self.checkpoint) if self.checkpoint is not None else f"pulled {self.name!r}"

    def resolve(self) -> tuple[Path, Path | None]:
        """The checkpoint and config folder; a pulled model is re-checked against its
        manifest first. Raises with what to do when they are not there."""
        if self.checkpoint is not None:
            return self.checkpoint, self.config_dir
        if not self.pulled:
            raise FileNotFoundError(self.unset_reason)
        found = find_pulled(self.models_dir or default_models_dir(), self.name)
        return found.checkpoint, found.config_dir


class DetoxifyScorer:
    """Scores with ``Detoxify.predict`` (fp32 PyTorch, as shipped)."""

    name = "detoxify"
    covers_german = False  # none of Detoxify's models was trained on German

    def __init__(
        self,
        *,
        model_type: str = "multilingual",
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        device: str = "cpu",
        files: DetoxifyFiles | None = None,
    ) -> None:
        self.files = files or DetoxifyFiles(model_type, checkpoint, config_dir)
        self.model_type = self.files.name
        self.device = device
        self.model: Any = None
        if not self.files.configured:
            self._status = ScorerStatus(self.name, False, self.files.unset_reason)
        else:
            self._status = ScorerStatus(self.name, False, LOADING)

    @property
    def status(self) -> ScorerStatus:
        return self._status

    def load(self) -> None:
        if not self.files.configured or self.model is not None:
            return
        try:
            checkpoint, config_dir = self.files.resolve()
            self.model = load_detoxify(checkpoint, config_dir, self.device)
        except ImportError as exc:
            self._status = ScorerStatus(
                self.name, False, f"{exc}: install livepilot[ml] (detoxify, torch)"
            )
        except Exception as exc:
            self._status = ScorerStatus(self.name, False, f"cannot load {self.files.label}: {exc}")
            log.debug("detoxify load failed", exc_info=True)
        else:
            self._status = ScorerStatus(
                self.name, True, f"{self.model_type}, PyTorch fp32 on {self.device}"
            )

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores per text. Each text is predicted alone, as Detoxify is shipped: in a
        padded batch PyTorch's kernels sum in a shape-dependent order, so a message's
        scores moved (in the last bits) with the rest of its batch, and a verdict near a
        threshold could flip. Use the ONNX runtime for speed."""
        if self.model is None:
            raise RuntimeError(f"detoxify is not loaded: {self._status.reason}")
        out: list[Scores] = []
        for text in texts:
            raw = self.model.predict(text)
            out.append({category: float(value) for category, value in raw.items()})
        return out
