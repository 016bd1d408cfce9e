"""``livepilot worker``: run the declared streams this process holds a lease for.

Every worker reads the same streams file and, every second, tries to claim each declared
stream it does not run (``SET {prefix}:lease:{stream} <id> NX PX <ttl>`` on the Redis
bus). It runs the streams it holds and renews their leases every tick (at most a third of
the TTL), so a stream runs in exactly one worker. When a worker dies its leases lapse
after ``LIVEPILOT_LEASE_TTL_S`` (10 s) and another worker takes the stream over within
about 11 s, recording the stretch nobody listened as a data gap (``cause="failover"``).

Policy choices:

- **Lost lease**: a renewal that finds another worker's id stops the stream here at once
  (no split brain); the claim loop may take it again later like any other stream.
- **Redis down**: a worker keeps running what it holds (the stream's own consoles go on,
  the bus buffers its messages). Once Redis answers, the renewal extends the lease, or
  takes it again if it lapsed and nobody took it meanwhile; if another worker holds it, or
  held it since, the stream stops here. A worker cut off from Redis while others still
  reach it therefore runs a stream twice until it reaches Redis again.
- **Resume point**: a taken-over stream starts a new pass over its source. A TikTok source
  connects to the LIVE as it is now; a simulator starts its seeded timeline afresh at the
  current time (its audience curve begins again), since a synthetic stream has no position
  worth carrying over. The stages start empty (the store's carry-over restores questions
  and strikes when a recorder is configured).

This module is a composition root: it builds sources and wires them into the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from livepilot.bus.base import Bus, Claim, Leases
from livepilot.clock import SystemClock
from livepilot.errors import BusUnavailable, ConfigError
from livepilot.events import GapEvent, LiveEvent
from livepilot.metrics import Metrics
from livepilot.service import StreamService
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.yamlfile import load_model

__all__ = ["StreamSpec", "StreamsFile", "Worker", "attach_worker", "load_streams"]

log = logging.getLogger(__name__)

#: How often a worker renews its leases and tries to claim the streams it does not run:
#: one small script per declared stream, so a lapsed lease is taken within a second.
CLAIM_EVERY = 1.0


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SimulatorSpec(_Spec):
    """A simulated stream, like ``livepilot demo`` (same seed, same stream)."""

    simulator: str = Field(min_length=1, max_length=100, description="the stream's name")
    seed: int = 1
    speed: float = Field(default=1.0, gt=0)
    raids: bool = True

    @property
    def name(self) -> str:
        return self.simulator


class TikTokSpec(_Spec):
    """A TikTok creator's LIVE, like ``livepilot run @creator``; named after the handle."""

    tiktok: str = Field(min_length=1, max_length=200)
    follow: bool = True

    @field_validator("tiktok")
    @classmethod
    def _handle(cls, value: str) -> str:
        from livepilot.sources.tiktok import normalize_handle

        return normalize_handle(value)

    @property
    def name(self) -> str:
        return self.tiktok


def _kind(value: Any) -> str | None:
    """Which spec an entry is, by its key: a wrong entry gets one clear error, not one per
    kind of stream."""
    if isinstance(value, dict):
        return next((k for k in ("simulator", "tiktok") if k in value), None)
    return value.__class__.__name__.removesuffix("Spec").lower() or None


#: One entry of the streams file: ``simulator: NAME`` or ``tiktok: "@creator"``.
StreamSpec = Annotated[
    Annotated[SimulatorSpec, Tag("simulator")] | Annotated[TikTokSpec, Tag("tiktok")],
    Discriminator(
        _kind,
        custom_error_type="stream_kind",
        custom_error_message='each stream needs "simulator: NAME" or "tiktok: \'@creator\'"',
    ),
]


class StreamsFile(_Spec):
    """The streams every worker of a deployment may run (``--streams FILE.yaml``)."""

    streams: list[StreamSpec] = Field(min_length=1)

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[SimulatorSpec | TikTokSpec]) -> list[SimulatorSpec | TikTokSpec]:
        names = [spec.name for spec in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"stream declared twice: {', '.join(twice)}")
        return value


def load_streams(path: Path) -> StreamsFile:
    """The streams file; :class:`RulesError` names the file and the bad entry."""
    return load_model(path, StreamsFile, "streams file")


def _build(spec: SimulatorSpec | TikTokSpec, settings: Settings, metrics: Metrics) -> Source:
    if isinstance(spec, SimulatorSpec):
        from livepilot.sources.simulator import Simulator

        return Simulator(spec.name, seed=spec.seed, speed=spec.speed, raids=spec.raids)
    from livepilot.sources.tiktok import tiktok_sources

    return tiktok_sources([spec.tiktok], settings, SystemClock(), metrics, follow=spec.follow)[0]


class _AfterGap:
    """A source that first reports the gap before it took over (once, not on restarts)."""

    def __init__(self, inner: Source, gap: GapEvent) -> None:
        self.stream = inner.stream
        self._inner = inner
        self._gap: GapEvent | None = gap

    async def events(self) -> AsyncIterator[LiveEvent]:
        gap, self._gap = self._gap, None
        if gap is not None:
            yield gap
        async for event in self._inner.events():
            yield event


def _check_cancelled() -> None:
    """redis-py can turn a cancelled call into a connection error: a worker being stopped
    must stop, not retry (and then release its leases)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _failover_gap(stream: str, claim: Claim, now: float, ttl: float) -> GapEvent:
    """From the old owner's last write to its log (or, without one, the lease's lifetime
    before now) to now."""
    start = claim.last_write if claim.last_write is not None else now - ttl
    return GapEvent(
        id=f"{stream}-gap-failover-{int(now * 1000)}",
        stream=stream,
        at=now,
        received=now,
        start=min(start, now),
        end=now,
        cause="failover",
    )


class Worker:
    """Claims, renews and releases the leases of the declared streams; runs those it holds
    in ``service``."""

    def __init__(
        self,
        service: StreamService,
        leases: Leases,
        specs: Sequence[SimulatorSpec | TikTokSpec],
        settings: Settings,
        metrics: Metrics,
        *,
        every: float = CLAIM_EVERY,
    ) -> None:
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._service = service
        self._leases = leases
        self._specs = list(specs)
        self._settings = settings
        self._metrics = metrics
        self._ttl = settings.lease_ttl_s
        #: A tick of at most a third of the TTL: a lease outlives two failed renewals.
        self._every = min(every, self._ttl / 3)
        self.held: set[str] = set()
        self._down = False

    async def run(self) -> None:
        """Claim and renew until cancelled; then give every lease back, so another worker
        takes the streams over at once instead of after the TTL."""
        log.info("worker %s: %d declared stream(s), lease %.0f s", self.id,
                 len(self._specs), self._ttl)
        try:
            while True:
                await self.step()
                await asyncio.sleep(self._every)
        finally:
            await self._release_all()

    async def step(self) -> None:
        """Renew what is held, then claim what nobody holds."""
        try:
            for name in sorted(self.held):
                if not await self._leases.renew(name, self.id, self._ttl):
                    await self._lost(name)
            for spec in self._specs:
                if spec.name not in self.held:
                    await self._claim(spec)
        except BusUnavailable as exc:
            _check_cancelled()
            # Keep running what is held; the bus's own alarm tells the consoles.
            if not self._down:
                log.warning("worker %s: cannot reach the leases (%s); the %d stream(s) held "
                            "go on", self.id, exc, len(self.held))
            self._down = True
            return
        self._down = False

    async def _lost(self, name: str) -> None:
        log.warning("worker %s: stream %s is held by another worker now; stopping it here",
                    self.id, name)
        self.held.discard(name)
        await self._service.retire(name)

    async def _claim(self, spec: SimulatorSpec | TikTokSpec) -> None:
        claim = await self._leases.claim(spec.name, self.id, self._ttl)
        if not claim.taken and claim.holder != self.id:
            # Our own id: a claim whose answer was lost (a timeout) took it after all.
            return
        source: Source
        try:
            source = _build(spec, self._settings, self._metrics)
        except Exception:  # containment: a broken spec must not stop the other streams
            log.error("worker %s: cannot start stream %s", self.id, spec.name, exc_info=True)
            await self._leases.release(spec.name, self.id)
            return
        if claim.previous is not None and claim.previous != self.id:
            gap = _failover_gap(spec.name, claim, SystemClock().now(), self._ttl)
            log.warning("worker %s: took stream %s over from %s; %.1f s not listened to "
                        "(data gap)", self.id, spec.name, claim.previous, gap.seconds)
            source = _AfterGap(source, gap)
        else:
            log.info("worker %s: claimed stream %s", self.id, spec.name)
        try:
            self._service.launch(source)
        except RuntimeError:  # stopping: the stream is not ours to run any more
            await self._leases.release(spec.name, self.id)
            return
        self.held.add(spec.name)

    async def _release_all(self) -> None:
        for name in sorted(self.held):
            try:
                await asyncio.wait_for(self._leases.release(name, self.id), 2.0)
                log.info("worker %s: released stream %s", self.id, name)
            except (BusUnavailable, TimeoutError) as exc:
                log.warning("worker %s: releasing %s failed (%s); it lapses in %.0f s",
                            self.id, name, exc, self._ttl)
        self.held.clear()


def attach_worker(
    service: StreamService, bus: Bus, settings: Settings, metrics: Metrics, streams: StreamsFile
) -> Worker:
    """A worker for ``streams`` running inside ``service`` (needs the Redis bus)."""
    if not isinstance(bus, Leases):
        raise ConfigError("livepilot worker needs LIVEPILOT_BUS=redis (leases live in Redis)")
    worker = Worker(service, bus, streams.streams, settings, metrics)
    service.attach(worker.run)
    return worker
