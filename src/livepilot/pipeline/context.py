"""What a stage factory may use to build its runtime object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from livepilot.metrics import Metrics
from livepilot.settings import Settings

if TYPE_CHECKING:
    from livepilot.ml.shared import ModelRegistry

__all__ = ["StageContext"]


@dataclass(frozen=True, slots=True)
class StageContext:
    """What a stage factory may use to build its runtime object."""

    settings: Settings
    metrics: Metrics
    stream: str = "default"
    #: The process's models, shared by every stream (``None``: the stage loads its own).
    models: ModelRegistry | None = None

    @property
    def rules_dir(self) -> Path:
        return self.settings.rules_dir
