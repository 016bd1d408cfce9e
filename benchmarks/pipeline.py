"""Pipeline throughput in headless replay at maximum speed, pinned to one core.

    python benchmarks/pipeline.py [--duration 1800] [--repeat 5]

Replays a simulated stream (chat, gifts, likes, joins, viewers) through the runner with
different stage chains and prints events/s (median and min–max over repetitions). The
"runner only" row is the baseline measured in the same run: the runner, queue, event
clock and JSONL encoding with no stages at all.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from livepilot.headless import replay_headless
from livepilot.settings import DEFAULT_STAGES, Settings
from livepilot.sources.simulator import Simulator
from livepilot.wire import encode


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


async def _record(path: Path, duration: float) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        async for event in Simulator("bench", seed=5, speed=0, duration=duration, start=0).events():
            handle.write(encode(event) + "\n")
            count += 1
    return count


def _run(path: Path, stages: tuple[str, ...]) -> tuple[float, int]:
    settings = Settings(stages=stages, queue_size=100_000)
    started = time.perf_counter()
    result = asyncio.run(replay_headless(path, _Null(), settings, errors=sys.stderr))
    return time.perf_counter() - started, result.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=1800, help="simulated seconds")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    non_ml = tuple(s for s in DEFAULT_STAGES if s != "toxicity")
    chains = {
        "runner only (baseline)": (),
        "non-ML stages": non_ml,
        "all default stages": DEFAULT_STAGES,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.jsonl"
        events = asyncio.run(_record(path, args.duration))
        print(f"recording: {events} events, {args.duration:.0f} s of simulated stream; 1 core\n")
        print("| stage chain | events/s median | min–max | µs/event median |")
        print("|---|---|---|---|")
        for name, stages in chains.items():
            _run(path, stages)  # warm-up: imports, model load, caches
            rates = []
            for _ in range(args.repeat):
                seconds, n = _run(path, stages)
                rates.append(n / seconds)
            med = statistics.median(rates)
            print(
                f"| {name} | {med:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} | {1e6 / med:,.1f} |"
            )


if __name__ == "__main__":
    main()
