"""What a stage factory may use to build its runtime object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livepilot.metrics import Metrics
from livepilot.settings import Settings

__all__ = ["StageContext"]


@dataclass(frozen=True, slots=True)
class StageContext:
    """What a stage factory may use to build its runtime object."""

    settings: Settings
    metrics: Metrics
    stream: str = "default"

    @property
    def rules_dir(self) -> Path:
        return self.settings.rules_dir
