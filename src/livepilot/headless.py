"""Headless replay: a recording through the full pipeline, results as JSONL on a stream.

Time is the events' own time (an :class:`EventClock`), so a three-hour recording replays
in seconds with exactly the alarms and prompts it would have raised live, and two runs of
the same file give the same output. Given a :class:`~livepilot.store.Recorder`, the run
is also stored as stream history (keyed by the same event time).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from livepilot.clock import EventClock
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Publish, StreamRunner
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.sources.replay import ReplaySource
from livepilot.stages.registry import build_pipeline
from livepilot.wire import LineError, WireMessage, encode

if TYPE_CHECKING:
    from livepilot.store import Recorder

__all__ = ["HeadlessResult", "replay_headless", "run_headless"]


@dataclass(frozen=True, slots=True)
class HeadlessResult:
    events: int
    written: int
    bad_lines: int


async def run_headless(
    source: Source,
    out: TextIO,
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    recorder: Recorder | None = None,
) -> HeadlessResult:
    """Run ``source`` through the configured stages in event time; write wire JSONL (and
    record the stream when a ``recorder`` is given)."""
    metrics = metrics or Metrics()
    # No audience waits here, and two runs must write the same output: the German model
    # runs inline rather than in the model lane, whose updates interleave by timing.
    settings = settings.model_copy(update={"toxicity_german_inline": True})
    written = 0

    async def publish(messages: Sequence[WireMessage]) -> None:
        nonlocal written
        out.write("".join(encode(m) + "\n" for m in messages))
        written += len(messages)

    ctx = StageContext(settings=settings, metrics=metrics, stream=source.stream)
    events = source.events()
    sink: Publish = publish
    tap = None
    if recorder is not None:
        from livepilot.store.wiring import tap_source

        tap = tap_source(recorder, source, settings)
        events, sink = tap.source(events), tap.publishing(publish)
    runner = StreamRunner(
        source.stream,
        events,
        build_pipeline(settings.stages, ctx),
        sink,
        EventClock(),
        metrics,
        queue_size=settings.queue_size,
    )
    try:
        await runner.run()
    finally:
        if tap is not None:
            tap.close("source_ended")
    out.flush()
    return HeadlessResult(events=runner.processed, written=written, bad_lines=0)


async def replay_headless(
    path: Path,
    out: TextIO,
    settings: Settings,
    *,
    errors: TextIO | None = None,
    recorder: Recorder | None = None,
) -> HeadlessResult:
    """Replay a JSONL recording as fast as possible; bad lines go to ``errors`` (stderr)."""
    metrics = Metrics()
    err = errors if errors is not None else sys.stderr
    bad = metrics.bad_input.labels("replay")

    def on_error(line: LineError) -> None:
        bad.inc()
        err.write(f"skipped {line}\n")

    source = ReplaySource(path, speed=0, on_error=on_error)
    result = await run_headless(source, out, settings, metrics, recorder=recorder)
    return HeadlessResult(result.events, result.written, source.skipped)
