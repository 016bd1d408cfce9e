"""``livepilot score``: the same output on every run, lane or inline, and the live labels.

    python benchmarks/score_determinism.py [FILE] [--lines 10000]

FILE has one chat message per line (a tab and anything after it is cut off, so GermEval's
training file works as it is); without it, chat is generated from the seeded simulator
and the test set's insults. Lines are repeated, with their case changed, up to
``--lines``. Rows:

* ``livepilot score`` with the German model in the lane, twice, and once with batches of 5
  instead of 32 (batch composition must not matter);
* with the German model inline (``LIVEPILOT_TOXICITY_GERMAN_INLINE=true``);
* the live pipeline: the same lines as chat events through the real ``StreamRunner`` in
  event time with the model in the lane (the default), its last published version of each
  message compared with the score output (labels, toxicity, ``not_scored``).

Prints, per row, the lines that differ from the first run, the time taken, and how many
lines got no model verdict (by reason).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from livepilot.clock import EventClock
from livepilot.events import ChatEvent, LiveEvent, User
from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import StreamRunner
from livepilot.score import result_of, score_lines
from livepilot.settings import Settings
from livepilot.sources.simulator import Simulator
from livepilot.stages.registry import build_pipeline
from livepilot.wire import WireMessage

INSULTS = Path(__file__).parents[1] / "tests" / "data" / "german_insults_no_blockwords.txt"


async def _simulated(count: int) -> list[str]:
    out: list[str] = []
    async for event in Simulator("bench", seed=5, speed=0, duration=360_000, start=0).events():
        if isinstance(event, ChatEvent):
            out.append(event.text)
            if len(out) == count:
                break
    return out


def lines_from(path: Path | None, count: int) -> list[str]:
    if path is not None:
        base = [ln.split("\t")[0] for ln in path.read_text(encoding="utf-8").splitlines()]
    else:
        base = asyncio.run(_simulated(count // 2))
        base += [ln for ln in INSULTS.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
    rng = random.Random(7)
    out = list(base)
    while len(out) < count:  # repeats, some of them shouted or lower-cased
        text = rng.choice(base)
        out.append(rng.choice([text, text.upper(), text.lower()]))
    return out[:count]


def score(lines: Sequence[str], **settings: Any) -> tuple[list[dict[str, Any]], float]:
    config = Settings(**settings)
    ctx = StageContext(config, Metrics(), stream="score")
    started = time.perf_counter()
    rows = list(score_lines(lines, build_pipeline(config.stages, ctx)))
    return rows, time.perf_counter() - started


async def _live(lines: Sequence[str]) -> dict[str, Insight]:
    """The lines as chat events (the ids, users and times ``livepilot score`` gives them)
    through the live runner with the default settings; the last version per event."""
    settings = Settings(toxicity_queue_size=100_000, toxicity_overload_depth=100_000,
                        toxicity_max_age=3600)
    ctx = StageContext(settings, Metrics(), stream="score")
    start = 1_700_000_000.0
    latest: dict[str, Insight] = {}

    async def source() -> AsyncIterator[LiveEvent]:
        for n, text in enumerate(lines):
            at = start + n
            yield ChatEvent(id=f"score-{n + 1}", stream="score", at=at, received=at,
                            user=User(id=f"score-user-{n + 1}", unique_id=f"line{n + 1}"),
                            text=text)

    async def publish(messages: Sequence[WireMessage]) -> None:
        for m in messages:
            if isinstance(m, Insight) and (m.event_id not in latest
                                           or m.version >= latest[m.event_id].version):
                latest[m.event_id] = m

    runner = StreamRunner("score", source(), build_pipeline(settings.stages, ctx), publish,
                          EventClock(), ctx.metrics, queue_size=settings.queue_size)
    await runner.run()
    return latest


def _digest(rows: Sequence[dict[str, Any]]) -> str:
    return hashlib.md5("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
                       usedforsecurity=False).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    lines = lines_from(args.file, args.lines)
    first, took = score(lines)
    runs: dict[str, tuple[list[dict[str, Any]], float]] = {"lane (default)": (first, took)}
    runs["lane, again"] = score(lines)
    runs["lane, batches of 5"] = score(lines, toxicity_batch_size=5)
    runs["inline (LIVEPILOT_TOXICITY_GERMAN_INLINE=true)"] = score(
        lines, toxicity_german_inline=True)
    started = time.perf_counter()
    live = asyncio.run(_live(lines))
    live_rows = [result_of(text, live.get(f"score-{n + 1}")) for n, text in enumerate(lines)]
    runs["live pipeline, lane, event time"] = (live_rows, time.perf_counter() - started)

    print(f"{len(lines):,} lines ({len(set(lines)):,} distinct)\n")
    print("| run | md5 | lines differing from the first run | labels differing | s |")
    print("|---|---|---|---|---|")
    for name, (rows, seconds) in runs.items():
        differ = sum(a != b for a, b in zip(rows, first, strict=True))
        labels = sum(a["labels"] != b["labels"] for a, b in zip(rows, first, strict=True))
        print(f"| {name} | {_digest(rows)} | {differ} | {labels} | {seconds:.1f} |")
    reasons = collections.Counter(r["not_scored"] for r in first)
    scored = reasons.pop(None, 0)
    print(f"\nmodel verdict on {scored:,} lines; no model verdict: "
          + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    fields = ("labels", "toxicity", "reasons", "action", "not_scored")
    diff = collections.Counter(
        f for a, b in zip(live_rows, first, strict=True) for f in fields if a[f] != b[f]
    )
    if diff:
        print("live vs score, lines differing by field: "
              + ", ".join(f"{k} {v}" for k, v in diff.items()))
        labels = collections.Counter(
            f"+{sorted(set(a['labels']) - set(b['labels']))} "
            f"-{sorted(set(b['labels']) - set(a['labels']))}"
            for a, b in zip(live_rows, first, strict=True) if a["labels"] != b["labels"]
        )
        print("  labels live has more (+) or fewer (-): "
              + ", ".join(f"{k}: {v}" for k, v in labels.most_common()))
        sources = collections.Counter(
            reason.split(":")[0] if reason.startswith("@") else reason[:20]
            for a, b in zip(live_rows, first, strict=True)
            for reason in set(b["reasons"]) ^ set(a["reasons"])
        )
        print(f"  reasons in only one of them: {sum(sources.values())} "
              f"({sum(v for k, v in sources.items() if k.startswith('@'))} are strike "
              "notes, which live come with the strike command after the late verdict)")


if __name__ == "__main__":
    main()
