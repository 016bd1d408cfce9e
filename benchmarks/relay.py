"""The hub's coalescing alone: how long a dispatched message waits before its frame is sent.

    python benchmarks/relay.py [--clients 20] [--rate 500] [--batches 2500] [--repeat 3]

One process, no server: ``--clients`` console relays on sockets that only record when a
frame was sent, and batches of one chat message dispatched at random (exponential)
intervals, ``--rate`` a second. Prints, per run, the delay from dispatch to the first
frame sent after it (every client, every message; p50 and p99) and the frames each client
sent per second. What it measures is the coalescing window's share of the console
latency (``LIVEPILOT_COALESCE_MS``, 15 ms) and the frame rate it costs, without the
stages, the network or the other processes of ``fanout.py``; the 1-minute load average
is printed next to it, and the process's CPU time per dispatched batch (the hub's
queueing, its ticks and the relays' wake-ups and sends, with the loop's own overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import statistics
import time

from livepilot.bus.base import Published
from livepilot.events import ChatEvent
from livepilot.metrics import Metrics
from livepilot.server.hub import Hub
from livepilot.wire import encode


class _RecordingSocket:
    """Just enough of a WebSocket for the hub: remembers when each frame was sent."""

    application_state = None

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(time.perf_counter())

    async def receive_text(self) -> str:
        await asyncio.Event().wait()
        return ""


async def one_run(clients: int, rate: float, batches: int) -> tuple[float, float, float, float]:
    """(p50 ms, p99 ms, frames per client and second, CPU µs per batch) of one run."""
    hub = Hub(Metrics())
    sockets = [_RecordingSocket() for _ in range(clients)]
    tasks = [
        asyncio.create_task(hub.serve(ws, "console", backlog=0))  # type: ignore[arg-type]
        for ws in sockets
    ]
    await asyncio.sleep(0.2)
    for ws in sockets:
        ws.sent.clear()  # the hello
    user = {"id": "u1", "unique_id": "u1", "nickname": "u"}
    stamps: list[float] = []
    cpu = time.process_time()
    for i in range(batches):
        message = ChatEvent.model_validate({
            "type": "chat", "id": f"c{i}", "stream": "s", "at": 0.0, "received": 0.0,
            "user": user, "text": "hallo",
        })
        stamps.append(time.perf_counter())
        hub.dispatch([Published(i, message, encode(message))])
        await asyncio.sleep(random.expovariate(rate))
    await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu
    delays: list[float] = []
    for ws in sockets:
        for stamp in stamps:
            at = bisect.bisect_left(ws.sent, stamp)
            if at < len(ws.sent):
                delays.append((ws.sent[at] - stamp) * 1000)
    await hub.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays.sort()
    elapsed = stamps[-1] - stamps[0]
    frames = statistics.mean(len(ws.sent) for ws in sockets) / elapsed
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99)], frames, cpu / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--batches", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| run | p50 ms | p99 ms | frames per client and s | CPU µs per batch | load (1 min) |")
    print("|---|---|---|---|---|---|")
    for run in range(1, args.repeat + 1):
        p50, p99, frames, cpu = asyncio.run(one_run(args.clients, args.rate, args.batches))
        print(f"| {run} | {p50:.1f} | {p99:.1f} | {frames:.0f} | {cpu:.0f} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
