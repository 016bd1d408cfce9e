"""The Redis Streams bus: for when one process is not enough.

Keys (all under ``{prefix}``):

- ``{prefix}:log:{stream}``: one Redis stream per live stream, the durable event log and
  the fan-out path at once; capped at ``log_size`` entries (``MAXLEN ~``) and trimmed to
  ``max_age`` seconds (``MINID ~``, once a minute);
- ``{prefix}:streams``: a sorted set of stream names (score: last write, ms), so readers
  find a stream's log as soon as one process writes to it;
- ``{prefix}:views:{stream}``: the stream's views (summary, questions, …) as JSON, refreshed
  every second by the process that runs it, for API replicas that do not;
- ``{prefix}:cmd:{stream}``: moderator commands, read by the stream's pipeline through a
  consumer group so none is lost while the pipeline restarts;
- ``{prefix}:lease:{stream}``: the id of the worker that runs the stream, expiring unless
  renewed; ``{prefix}:owner:{stream}``: the last worker that took it (for failover gaps);
- ``{prefix}:declared``: the streams added through the API (stream → spec JSON), which
  every worker's claim loop reads.

Publishing never waits for Redis. A published batch goes to this process's own listeners
at once (its consoles never wait for a round trip) and into a bounded outbox; one writer
task empties the outbox in batches, each one pipelined round trip of ``XADD``\\s. Every
entry carries its origin (this bus's id) and a per-origin number: a reader skips its own
entries (it delivered them already) and the repeats of a batch that was retried after a
timeout (Redis may have run it after all).

Redis going away or stalling (no answer within 5 s) never ends a pipeline: the outbox
holds up to ``buffer_size`` messages and drops the oldest beyond that (counted in
``livepilot_bus_dropped``); writer, reader and command readers retry with exponential
backoff and jitter; a command reader recreates its consumer group when a restarted Redis
lost it (``NOGROUP``). :meth:`RedisBus.health` says whether the bus is up, for
``/readyz`` and the ``bus_down`` alarm.

This module is the facade; each concept has its own module, and only ``bus/redis*.py``
imports ``redis`` (its errors become :class:`BusUnavailable` there):

- :mod:`~livepilot.bus.redis_link`: the client, key names, outage state and backoff;
- :mod:`~livepilot.bus.redis_outbox`: the outbox and its writer;
- :mod:`~livepilot.bus.redis_reader`: the log reader (other processes' messages);
- :mod:`~livepilot.bus.redis_commands`: moderator commands through a consumer group;
- :mod:`~livepilot.bus.redis_leases`: stream leases for ``livepilot worker``;
- :mod:`~livepilot.bus.redis_views`: views shared with API replicas;
- :mod:`~livepilot.bus.redis_registry`: the streams added through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Sequence

from livepilot.bus.base import BusHealth, Claim, LocalFanout, Published
from livepilot.bus.redis_commands import CommandChannel
from livepilot.bus.redis_leases import RedisLeases
from livepilot.bus.redis_link import TIMEOUT, RedisKeys, RedisLink
from livepilot.bus.redis_outbox import Outbox
from livepilot.bus.redis_reader import LogReader, load_logs
from livepilot.bus.redis_registry import RedisRegistry
from livepilot.bus.redis_views import SharedViews
from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.wire import WireMessage, encode

__all__ = ["RedisBus"]

log = logging.getLogger(__name__)


class RedisBus(LocalFanout):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "livepilot",
        log_size: int = 50_000,
        read_batch: int = 500,
        write_batch: int = 500,
        command_max_age: float = 600.0,
        buffer_size: int = 200_000,
        max_age: float = 6 * 3600.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._link = RedisLink(url, metrics if metrics is not None else Metrics())
        self._keys = keys = RedisKeys(prefix)
        self._log_size = log_size
        #: Entries hold 1 to 100 messages: the cap keeps at least ``log_size / 10``
        #: messages per stream and usually several times more; age trims the rest.
        self._log_entries = max(1_000, log_size // 10)
        super().__init__(log_size)
        #: This process's name on the log: its entries are skipped by its own reader.
        self.origin = uuid.uuid4().hex[:12]
        origin = self.origin.encode()
        self._seq = itertools.count(1)
        self._outbox = Outbox(
            self._link, keys, origin, log_entries=self._log_entries,
            write_batch=write_batch, buffer_size=buffer_size, max_age=max_age,
        )
        self._link.backlog = self._backlog
        self._reader = LogReader(
            self._link, keys, origin, read_batch=read_batch,
            own_logs=self._outbox.written_keys, seq=self._seq, deliver=self._deliver,
            closing=self._is_closing,
        )
        self._commands = CommandChannel(self._link, keys, command_max_age, self._is_closing)
        self._leases = RedisLeases(self._link, keys, max_age)
        self._views = SharedViews(self._link, keys)
        self._registry = RedisRegistry(self._link, keys)
        self._tasks: list[asyncio.Task[None]] = []
        #: Set by close(): redis-py can turn a cancelled read into a ConnectionError, so
        #: the loops check this instead of trusting the cancellation to arrive.
        self._closing = False

    def _is_closing(self) -> bool:
        return self._closing

    # -- health ---------------------------------------------------------------------------

    def health(self) -> BusHealth:
        link = self._link
        return BusHealth(
            up=link.up, problem=link.problem, since=link.since,
            buffered=len(self._outbox), dropped=self._outbox.dropped,
        )

    def _backlog(self, up: bool) -> str:
        if up:
            return (f"{len(self._outbox)} message(s) still to write, {self._outbox.dropped} "
                    "dropped so far (livepilot_bus_dropped)")
        return (f"{len(self._outbox)} message(s) wait to be written (at most "
                f"{self._outbox.buffer_size} are kept)")

    # -- start ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the connection, load the recent logs, and start reading and writing."""
        from redis.exceptions import RedisError

        link = self._link
        try:
            await asyncio.wait_for(link.redis.ping(), TIMEOUT)
            link.run_id = await link.server_run_id()
            last, recent = await load_logs(link, self._keys, self._log_entries)
        except (RedisError, OSError, TimeoutError) as exc:
            raise link.unavailable(exc, "connecting") from exc
        self._remember(recent[-self._log_size:])
        link.metrics.bus_up.set(1)
        self._tasks = [
            asyncio.create_task(self._reader.run(last), name="redis-bus-reader"),
            asyncio.create_task(self._outbox.run(), name="redis-bus-writer"),
        ]
        log.info(
            "redis bus: connected to %s (%d stream log(s), %d recent messages)",
            link.url, len(last), len(recent),
        )

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        """Fan out here at once, then queue for the event log (never waits for Redis)."""
        if not messages:
            return
        seq = self._seq
        batch = [Published(next(seq), m, encode(m)) for m in messages]
        self._deliver(batch)
        self._outbox.enqueue(batch)

    async def flush(self, deadline: float) -> int:
        """Wait up to ``deadline`` s for the outbox to reach Redis; how many are left."""
        if not self._tasks:
            return len(self._outbox)
        return await self._outbox.flush(deadline)

    # -- views shared with API replicas ---------------------------------------------------

    async def put_views(self, stream: str, views: str) -> None:
        """``{prefix}:views:{stream}``, expiring after 10 s (see :mod:`.redis_views`)."""
        await self._views.put(stream, views)

    async def shared_views(self) -> dict[str, str]:
        return await self._views.shared()

    # -- stream leases (livepilot worker) ------------------------------------------------

    async def claim(self, stream: str, holder: str, ttl: float) -> Claim:
        return await self._leases.claim(stream, holder, ttl)

    async def renew(self, stream: str, holder: str, ttl: float) -> bool:
        return await self._leases.renew(stream, holder, ttl)

    async def release(self, stream: str, holder: str) -> None:
        await self._leases.release(stream, holder)

    # -- streams added through the API (bus.registry) ------------------------------------

    async def declare(self, stream: str, spec: str) -> bool:
        return await self._registry.declare(stream, spec)

    async def undeclare(self, stream: str) -> bool:
        return await self._registry.undeclare(stream)

    async def declared(self) -> dict[str, str]:
        return await self._registry.declared()

    # -- commands -------------------------------------------------------------------------

    async def send_command(self, command: CommandEvent) -> None:
        await self._commands.send(command)

    def commands(self, stream: str) -> AsyncIterator[CommandEvent]:
        """The stream's commands, at least once, across pipeline restarts (see
        :mod:`.redis_commands`)."""
        return self._commands.read(stream)

    # -- shutdown -------------------------------------------------------------------------

    async def close(self, deadline: float = 5.0) -> None:
        """Stop reading, write what waits (up to ``deadline`` s), then disconnect."""
        self._forget_listeners()
        left = await self.flush(deadline)
        if left:
            log.error("redis bus: %d message(s) could not be written to the event log "
                      "before shutdown (counted in livepilot_bus_dropped)", left)
            self._outbox.drop_all()
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A read cancelled mid-reply can keep redis-py busy releasing its connection;
            # shutdown does not wait for that longer than a moment.
            _, stuck = await asyncio.wait(self._tasks, timeout=2.0)
            if stuck:
                log.warning("redis bus: %d task(s) did not stop within 2 s",
                            len(stuck))
        self._tasks = []
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(self._link.redis.aclose(), 2.0)

