"""Write a Detoxify-format checkpoint with random weights, offline, for tests and benchmarks.

Real Detoxify weights come from the internet, which livepilot never touches. This builds
the same file layout Detoxify's loader expects (``config.arch.args``,
``config.dataset.args.classes``, ``state_dict``) plus a Hugging Face config directory
(``config.json``, ``vocab.txt``) for a BERT of any size: tiny for tests, base-size
(12 × 768, Detoxify ``original``'s geometry) for speed measurements. Scores of a random
model mean nothing; its speed and its agreement with itself under optimisation do.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CLASSES", "write_tiny_checkpoint"]

#: Detoxify ``original``'s classes, as its checkpoints name them.
CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def write_tiny_checkpoint(
    root: Path,
    words: Sequence[str],
    *,
    model_type: str | None = None,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    seed: int = 0,
    margin: float = 0.0,
) -> tuple[Path, Path]:
    """Write ``root/hf/{config.json,vocab.txt}`` and ``root/model.ckpt``; return both paths.

    ``model_type`` is what the checkpoint names as its base model; by default the config
    directory itself (self-contained), or e.g. ``"bert-base-uncased"`` to mimic a
    released checkpoint. ``margin`` moves the classifier's biases to +margin for the even
    classes and -margin for the odd ones: a random model's scores sit near 0.5, where
    any rounding flips a label; a margin gives clear yes and no answers, as a trained
    model gives on most chat.
    """
    torch: Any = importlib.import_module("torch")
    transformers: Any = importlib.import_module("transformers")

    config_dir = root / "hf"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += sorted(set(words) - set(vocab))
    (config_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden * 4,
        max_position_embeddings=512, num_labels=len(CLASSES),
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config).eval()
    with torch.no_grad():
        signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(len(CLASSES))])
        model.classifier.bias.add_(signs * margin)
    checkpoint = root / "model.ckpt"
    torch.save(
        {
            "config": {
                "arch": {"args": {
                    "model_type": model_type or str(config_dir),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(CLASSES),
                }},
                "dataset": {"args": {"classes": list(CLASSES)}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir
