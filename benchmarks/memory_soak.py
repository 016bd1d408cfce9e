"""Memory over a long stream: is it flat?

    python benchmarks/memory_soak.py [--duration 10800] [--every 20000] [--file REC.jsonl]
                                     [--tracemalloc-frames 1]

Writes ``--duration`` seconds of simulated stream (``livepilot simulate --raids``; or takes
``--file``), then replays it as fast as the machine allows through what a server process
keeps per stream: the full default pipeline on the events' own clock (so per-user state
expires as in a live stream), the memory bus and its event log ring, the WebSocket hub
with its backlog and overlay projector, and the audit log. Every ``--every`` published
messages it samples the process's RSS and the Python heap (tracemalloc, which itself adds
to RSS: ``--tracemalloc-frames 0`` measures RSS as in production).

Prints the samples, start / peak / end RSS, the slope of the traced heap and of RSS over
each third of the run (MB per 100k events: in the first third rings and caches fill;
"flat" is a slope near 0 in the middle and the last third), the top
growth by source line between the end of the first third and the end, and the 1-minute
load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _heap_mb() -> float:
    """The traced Python heap (NaN without tracemalloc)."""
    if not tracemalloc.is_tracing():
        return float("nan")
    return tracemalloc.get_traced_memory()[0] / 2**20


def _slope(points: Sequence[tuple[int, float]]) -> float:
    """Least-squares slope, MB per 100k events."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / var * 100_000


async def soak(path: Path, every: int) -> None:
    from pydantic import SecretStr

    from livepilot.bus.memory import MemoryBus
    from livepilot.metrics import Metrics
    from livepilot.server.audit import AuditLog
    from livepilot.server.hub import Hub
    from livepilot.service import StreamService
    from livepilot.settings import Settings
    from livepilot.sources.replay import ReplaySource

    settings = Settings(console_token=SecretStr("soak-console"),
                        overlay_key=SecretStr("soak-overlay"))
    metrics = Metrics()
    bus = MemoryBus(log_size=settings.event_log_size)
    hub = Hub(metrics, max_backlog=settings.client_queue_size,
              coalesce_ms=settings.coalesce_ms, overlay_hold_ms=settings.overlay_hold_ms,
              recent_size=settings.event_log_size)
    audit = AuditLog()
    bus.subscribe(hub.dispatch)
    bus.subscribe(audit.listen)
    service = StreamService(settings, bus, metrics)
    runner = service.add(ReplaySource(path, speed=0), event_time=True)

    samples: list[tuple[int, float, float, float]] = []  # events, RSS, heap MB, seconds
    snapshots: dict[int, tracemalloc.Snapshot] = {}
    started = time.perf_counter()
    published = 0
    next_at = every

    def sample(batch: Sequence[object]) -> None:
        nonlocal published, next_at
        published += len(batch)
        if published < next_at:
            return
        next_at += every
        samples.append((runner.processed, _rss_mb(), _heap_mb(), time.perf_counter() - started))
        if not tracemalloc.is_tracing():
            return
        snapshots[len(samples) - 1] = tracemalloc.take_snapshot()
        if len(snapshots) > 2:  # keep the one at a third, and the newest
            for key in sorted(snapshots)[1:-1]:
                if key != len(samples) // 3:
                    snapshots.pop(key, None)

    bus.subscribe(sample)
    await service.run()
    samples.append((runner.processed, _rss_mb(), _heap_mb(), time.perf_counter() - started))
    if tracemalloc.is_tracing():
        snapshots[len(samples) - 1] = tracemalloc.take_snapshot()
    service.models.close()
    _report(samples, snapshots)


def _report(samples: list[tuple[int, float, float, float]],
            snapshots: dict[int, tracemalloc.Snapshot]) -> None:
    print("| events | RSS MB | heap MB (tracemalloc) | seconds |")
    print("|---|---|---|---|")
    for events, rss, heap, seconds in samples:
        print(f"| {events:,} | {rss:.0f} | {heap:.1f} | {seconds:.0f} |")
    third = max(1, len(samples) // 3)
    # Each third's points include the last sample of the third before: slopes meet.
    thirds = [samples[:third + 1], samples[third:2 * third + 1], samples[2 * third:]]
    rss = [s[1] for s in samples]
    print(f"\nRSS start {rss[0]:.0f} MB, peak {max(rss):.0f} MB, end {rss[-1]:.0f} MB; "
          f"{samples[-1][0]:,} events in {samples[-1][3]:.0f} s; "
          f"load (1 min) {os.getloadavg()[0]:.1f}")
    print("| slope, MB per 100k events | first third (caches fill) | middle third | "
          "last third |")
    print("|---|---|---|---|")
    for name, column in (("heap", 2), ("RSS", 1)):
        slopes = " | ".join(f"{_slope([(s[0], s[column]) for s in part]):+.2f}"
                            for part in thirds)
        print(f"| {name} | {slopes} |")
    keys = sorted(snapshots)
    if len(keys) >= 2:
        print("\ntop heap growth from the end of the first third to the end:")
        for stat in snapshots[keys[-1]].compare_to(snapshots[keys[0]], "lineno")[:10]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks  "
                  f"{stat.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10_800)
    parser.add_argument("--every", type=int, default=20_000,
                        help="sample after this many published messages")
    parser.add_argument("--file", type=Path, help="a recording to replay instead")
    parser.add_argument("--tracemalloc-frames", type=int, default=1,
                        help="0: no tracemalloc (RSS as in production: tracing adds to it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "soak.jsonl"
            subprocess.run(
                [sys.executable, "-m", "livepilot", "simulate", "--duration",
                 str(args.duration), "--raids", "--stream", "soak", "-o", str(path)],
                check=True,
            )
        if args.tracemalloc_frames > 0:
            tracemalloc.start(args.tracemalloc_frames)
        asyncio.run(soak(path, args.every))


if __name__ == "__main__":
    main()
