"""Models shared by every stream of a process: memory per stream, and chat latency with
every model on and saturated.

    python benchmarks/models_shared.py [--seconds 8] [--repeat 3] [--layers 12 --hidden 768]

Each row starts the real server (uvicorn, full default pipeline, memory bus, no history
store) in a child process, as ``livepilot`` runs it, with fixed-rate simulated streams.

* Memory: the child's RSS (VmRSS) once every stream has chatted for a while, with 1 and 5
  streams, every model on (the German model in the lane, the language router, a tiny
  Detoxify-format BERT on ONNX int8), and with the models shared (the default) against
  one copy per stream (the old way, rebuilt here by giving every stream its own model
  registry). Each additional stream should cost ≤ 25 MB.
* Latency: chat event received → console WebSocket, p50/p99, one stream at ``--rate``
  events/s, models off (no toxicity stage) against every model on with a Detoxify-size
  model (``--layers`` × ``--hidden``, random encoder, classifier margin so its int8 export
  passes the agreement check) that cannot keep up, so its lane is saturated and sheds.
  The same run, alternating rows, so both see the same machine.

Real Detoxify weights cannot be downloaded here; the model's speed depends on its
geometry, not its weights.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

TOKEN = "bench-console-token"


class RateSource:
    """Simulated events of one stream re-timed to exactly ``rate`` per second."""

    def __init__(self, stream: str, rate: float, seed: int) -> None:
        self.stream = stream
        self._rate = rate
        self._seed = seed

    async def events(self) -> AsyncIterator[object]:
        from livepilot.sources.simulator import Simulator

        sim = Simulator(self.stream, seed=self._seed, speed=0, start=0,
                        peak_viewers=2_000).events()
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


def serve(port: int, rate: float, streams: int, private: bool) -> None:
    """The server as ``livepilot`` runs it; ``private`` gives every stream its own models."""
    from pydantic import SecretStr

    from livepilot.cli._app import load_settings
    from livepilot.cli.streams import serve_streams

    if private:  # the old way: every stream builds its own models
        import livepilot.service as service
        from livepilot.ml.shared import ModelRegistry

        add = service.StreamService.add

        def own_models(self: service.StreamService, source: object, **kw: bool) -> object:
            self.models = ModelRegistry()
            return add(self, source, **kw)  # type: ignore[arg-type]

        service.StreamService.add = own_models  # type: ignore[assignment, method-assign]

    settings = load_settings(
        port=port, console_token=SecretStr(TOKEN), overlay_key=SecretStr("bench-overlay-key")
    )
    serve_streams(
        settings,
        lambda _: [RateSource(f"s{i}", rate, 3 + i) for i in range(streams)],  # type: ignore[misc]
        open_browser=False, record=False,
    )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _measure(port: int, seconds: float) -> list[float]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    stop_at = time.time() + seconds
    async with connect(f"ws://127.0.0.1:{port}/ws/console?token={TOKEN}", compression=None,
                       max_size=None) as ws:
        warm_until = time.time() + 1.0
        while time.time() < stop_at:
            try:
                frame = await asyncio.wait_for(ws.recv(), 2)
            except TimeoutError:
                continue
            now = time.time()
            if now <= warm_until:
                continue
            for message in json.loads(frame):
                if message.get("type") == "chat" and message.get("received") is not None:
                    latencies.append((now - message["received"]) * 1000)
    return latencies


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(env: dict[str, str], rate: float, streams: int, seconds: float,
         private: bool = False) -> tuple[list[float], float]:
    """Console chat latencies (ms) and the server's RSS (MB) at the end."""
    port = _free_port()
    cmd = [sys.executable, __file__, "--serve", str(port), "--rate", str(rate),
           "--streams", str(streams)] + (["--private"] if private else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 120  # loading the models takes a while on a busy box
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {' '.join(cmd)}") from None
                time.sleep(0.1)
        latencies = asyncio.run(_measure(port, seconds))
        rss = _rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return latencies, rss


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else float("nan")


def _model(root: Path, layers: int, hidden: int) -> dict[str, str]:
    """A Detoxify-format checkpoint, exported and checked once here (so the servers only
    open the cached ONNX file), and the environment that turns it on."""
    from livepilot.ml.onnx_lane import OnnxDetoxifyScorer, probe_texts
    from livepilot.ml.text import normalize
    from livepilot.ml.tiny_checkpoint import write_tiny_checkpoint

    words = sorted({w for t in probe_texts() for w in normalize(t).split()})
    checkpoint, config_dir = write_tiny_checkpoint(
        root, words, layers=layers, hidden=hidden, heads=max(2, hidden // 64), margin=3.0
    )
    scorer = OnnxDetoxifyScorer(checkpoint, config_dir, cache_dir=root / "models" / "onnx")
    scorer.load()
    if scorer.runtime != "onnx-int8":
        raise SystemExit(f"the test model did not pass the ONNX check: {scorer.status}")
    return {"LIVEPILOT_DETOXIFY_CHECKPOINT": str(checkpoint),
            "LIVEPILOT_DETOXIFY_CONFIG_DIR": str(config_dir),
            "LIVEPILOT_MODELS_DIR": str(root / "models")}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s (latency rows)")
    parser.add_argument("--stream-rate", type=float, default=100.0, help="events/s per stream")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--only", choices=("memory", "latency"), help="run one table")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rate, args.streams, args.private)
        return
    root = Path(tempfile.mkdtemp(prefix="models-bench-"))
    tiny = _model(root / "tiny", 2, 32) if args.only != "latency" else {}
    big = _model(root / "big", args.layers, args.hidden) if args.only != "memory" else {}
    off = {"LIVEPILOT_STAGES": json.dumps(
        ["word_filter", "spam", "moderation", "intent", "questions", "engagement", "polls"]
    )}
    print(f"{os.cpu_count()} cores shared by server and client; {args.seconds:.0f} s per run, "
          f"{args.repeat} runs per row; median [min–max]\n")

    if args.only != "latency":
        _memory(tiny, args)
    if args.only != "memory":
        _latency(off, big, args)
    if os.environ.get("KEEP_BENCH_FILES") is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def _memory(tiny: dict[str, str], args: argparse.Namespace) -> None:
    print(f"| every model on (German lane, router, tiny Detoxify ONNX int8), "
          f"{args.stream_rate:.0f} events/s per stream | RSS MB, 1 stream | RSS MB, 5 streams "
          "| MB per additional stream |")
    print("|---|---|---|---|")
    for name, private in (("shared (one copy per process)", False),
                          ("one copy per stream (before)", True)):
        one: list[float] = []
        five: list[float] = []
        for _ in range(args.repeat):
            one.append(_run(tiny, args.stream_rate, 1, args.seconds, private)[1])
            five.append(_run(tiny, args.stream_rate, 5, args.seconds, private)[1])
        per = [(f - o) / 4 for o, f in zip(one, five, strict=True)]
        print(f"| {name} | {_spread(one)} | {_spread(five)} | {_spread(per)} |", flush=True)


def _latency(off: dict[str, str], big: dict[str, str], args: argparse.Namespace) -> None:
    print(f"\n| chat event → console, 1 stream at {args.rate:.0f} events/s | p50 ms | p99 ms | "
          "chat messages measured |")
    print("|---|---|---|---|")
    rows: dict[str, list[tuple[float, float, int]]] = {"models off": [], "models on": []}
    label = f"every model on, Detoxify {args.layers}×{args.hidden} ONNX int8 saturated"
    for _ in range(args.repeat):  # alternate, so both see the same machine
        for key, env in (("models off", off), ("models on", big)):
            lat, _rss = _run(env, args.rate, 1, args.seconds)
            rows[key].append((_pct(lat, 50), _pct(lat, 99), len(lat)))
    for key, runs in rows.items():
        p50s, p99s, counts = zip(*runs, strict=True)
        name = "models off (no toxicity stage; baseline)" if key == "models off" else label
        print(f"| {name} | {_spread(list(p50s))} | {_spread(list(p99s))} | "
              f"{statistics.median(counts):.0f} |")
    base = statistics.median(r[1] for r in rows["models off"])
    on = statistics.median(r[1] for r in rows["models on"])
    print(f"\np99 models on / off: {on / base:.2f}")


if __name__ == "__main__":
    main()
