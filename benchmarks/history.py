"""Stream history: what recording costs the stream, and how fast the store writes.

    python benchmarks/history.py [--duration 1500] [--repeat 3] [--pg postgresql://…]

Rows:

* a headless replay of a simulated stream at maximum speed, without and with the store
  (SQLite, and PostgreSQL with ``--pg``): wall time and events per second;
* the recorder's cost on the event loop per published message (turning messages into
  rows; the database work is on the writer thread);
* the event loop's lateness while 2,000 chat messages a second are recorded: a 1 ms timer's
  p50 / p99 / max delay with the store writing vs with no store.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from livepilot.headless import replay_headless
from livepilot.insights import Insight
from livepilot.settings import Settings
from livepilot.store import Recorder, StoreSettings
from livepilot.store.wiring import start_recorder
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import LineError, WireMessage, read_jsonl


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.3f}  ({min(values):.3f}–{max(values):.3f})"


#: PostgreSQL schemas this run made (dropped at the end).
_SCHEMAS: list[str] = []


def _stores(pg: str | None) -> dict[str, Callable[[], StoreSettings]]:
    stores: dict[str, Callable[[], StoreSettings]] = {
        "sqlite": lambda: StoreSettings(data_dir=Path(tempfile.mkdtemp())),
    }
    if pg:
        def postgres() -> StoreSettings:
            _SCHEMAS.append(f"livepilot_bench_{time.time_ns() % 10**9}")
            return StoreSettings(database_url=SecretStr(pg), database_schema=_SCHEMAS[-1])

        stores["postgresql"] = postgres
    return stores


def _drop_schemas(pg: str | None) -> None:
    if not pg or not _SCHEMAS:
        return
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        for schema in _SCHEMAS:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _replay(recording: Path, settings: Settings, store: StoreSettings | None) -> float:
    recorder = start_recorder(settings, CollectorRegistry(), store) if store else None
    started = time.perf_counter()
    await replay_headless(recording, io.StringIO(), settings, recorder=recorder)
    if recorder is not None:
        await recorder.aclose(deadline=60)
    return time.perf_counter() - started


def _feed_cost(messages: list[WireMessage], settings: Settings, store: StoreSettings) -> float:
    recorder = start_recorder(settings, CollectorRegistry(), store)
    tap = recorder.tap("demo", platform="replay")
    started = time.perf_counter()
    for message in messages:
        tap.feed([message])
    elapsed = time.perf_counter() - started
    tap.close()
    recorder.close(deadline=60)
    return elapsed / len(messages) * 1e6


async def _lateness(recorder: Recorder | None, seconds: float = 5.0) -> list[float]:
    """A 1 ms timer's delays (ms) while 2,000 chat messages/s are recorded."""
    delays: list[float] = []
    tap = recorder.tap("load", platform="other") if recorder is not None else None
    make = EventFactory(FakeClock(1_767_222_000.0), stream="load")

    async def ticker() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            delays.append((time.perf_counter() - before - 0.001) * 1000)

    async def chat() -> None:
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            batch: list[WireMessage] = []
            for _ in range(20):
                n += 1
                make.clock.advance(0.0005)
                event = make.chat(f"user{n % 500}", f"nachricht {n}")
                batch += [event, Insight(event_id=event.id, stream="load")]
            if tap is not None:
                tap.feed(batch)
            await asyncio.sleep(0.01)

    await asyncio.gather(ticker(), chat())
    if tap is not None:
        tap.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1500.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL URL to measure too (a schema is made)")
    args = parser.parse_args()
    settings = Settings()
    recording = Path(tempfile.mkdtemp()) / "stream.jsonl"
    subprocess.run([sys.executable, "-m", "livepilot", "simulate", "--duration",
                    str(args.duration), "--seed", "3", "-o", str(recording)],
                   check=True, capture_output=True)
    events = sum(1 for _ in recording.open(encoding="utf-8"))
    stores = _stores(args.pg)

    print(f"headless replay, {args.duration:.0f} s simulated stream, {events} events "
          f"(median (min–max) of {args.repeat})")
    print(f"{'store':<12} {'seconds':>22} {'events/s':>10}")
    for name, make in [("none", lambda: None), *stores.items()]:
        times = [asyncio.run(_replay(recording, settings, make())) for _ in range(args.repeat)]
        print(f"{name:<12} {_spread(times):>22} {events / statistics.median(times):>10.0f}")

    out = io.StringIO()
    asyncio.run(replay_headless(recording, out, settings))
    lines = Path(tempfile.mkdtemp()) / "out.jsonl"
    lines.write_text(out.getvalue(), encoding="utf-8")
    messages = [m for m in read_jsonl(lines) if not isinstance(m, LineError)]
    print(f"\nrecorder on the event loop, {len(messages)} published messages")
    for name, make in stores.items():
        cost = [_feed_cost(messages, settings, make()) for _ in range(args.repeat)]
        print(f"{name:<12} {_spread(cost)} µs per message")

    print("\nevent-loop lateness of a 1 ms timer while recording 2,000 chat messages/s (ms)")
    print(f"{'store':<12} {'p50':>7} {'p99':>7} {'max':>7}")
    for name, make in [("none", lambda: None), *stores.items()]:
        store = make()
        recorder = start_recorder(settings, CollectorRegistry(), store) if store else None
        delays = sorted(asyncio.run(_lateness(recorder)))
        if recorder is not None:
            recorder.close(deadline=60)
        p99 = delays[int(len(delays) * 0.99)]
        print(f"{name:<12} {statistics.median(delays):7.3f} {p99:7.3f} {delays[-1]:7.3f}")
    _drop_schemas(args.pg)


if __name__ == "__main__":
    main()
