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
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

TOKEN = "bench-console-token"
WARM_UP = 5.0


class RateSource:
    """One simulated stream re-timed to exactly ``rate`` events per second."""

    def __init__(self, stream: str, seed: int, rate: float) -> None:
        self.stream = stream
        self._seed = seed
        self._rate = rate

    async def events(self) -> AsyncIterator[object]:
        from livepilot.sources.simulator import Simulator

        sim = Simulator(self.stream, seed=self._seed, speed=0, start=0).events()
        started = time.perf_counter()
        sent = 0
        while True:
            due = int((time.perf_counter() - started) * self._rate)
            while sent < due:
                event = await anext(sim)
                now = time.time()
                yield event.model_copy(update={"at": now, "received": now})
                sent += 1
            await asyncio.sleep(0.005)


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
    from pydantic import SecretStr

    from livepilot.cli._app import load_settings
    from livepilot.cli.streams import serve_streams

    settings = load_settings(
        port=port, console_token=SecretStr(TOKEN), overlay_key=SecretStr("bench-overlay-key"),
        bus=bus, redis_url=url, redis_prefix=prefix,
    )

    def sources(_: object) -> list[object]:
        return [RateSource(f"s{i:02d}", i + 1, rate) for i in range(streams)]

    _GcPauses(gc_out)
    serve_streams(settings, sources, open_browser=False, record=False)  # type: ignore[arg-type]


def _consoles(port: int, clients: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_measure(port, clients, seconds)))


async def _measure(port: int, clients: int, seconds: float) -> tuple[list[float], int]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    received = 0
    start_at = time.time() + WARM_UP
    stop_at = start_at + seconds

    async def client() -> None:
        nonlocal received
        url = f"ws://127.0.0.1:{port}/ws/console?token={TOKEN}"
        async with connect(url, compression=None, max_size=None, max_queue=None) as ws:
            while time.time() < stop_at:
                try:
                    frame = await asyncio.wait_for(ws.recv(), 2)
                except TimeoutError:
                    continue
                now = time.time()
                if now <= start_at:
                    continue
                for message in json.loads(frame):
                    stamp = message.get("received") if isinstance(message, dict) else None
                    if stamp is not None and message.get("type") != "insight":
                        received += 1
                        latencies.append((now - stamp) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, received


def _proc(pid: int) -> tuple[float, float, float]:
    """CPU seconds, RSS MB, peak RSS MB of a process."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = hwm = float("nan")
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    port = _free_port()
    gc_file = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    gc_file.close()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--streams", str(streams),
         "--rate", str(rate), "--bus", bus, "--prefix", prefix, "--redis", url,
         "--gc-out", gc_file.name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "LIVEPILOT_DETOXIFY_CHECKPOINT"},
    )
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        reader = ctx.Process(target=_consoles, args=(port, consoles, seconds, results))
        reader.start()
        time.sleep(WARM_UP)
        cpu_before = _proc(proc.pid)[0]
        lat, got = results.get(timeout=seconds + 120)
        cpu, rss, peak = _proc(proc.pid)
        load = os.getloadavg()[0]
        reader.join(30)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if bus == "redis":
            _clean(url, prefix)
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


def _clean(url: str, prefix: str) -> None:
    async def clean() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    asyncio.run(clean())


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
