"""Raw TikTok captures: the WebSocket frames exactly as received, and their replay.

A capture lets a bug seen in a real stream be reproduced offline, byte for byte: the
replay decodes the frames through the same TikTokLive code as a live connection and
then through the same mapping, de-duplication, streak and gap logic.

Container format (all integers big-endian; described in ``docs/tiktok.md``)::

    magic    9 bytes   b"LPTTCAP1\\n"
    header   u32 length + UTF-8 JSON object (format, version, unique_id, stream, started,
             library)
    records  repeated until end of file:
             kind u8 (ASCII) | received f64 (Unix seconds) | length u32 | payload

    kind "I"  initial fetch result of a connection: u64 room id + the serialised
              ``ProtoMessageFetchResult`` from the sign server
    kind "F"  one WebSocket frame (a serialised ``WebcastPushFrame``), as received
    kind "L"  the connection was lost: UTF-8 JSON {"cause": str, "since": float | null}

A truncated last record (the recorder was killed) ends the replay with a warning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from livepilot.clock import Clock, SystemClock
from livepilot.errors import SourceError
from livepilot.events import LiveEvent
from livepilot.metrics import Metrics

__all__ = [
    "MAGIC",
    "CaptureError",
    "CaptureHeader",
    "CaptureRecord",
    "CaptureSource",
    "CaptureWriter",
    "is_capture",
    "read_capture",
    "read_header",
]

log = logging.getLogger(__name__)

MAGIC = b"LPTTCAP1\n"
_RECORD = struct.Struct(">cdI")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_KINDS = frozenset(b"IFL")
#: Buffered frames are flushed to disk at least this often (seconds).
_FLUSH_EVERY = 1.0


class CaptureError(SourceError):
    """A file is not a capture, or its header is unreadable."""


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    unique_id: str
    stream: str
    started: float
    library: str = ""


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    kind: str
    received: float
    payload: bytes


def is_capture(path: Path) -> bool:
    """Whether ``path`` starts with the capture magic (``livepilot replay`` detects it)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _library_version() -> str:
    try:
        from importlib.metadata import version

        return f"TikTokLive {version('TikTokLive')}"
    except Exception:
        return "TikTokLive"


class CaptureWriter:
    """Appends records to a capture file; writes the header on creation.

    Writes are buffered and flushed about once a second, so a busy stream costs a few
    small disk writes per second on the event loop. ``close()`` flushes the rest.
    """

    def __init__(self, path: Path, unique_id: str, stream: str | None = None) -> None:
        self.path = path
        self._handle: BinaryIO | None = path.open("wb")
        header = {
            "format": "livepilot-tiktok-capture",
            "version": 1,
            "unique_id": unique_id,
            "stream": stream or unique_id,
            "started": time.time(),
            "library": _library_version(),
        }
        data = json.dumps(header).encode()
        self._handle.write(MAGIC + _U32.pack(len(data)) + data)
        self._last_flush = time.monotonic()
        self.records = 0

    def initial(self, received: float, data: bytes, room_id: int) -> None:
        self._write(b"I", received, _U64.pack(max(0, int(room_id))) + data)

    def frame(self, received: float, data: bytes) -> None:
        self._write(b"F", received, data)

    def lost(self, received: float, cause: str, since: float | None = None) -> None:
        self._write(b"L", received, json.dumps({"cause": cause, "since": since}).encode())

    def _write(self, kind: bytes, received: float, payload: bytes) -> None:
        if self._handle is None:
            return
        self._handle.write(_RECORD.pack(kind, received, len(payload)) + payload)
        self.records += 1
        if time.monotonic() - self._last_flush >= _FLUSH_EVERY:
            self._handle.flush()
            self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_header(handle: BinaryIO, path: Path) -> CaptureHeader:
    if handle.read(len(MAGIC)) != MAGIC:
        raise CaptureError(f"{path}: not a livepilot TikTok capture (wrong magic header)")
    raw_len = handle.read(_U32.size)
    if len(raw_len) != _U32.size:
        raise CaptureError(f"{path}: capture header is truncated")
    (length,) = _U32.unpack(raw_len)
    try:
        data: dict[str, Any] = json.loads(handle.read(length))
        return CaptureHeader(
            unique_id=str(data["unique_id"]),
            stream=str(data.get("stream") or data["unique_id"]),
            started=float(data.get("started", 0.0)),
            library=str(data.get("library", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptureError(
            f"{path}: capture header is not valid JSON with unique_id: {exc}"
        ) from exc


def read_header(path: Path) -> CaptureHeader:
    """The capture's header; raises :class:`CaptureError` if ``path`` is not a capture."""
    with path.open("rb") as handle:
        return _read_header(handle, path)


def _records(path: Path) -> Iterator[CaptureRecord]:
    with path.open("rb") as handle:
        _read_header(handle, path)
        number = 0
        while True:
            head = handle.read(_RECORD.size)
            if not head:
                return
            number += 1
            if len(head) < _RECORD.size:
                log.warning("%s: record %d is truncated; replay stops there", path, number)
                return
            kind, received, length = _RECORD.unpack(head)
            if kind[0] not in _KINDS:
                log.warning("%s: record %d has unknown kind %r; replay stops", path, number, kind)
                return
            payload = handle.read(length)
            if len(payload) < length:
                log.warning("%s: record %d is truncated; replay stops there", path, number)
                return
            yield CaptureRecord(kind.decode(), received, payload)


def read_capture(path: Path) -> tuple[CaptureHeader, Iterator[CaptureRecord]]:
    """The header (read now, raises :class:`CaptureError`) and a lazy iterator of records.

    The file is opened again by the iterator when it starts, and closed when it ends.
    """
    return read_header(path), _records(path)


class CaptureSource:
    """Replays a raw capture as livepilot events, through TikTokLive's decoding path.

    Times come from the capture (each record's receive time), so a replay gives the same
    events, ids and times on every run. ``speed`` > 0 paces the replay by the recorded
    receive times (1 = real time, N = N× faster) and re-stamps ``at``/``received`` with
    the current time, like the JSONL replay does.
    """

    def __init__(
        self,
        path: Path,
        stream: str | None = None,
        metrics: Metrics | None = None,
        *,
        streak_timeout: float = 20.0,
        speed: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.path = path
        self._speed = speed
        self._clock: Clock = clock or SystemClock()
        self.header = read_header(path)  # a bad file fails here, not mid-replay
        self.stream = stream or self.header.stream
        self.metrics = metrics
        self._streak_timeout = streak_timeout

    async def events(self) -> AsyncIterator[LiveEvent]:
        from livepilot.sources.tiktok.client import FrameDecoder
        from livepilot.sources.tiktok.mapping import Mapper
        from livepilot.sources.tiktok.tracker import Tracker

        metrics = self.metrics

        def unknown(method: str) -> None:
            if metrics is not None:
                metrics.tiktok_unknown.labels(method).inc()

        mapper = Mapper(self.stream)
        tracker = Tracker(self.stream, metrics, streak_timeout=self._streak_timeout)
        decoder = FrameDecoder(self.header.unique_id, on_unknown=unknown)
        _, records = read_capture(self.path)
        now = self.header.started
        first: float | None = None
        wall0 = self._clock.now()
        try:
            for index, record in enumerate(records):
                now = record.received
                if self._speed > 0:
                    first = now if first is None else first
                    delay = wall0 + (now - first) / self._speed - self._clock.now()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif index % 256 == 0:
                    await asyncio.sleep(0)  # let the rest of the loop breathe
                for event in tracker.tick(now):
                    yield self._stamp(event)
                if record.kind == "L":
                    info = json.loads(record.payload or b"{}")
                    since = info.get("since")
                    lost = tracker.lost(
                        now,
                        str(info.get("cause") or "connection_lost"),
                        since=float(since) if since is not None else None,
                    )
                    for event in lost:
                        yield self._stamp(event)
                    continue
                try:
                    if record.kind == "I":
                        (room_id,) = _U64.unpack(record.payload[: _U64.size])
                        raw = await decoder.initial(record.payload[_U64.size :], room_id)
                    else:
                        raw = await decoder.frame(record.payload)
                except Exception:
                    log.error(
                        "%s: a %s record at %.3f cannot be decoded",
                        self.path,
                        record.kind,
                        now,
                        exc_info=True,
                    )
                    if metrics is not None:
                        metrics.bad_input.labels("tiktok_capture").inc()
                    continue
                for library_event in raw:
                    for event in tracker.accept(mapper.map(library_event, now), now):
                        yield self._stamp(event)
            for event in tracker.stopped(now, "end of capture"):
                yield self._stamp(event)
        finally:
            await decoder.close()

    def _stamp(self, event: LiveEvent) -> LiveEvent:
        if self._speed <= 0:
            return event
        now = self._clock.now()
        return event.model_copy(update={"at": now, "received": now})
