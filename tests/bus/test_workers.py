"""Stream leases and ``livepilot worker``: each declared stream runs in exactly one
worker, and a stream whose worker is killed runs again in another within 15 s, with the
gap recorded. Real Redis (LIVEPILOT_TEST_REDIS_URL) under a key prefix of its own; the
end-to-end test runs real ``livepilot`` processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from livepilot.bus.redis import RedisBus
from livepilot.errors import RulesError
from livepilot.events import GapEvent
from livepilot.metrics import Metrics
from livepilot.service import StreamService
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_HOST_KEY,
    TEST_OVERLAY_KEY,
    settings_for_tests,
)
from livepilot.workers import SimulatorSpec, StreamsFile, attach_worker, load_streams

URL = os.environ.get("LIVEPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
CLI = [sys.executable, "-m", "livepilot"]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"no Redis answers at {URL} ({exc}): run ./dev test or set "
                    "LIVEPILOT_TEST_REDIS_URL")
    name = f"livepilot-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [k async for k in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


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
                                  lease_ttl_s=3)
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
        await _eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"})
        assert (await client.get(lease)).decode() == worker.id
        assert gaps == []  # a stream no worker ran before: nothing was missed
        await client.set(lease, "thief", px=60_000)
        await client.set(f"{prefix}:owner:alpha", "thief")
        await _eventually(lambda: "alpha" not in service.runners and not worker.held)
        await asyncio.sleep(1.5)  # the thief holds it: not claimed again
        assert "alpha" not in service.runners
        await client.delete(lease)  # the thief died and its lease lapsed
        await _eventually(lambda: "alpha" in service.runners and worker.held == {"alpha"})
        await _eventually(lambda: bool(gaps))
        assert gaps[0].stream == "alpha" and gaps[0].cause == "failover"
        await service.stop(5.0)
        await asyncio.wait_for(running, 10)
        assert await client.get(lease) is None  # released on a clean stop
    finally:
        running.cancel()
        await bus.close()
        await client.aclose()


async def _eventually(check: Any, within: float = 8.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.1)


# -- two workers, one replica, kill -9 -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Processes:
    """Started ``livepilot`` processes, each stopped (and its log kept) at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> int:
        port = _free_port()
        with (self.logs / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [*CLI, *args, "--port", str(port)], env=self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )
        return port

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(prefix: str, tmp_path: Path) -> Iterator[_Processes]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LIVEPILOT_BUS": "redis",
        "LIVEPILOT_REDIS_URL": URL,
        "LIVEPILOT_REDIS_PREFIX": prefix,
        "LIVEPILOT_CONSOLE_TOKEN": TEST_CONSOLE_TOKEN,
        "LIVEPILOT_OVERLAY_KEY": TEST_OVERLAY_KEY,
        "LIVEPILOT_HOST_KEY": TEST_HOST_KEY,
        "LIVEPILOT_STORE": "false",
        "LIVEPILOT_LEASE_TTL_S": "10",
    }
    procs = _Processes(env, tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


async def _holders(client: Any, prefix: str) -> dict[str, str]:
    found = {}
    for stream in ("alpha", "beta"):
        value = await client.get(f"{prefix}:lease:{stream}")
        if value is not None:
            found[stream] = value.decode()
    return found


async def _local_streams(port: int) -> set[str]:
    """The streams a worker runs itself (not the ones it serves as a replica)."""
    async with httpx.AsyncClient(timeout=5) as http:
        listed = (await http.get(f"http://127.0.0.1:{port}/api/streams", headers=AUTH)).json()
    return {s["stream"] for s in listed if not s.get("remote") and s["pipeline"] == "running"}


async def _status(http: httpx.AsyncClient, stream: str) -> dict[str, Any] | None:
    response = await http.get("/api/streams", headers=AUTH)
    if response.status_code != 200:
        return None
    return next((s for s in response.json() if s["stream"] == stream), None)


async def _until(what: str, check: Any, within: float, procs: _Processes) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            result = await check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{procs.log(n)}" for n in procs.procs)
            raise AssertionError(f"not within {within} s: {what}\n{logs}")
        await asyncio.sleep(0.25)


@pytest.mark.timeout(150)
async def test_killing_a_worker_moves_its_stream_to_another_within_15_s(
    prefix: str, processes: _Processes, tmp_path: Path
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
            held = await _until("both streams leased", lambda: _both(client, prefix), 60,
                                processes)

            async def each_runs_once() -> bool:
                local = {n: await _local_streams(p) for n, p in ports.items()}
                return local["w1"] | local["w2"] == {"alpha", "beta"} and not (
                    local["w1"] & local["w2"]
                )

            await _until("each stream running on exactly one worker", each_runs_once, 30,
                         processes)
            owner = pids[held["alpha"].rsplit("-", 2)[-2]]
            other = "w2" if owner == "w1" else "w1"

            seen: list[dict[str, Any]] = []
            uri = f"ws://127.0.0.1:{replica_port}/ws/console?token={TEST_CONSOLE_TOKEN}"
            async with connect(uri, compression=None) as ws:
                reader = asyncio.create_task(_collect(ws, seen))
                try:
                    chat = await _until("a chat of alpha on the replica", lambda: _first(
                        seen, lambda m: m["type"] == "chat" and m["stream"] == "alpha"), 30,
                        processes)
                    sent = await http.post("/api/commands", headers=AUTH, json={
                        "stream": "alpha", "action": "hide", "target": chat["id"],
                    })
                    assert sent.status_code == 202, sent.text
                    await _until("the owner's moderation decision", lambda: _first(
                        seen, lambda m: m["type"] == "moderation"
                        and m["event_id"] == chat["id"]), 15, processes)

                    shown = await _status(http, "alpha")
                    assert shown is not None
                    killed_at = time.time()
                    processes.procs[owner].send_signal(signal.SIGKILL)
                    processes.procs[owner].wait()

                    async def taken_over() -> bool:
                        holder = (await _holders(client, prefix)).get("alpha", "")
                        return f"-{processes.procs[other].pid}-" in holder

                    await _until("another worker holds alpha", taken_over, 15, processes)
                    took = time.time() - killed_at
                    running = await _until("alpha running on the other worker",
                                           lambda: _runs(ports[other]), 5, processes)
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

                    first = await _until("the new owner's view of alpha on the replica",
                                         fresh, max(1.0, 15 - (time.time() - killed_at)),
                                         processes)

                    async def advanced() -> bool:
                        status = await _status(http, "alpha")
                        return status is not None and status["processed"] > first["processed"]

                    await _until("the replica's view of alpha advancing", advanced,
                                 max(1.0, 15 - (time.time() - killed_at)), processes)
                    advanced_after = time.time() - killed_at
                    gap = await _until("the failover gap on the replica", lambda: _first(
                        seen, lambda m: m["type"] == "gap" and m["stream"] == "alpha"), 5,
                        processes)
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
    return "alpha" in await _local_streams(port)


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    async for frame in ws:
        batch = json.loads(frame)
        into.extend(m for m in batch if isinstance(m, dict))


async def _first(seen: list[dict[str, Any]], match: Any) -> dict[str, Any] | None:
    return next((m for m in seen if match(m)), None)
