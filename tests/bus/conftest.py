"""What the Redis bus tests share: a key prefix of their own on the real Redis
(LIVEPILOT_TEST_REDIS_URL), started ``livepilot`` processes, a throwaway redis-server
that a test may stall (``DEBUG SLEEP``), and waiting for a condition instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from livepilot.testing import TEST_CONSOLE_TOKEN, TEST_HOST_KEY, TEST_OVERLAY_KEY

URL = os.environ.get("LIVEPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
CLI = [sys.executable, "-m", "livepilot"]


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    """This test's own key prefix on the shared Redis (the root conftest's fixture)."""
    return redis_prefix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(check: Any, within: float = 8.0) -> None:
    """Wait until ``check()`` is true (polling every 0.1 s); fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.1)


class Processes:
    """Started ``livepilot`` processes, each stopped (and its log kept) at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> int:
        port = free_port()
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

    async def until(self, what: str, check: Any, within: float) -> Any:
        """Await ``check()`` until it returns something true; on time out fail with every
        process's log."""
        deadline = time.monotonic() + within
        while True:
            try:
                result = await check()
            except (httpx.HTTPError, OSError):
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n{self.log(n)}" for n in self.procs)
                raise AssertionError(f"not within {within} s: {what}\n{logs}")
            await asyncio.sleep(0.25)


@pytest.fixture
def processes(prefix: str, tmp_path: Path) -> Iterator[Processes]:
    """``livepilot`` processes on the Redis bus under this test's prefix."""
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
    procs = Processes(env, tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


async def local_streams(port: int) -> set[str]:
    """The streams a worker runs itself (not the ones it serves as a replica)."""
    async with httpx.AsyncClient(timeout=5) as http:
        listed = (await http.get(f"http://127.0.0.1:{port}/api/streams", headers=AUTH)).json()
    return {s["stream"] for s in listed if not s.get("remote") and s["pipeline"] == "running"}


class ThrowawayRedis:
    """A redis-server of this test's own on a spare port (``DEBUG`` enabled, no
    persistence): a test may stall or kill it without touching anyone else's keys."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - starts at once, no waiting
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--enable-debug-command", "local", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            pytest.fail(f"the throwaway redis-server on port {self.port} did not start")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None


@pytest.fixture
async def throwaway_redis() -> AsyncIterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    await server.start()
    try:
        yield server
    finally:
        server.kill()
