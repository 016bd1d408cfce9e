"""The seam between ingestion, pipeline and fan-out."""

from __future__ import annotations

from livepilot.bus.base import Bus, Listener, Published
from livepilot.bus.memory import MemoryBus
from livepilot.settings import Settings

__all__ = ["Bus", "Listener", "MemoryBus", "Published", "create_bus"]


def create_bus(settings: Settings) -> Bus:
    """The bus the settings ask for: in-memory (default) or Redis Streams."""
    if settings.bus == "redis":
        from livepilot.bus.redis import RedisBus

        return RedisBus(
            settings.redis_url, prefix=settings.redis_prefix, log_size=settings.event_log_size
        )
    return MemoryBus(log_size=settings.event_log_size)
