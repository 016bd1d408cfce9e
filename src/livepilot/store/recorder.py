"""The recorder: what a process publishes becomes stream history, without slowing it.

The composition roots (``livepilot.service`` for the server, ``livepilot.headless`` for
``replay --jsonl``) ask the :class:`Recorder` for one :class:`StreamTap` per stream and
put it on the stream's way out (:meth:`StreamTap.publishing`) and its moderator commands
(:meth:`StreamTap.commands`). A tap turns messages into rows on the event loop — a few
dict and set operations per message — and hands them to the
:class:`~livepilot.store.writer.StoreWriter`, whose thread does every database call. A
recording that fails on a message is logged and counted, never raised into the stream.

A tap opens a new stored stream at the first event, and after the platform says the LIVE
ended it opens another at the next one (``livepilot run --follow`` stores each LIVE). A
tap given a :attr:`StreamTap.resume` (a stream this process's predecessor stopped in the
middle of, see :mod:`livepilot.store.carryover`) goes on with that one instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from livepilot.events import EVENT_TYPES, CommandEvent, LiveEvent, StatusEvent, StreamState
from livepilot.insights import Alarm, Insight, Prompt
from livepilot.leads import LeadPolicy
from livepilot.store.carryover import RESUME_WITHIN_S
from livepilot.store.database import open_database, safe_url
from livepilot.store.metrics import StoreMetrics
from livepilot.store.recording import Recording, Resumption
from livepilot.store.retention import Retention
from livepilot.store.segments import ShowPlan
from livepilot.store.settings import StoreSettings
from livepilot.store.writer import StoreWriter
from livepilot.wire import WireMessage

__all__ = ["Recorder", "StreamTap"]

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[WireMessage]], Awaitable[None]]

#: Aggregates (minutes, questions, the stream row) go to the writer at least this often,
#: in stream seconds while a replay races, or in wall seconds while a live stream runs.
_EMIT_STREAM_S = 5.0
_EMIT_WALL_S = 1.0
#: Events this long (stream seconds) after a LIVE ended start a new stored stream.
_NEW_LIVE_AFTER_S = 300.0


class StreamTap:
    """One stream's way into the store; see the module docstring."""

    def __init__(
        self,
        recorder: Recorder,
        stream: str,
        *,
        creator: str,
        platform: str,
        plan: ShowPlan | None,
    ) -> None:
        self.stream = stream
        self._recorder = recorder
        self._creator = creator
        self._platform = platform
        self._plan = plan
        self.recording: Recording | None = None
        self._emitted_at = float("-inf")
        self._emitted_wall = time.monotonic()
        self._failures = 0
        self.closed = False
        #: The keys of the stored streams this tap opened, oldest first.
        self.keys: list[str] = []
        self._held: deque[CommandEvent] = deque()
        #: The stored stream the first recording goes on with (after a restart).
        self.resume: Resumption | None = None

    @property
    def platform(self) -> str:
        return self._platform

    # -- wiring ---------------------------------------------------------------------------

    def publishing(self, publish: Publish) -> Publish:
        """``publish`` that records each batch first (without waiting for anything)."""

        async def record_and_publish(messages: Sequence[WireMessage]) -> None:
            self.feed(messages)
            await publish(messages)

        return record_and_publish

    async def commands(self, commands: AsyncIterator[CommandEvent]) -> AsyncIterator[CommandEvent]:
        """The moderator commands for this stream, each recorded as it passes."""
        try:
            async for command in commands:
                self._guarded(self._command, command)
                yield command
        finally:
            aclose = getattr(commands, "aclose", None)
            if aclose is not None:
                await aclose()

    async def source(self, events: AsyncIterator[LiveEvent]) -> AsyncIterator[LiveEvent]:
        """The stream's events, recording the moderator commands a recording holds
        (they reach the stages but are not published). The source runs ahead of the
        pipeline, so a command waits here until the published events reach its time."""
        try:
            async for event in events:
                if isinstance(event, CommandEvent) and len(self._held) < 1_000:
                    self._held.append(event)
                yield event
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    def _release_held(self, until: float) -> None:
        """Record the held commands due by stream time ``until``."""
        held, recording = self._held, self.recording
        while held and recording is not None and held[0].at <= until:
            command = held.popleft()
            recording.command(command, command.at)

    # -- recording ------------------------------------------------------------------------

    def feed(self, messages: Sequence[WireMessage]) -> None:
        """Record a published batch. Never raises: a failure is logged and counted."""
        if self.closed:
            return
        try:
            for message in messages:
                self._one(message)
            recording = self.recording
            if recording is not None and (
                recording.now - self._emitted_at >= _EMIT_STREAM_S
                or time.monotonic() - self._emitted_wall >= _EMIT_WALL_S
            ):
                self._emit(recording)
        except Exception:
            self._failed()

    def _one(self, message: WireMessage) -> None:
        recording = self.recording
        if message.type in EVENT_TYPES:
            event: LiveEvent = message  # type: ignore[assignment]
            if recording is None or (recording.ended and _opens_after(recording, event)):
                if not _opens(event):
                    return
                recording = self._open(event.at)
            if self._held:
                self._release_held(event.at)
            recording.event(event)
        elif recording is None:
            return
        elif isinstance(message, Insight):
            recording.insight(message)
        elif isinstance(message, Alarm):
            recording.alarm(message)
        elif isinstance(message, Prompt):
            recording.prompt(message)

    def _command(self, command: CommandEvent) -> None:
        if self.recording is not None and not self.closed:
            self.recording.command(command)

    def _open(self, at: float) -> Recording:
        if self.recording is not None:
            self.recording.finish("live_ended")
        recorder = self._recorder
        resume, self.resume = self.resume, None
        if resume is not None and at - float(resume.stream["last_at"]) > RESUME_WITHIN_S:
            # The source waited long for its first event (the creator went live later):
            # that is a new LIVE, not the stopped one going on.
            log.info("store: %s not resumed: its first event came too late", resume.stream["key"])
            resume = None
        self.recording = Recording(
            self.stream, at, recorder.writer, creator=self._creator, platform=self._platform,
            plan=self._plan, policy=recorder.policy, wall=recorder.wall, resume=resume,
        )
        self._emitted_at = at
        self.keys.append(self.recording.key)
        log.info("store: recording %s", self.recording.key)
        return self.recording

    def _emit(self, recording: Recording) -> None:
        recording.emit()
        self._emitted_at = recording.now
        self._emitted_wall = time.monotonic()

    def close(self, reason: str = "source_ended") -> None:
        """The stream's pipeline finished (or the process stops): settle and write it."""
        if self.closed:
            return
        recording = self.recording
        if recording is not None:
            self._guarded(self._release_held, float("inf"))
            self._guarded(recording.finish, reason)
            log.info("store: %s recorded (%s)", recording.key, reason)
        self.closed = True

    def _guarded(self, call: Callable[[Any], None], arg: Any) -> None:
        try:
            call(arg)
        except Exception:
            self._failed()

    def _failed(self) -> None:
        self._failures += 1
        self._recorder.metrics.errors.inc()
        if self._failures == 1 or self._failures % 1_000 == 0:
            log.error("store: recording %s failed on a message (%d so far); the stream goes on",
                      self.stream, self._failures, exc_info=True)


def _opens_after(recording: Recording, event: LiveEvent) -> bool:
    """After a LIVE ended, a new one starts with the platform's "connected", or with
    events long after the end; stragglers still belong to the ended one."""
    if isinstance(event, StatusEvent):
        return event.state is StreamState.CONNECTED
    return event.at - recording.now > _NEW_LIVE_AFTER_S


def _opens(event: LiveEvent) -> bool:
    """Whether ``event`` starts a new stored stream (when none is open)."""
    if isinstance(event, StatusEvent):
        return event.state is StreamState.CONNECTED
    return event.type not in ("gap", "command")


class Recorder:
    """The store's side of a process: a writer thread and the streams' taps."""

    def __init__(
        self,
        writer: StoreWriter,
        policy: LeadPolicy,
        metrics: StoreMetrics,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.policy = policy
        self.metrics = metrics
        self.wall = wall
        self._taps: dict[str, StreamTap] = {}

    @classmethod
    def start(
        cls,
        settings: StoreSettings,
        policy: LeadPolicy,
        registry: CollectorRegistry,
        *,
        lead_retention_hours: float = 72.0,
    ) -> Recorder:
        """A recorder whose writer connects (and migrates) on its own thread; a store that
        is down at start-up is retried like any outage."""
        metrics = StoreMetrics(registry)
        retention = Retention.from_days(
            settings.retention_chat_days, settings.retention_audit_days,
            settings.retention_streams_days, lead_retention_hours,
        )
        writer = StoreWriter(
            lambda: open_database(settings), metrics, database=safe_url(settings.url),
            buffer=settings.store_buffer, flush_s=settings.store_flush_ms / 1000.0,
            retention=retention,
        )
        writer.start()
        return cls(writer, policy, metrics)

    def tap(
        self,
        stream: str,
        *,
        platform: str,
        creator: str | None = None,
        plan: ShowPlan | None = None,
    ) -> StreamTap:
        if stream in self._taps and not self._taps[stream].closed:
            raise ValueError(f"stream {stream!r} is already being recorded")
        tap = self._taps[stream] = StreamTap(
            self, stream, creator=creator or stream, platform=platform, plan=plan
        )
        return tap

    @property
    def stored(self) -> list[str]:
        """The keys of every stream recorded by this process so far."""
        return [key for tap in self._taps.values() for key in tap.keys]

    def status(self) -> dict[str, Any]:
        """The store's state and the streams being recorded, JSON-ready."""
        out = self.writer.status().as_dict()
        out["recording"] = sorted(
            tap.recording.key for tap in self._taps.values()
            if tap.recording is not None and not tap.closed
        )
        return out

    def close(self, deadline: float = 10.0, reason: str = "stopped") -> bool:
        """Settle every open stream, write what waits (up to ``deadline`` s), stop.
        Blocks; from a running loop use :meth:`aclose`."""
        for tap in self._taps.values():
            tap.close(reason)
        return self.writer.close(deadline)

    async def aclose(self, deadline: float = 10.0, reason: str = "stopped") -> bool:
        for tap in self._taps.values():
            tap.close(reason)
        return await asyncio.to_thread(self.writer.close, deadline)
