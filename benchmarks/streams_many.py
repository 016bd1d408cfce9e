"""Many streams on one worker: event → console latency and the worker's memory.

    python benchmarks/streams_many.py [--streams 20] [--rate 30] [--consoles 4]
                                      [--seconds 20] [--repeat 3] [--bus memory|redis]

One server process runs ``--streams`` simulated streams, each re-timed to ``--rate``
events per second and stamped with the time it was received, through the full default
pipeline (no Detoxify: ``LIVEPILOT_DETOXIFY_CHECKPOINT`` unset, so only the shipped German
model scores). ``--consoles`` real WebSocket consoles in a process of their own each read
every stream and measure, for every event, the delay from ``received`` to arrival (after
a warm-up). With ``--bus redis`` the server is a worker on the Redis bus (its messages also
go to the Redis event log).

Rows: 1 stream × ``--rate`` (the baseline of this run), then ``--streams`` × ``--rate``.
Each prints the median over ``--repeat`` runs of p50 and p99 (with the p99 spread), the
server's RSS at the end and its peak (VmHWM), CPU per event, and the 1-minute load
average. Budget: p99 ≤ 50 ms and RSS ≤ 600 MB at 20 × 30.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass

from _serve import (
    RateSource,
    clean_redis,
    console_latencies,
    cpu_seconds,
    free_port,
    rss_mb,
    start,
    stop,
)
from _serve import serve as serve_streams

WARM_UP = 5.0


class _GcPauses:
    """The cyclic collector's full (generation 2) passes in this process: how many, and
    the longest (each holds the event loop, so each is a latency spike on every stream)."""

    def __init__(self, out: str | None) -> None:
        self.count = 0
        self.longest = 0.0
        self._started = 0.0
        self._out = out
        self._write()
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        # Only once serving: the server collects and freezes everything built at start.
        if info.get("generation") != 2 or not gc.get_freeze_count():
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)
            self._write()  # now: the server is stopped by a signal, nothing runs after

    def _write(self) -> None:
        if self._out:
            with open(self._out, "w") as handle:
                json.dump({"count": self.count, "longest_ms": self.longest * 1000}, handle)


def serve(port: int, streams: int, rate: float, bus: str, prefix: str, url: str,
          gc_out: str | None = None) -> None:
    def sources() -> list[object]:
        return [RateSource(f"s{i:02d}", rate, seed=i + 1, peak_viewers=600, step=0.005)
                for i in range(streams)]

    _GcPauses(gc_out)
    serve_streams(port, sources, bus=bus, prefix=prefix, url=url, record=False)


def _consoles(port: int, clients: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    start_at = time.time() + WARM_UP
    out.put(asyncio.run(console_latencies(port, clients, start_at, start_at + seconds)))


@dataclass
class Run:
    p50: float
    p99: float
    per_console: float
    rss: float
    peak: float
    cpu_us: float
    load: float
    #: Full collections in the server over the whole run, and the longest (ms).
    gc_full: int
    gc_longest: float


def one_run(streams: int, rate: float, consoles: int, seconds: float, bus: str,
            url: str) -> Run:
    prefix = f"livepilot-many-{uuid.uuid4().hex[:8]}"
    port = free_port()
    gc_file = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    gc_file.close()
    proc = start(
        [__file__, "--serve", str(port), "--streams", str(streams), "--rate", str(rate),
         "--bus", bus, "--prefix", prefix, "--redis", url, "--gc-out", gc_file.name],
        port, env={k: v for k, v in os.environ.items() if k != "LIVEPILOT_DETOXIFY_CHECKPOINT"},
    )
    try:
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        reader = ctx.Process(target=_consoles, args=(port, consoles, seconds, results))
        reader.start()
        time.sleep(WARM_UP)
        cpu_before = cpu_seconds(proc.pid)
        lat, got = results.get(timeout=seconds + 120)
        cpu, (rss, peak) = cpu_seconds(proc.pid), rss_mb(proc.pid)
        load = os.getloadavg()[0]
        reader.join(30)
    finally:
        stop(proc)
        if bus == "redis":
            clean_redis(url, prefix)
    try:
        with open(gc_file.name) as handle:
            collected = json.load(handle)
    except (OSError, ValueError):  # the server did not stop cleanly
        collected = {"count": 0, "longest_ms": float("nan")}
    finally:
        os.unlink(gc_file.name)
    if not lat:
        return Run(*(float("nan"),) * 6, load, 0, float("nan"))
    lat.sort()
    per_console = got / seconds / consoles
    return Run(
        p50=lat[len(lat) // 2], p99=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        per_console=per_console, rss=rss, peak=peak,
        cpu_us=(cpu - cpu_before) / max(1.0, per_console * seconds) * 1e6, load=load,
        gc_full=collected["count"], gc_longest=collected["longest_ms"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="livepilot-many", help=argparse.SUPPRESS)
    parser.add_argument("--gc-out", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--consoles", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bus", default="memory", choices=["memory", "redis"])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.streams, args.rate, args.bus, args.prefix, args.redis,
              args.gc_out)
        return
    print(f"{os.cpu_count()} cores shared by the worker, the consoles and everything else; "
          f"{args.seconds:.0f} s per run after a {WARM_UP:.0f} s warm-up, {args.repeat} runs "
          f"per row, {args.bus} bus\n")
    print("| streams × events/s | consoles | p50 ms | p99 ms median [min–max] | "
          "events/s per console | RSS MB end (peak) | CPU µs/event | full GCs, longest ms | "
          "load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for streams in (1, args.streams):
        runs = [one_run(streams, args.rate, args.consoles, args.seconds, args.bus, args.redis)
                for _ in range(args.repeat)]
        p99s = [r.p99 for r in runs]
        print(
            f"| {streams} × {args.rate:.0f} | {args.consoles} | "
            f"{statistics.median(r.p50 for r in runs):.1f} | "
            f"{statistics.median(p99s):.1f} [{min(p99s):.1f}–{max(p99s):.1f}] | "
            f"{statistics.median(r.per_console for r in runs):,.0f} | "
            f"{statistics.median(r.rss for r in runs):.0f} "
            f"({max(r.peak for r in runs):.0f}) | "
            f"{statistics.median(r.cpu_us for r in runs):,.0f} | "
            f"{statistics.median(r.gc_full for r in runs):.0f}, "
            f"{max(r.gc_longest for r in runs):.0f} | "
            f"{statistics.median(r.load for r in runs):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
