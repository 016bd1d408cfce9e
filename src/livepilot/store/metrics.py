"""The store's Prometheus metrics, registered in the process's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["StoreMetrics"]


class StoreMetrics:
    """What ops need to see of the store: is it up, how far behind, what was lost."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.up = Gauge(
            "livepilot_store_up",
            "1 while the last write to the history store succeeded, 0 while it fails",
            registry=r,
        )
        self.written = Counter(
            "livepilot_store_written_rows", "Rows written to the store", ["table"], registry=r
        )
        self.dropped = Counter(
            "livepilot_store_dropped_rows",
            "Rows dropped because the store's buffer was full (store down for long)",
            ["table"],
            registry=r,
        )
        self.buffered = Gauge(
            "livepilot_store_buffered_rows", "Rows waiting for the store", registry=r
        )
        self.failures = Counter(
            "livepilot_store_failures",
            "Failed attempts to write to the store (each is retried)",
            registry=r,
        )
        self.errors = Counter(
            "livepilot_store_recorder_errors",
            "Messages the recorder could not turn into rows (logged; the stream goes on)",
            registry=r,
        )
        self.flush_seconds = Histogram(
            "livepilot_store_flush_seconds",
            "Time one batch took to commit",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
        )
