"""``livepilot score``: run the per-message stages over lines of text, one JSON line each.

Moderators use it to test a rule pack against an exported chat log. Each input line is a
chat message from a fresh user, one second after the previous line (so a copy-paste wave
in the log — the same text from several users within seconds — is flagged as it would be
live). Each output line is::

    {"text": str, "labels": [str], "toxicity": float | null, "reasons": [str],
     "action": str | null, "not_scored": str | null}

in input order; ``not_scored`` says why no toxicity model judged the line (``no_letters``,
``rules``, ``too_long``, ``no_language``, … — see :mod:`livepilot.stages.moderation.toxicity`).

The output is a function of the input alone: lines are read in chunks of 256, and a
stage that can (:class:`Lookahead`: the toxicity model lane) scores a whole chunk before
its lines run, waiting for every verdict — nothing is shed, nothing depends on timing or
on how texts were batched. So each line is judged exactly as with the German model
inline, whichever way ``LIVEPILOT_TOXICITY_GERMAN_INLINE`` is set, and exactly as the live
pipeline judges it. Other stages that publish a later version of an insight are run with
their background task, and the last version published for each line is the one written:
a line's result is held back until its insight has no stage pending (or ``wait`` seconds
passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import stat
import sys
import time
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from typing import Any, Protocol, TextIO, runtime_checkable

from livepilot.clock import Clock, SystemClock
from livepilot.events import ChatEvent, CommandEvent, User
from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.settings import Settings
from livepilot.stages.registry import build_pipeline

__all__ = [
    "Lookahead", "ascore_lines", "result_of", "run_score", "score_command", "score_lines"
]

#: Lines scored before the results of pending ones are awaited and written.
_CHUNK = 256


@runtime_checkable
class Lookahead(Protocol):
    """A stage that can do the slow part of its work for a chunk of lines before they run
    (the toxicity model lane scores them all, on its worker thread)."""

    async def prefetch(self, texts: Sequence[str]) -> None: ...


def result_of(text: str, insight: Insight | None) -> dict[str, Any]:
    """The JSON object for one line."""
    if insight is None:
        return {"text": text, "labels": [], "toxicity": None, "reasons": [], "action": None,
                "not_scored": None}
    toxicity = insight.scores.get("toxicity")
    return {
        "text": text,
        "labels": insight.label_names,
        "toxicity": None if toxicity is None else round(float(toxicity), 4),
        "reasons": [reason.text for reason in insight.reasons],
        "action": None if insight.action is None else str(insight.action),
        "not_scored": insight.not_scored,
    }


class _Lines:
    """Turns lines into chat events from fresh users and runs the pipeline on them."""

    def __init__(self, pipeline: Pipeline, clock: Clock, stream: str, spacing: float) -> None:
        self.pipeline = pipeline
        self._start = clock.now()
        self._stream = stream
        self._spacing = spacing
        self.count = 0

    def handle(self, text: str) -> tuple[str, Insight | None]:
        n = self.count
        self.count += 1
        now = self._start + n * self._spacing
        event = ChatEvent(
            id=f"{self._stream}-{n + 1}",
            stream=self._stream,
            at=now,
            received=now,
            user=User(id=f"{self._stream}-user-{n + 1}", unique_id=f"line{n + 1}"),
            text=text,
        )
        insight = None
        for message in self.pipeline.handle(event, now):
            if isinstance(message, Insight) and message.event_id == event.id:
                insight = message
        return event.id, insight

    @property
    def now(self) -> float:
        return self._start + self.count * self._spacing


def _clean(line: str, first: bool) -> str:
    line = line.rstrip("\r\n")
    return line.removeprefix("\ufeff") if first else line


def score_lines(
    lines: Iterable[str],
    pipeline: Pipeline,
    clock: Clock | None = None,
    *,
    stream: str = "score",
    spacing: float = 1.0,
    wait: float = 30.0,
) -> Iterator[dict[str, Any]]:
    """Score each line (trailing newline removed); yields one result dict per line, in order.

    Runs synchronously when no stage works in the background; otherwise drives an event
    loop of its own, so call it from synchronous code (use :func:`ascore_lines` inside a
    running loop).
    """
    clock = clock or SystemClock()
    if not pipeline.background:
        runner = _Lines(pipeline, clock, stream, spacing)
        for index, line in enumerate(lines):
            text = _clean(line, index == 0)
            _, insight = runner.handle(text)
            yield result_of(text, insight)
        return
    with asyncio.Runner() as loop:
        agen = ascore_lines(lines, pipeline, clock, stream=stream, spacing=spacing, wait=wait)
        try:
            while True:
                try:
                    item = loop.run(_next(agen))
                except StopAsyncIteration:
                    break
                yield item
        finally:
            loop.run(agen.aclose())


async def _next(agen: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any]:
    return await agen.__anext__()


async def ascore_lines(
    lines: Iterable[str],
    pipeline: Pipeline,
    clock: Clock | None = None,
    *,
    stream: str = "score",
    spacing: float = 1.0,
    wait: float = 30.0,
) -> AsyncGenerator[dict[str, Any], None]:
    """:func:`score_lines` inside an event loop, with the background stages running."""
    runner = _Lines(pipeline, clock or SystemClock(), stream, spacing)
    latest: dict[str, Insight] = {}
    changed = asyncio.Event()

    async def late(messages: Sequence[Insight | CommandEvent]) -> None:
        for insight in messages:
            if not isinstance(insight, Insight):
                continue  # every line is a fresh viewer: there is no strike state to feed
            held = latest.get(insight.event_id)
            if held is not None and insight.version >= held.version:
                latest[insight.event_id] = insight
                changed.set()

    tasks = {
        asyncio.create_task(stage.run(late), name=f"score:{stage.name}")
        for stage in pipeline.background
    }
    ahead = [stage for stage in pipeline.stages if isinstance(stage, Lookahead)]

    async def chunk(texts: list[str]) -> list[dict[str, Any]]:
        for stage in ahead:
            await stage.prefetch(texts)
        batch: list[tuple[str, str]] = []
        for index, text in enumerate(texts):
            event_id, insight = runner.handle(text)
            if insight is not None:
                latest[event_id] = insight
            batch.append((event_id, text))
            if index % 32 == 31:
                await asyncio.sleep(0)  # let the background stages start on the batch
        await _settle(batch, latest, changed, runner, wait, tasks)
        return [result_of(text, latest.pop(event_id, None)) for event_id, text in batch]

    try:
        texts: list[str] = []
        for index, line in enumerate(lines):
            texts.append(_clean(line, index == 0))
            if len(texts) >= _CHUNK:
                for row in await chunk(texts):
                    yield row
                texts = []
        for row in await chunk(texts):
            yield row
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _settle(
    batch: list[tuple[str, str]],
    latest: dict[str, Insight],
    changed: asyncio.Event,
    runner: _Lines,
    wait: float,
    tasks: set[asyncio.Task[None]],
) -> None:
    """Wait until no insight of ``batch`` has a stage pending, at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    drains = [
        asyncio.ensure_future(stage.drain()) for stage in runner.pipeline.background
    ]
    try:
        while True:
            pending = [eid for eid, _ in batch if eid in latest and latest[eid].pending]
            if not pending or all(task.done() for task in tasks):
                return
            if drains and all(d.done() for d in drains):
                return  # every stage says all its updates are published
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.5))
    finally:
        for d in drains:
            d.cancel()
        for d in drains:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await d


class _Progress:
    """``scored 12,345 lines (45%) · 2,345 lines/s`` on stderr, at most 5 times a second."""

    def __init__(self, infile: TextIO, err: TextIO) -> None:
        self._err = err
        self._started = time.monotonic()
        self._shown = 0.0
        self._size: int | None = None
        self._infile = infile
        with contextlib.suppress(OSError, ValueError, AttributeError):
            info = os.fstat(infile.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size:
                self._size = info.st_size

    def show(self, count: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < 0.2:
            return
        self._shown = now
        rate = count / max(now - self._started, 1e-9)
        share = ""
        if self._size:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                done = self._infile.buffer.tell()
                share = f" ({min(done / self._size, 1.0):.0%})" if done else ""
        end = "\n" if final else ""
        self._err.write(f"\rscored {count:,} lines{share} · {rate:,.0f} lines/s{end}")
        self._err.flush()


def run_score(
    infile: TextIO,
    outfile: TextIO,
    settings: Settings,
    progress: bool = False,
    *,
    err: TextIO | None = None,
) -> int:
    """The whole command: build the configured stages, score ``infile``, write JSON lines.

    Returns the number of lines scored. Raises ``ConfigError``/``RulesError`` (from the
    stages) before reading any input when the configuration or a rule pack is broken.
    """
    err = err or sys.stderr
    ctx = StageContext(settings=settings, metrics=Metrics(), stream="score")
    pipeline = build_pipeline(settings.stages, ctx)
    bar = _Progress(infile, err) if progress else None
    count = 0
    for result in score_lines(infile, pipeline, SystemClock()):
        outfile.write(json.dumps(result, ensure_ascii=False))
        outfile.write("\n")
        count += 1
        if bar is not None:
            bar.show(count)
    outfile.flush()
    if bar is not None:
        bar.show(count, final=True)
    return count


def score_command(
    file: str | None,
    settings: Settings,
    *,
    progress: bool | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``livepilot score [FILE]``: ``None`` or ``-`` reads stdin; input and output are UTF-8.

    The progress bar is shown when ``progress`` is true, or by default when stderr is a
    terminal. A closed pipe on stdout (``| head``) ends the run quietly. Returns the
    number of lines scored.
    """
    err = stderr or sys.stderr
    if progress is None:
        progress = err.isatty()
    out = stdout or sys.stdout
    if isinstance(out, io.TextIOWrapper) and out.encoding.lower().replace("-", "") != "utf8":
        out.reconfigure(encoding="utf-8")
    if file is None or file == "-":
        source = stdin or sys.stdin
        if isinstance(source, io.TextIOWrapper):
            source.reconfigure(encoding="utf-8-sig", errors="replace")
        try:
            return run_score(source, out, settings, progress, err=err)
        except BrokenPipeError:
            return 0
    with open(file, encoding="utf-8-sig", errors="replace") as handle:
        try:
            return run_score(handle, out, settings, progress, err=err)
        except BrokenPipeError:
            return 0
