"""Stream leases and ``livepilot worker``: each declared stream runs in exactly one
worker, and a stream whose worker is killed runs again in another within 15 s, with the
gap recorded. Real Redis (LIVEPILOT_TEST_REDIS_URL) under a key prefix of its own; the
end-to-end test runs real ``livepilot`` processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tests.bus.conftest import (
    AUTH,
    URL,
    Processes,
    ThrowawayRedis,
    eventually,
    local_streams,
)
from websockets.asyncio.client import connect

from livepilot.bus.redis import RedisBus
from livepilot.errors import RulesError
from livepilot.events import GapEvent
from livepilot.metrics import Metrics
from livepilot.service import StreamService
from livepilot.testing import TEST_CONSOLE_TOKEN, settings_for_tests
from livepilot.workers import SimulatorSpec, StreamsFile, attach_worker, load_streams

# -- the leases on their own ---------------------------------------------------------------


async def test_a_lease_is_held_by_one_worker_renewed_and_released(prefix: str) -> None:
    bus = RedisBus(URL, prefix=prefix)
    try:
        first = await bus.claim("alpha", "w1", 10)
        second = await bus.claim("alpha", "w2", 10)
        assert first.taken and first.previous is None
        assert not second.taken and second.holder == "w1"
        assert await bus.renew("alpha", "w1", 10)
        assert not await bus.renew("alpha", "w2", 10)  # w2 never holds it
        await bus.release("alpha", "w2")  # not its lease: nothing happens
        assert not (await bus.claim("alpha", "w2", 10)).taken
        await bus.release("alpha", "w1")
        after = await bus.claim("alpha", "w2", 10)
        assert after.taken and after.previous == "w1"
        assert not await bus.renew("alpha", "w1", 10)  # lost to w2: stop the stream
    finally:
        await bus.close()


async def test_a_lapsed_lease_is_taken_by_another_or_again_by_its_holder(prefix: str) -> None:
    bus = RedisBus(URL, prefix=prefix)
    try:
        assert (await bus.claim("beta", "w1", 0.3)).taken
        await asyncio.sleep(0.5)  # lapsed (as over a Redis outage); nobody took it
        assert await bus.renew("beta", "w1", 10)
        assert (await bus.claim("gamma", "w1", 0.3)).taken
        await asyncio.sleep(0.5)
        taken = await bus.claim("gamma", "w2", 10)
        assert taken.taken and taken.previous == "w1"
        assert not await bus.renew("gamma", "w1", 10)
    finally:
        await bus.close()


def test_a_streams_file_with_a_mistake_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text("streams:\n  - simulator: a\n  - simulator: a\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"streams\.yaml.*declared twice: a"):
        load_streams(path)
    path.write_text("streams:\n  - simulatr: a\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"\[0\]': each stream needs \"simulator: NAME\""):
        load_streams(path)
    path.write_text("streams:\n  - simulator: a\n    sped: 2\n", encoding="utf-8")
    with pytest.raises(RulesError, match="sped"):
        load_streams(path)
    path.write_text("streams:\n  - tiktok: '@Anna.Live'\n  - simulator: b\n", encoding="utf-8")
    assert [s.name for s in load_streams(path).streams] == ["Anna.Live", "b"]


async def test_a_worker_stops_a_stream_whose_lease_another_took_and_takes_it_back(
    prefix: str,
) -> None:
    """In one process: a stolen lease stops the stream at the next renewal (no split
    brain); once free again the worker runs it anew, reporting the gap, and a clean stop
    gives the lease back."""
    settings = settings_for_tests(bus="redis", redis_url=URL, redis_prefix=prefix,
                                  lease_ttl_s=8)
    metrics = Metrics()
    bus = RedisBus(URL, prefix=prefix, metrics=metrics)
    await bus.start()
    gaps: list[GapEvent] = []
    bus.subscribe(lambda batch: gaps.extend(
        p.message for p in batch if isinstance(p.message, GapEvent)))
    service = StreamService(settings, bus, metrics)
    streams = StreamsFile(streams=[SimulatorSpec(simulator="alpha", speed=5)])
    worker = attach_worker(service, bus, settings, metrics, streams)
    client: Any = aioredis.Redis.from_url(URL)
    lease = f"{prefix}:lease:alpha"
    running = asyncio.create_task(service.run())
    try:
        await eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"})
        assert (await client.get(lease)).decode() == worker.id
        assert gaps == []  # a stream no worker ran before: nothing was missed
        await client.set(lease, "thief", px=60_000)
        await client.set(f"{prefix}:owner:alpha", "thief")
        await eventually(lambda: "alpha" not in service.runners and not worker.held)
        assert metrics.registry.get_sample_value(
            "livepilot_worker_fenced_total", {"stream": "alpha", "reason": "taken"}) == 1
        await asyncio.sleep(1.5)  # the thief holds it: not claimed again
        assert "alpha" not in service.runners
        await client.delete(lease)  # the thief died and its lease lapsed
        await eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"})
        await eventually(lambda: bool(gaps))
        assert gaps[0].stream == "alpha" and gaps[0].cause == "failover"
        await service.stop(5.0)
        await asyncio.wait_for(running, 10)
        assert await client.get(lease) is None  # released on a clean stop
    finally:
        running.cancel()
        await bus.close()
        await client.aclose()


@pytest.mark.timeout(90)
async def test_a_worker_cut_off_from_redis_stops_its_stream_before_the_lease_lapses(
    throwaway_redis: ThrowawayRedis,
) -> None:
    """Fencing: Redis stalls (``DEBUG SLEEP``) longer than the lease; the worker stops the
    stream before the TTL since its last renewal is up (so a worker that still reaches
    Redis could take it over without two running it), logs and counts it, and once Redis
    answers runs it again, reporting the stretch it was stopped as a data gap."""
    ttl = 6.0
    settings = settings_for_tests(bus="redis", redis_url=throwaway_redis.url,
                                  redis_prefix="fence", lease_ttl_s=ttl)
    metrics = Metrics()
    bus = RedisBus(throwaway_redis.url, prefix="fence", metrics=metrics)
    await bus.start()
    gaps: list[GapEvent] = []
    bus.subscribe(lambda batch: gaps.extend(
        p.message for p in batch if isinstance(p.message, GapEvent)))
    service = StreamService(settings, bus, metrics)
    streams = StreamsFile(streams=[SimulatorSpec(simulator="alpha", speed=5)])
    worker = attach_worker(service, bus, settings, metrics, streams)
    stall: Any = aioredis.Redis.from_url(throwaway_redis.url, socket_timeout=30)
    running = asyncio.create_task(service.run())
    try:
        await eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"},
                         within=30)
        # Wait for a renewal to land, so the last one is known to within a tick.
        renewals = metrics.registry.get_sample_value
        await asyncio.sleep(1.5)
        assert "alpha" in service.runners
        stalled_at = time.monotonic()
        sleeper = asyncio.create_task(stall.execute_command("DEBUG", "SLEEP", str(ttl + 4)))
        await eventually(lambda: "alpha" not in service.runners, within=ttl + 2)
        stopped_after = time.monotonic() - stalled_at
        fenced = renewals("livepilot_worker_fenced_total",
                          {"stream": "alpha", "reason": "unreachable"})
        await sleeper
        # Redis is back: the lease lapsed while it slept and nobody took it.
        await eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"},
                         within=20)
        await eventually(lambda: bool(gaps), within=10)
        await service.stop(5.0)
        await asyncio.wait_for(running, 15)
    finally:
        running.cancel()
        await bus.close()
        await stall.aclose()
    print(f"\nstopped {stopped_after:.1f} s after Redis stalled (lease {ttl:.0f} s, fence "
          f"after {worker.fence_after:.1f} s), gap {gaps[0].seconds:.1f} s")
    # The last renewal was at most one tick (1 s) before the stall: stopped before the
    # lease could lapse, ttl after that renewal.
    assert stopped_after < ttl - 1.0
    assert fenced == 1
    assert gaps[0].cause == "fenced" and gaps[0].stream == "alpha"
    assert gaps[0].seconds >= ttl


# -- two workers, one replica, kill -9 -----------------------------------------------------


async def _holders(client: Any, prefix: str) -> dict[str, str]:
    found = {}
    for stream in ("alpha", "beta"):
        value = await client.get(f"{prefix}:lease:{stream}")
        if value is not None:
            found[stream] = value.decode()
    return found


async def _status(http: httpx.AsyncClient, stream: str) -> dict[str, Any] | None:
    response = await http.get("/api/streams", headers=AUTH)
    if response.status_code != 200:
        return None
    return next((s for s in response.json() if s["stream"] == stream), None)


@pytest.mark.timeout(150)
async def test_killing_a_worker_moves_its_stream_to_another_within_15_s(
    prefix: str, processes: Processes, tmp_path: Path
) -> None:
    streams = tmp_path / "streams.yaml"
    streams.write_text(
        "streams:\n  - simulator: alpha\n    seed: 1\n    speed: 3\n"
        "  - simulator: beta\n    seed: 2\n    speed: 3\n",
        encoding="utf-8",
    )
    ports = {
        "w1": processes.start("w1", "worker", "--streams", str(streams)),
        "w2": processes.start("w2", "worker", "--streams", str(streams)),
    }
    replica_port = processes.start("replica", "serve")
    client = aioredis.Redis.from_url(URL)
    pids = {str(p.pid): name for name, p in processes.procs.items()}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{replica_port}", timeout=5) as http:
        try:
            held = await processes.until("both streams leased", lambda: _both(client, prefix), 60)

            async def each_runs_once() -> bool:
                local = {n: await local_streams(p) for n, p in ports.items()}
                return local["w1"] | local["w2"] == {"alpha", "beta"} and not (
                    local["w1"] & local["w2"]
                )

            await processes.until("each stream running on exactly one worker", each_runs_once, 30)
            owner = pids[held["alpha"].rsplit("-", 2)[-2]]
            other = "w2" if owner == "w1" else "w1"

            seen: list[dict[str, Any]] = []
            uri = f"ws://127.0.0.1:{replica_port}/ws/console?token={TEST_CONSOLE_TOKEN}"
            async with connect(uri, compression=None) as ws:
                reader = asyncio.create_task(_collect(ws, seen))
                try:
                    chat = await processes.until("a chat of alpha on the replica", lambda: _first(
                        seen, lambda m: m["type"] == "chat" and m["stream"] == "alpha"), 30)
                    sent = await http.post("/api/commands", headers=AUTH, json={
                        "stream": "alpha", "action": "hide", "target": chat["id"],
                    })
                    assert sent.status_code == 202, sent.text
                    await processes.until("the owner's moderation decision", lambda: _first(
                        seen, lambda m: m["type"] == "moderation"
                        and m["event_id"] == chat["id"]), 15)

                    shown = await _status(http, "alpha")
                    assert shown is not None
                    killed_at = time.time()
                    processes.procs[owner].send_signal(signal.SIGKILL)
                    processes.procs[owner].wait()

                    async def taken_over() -> bool:
                        holder = (await _holders(client, prefix)).get("alpha", "")
                        return f"-{processes.procs[other].pid}-" in holder

                    await processes.until("another worker holds alpha", taken_over, 15)
                    took = time.time() - killed_at
                    running = await processes.until("alpha running on the other worker",
                                           lambda: _runs(ports[other]), 5)
                    assert running

                    # The dead owner's last shared view is frozen now (or already expired):
                    # any other count on the replica was written by the new owner. (Its own
                    # count may pass the old one within a second, so "lower" would race.)
                    stale = await _status(http, "alpha")

                    async def fresh() -> dict[str, Any] | None:
                        status = await _status(http, "alpha")
                        if status is None or (
                            stale is not None and status["processed"] == stale["processed"]
                        ):
                            return None
                        return status

                    first = await processes.until("the new owner's view of alpha on the replica",
                                         fresh, max(1.0, 15 - (time.time() - killed_at)))

                    async def advanced() -> bool:
                        status = await _status(http, "alpha")
                        return status is not None and status["processed"] > first["processed"]

                    await processes.until("the replica's view of alpha advancing", advanced,
                                 max(1.0, 15 - (time.time() - killed_at)))
                    advanced_after = time.time() - killed_at
                    gap = await processes.until("the failover gap on the replica", lambda: _first(
                        seen, lambda m: m["type"] == "gap" and m["stream"] == "alpha"), 5)
                finally:
                    reader.cancel()
            # A clean stop gives the leases back at once (no waiting for the TTL).
            processes.procs[other].send_signal(signal.SIGINT)
            processes.procs[other].wait(timeout=30)
            left = await _holders(client, prefix)
        finally:
            await client.aclose()
    assert left == {}, processes.log(other)
    assert "Traceback" not in processes.log(other), processes.log(other)
    print(f"\ntakeover after {took:.1f} s, replica's view advancing after "
          f"{advanced_after:.1f} s, gap {gap['end'] - gap['start']:.1f} s")
    assert advanced_after <= 15
    assert gap["cause"] == "failover"
    # The gap starts at the dead worker's last write and ends when the other took over.
    assert killed_at - 3 <= gap["start"] <= killed_at + 1
    assert gap["end"] >= killed_at + 5


async def _both(client: Any, prefix: str) -> dict[str, str] | None:
    held = await _holders(client, prefix)
    return held if len(held) == 2 else None


async def _runs(port: int) -> bool:
    return "alpha" in await local_streams(port)


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    async for frame in ws:
        batch = json.loads(frame)
        into.extend(m for m in batch if isinstance(m, dict))


async def _first(seen: list[dict[str, Any]], match: Any) -> dict[str, Any] | None:
    return next((m for m in seen if match(m)), None)
