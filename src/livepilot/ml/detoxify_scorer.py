"""Detoxify as a :class:`~livepilot.ml.scorer.Scorer`, loaded offline from local files.

Detoxify downloads its weights from the internet by default; livepilot never lets it. A
checkpoint file (``LIVEPILOT_DETOXIFY_CHECKPOINT``) and a Hugging Face config directory
with the tokenizer files (``LIVEPILOT_DETOXIFY_CONFIG_DIR``) must be on disk.

One detoxify quirk is handled here: its loader calls ``from_pretrained(model_type)`` with
the checkpoint's ``model_type`` (``bert-base-uncased`` for the released weights) even when
a config directory is given, which needs the network. When the checkpoint names a hub
model rather than a local directory, the model type is pointed at the config directory
before detoxify's own ``get_model_and_tokenizer`` builds the model.

Checkpoints are pickles (``torch.load(weights_only=False)``): load only trusted files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livepilot.ml.scorer import LOADING, ScorerStatus, Scores

__all__ = ["DetoxifyScorer", "load_detoxify"]

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
    args["model_type"] = str(config_dir)
    model, tokenizer = detoxify.detoxify.get_model_and_tokenizer(
        **args, state_dict=state_dict, huggingface_config_path=str(config_dir)
    )
    det = object.__new__(detoxify.Detoxify)
    det.model, det.tokenizer = model, tokenizer
    det.class_names = [_RENAME.get(c, c) for c in classes]
    det.device = device
    det.model.to(device)
    return det


class DetoxifyScorer:
    """Scores with ``Detoxify.predict`` (fp32 PyTorch, as shipped)."""

    name = "detoxify"
    covers_german = False  # none of Detoxify's models was trained on German

    def __init__(
        self,
        *,
        model_type: str = "multilingual",
        checkpoint: Path | None,
        config_dir: Path | None = None,
        device: str = "cpu",
    ) -> None:
        self.model_type = model_type
        self.checkpoint = checkpoint
        self.config_dir = config_dir
        self.device = device
        self.model: Any = None
        if checkpoint is None:
            self._status = ScorerStatus(
                self.name, False, "LIVEPILOT_DETOXIFY_CHECKPOINT is not set (offline only)"
            )
        else:
            self._status = ScorerStatus(self.name, False, LOADING)

    @property
    def status(self) -> ScorerStatus:
        return self._status

    def load(self) -> None:
        if self.checkpoint is None or self.model is not None:
            return
        try:
            self.model = load_detoxify(self.checkpoint, self.config_dir, self.device)
        except ImportError as exc:
            self._status = ScorerStatus(
                self.name, False, f"{exc}: install livepilot[ml] (detoxify, torch)"
            )
        except Exception as exc:
            self._status = ScorerStatus(
                self.name, False, f"cannot load {self.checkpoint}: {exc}"
            )
            log.debug("detoxify load failed", exc_info=True)
        else:
            self._status = ScorerStatus(self.name, True, f"{self.model_type} on {self.device}")

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
