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
import statistics
import tempfile
import time
from pathlib import Path

from _serve import RateSource, console_latencies, free_port, rss_mb, start, stop
from _serve import serve as serve_streams


def serve(port: int, rate: float, streams: int, private: bool) -> None:
    """The server as ``livepilot`` runs it; ``private`` gives every stream its own models."""
    if private:  # the old way: every stream builds its own models
        import livepilot.service as service
        from livepilot.ml.shared import ModelRegistry

        add = service.StreamService.add

        def own_models(self: service.StreamService, source: object, **kw: bool) -> object:
            self.models = ModelRegistry()
            return add(self, source, **kw)  # type: ignore[arg-type]

        service.StreamService.add = own_models  # type: ignore[assignment, method-assign]

    serve_streams(port, lambda: [RateSource(f"s{i}", rate, seed=3 + i) for i in range(streams)],
                  record=False)


def _run(env: dict[str, str], rate: float, streams: int, seconds: float,
         private: bool = False) -> tuple[list[float], float]:
    """Console chat latencies (ms) and the server's RSS (MB) at the end."""
    port = free_port()
    args = [__file__, "--serve", str(port), "--rate", str(rate), "--streams", str(streams)]
    proc = start(args + (["--private"] if private else []), port,
                 env={**os.environ, **env})
    try:
        begin = time.time()
        latencies, _ = asyncio.run(console_latencies(port, 1, begin + 1.0, begin + seconds,
                                                     chat_only=True))
        rss = rss_mb(proc.pid)[0]
    finally:
        stop(proc, 30)
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
