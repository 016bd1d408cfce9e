"""What the server benchmarks share: a real ``livepilot`` server in a child process, fed
by simulated streams at a fixed rate, and the helpers around it (ports, start and stop,
``/proc`` readings, Redis clean-up, console clients).

Not a benchmark itself (``fanout.py``, ``streams_many.py`` and ``models_shared.py`` import
it). A benchmark re-runs its own script with ``--serve``; that child calls :func:`serve`,
the parent :func:`start` and :func:`stop`. :func:`start` takes an ``src`` directory to run
another copy of the code (a before/after comparison in one run).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence

TOKEN = "bench-console-token"
OVERLAY_KEY = "bench-overlay-key"


class RateSource:
    """One simulated stream re-timed to exactly ``rate`` events per second, each stamped
    with the time it was received (what the consoles measure from)."""

    def __init__(self, stream: str, rate: float, *, seed: int = 3,
                 peak_viewers: int = 2_000, step: float = 0.001) -> None:
        self.stream = stream
        self._rate = rate
        self._seed = seed
        self._peak = peak_viewers
        self._step = step

    async def events(self) -> AsyncIterator[object]:
        from livepilot.sources.simulator import Simulator

        sim = Simulator(self.stream, seed=self._seed, speed=0, start=0,
                        peak_viewers=self._peak).events()
        started = time.perf_counter()
        sent = 0
        while True:
            due = int((time.perf_counter() - started) * self._rate)
            while sent < due:
                event = await anext(sim)
                now = time.time()
                yield event.model_copy(update={"at": now, "received": now})
                sent += 1
            await asyncio.sleep(self._step)


def serve(port: int, sources: Callable[[], Sequence[object]], *, bus: str = "memory",
          prefix: str = "livepilot-bench", url: str = "redis://127.0.0.1:6379/0",
          record: bool = True) -> None:
    """In the child: the server exactly as ``livepilot`` runs it, with ``sources()`` as
    its streams (none: an API replica), until SIGTERM."""
    from pydantic import SecretStr

    from livepilot.cli._app import load_settings
    from livepilot.cli.streams import serve_streams

    settings = load_settings(
        port=port, console_token=SecretStr(TOKEN), overlay_key=SecretStr(OVERLAY_KEY),
        bus=bus, redis_url=url, redis_prefix=prefix,
    )
    serve_streams(settings, lambda _: list(sources()), open_browser=False,  # type: ignore[arg-type]
                  record=record)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(args: Sequence[str], port: int, *, src: str | None = None,
          env: dict[str, str] | None = None, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """Run ``python *args`` (a benchmark script with ``--serve``) and wait until it listens
    on ``port``. ``src``: import livepilot from that directory instead (another copy of
    the code); ``env``: the child's environment (default: this one)."""
    child_env = dict(os.environ if env is None else env)
    if src is not None:
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (src, child_env.get("PYTHONPATH", "")) if p
        )
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=child_env)
    deadline = time.monotonic() + timeout  # loading models takes a while on a busy box
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the server did not start: {' '.join(args)}") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], wait: float = 60.0) -> None:
    """SIGTERM (a graceful shutdown, as Ctrl-C would), then kill after ``wait`` s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process, MB."""
    rss = peak = float("nan")
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return rss, peak


def clean_redis(url: str, prefix: str) -> None:
    """Delete every key a run left under ``prefix``."""
    async def clean() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    asyncio.run(clean())


async def console_latencies(port: int, clients: int, start_at: float, stop_at: float, *,
                            sample: int = 1, chat_only: bool = False) -> tuple[list[float], int]:
    """``clients`` consoles on every stream until ``stop_at`` (Unix time): for each event
    arriving after ``start_at``, its delay from ``received`` (ms), and how many there were.
    Every console reads every frame; only every ``sample``-th parses and measures (keeps
    the client process light). Insights are not events; ``chat_only`` measures chat only."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    received = 0

    async def client(index: int) -> None:
        nonlocal received
        url = f"ws://127.0.0.1:{port}/ws/console?token={TOKEN}"
        async with connect(url, compression=None, max_size=None, max_queue=None) as ws:
            measures = index % sample == 0
            while time.time() < stop_at:
                try:
                    frame = await asyncio.wait_for(ws.recv(), 2)
                except TimeoutError:
                    continue
                now = time.time()
                if not measures or now <= start_at:
                    continue
                for message in json.loads(frame):
                    if not isinstance(message, dict):
                        continue
                    stamp = message.get("received")
                    kind = message.get("type")
                    if stamp is None or kind == "insight" or (chat_only and kind != "chat"):
                        continue
                    received += 1
                    latencies.append((now - stamp) * 1000)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, received
