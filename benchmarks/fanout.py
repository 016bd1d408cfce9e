"""Event received → console WebSocket latency under load, with many clients.

    python benchmarks/fanout.py [--seconds 8] [--repeat 3]

Starts the real server (uvicorn, full default pipeline) in a child process with a source
that emits simulated stream events at a fixed rate, stamping each with the time it was
received. N console clients in this process (a separate process from the server) measure,
for every event, the delay from ``received`` to arrival. The 200 events/s × 1 client row is
the baseline of the same run. Both processes share this machine's 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator

TOKEN = "bench-console-token"


class RateSource:
    """Simulated events re-timed to exactly ``rate`` per second (1 ms ticks)."""

    def __init__(self, rate: float) -> None:
        self.stream = "bench"
        self._rate = rate

    async def events(self) -> AsyncIterator[object]:
        from livepilot.sources.simulator import Simulator

        sim = Simulator("bench", seed=3, speed=0, start=0, peak_viewers=2_000).events()
        started = time.perf_counter()
        sent = 0
        while True:
            due = int((time.perf_counter() - started) * self._rate)
            while sent < due:
                event = await anext(sim)
                now = time.time()
                yield event.model_copy(update={"at": now, "received": now})
                sent += 1
            await asyncio.sleep(0.001)


def serve(port: int, rate: float) -> None:
    """The server exactly as ``livepilot`` runs it, with the fixed-rate source."""
    from pydantic import SecretStr

    from livepilot.cli._app import load_settings
    from livepilot.cli.streams import serve_streams

    settings = load_settings(
        port=port, console_token=SecretStr(TOKEN), overlay_key=SecretStr("bench-overlay-key")
    )
    serve_streams(settings, lambda _: [RateSource(rate)], open_browser=False)  # type: ignore[list-item]


async def measure(port: int, clients: int, seconds: float) -> tuple[list[float], int]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    received = 0
    stop_at = time.time() + seconds

    async def client(index: int) -> None:
        nonlocal received
        url = f"ws://127.0.0.1:{port}/ws/console?token={TOKEN}"
        async with connect(url, compression=None, max_size=None) as ws:
            warm_until = time.time() + 1.0
            sampled = index % 4 == 0  # only a sample parses: keeps the client process light
            while time.time() < stop_at:
                try:
                    frame = await asyncio.wait_for(ws.recv(), 2)
                except TimeoutError:
                    continue
                now = time.time()
                if not sampled or now <= warm_until:
                    continue
                for message in json.loads(frame):
                    stamp = message.get("received")
                    if stamp is not None:
                        received += 1
                        latencies.append((now - stamp) * 1000)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, received


def one_run(rate: float, clients: int, seconds: float) -> tuple[float, float, float]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--rate", str(rate)],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        lat, got = asyncio.run(measure(port, clients, seconds))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    lat.sort()
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    sampled = len(range(0, clients, 4))
    return p50, p99, got / max(0.1, seconds - 1.0) / sampled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rate)
        return
    print(
        f"{os.cpu_count()} cores shared by server and clients; {args.seconds:.0f} s per run, "
        f"{args.repeat} runs per row\n"
    )
    print(
        "| events/s | clients | p50 ms (median of runs) | p99 ms median | p99 min–max | "
        "events/s per client |"
    )
    print("|---|---|---|---|---|---|")
    for rate, clients in ((200, 1), (2000, 1), (2000, 20)):
        runs = [one_run(rate, clients, args.seconds) for _ in range(args.repeat)]
        p50s, p99s, rates = zip(*runs, strict=True)
        print(
            f"| {rate:,} | {clients} | {statistics.median(p50s):.1f} | "
            f"{statistics.median(p99s):.1f} | {min(p99s):.1f}–{max(p99s):.1f} | "
            f"{statistics.median(rates):,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
