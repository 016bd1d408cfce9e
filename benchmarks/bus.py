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
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
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


async def _memory(count: int) -> float:
    events = await _events("bench", count)
    bus = MemoryBus(log_size=count)
    got = 0

    def listen(batch: Sequence[Published]) -> None:
        nonlocal got
        got += sum(1 for p in batch if p.type != "insight")

    bus.subscribe(listen)
    started = time.perf_counter()
    await _run("bench", events, bus)
    assert got == count, (got, count)
    return time.perf_counter() - started


def _worker(url: str, prefix: str, stream: str, count: int, go: object, done: object) -> None:
    async def main() -> None:
        events = await _events(stream, count)
        bus = RedisBus(url, prefix=prefix, log_size=count + 1_000)
        await bus.start()
        go.wait()  # type: ignore[attr-defined]
        await _run(stream, events, bus)
        await bus.close(deadline=60)

    asyncio.run(main())
    done.set()  # type: ignore[attr-defined]


async def _redis(url: str, workers: int, count: int) -> float:
    prefix = f"livepilot-bench-{uuid.uuid4().hex[:8]}"
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
    procs = [
        ctx.Process(target=_worker, args=(url, prefix, f"s{i}", count, go, dones[i]))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    await asyncio.sleep(3.0)  # spawn, imports, simulate the events
    started = time.perf_counter()
    go.set()
    await asyncio.wait_for(finished.wait(), 120)
    seconds = time.perf_counter() - started
    for p in procs:
        p.join(60)
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
    rows: list[tuple[str, int, list[float]]] = [
        ("memory bus, 1 process (baseline)", n, [n / asyncio.run(_memory(n))
                                                 for _ in range(args.repeat)]),
    ]
    for workers in (1, 2):
        rates = [workers * n / asyncio.run(_redis(args.redis, workers, n))
                 for _ in range(args.repeat)]
        rows.append((f"Redis bus, {workers} worker(s) → 1 reader", workers * n, rates))
    base = statistics.median(rows[0][2])
    print(f"{n} events per stream, runner only (no stages), {args.repeat} repetitions\n")
    print("| bus | events | events/s median | min–max | vs memory |")
    print("|---|---|---|---|---|")
    for name, total, rates in rows:
        med = statistics.median(rates)
        print(f"| {name} | {total:,} | {med:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} "
              f"| {med / base:.2f}× |")


if __name__ == "__main__":
    main()
