"""Event received → console WebSocket latency under load, with many consoles.

    python benchmarks/fanout.py [--seconds 10] [--repeat 3] [--clients 50] [--rate 2000]
                                [--modes memory,redis] [--redis redis://127.0.0.1:6379/0]
                                [--code before=/tmp/old/src --code after]

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

Before/after in one run: ``--code before=DIR/src --code after`` runs every row with the
servers importing livepilot from ``DIR/src`` (say a ``git worktree`` of the commit before)
and from this copy, alternating run by run, and prints a row per copy. The server set-up
is shared with the other server benchmarks (``_serve.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass

from _serve import (
    RateSource,
    clean_redis,
    console_latencies,
    cpu_seconds,
    free_port,
    serve,
    start,
    stop,
)

WARM_UP = 2.0


def _consoles(port: int, clients: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """The client process: ``clients`` consoles for ``seconds``; puts (latencies, count)."""
    start_at = time.time() + WARM_UP
    out.put(asyncio.run(console_latencies(port, clients, start_at, start_at + seconds,
                                          sample=4)))


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of every core so far (``/proc/stat``)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _start(port: int, rate: float, bus: str, prefix: str, url: str,
           src: str | None) -> subprocess.Popen[bytes]:
    return start([__file__, "--serve", str(port), "--rate", str(rate), "--bus", bus,
                  "--prefix", prefix, "--redis", url], port, src=src)


@dataclass
class Run:
    p50: float
    p99: float
    per_client: float  # events/s one measuring console received
    cpu_us: list[float]  # each server process's CPU per event, µs (worker first)
    cpu_rate: float  # CPU seconds per second of the servers and the console process
    busy: float  # share of the machine's cores that ran anything (any process), 0–1
    load: float


def one_run(mode: str, rate: float, clients: int, seconds: float, url: str,
            src: str | None = None) -> Run:
    prefix = f"livepilot-fanout-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        if mode == "memory":
            procs.append(_start(port, rate, "memory", prefix, url, src))
        else:
            procs.append(_start(port, 0, "redis", prefix, url, src))  # the API replica
            procs.append(_start(free_port(), rate, "redis", prefix, url, src))  # the worker
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        consoles = ctx.Process(target=_consoles, args=(port, clients, seconds, results))
        consoles.start()
        time.sleep(WARM_UP)
        watched: list[int] = [*(p.pid for p in procs), consoles.pid or 0]
        cpu_before = [cpu_seconds(pid) for pid in watched]
        machine_before, began = _machine(), time.perf_counter()
        lat, got = results.get(timeout=seconds + 120)
        cpu = [cpu_seconds(pid) - b for pid, b in zip(watched, cpu_before, strict=True)]
        elapsed = time.perf_counter() - began
        machine = _machine()
        load = os.getloadavg()[0]
        consoles.join(30)
    finally:
        for proc in procs:
            stop(proc)
        if mode == "redis":
            clean_redis(url, prefix)
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


def _per_process(runs: list[Run]) -> str:
    """Median CPU µs/event per server process: ``worker + replica`` (Redis) or one."""
    counts = {len(r.cpu_us) for r in runs if r.cpu_us}
    if len(counts) != 1:
        return "–"
    medians = [statistics.median(r.cpu_us[i] for r in runs if r.cpu_us)
               for i in range(counts.pop())]
    return " + ".join(f"{m:,.0f}" for m in medians)


def _code(spec: str) -> tuple[str, str | None]:
    """``LABEL=SRC`` (``src`` directory of a copy of the code) or ``LABEL`` (this copy)."""
    label, _, src = spec.partition("=")
    if src and not os.path.isdir(os.path.join(src, "livepilot")):
        raise argparse.ArgumentTypeError(f"{src} holds no livepilot package")
    return label, (os.path.abspath(src) if src else None)


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
    parser.add_argument(
        "--code", type=_code, action="append", metavar="LABEL[=SRC]",
        help="compare copies of the code in one run (repeatable): LABEL=SRC runs the "
             "servers with livepilot imported from the directory SRC (e.g. a `git worktree` "
             "of the commit before, its src/), LABEL alone this copy. Runs of the copies "
             "alternate, so each sees the same machine.",
    )
    args = parser.parse_args()
    if args.serve:
        rate = args.rate
        serve(args.serve, lambda: [RateSource("bench", rate)] if rate > 0 else [],
              bus=args.bus, prefix=args.prefix, url=args.redis)
        return
    codes: list[tuple[str, str | None]] = args.code or [("", None)]
    print(
        f"{os.cpu_count()} cores shared by servers, consoles and Redis; {args.seconds:.0f} s "
        f"per run after a {WARM_UP:.0f} s warm-up, {args.repeat} runs per row\n"
    )
    code_col = "code | " if args.code else ""
    print(f"| bus | {code_col}events/s | consoles | p50 ms | p99 ms median [min–max] | "
          "events/s per console | server CPU µs/event | CPU s/s used | machine busy | "
          "load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if args.code else ""))
    rows = [] if args.no_baseline else [("memory", 200.0, 1)]
    rows += [(m, args.rate, args.clients) for m in args.modes.split(",")]
    for mode, rate, clients in rows:
        runs: dict[str, list[Run]] = {label: [] for label, _ in codes}
        for _ in range(args.repeat):
            for label, src in codes:
                runs[label].append(one_run(mode, rate, clients, args.seconds, args.redis, src))
        for label, _ in codes:
            done = runs[label]
            p99s = [r.p99 for r in done]
            name = "memory, 1 process" if mode == "memory" else "Redis, worker + API replica"
            code = f"{label} | " if args.code else ""
            print(
                f"| {name} | {code}{rate:,.0f} | {clients} | "
                f"{statistics.median(r.p50 for r in done):.1f} | "
                f"{statistics.median(p99s):.1f} [{min(p99s):.1f}–{max(p99s):.1f}] | "
                f"{statistics.median(r.per_client for r in done):,.0f} | "
                f"{_per_process(done)} | "
                f"{statistics.median(r.cpu_rate for r in done):.2f} | "
                f"{statistics.median(r.busy for r in done):.0%} | "
                f"{statistics.median(r.load for r in done):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
