"""Event received → console WebSocket latency under load, with many consoles.

    python benchmarks/fanout.py [--seconds 10] [--repeat 3] [--clients 50] [--rate 2000]
                                [--modes memory,redis] [--redis redis://127.0.0.1:6379/0]

Real servers (uvicorn, the ``livepilot`` serving path, full default pipeline) in child
processes, fed by a source that emits simulated stream events at a fixed rate and stamps
each with the time it was received. The consoles are real WebSocket clients in a third
process of their own, so they never share a server's event loop; every console reads
every frame, one in four parses it and measures, for every event, the delay from
``received`` to arrival (after a 2 s warm-up).

Modes:

- ``memory``: one process, the memory bus; the consoles connect to it;
- ``redis``: a worker process runs the stream on the Redis bus; an API replica (a second
  server, no stream of its own) reads the log and serves the consoles.

Rows: 200 events/s × 1 console (the baseline of the run), then ``--rate`` × ``--clients``
per mode. Each row prints the median over ``--repeat`` runs of p50 and p99, the p99 spread,
each server process's CPU per event (µs, from ``/proc``; Redis rows: worker + replica), the
CPU seconds per second the servers and the console process used, how busy the whole machine
was (from ``/proc/stat``: 100 % means every core ran something the whole time) and the
1-minute load average. All processes share this machine's cores with whatever else runs on
it: a row where the machine was 100 % busy measures the queue for a core as much as the
code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

TOKEN = "bench-console-token"
WARM_UP = 2.0


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


def serve(port: int, rate: float, bus: str, prefix: str, url: str) -> None:
    """A server exactly as ``livepilot`` runs it: with the fixed-rate source when ``rate``
    is positive, else (an API replica) with no stream of its own."""
    from pydantic import SecretStr

    from livepilot.cli._app import load_settings
    from livepilot.cli.streams import serve_streams

    settings = load_settings(
        port=port, console_token=SecretStr(TOKEN), overlay_key=SecretStr("bench-overlay-key"),
        bus=bus, redis_url=url, redis_prefix=prefix,
    )
    sources = (lambda _: [RateSource(rate)]) if rate > 0 else (lambda _: [])
    serve_streams(settings, sources, open_browser=False)  # type: ignore[arg-type]


def _consoles(port: int, clients: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """The client process: ``clients`` consoles for ``seconds``; puts (latencies, count)."""
    out.put(asyncio.run(_measure(port, clients, seconds)))


async def _measure(port: int, clients: int, seconds: float) -> tuple[list[float], int]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    received = 0
    start_at = time.time() + WARM_UP
    stop_at = start_at + seconds

    async def client(index: int) -> None:
        nonlocal received
        url = f"ws://127.0.0.1:{port}/ws/console?token={TOKEN}"
        async with connect(url, compression=None, max_size=None, max_queue=None) as ws:
            sampled = index % 4 == 0  # only a sample parses: keeps the client process light
            while time.time() < stop_at:
                try:
                    frame = await asyncio.wait_for(ws.recv(), 2)
                except TimeoutError:
                    continue
                now = time.time()
                if not sampled or now <= start_at:
                    continue
                for message in json.loads(frame):
                    stamp = message.get("received")
                    if stamp is not None and message.get("type") != "insight":
                        received += 1
                        latencies.append((now - stamp) * 1000)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, received


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of every core so far (``/proc/stat``)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def _start(port: int, rate: float, bus: str, prefix: str, url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--rate", str(rate), "--bus", bus,
         "--prefix", prefix, "--redis", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server on port {port} did not start")


@dataclass
class Run:
    p50: float
    p99: float
    per_client: float  # events/s one measuring console received
    cpu_us: list[float]  # each server process's CPU per event, µs (worker first)
    cpu_rate: float  # CPU seconds per second of the servers and the console process
    busy: float  # share of the machine's cores that ran anything (any process), 0–1
    load: float


def one_run(mode: str, rate: float, clients: int, seconds: float, url: str) -> Run:
    prefix = f"livepilot-fanout-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if mode == "memory":
            port = _free_port()
            procs.append(_start(port, rate, "memory", prefix, url))
        else:
            port = _free_port()
            procs.append(_start(port, 0, "redis", prefix, url))  # the API replica
            procs.append(_start(_free_port(), rate, "redis", prefix, url))  # the worker
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        consoles = ctx.Process(target=_consoles, args=(port, clients, seconds, results))
        consoles.start()
        time.sleep(WARM_UP)
        watched: list[int] = [*(p.pid for p in procs), consoles.pid or 0]
        cpu_before = [_cpu(pid) for pid in watched]
        machine_before, began = _machine(), time.perf_counter()
        lat, got = results.get(timeout=seconds + 120)
        cpu = [_cpu(pid) - b for pid, b in zip(watched, cpu_before, strict=True)]
        elapsed = time.perf_counter() - began
        machine = _machine()
        load = os.getloadavg()[0]
        consoles.join(30)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if mode == "redis":
            _clean(url, prefix)
    if not lat:
        return Run(float("nan"), float("nan"), 0.0, [], float("nan"), float("nan"), load)
    lat.sort()
    sampled = len(range(0, clients, 4))
    per_client = got / seconds / sampled
    return Run(
        p50=lat[len(lat) // 2],
        p99=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        per_client=per_client,
        # Worker first: procs holds the replica first, then the worker.
        cpu_us=[c / max(1.0, per_client * seconds) * 1e6 for c in reversed(cpu[:-1])],
        cpu_rate=sum(cpu) / elapsed,
        busy=(machine[0] - machine_before[0]) / max(1, machine[1] - machine_before[1]),
        load=load,
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


def _per_process(runs: list[Run]) -> str:
    """Median CPU µs/event per server process: ``worker + replica`` (Redis) or one."""
    counts = {len(r.cpu_us) for r in runs if r.cpu_us}
    if len(counts) != 1:
        return "–"
    medians = [statistics.median(r.cpu_us[i] for r in runs if r.cpu_us)
               for i in range(counts.pop())]
    return " + ".join(f"{m:,.0f}" for m in medians)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bus", default="memory", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="livepilot-fanout", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="memory,redis")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rate, args.bus, args.prefix, args.redis)
        return
    print(
        f"{os.cpu_count()} cores shared by servers, consoles and Redis; {args.seconds:.0f} s "
        f"per run after a {WARM_UP:.0f} s warm-up, {args.repeat} runs per row\n"
    )
    print("| bus | events/s | consoles | p50 ms | p99 ms median [min–max] | "
          "events/s per console | server CPU µs/event | CPU s/s used | machine busy | "
          "load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = [] if args.no_baseline else [("memory", 200.0, 1)]
    rows += [(m, args.rate, args.clients) for m in args.modes.split(",")]
    for mode, rate, clients in rows:
        runs = [one_run(mode, rate, clients, args.seconds, args.redis)
                for _ in range(args.repeat)]
        p99s = [r.p99 for r in runs]
        name = "memory, 1 process" if mode == "memory" else "Redis, worker + API replica"
        print(
            f"| {name} | {rate:,.0f} | {clients} | "
            f"{statistics.median(r.p50 for r in runs):.1f} | "
            f"{statistics.median(p99s):.1f} [{min(p99s):.1f}–{max(p99s):.1f}] | "
            f"{statistics.median(r.per_client for r in runs):,.0f} | "
            f"{_per_process(runs)} | "
            f"{statistics.median(r.cpu_rate for r in runs):.2f} | "
            f"{statistics.median(r.busy for r in runs):.0%} | "
            f"{statistics.median(r.load for r in runs):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
