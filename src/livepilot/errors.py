"""livepilot's exceptions, one hierarchy.

    LivepilotError
    ├── ConfigError            a settings value or rules file is wrong (names file/field)
    │   └── RulesError         a rule pack failed validation
    ├── SourceError            a source cannot deliver events
    │   └── SourceUnavailable  offline / not found / rate limited (carries retry_after)
    ├── StageError             a stage failed on one event (names the stage)
    ├── BusUnavailable         the bus backend (Redis) cannot be reached
    ├── StoreUnavailable       the history store (SQLite file, PostgreSQL) cannot be used
    └── ModelPullError         a model download failed (offline, bad checksum, bad reply)

Adapters map third-party exceptions into these (``raise BusUnavailable(...) from exc``).
"""

from __future__ import annotations

__all__ = [
    "BusUnavailable",
    "ConfigError",
    "LivepilotError",
    "ModelPullError",
    "RulesError",
    "SourceError",
    "SourceUnavailable",
    "StageError",
    "StoreUnavailable",
]


class LivepilotError(Exception):
    """Base of every error livepilot raises on purpose."""


class ConfigError(LivepilotError):
    pass


class RulesError(ConfigError):
    pass


class SourceError(LivepilotError):
    pass


class SourceUnavailable(SourceError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StageError(LivepilotError):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage {stage!r}: {message}")
        self.stage = stage


class BusUnavailable(LivepilotError):
    pass


class StoreUnavailable(LivepilotError):
    pass


class ModelPullError(LivepilotError):
    pass
