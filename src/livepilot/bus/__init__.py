"""The seam between ingestion, pipeline and fan-out."""

from __future__ import annotations

from livepilot.bus.base import Bus, BusHealth, Listener, Published
from livepilot.bus.memory import MemoryBus
from livepilot.metrics import Metrics
from livepilot.settings import Settings

__all__ = ["Bus", "BusHealth", "Listener", "MemoryBus", "Published", "create_bus"]


def create_bus(settings: Settings, metrics: Metrics | None = None) -> Bus:
    """The bus the settings ask for: in-memory (default) or Redis Streams (counting its
    errors, buffered and dropped messages into ``metrics``)."""
    if settings.bus == "redis":
        from livepilot.bus.redis import RedisBus

        return RedisBus(
            settings.redis_url,
            prefix=settings.redis_prefix,
            log_size=settings.event_log_size,
            buffer_size=settings.bus_buffer_size,
            max_age=settings.redis_log_max_age_s,
            metrics=metrics,
        )
    if metrics is not None:
        metrics.bus_up.set(1)
    return MemoryBus(log_size=settings.event_log_size)
