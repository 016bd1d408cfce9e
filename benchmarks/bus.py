"""Bus throughput end to end: events through a stream's runner, published on the bus,
until a reader has them — memory bus (baseline) against the Redis bus.

    python benchmarks/bus.py [--events 40000] [--repeat 3] [--redis redis://127.0.0.1:6379/0]

Rows: the memory bus in one process (runner → listener; the baseline of this run); the
Redis bus with one worker process and with two (each replaying its own stream) while
this process reads every stream's log like an API replica. A row's time runs from the
moment the workers start publishing until the reader has received every message.
Runner-only chains (no stages), so the bus is what is measured (each chat also carries
its insight on the bus: ~1.3 messages per event); events are counted; the machine's 2 cores
are shared by the workers, Redis and the reader.

Each row also prints the CPU time per event (µs) of every process involved — runner and
listener for the memory bus; workers, reader and redis-server for the Redis bus — and what
that cost allows on one core and on four (the ceiling if the cores were free), next to the
1-minute load average while it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from livepilot.bus.base import Published
from livepilot.bus.memory import MemoryBus
from livepilot.bus.redis import RedisBus
from livepilot.clock import SystemClock
from livepilot.events import LiveEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline, StreamRunner
from livepilot.sources.simulator import Simulator


async def _events(stream: str, count: int) -> list[LiveEvent]:
    out: list[LiveEvent] = []
    async for event in Simulator(stream, seed=7, speed=0, start=0).events():
        out.append(event)
        if len(out) == count:
            break
    return out


async def _source(events: Sequence[LiveEvent]) -> AsyncIterator[LiveEvent]:
    for event in events:
        yield event


async def _run(stream: str, events: Sequence[LiveEvent], bus: MemoryBus | RedisBus) -> None:
    metrics = Metrics()
    runner = StreamRunner(
        stream, _source(events), Pipeline([], metrics), bus.publish, SystemClock(), metrics,
        queue_size=100_000,
    )
    await runner.run()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (0 if it is not visible)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _memory(count: int, cpu: list[float]) -> float:
    events = await _events("bench", count)
    bus = MemoryBus(log_size=count)
    got = 0

    def listen(batch: Sequence[Published]) -> None:
        nonlocal got
        got += sum(1 for p in batch if p.type != "insight")

    bus.subscribe(listen)
    started, cpu_started = time.perf_counter(), time.process_time()
    await _run("bench", events, bus)
    assert got == count, (got, count)
    cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def _worker(
    url: str, prefix: str, stream: str, count: int, go: object, done: object, cpu: object
) -> None:
    async def main() -> None:
        events = await _events(stream, count)
        bus = RedisBus(url, prefix=prefix, log_size=count + 1_000)
        await bus.start()
        go.wait()  # type: ignore[attr-defined]
        started = time.process_time()
        await _run(stream, events, bus)
        await bus.flush(60)
        cpu.value = time.process_time() - started  # type: ignore[attr-defined]
        await bus.close(deadline=60)

    asyncio.run(main())
    done.set()  # type: ignore[attr-defined]


async def _redis_pid(url: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    info = await client.info("server")
    await client.aclose()
    return int(info["process_id"])


async def _register(url: str, prefix: str, streams: list[str]) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.zadd(f"{prefix}:streams", {s: int(time.time() * 1000) for s in streams})
    await client.aclose()


async def _redis(url: str, workers: int, count: int, cpu: list[float]) -> float:
    prefix = f"livepilot-bench-{uuid.uuid4().hex[:8]}"
    # The streams are registered before the reader starts, so it reads their logs from
    # the first entry on: the row measures the bus, not how soon a replica notices a new
    # stream (up to 2 s, which would dominate a run of a few seconds).
    await _register(url, prefix, [f"s{i}" for i in range(workers)])
    reader = RedisBus(url, prefix=prefix, log_size=1_000)
    await reader.start()
    got = 0
    finished = asyncio.Event()
    total = workers * count

    def listen(batch: Sequence[Published]) -> None:
        nonlocal got
        got += sum(1 for p in batch if p.type != "insight")
        if got >= total:
            finished.set()

    reader.subscribe(listen)
    ctx = mp.get_context("spawn")
    go, dones = ctx.Event(), [ctx.Event() for _ in range(workers)]
    spent = [ctx.Value("d", 0.0) for _ in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(url, prefix, f"s{i}", count, go, dones[i], spent[i]))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    redis_pid = await _redis_pid(url)
    await asyncio.sleep(3.0)  # spawn, imports, simulate the events
    started, reader_cpu, redis_cpu = time.perf_counter(), time.process_time(), _cpu(redis_pid)
    go.set()
    await asyncio.wait_for(finished.wait(), 120)
    seconds = time.perf_counter() - started
    reader_cpu, redis_cpu = time.process_time() - reader_cpu, _cpu(redis_pid) - redis_cpu
    for p in procs:
        p.join(60)
    cpu.append(reader_cpu + redis_cpu + sum(v.value for v in spent))
    await reader.close()
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="events per stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    n = args.events
    rows: list[tuple[str, int, list[float], list[float], list[float]]] = []
    cpu: list[float] = []
    loads: list[float] = []
    rates: list[float] = []
    for _ in range(args.repeat):
        rates.append(n / asyncio.run(_memory(n, cpu)))
        loads.append(os.getloadavg()[0])
    rows.append(("memory bus, 1 process (baseline)", n, rates, [c / n for c in cpu], loads))
    for workers in (1, 2):
        cpu, loads, rates = [], [], []
        for _ in range(args.repeat):
            rates.append(workers * n / asyncio.run(_redis(args.redis, workers, n, cpu)))
            loads.append(os.getloadavg()[0])
        rows.append((f"Redis bus, {workers} worker(s) → 1 reader", workers * n, rates,
                     [c / (workers * n) for c in cpu], loads))
    base = statistics.median(rows[0][2])
    print(f"{n} events per stream, runner only (no stages), {args.repeat} repetitions, "
          f"{os.cpu_count()} cores\n")
    print("| bus | events | events/s median | min–max | vs memory | CPU µs/event, all "
          "processes | events/s per core | on 4 free cores | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, total, rates, per_event, loads in rows:
        med, cost = statistics.median(rates), statistics.median(per_event)
        print(f"| {name} | {total:,} | {med:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} "
              f"| {med / base:.2f}× | {cost * 1e6:,.0f} | {1 / cost:,.0f} | {4 / cost:,.0f} "
              f"| {statistics.median(loads):.1f} |")


if __name__ == "__main__":
    main()
