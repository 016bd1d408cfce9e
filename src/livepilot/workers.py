"""``livepilot worker``: run the declared streams this process holds a lease for.

Every worker reads the same streams file and, every second, tries to claim each declared
stream it does not run (``SET {prefix}:lease:{stream} <id> NX PX <ttl>`` on the Redis
bus). It runs the streams it holds and renews their leases every tick (at most a quarter of
the TTL), so a stream runs in exactly one worker. When a worker dies its leases lapse
after ``LIVEPILOT_LEASE_TTL_S`` (10 s) and another worker takes the stream over within
about 11 s, recording the stretch nobody listened as a data gap (``cause="failover"``).

Policy choices:

- **Lost lease**: a renewal that finds another worker's id stops the stream here at once
  (no split brain); the claim loop may take it again later like any other stream.
- **Fencing**: a worker that cannot renew a stream's lease for 60 % of the TTL (Redis
  unreachable or stalled, or renewals failing) stops that stream's pipeline at once (the
  source stops, what is queued drains for at most a second), logged and counted in
  ``livepilot_worker_fenced{reason="unreachable"}`` (a renewal that finds another
  worker's id counts as ``reason="taken"``). A lease it could not renew may lapse
  after the TTL and be taken by another worker; by then this one has stopped, so no two
  workers run a stream for longer than the drain. Once Redis answers, the claim loop takes
  the stream again if nobody did, and reports the stretch it was stopped as a data gap
  (``cause="fenced"``).
- **Added through the API**: ``POST /api/streams`` declares a stream in the registry
  (``{prefix}:declared``); every worker reads it at each claim tick, beside its streams
  file, so one of them claims the new stream within a second. ``DELETE`` removes it; the
  worker that runs it stops it at its next tick and gives the lease back.
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
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from livepilot.bus.base import Bus, Leases
from livepilot.bus.registry import StreamRegistry
from livepilot.clock import SystemClock
from livepilot.errors import BusUnavailable, ConfigError
from livepilot.events import GapEvent, LiveEvent
from livepilot.metrics import Metrics
from livepilot.service import StreamService
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.stream_specs import (
    SimulatorSpec,
    StreamsFile,
    StreamSpec,
    TikTokSpec,
    build_source,
    load_streams,
    parse_spec,
    spec_json,
)

__all__ = [
    "SimulatorSpec",
    "StreamSpec",
    "StreamsFile",
    "TikTokSpec",
    "Worker",
    "attach_worker",
    "build_source",
    "load_streams",
    "parse_spec",
    "spec_json",
]

log = logging.getLogger(__name__)

#: How often a worker renews its leases and tries to claim the streams it does not run:
#: one small script per declared stream, so a lapsed lease is taken within a second.
CLAIM_EVERY = 1.0


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


def _gap(stream: str, cause: str, start: float, now: float) -> GapEvent:
    """The stretch from ``start`` to now in which nobody ran ``stream`` (``failover``: from
    the old owner's last write to its log; ``fenced``: from when fencing stopped it here)."""
    return GapEvent(
        id=f"{stream}-gap-{cause}-{int(now * 1000)}",
        stream=stream,
        at=now,
        received=now,
        start=min(start, now),
        end=now,
        cause=cause,
    )


class Worker:
    """Claims, renews and releases the leases of the declared streams; runs those it holds
    in ``service``, and stops those it cannot keep (see the module docstring: fencing)."""

    def __init__(
        self,
        service: StreamService,
        leases: Leases,
        specs: Sequence[SimulatorSpec | TikTokSpec],
        settings: Settings,
        metrics: Metrics,
        *,
        registry: StreamRegistry | None = None,
        every: float = CLAIM_EVERY,
    ) -> None:
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._service = service
        self._leases = leases
        self._registry = registry
        self._file_specs = list(specs)
        self._specs = list(specs)
        self._settings = settings
        self._metrics = metrics
        self._ttl = settings.lease_ttl_s
        #: A tick of at most a quarter of the TTL: a lease outlives two failed renewals.
        self._every = min(every, self._ttl / 4)
        #: A stream whose lease was last renewed longer ago than this stops here: its
        #: lease may lapse (and another worker take it) before this worker hears of it.
        #: 60 % of the TTL: two renewals missed; the other 40 % (4 s of the default 10 s)
        #: is for the pipeline to stop (a drain of at most a second, then cancellation).
        self.fence_after = self._ttl * 0.6
        self.held: set[str] = set()
        #: When each held stream's last successful renewal (or claim) was sent, monotonic.
        self._renewed: dict[str, float] = {}
        #: Streams stopped here by fencing, with when (Unix s): a gap until retaken.
        self._fenced: dict[str, float] = {}
        self._stopping: set[str] = set()
        #: Streams being stopped in the background: a slow drain never delays a renewal.
        self._stops: set[asyncio.Task[None]] = set()
        self._bad_specs: set[str] = set()
        self._down = False

    async def run(self) -> None:
        """Claim and renew until cancelled; then give every lease back, so another worker
        takes the streams over at once instead of after the TTL."""
        log.info("worker %s: %d declared stream(s), lease %.0f s", self.id,
                 len(self._specs), self._ttl)
        started = time.perf_counter()
        self._service.warm_up()  # holds the loop while no lease is held yet
        log.info("worker %s: models loaded in %.1f s", self.id, time.perf_counter() - started)
        fence = asyncio.create_task(self._fence_loop(), name="lease-fence")
        try:
            while True:
                await self.step()
                await asyncio.sleep(self._every)
        finally:
            fence.cancel()
            await asyncio.wait({fence, *self._stops}, timeout=5.0)
            await self._release_all()

    async def step(self) -> None:
        """Renew what is held, read the streams added through the API, then claim what
        nobody holds and stop what is no longer declared."""
        try:
            await self._renew(older_than=0.0)
            if self._registry is not None:
                self._specs = self._merged(await self._registry.declared())
            names = {spec.name for spec in self._specs}
            for name in sorted(self.held - names):
                self._removed(name)
            for spec in self._specs:
                if spec.name not in self.held and spec.name not in self._stopping:
                    await self._claim(spec)
                    # Building a pipeline holds the loop for a moment: with many streams
                    # to take, the held ones are renewed between claims, not only after.
                    await self._renew(older_than=self._every)
        except BusUnavailable as exc:
            _check_cancelled()
            # Keep running what is held until the fence stops it; the bus's own alarm
            # tells the consoles.
            if not self._down:
                log.warning("worker %s: cannot reach the leases (%s); the %d stream(s) held "
                            "stop within %.0f s unless a renewal gets through", self.id, exc,
                            len(self.held), self.fence_after)
            self._down = True
            return
        self._down = False

    async def _renew(self, older_than: float) -> None:
        """Renew every held lease last renewed more than ``older_than`` s ago."""
        for name in sorted(self.held):
            sent = time.monotonic()
            if sent - self._renewed.get(name, sent) < older_than:
                continue
            kept = await self._leases.renew(name, self.id, self._ttl)
            if name not in self.held:  # fenced while the renewal was on its way
                continue
            if kept:
                self._renewed[name] = sent
            else:
                self._lost(name)

    def _merged(self, declared: dict[str, str]) -> list[SimulatorSpec | TikTokSpec]:
        """The file's streams, then those added through the API (the file wins a name)."""
        specs = list(self._file_specs)
        names = {spec.name for spec in specs}
        for name, raw in sorted(declared.items()):
            if name in names:
                continue
            try:
                spec = parse_spec(raw)
            except ValueError:
                if name not in self._bad_specs:  # once, not every tick
                    self._bad_specs.add(name)
                    log.error("worker %s: the declared stream %s is not a valid spec; "
                              "ignored", self.id, name, exc_info=True)
                continue
            specs.append(spec)
        return specs

    async def _fence_loop(self) -> None:
        """Stop every held stream whose lease was not renewed within ``fence_after`` s,
        independent of the renewals themselves (which may hang on a stalled Redis)."""
        check = min(0.25, self.fence_after / 8)
        while True:
            await asyncio.sleep(check)
            now = time.monotonic()
            for name in sorted(self.held):
                renewed = self._renewed.get(name, now)
                if now - renewed > self.fence_after:
                    self._fence(name, now - renewed)

    def _fence(self, name: str, silent: float) -> None:
        log.error("worker %s: stream %s: no lease renewal for %.1f s (limit %.1f s of a "
                  "%.0f s lease); stopping it here so that no two workers run it",
                  self.id, name, silent, self.fence_after, self._ttl)
        self._metrics.worker_fenced.labels(name, "unreachable").inc()
        self._fenced[name] = SystemClock().now()
        self._stop(name, deadline=min(1.0, self._ttl / 10))

    def _lost(self, name: str) -> None:
        log.warning("worker %s: stream %s is held by another worker now; stopping it here",
                    self.id, name)
        self._metrics.worker_fenced.labels(name, "taken").inc()
        self._stop(name, deadline=min(1.0, self._ttl / 10))

    def _removed(self, name: str) -> None:
        log.info("worker %s: stream %s was removed; stopping it and giving its lease back",
                 self.id, name)
        self._stop(name, release=True)

    def _stop(self, name: str, deadline: float = 5.0, *, release: bool = False) -> None:
        """Stop the stream here at once (no more renewals), its pipeline in the
        background; not claimed again until it has stopped."""
        self.held.discard(name)
        self._renewed.pop(name, None)
        self._stopping.add(name)
        task = asyncio.create_task(self._retire(name, deadline, release), name=f"stop:{name}")
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _retire(self, name: str, deadline: float, release: bool) -> None:
        try:
            await self._service.retire(name, deadline)
            if release:
                await self._leases.release(name, self.id)
        except BusUnavailable as exc:
            log.warning("worker %s: releasing %s failed (%s); it lapses in %.0f s",
                        self.id, name, exc, self._ttl)
        except Exception:  # containment: one stream's stop must not end the worker
            log.error("worker %s: stopping stream %s failed", self.id, name, exc_info=True)
        finally:
            self._stopping.discard(name)

    async def _claim(self, spec: SimulatorSpec | TikTokSpec) -> None:
        claim = await self._leases.claim(spec.name, self.id, self._ttl)
        if not claim.taken and claim.holder != self.id:
            # Our own id: a claim whose answer was lost (a timeout) took it after all.
            return
        source: Source
        try:
            source = build_source(spec, self._settings, self._metrics)
        except Exception:  # containment: a broken spec must not stop the other streams
            log.error("worker %s: cannot start stream %s", self.id, spec.name, exc_info=True)
            await self._leases.release(spec.name, self.id)
            return
        now = SystemClock().now()
        fenced_at = self._fenced.pop(spec.name, None)
        if claim.previous is not None and claim.previous != self.id:
            # Without a last write in the old owner's log: the lease's lifetime before now.
            last = claim.last_write if claim.last_write is not None else now - self._ttl
            gap = _gap(spec.name, "failover", last, now)
            log.warning("worker %s: took stream %s over from %s; %.1f s not listened to "
                        "(data gap)", self.id, spec.name, claim.previous, gap.seconds)
            source = _AfterGap(source, gap)
        elif fenced_at is not None:
            gap = _gap(spec.name, "fenced", fenced_at, now)
            log.warning("worker %s: runs stream %s again after fencing; %.1f s not listened "
                        "to (data gap)", self.id, spec.name, gap.seconds)
            source = _AfterGap(source, gap)
        else:
            log.info("worker %s: claimed stream %s", self.id, spec.name)
        # Renew what is held first: the build below holds the loop.
        await self._renew(older_than=0.0)
        try:
            self._service.prepare(source)
        except RuntimeError:  # stopping: the stream is not ours to run any more
            await self._leases.release(spec.name, self.id)
            return
        # Building the pipeline held the loop (about half a second, longer on a busy
        # machine): the lease may have lapsed meanwhile. It starts only once a renewal
        # says it is still ours.
        sent = time.monotonic()
        try:
            kept = await self._leases.renew(spec.name, self.id, self._ttl)
        except BusUnavailable:
            await self._service.retire(spec.name, 0.0)
            raise
        if not kept:
            log.warning("worker %s: stream %s was taken by another worker while its pipeline "
                        "was built; not started here", self.id, spec.name)
            await self._service.retire(spec.name, 0.0)
            return
        self._service.start(spec.name)
        self._renewed[spec.name] = sent
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
    service: StreamService,
    bus: Bus,
    settings: Settings,
    metrics: Metrics,
    streams: StreamsFile | None,
) -> Worker:
    """A worker for ``streams`` (the streams file, if any) and the streams added through
    the API, running inside ``service`` (needs the Redis bus)."""
    if not isinstance(bus, Leases):
        raise ConfigError("livepilot worker needs LIVEPILOT_BUS=redis (leases live in Redis)")
    registry = bus if isinstance(bus, StreamRegistry) else None
    specs = streams.streams if streams is not None else []
    worker = Worker(service, bus, specs, settings, metrics, registry=registry)
    service.attach(worker.run)
    return worker
