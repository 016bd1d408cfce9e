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
  renewed; ``{prefix}:owner:{stream}``: the last worker that took it (for failover gaps).

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

``redis`` is imported only here; its errors become :class:`BusUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, NamedTuple

from livepilot.bus.base import BusHealth, Claim, LocalFanout, Published
from livepilot.errors import BusUnavailable
from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.wire import WireMessage, decode, encode

__all__ = ["RedisBus"]

log = logging.getLogger(__name__)

_BLOCK_MS = 1_000
#: Longer than this without an answer counts as an outage (a stalled Redis).
_TIMEOUT = 5.0
_GROUP = "pipeline"  # the consumer group of a stream's command stream
_CONSUMER = "pipeline"  # one pipeline per stream: after a restart it is the same consumer
_STREAMS_REFRESH = 2.0  # how often a reader looks for new streams' logs
_TRIM_EVERY = 60.0  # how often the writer trims its logs by age
_ORIGINS_KEPT = 1_000  # (origin, log) pairs a reader remembers for skipping repeats
_ENTRY_MESSAGES = 100  # messages one log entry holds at most
_VIEWS_TTL = 10  # seconds a stream's shared views live without a refresh


#: Take a free lease; remember the taker; answer the last holder and the log's last write.
_CLAIM = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1]) or ''}
end
local previous = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
return {1, previous, redis.call('ZSCORE', KEYS[3], ARGV[4]) or ''}
"""
#: Extend our lease; take it again if it lapsed and nobody took it meanwhile (a Redis
#: outage longer than the lease); 0 when another worker holds it or held it since.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _Outgoing(NamedTuple):
    """A message waiting in the outbox: its place in the outbox (``g``), its number on
    its log from this origin (``n``, consecutive per log), log key, stream, type, JSON."""

    g: int
    n: int
    key: bytes
    stream: str
    type: str
    json: str


class _Backoff:
    """Exponential backoff with jitter: 0.1 s doubling up to 5 s, each drawn from
    [50 %, 100 %] of the step so that many processes do not retry in lock-step."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._step = first

    def next(self) -> float:
        delay = self._step * random.uniform(0.5, 1.0)
        self._step = min(self._step * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._step = self._first


def _check_cancelled() -> None:
    """Re-raise a cancellation that redis-py turned into a connection error (it can, when
    a blocking read is cancelled): a loop that retries on errors must still stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _by_log(batch: Sequence[_Outgoing]) -> list[tuple[bytes, list[_Outgoing]]]:
    """The batch grouped by log key, in order, at most ``_ENTRY_MESSAGES`` per group."""
    groups: dict[bytes, list[list[_Outgoing]]] = {}
    for item in batch:
        chunks = groups.setdefault(item.key, [[]])
        if len(chunks[-1]) >= _ENTRY_MESSAGES:
            chunks.append([])
        chunks[-1].append(item)
    return [(key, chunk) for key, chunks in groups.items() for chunk in chunks]


def _entry_order(entry_id: bytes) -> tuple[int, int]:
    ms, _, n = entry_id.partition(b"-")
    return int(ms), int(n or 0)


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
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - redis is a core dependency
            raise BusUnavailable("the Redis bus needs the 'redis' package") from exc
        self._url = url
        # redis-py's reply types are unions of every shape a reply can take; this adapter
        # knows the shapes of the few commands it sends.
        self._redis: Any = Redis.from_url(
            url, socket_timeout=_TIMEOUT + _BLOCK_MS / 1000, socket_connect_timeout=_TIMEOUT
        )
        self._prefix = prefix
        self._streams_key = f"{prefix}:streams"
        self._log_size = log_size
        #: Entries hold 1 to 100 messages: the cap keeps at least ``log_size / 10``
        #: messages per stream and usually several times more; age trims the rest.
        self._log_entries = max(1_000, log_size // 10)
        self._read_batch = read_batch
        self._write_batch = write_batch
        self._command_max_age = command_max_age
        self._buffer_size = buffer_size
        self._max_age = max_age
        self._metrics = metrics if metrics is not None else Metrics()
        super().__init__(log_size)
        #: This process's name on the log: its entries are skipped by its own reader.
        self.origin = uuid.uuid4().hex[:12]
        self._origin_bytes = self.origin.encode()
        self._places = itertools.count(1)
        self._numbers: dict[bytes, int] = {}
        self._seq = 0
        self._outbox: deque[_Outgoing] = deque()
        self._wake = asyncio.Event()
        self._written_keys: set[bytes] = set()
        self._trimmed_at = 0.0
        self._dropped = 0
        self._down: dict[str, str] = {}
        self._down_since = 0.0
        self._run_id: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Set by close(): redis-py can turn a cancelled read into a ConnectionError, so
        #: the loops check this instead of trusting the cancellation to arrive.
        self._closing = False

    # -- health ---------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException, doing: str) -> BusUnavailable:
        return BusUnavailable(
            f"Redis at {self._url} {doing} failed ({_why(exc)}); is redis-server running? "
            "(LIVEPILOT_REDIS_URL, or LIVEPILOT_BUS=memory for one process)"
        )

    def health(self) -> BusHealth:
        return BusHealth(
            up=not self._down,
            problem="; ".join(self._down.values()),
            since=self._down_since if self._down else 0.0,
            buffered=len(self._outbox),
            dropped=self._dropped,
        )

    def _fail(self, part: str, op: str, exc: BaseException, doing: str) -> None:
        """``part`` (writer, reader) cannot reach Redis: count it; log the first failure."""
        self._metrics.bus_errors.labels(op).inc()
        if part in self._down:
            return
        if not self._down:
            self._down_since = time.time()
            self._metrics.bus_up.set(0)
            log.warning(
                "redis bus: DOWN, %s failed (%s); streams go on, %d message(s) wait to be "
                "written (at most %d are kept)", doing, _why(exc), len(self._outbox),
                self._buffer_size,
            )
        self._down[part] = f"{doing} failed ({_why(exc)})"

    def _recovered(self, part: str) -> None:
        if self._down.pop(part, None) is None or self._down:
            return
        self._metrics.bus_up.set(1)
        log.warning(
            "redis bus: back UP after %.1f s; %d message(s) still to write, %d dropped so "
            "far (livepilot_bus_dropped)", time.time() - self._down_since, len(self._outbox),
            self._dropped,
        )

    # -- start ----------------------------------------------------------------------------

    def _log_key(self, stream: str) -> str:
        return f"{self._prefix}:log:{stream}"

    async def start(self) -> None:
        """Check the connection, load the recent logs, and start reading and writing."""
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._redis.ping(), _TIMEOUT)
            self._run_id = await self._server_run_id()
            names = await asyncio.wait_for(self._redis.zrange(self._streams_key, 0, -1), _TIMEOUT)
            last: dict[bytes, bytes] = {}
            loaded: list[tuple[bytes, Any]] = []
            for name in names:
                key = self._log_key(name.decode()).encode()
                entries = await asyncio.wait_for(
                    self._redis.xrevrange(key, count=self._log_entries), _TIMEOUT
                )
                last[key] = entries[0][0] if entries else b"0-0"
                loaded.extend(entries)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc, "connecting") from exc
        loaded.sort(key=lambda e: _entry_order(e[0]))
        recent = [line for _, fields in loaded for line in fields[b"m"].decode().split("\n")]
        self._remember(recent[-self._log_size:])
        self._metrics.bus_up.set(1)
        self._tasks = [
            asyncio.create_task(self._read(last), name="redis-bus-reader"),
            asyncio.create_task(self._write_loop(), name="redis-bus-writer"),
        ]
        log.info(
            "redis bus: connected to %s (%d stream log(s), %d recent messages)",
            self._url, len(last), len(loaded),
        )

    async def _server_run_id(self) -> str | None:
        info = await asyncio.wait_for(self._redis.info("server"), _TIMEOUT)
        run_id = info.get("run_id")
        return str(run_id) if run_id is not None else None

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, messages: Sequence[WireMessage]) -> None:
        """Fan out here at once, then queue for the event log (never waits for Redis)."""
        if not messages:
            return
        batch = []
        for message in messages:
            self._seq += 1
            batch.append(Published(self._seq, message, encode(message)))
        self._deliver(batch)
        self._enqueue(batch)

    def _enqueue(self, batch: Iterable[Published]) -> None:
        outbox, full, own = self._outbox, self._buffer_size, self._written_keys
        for p in batch:
            if len(outbox) >= full:
                self._drop(outbox.popleft())
            stream = p.message.stream
            key = self._log_key(stream).encode()
            own.add(key)
            n = self._numbers[key] = self._numbers.get(key, 0) + 1
            outbox.append(_Outgoing(next(self._places), n, key, stream, p.type, p.json))
        self._wake.set()  # (the writer keeps livepilot_bus_buffered up to date)

    def _drop(self, item: _Outgoing) -> None:
        if self._dropped == 0:
            log.error(
                "redis bus: the outage buffer is full (%d messages): the oldest are no "
                "longer written to the event log (counted in livepilot_bus_dropped)",
                self._buffer_size,
            )
        self._dropped += 1
        self._metrics.bus_dropped.labels(item.type).inc()

    async def _write_loop(self) -> None:
        from redis.exceptions import RedisError

        backoff = _Backoff()
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(itertools.islice(self._outbox, self._write_batch))
            self._metrics.bus_buffered.set(len(self._outbox))
            try:
                await asyncio.wait_for(self._write(batch), _TIMEOUT)
            except (RedisError, OSError, TimeoutError) as exc:
                _check_cancelled()
                self._fail("writer", "write", exc, "writing the event log")
                await asyncio.sleep(backoff.next())
                continue
            except Exception as exc:  # containment: the writer must outlive any failure
                log.error("redis bus: writing the event log failed", exc_info=True)
                self._fail("writer", "write", exc, "writing the event log")
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            self._recovered("writer")
            # Entries may have been dropped from the left while the batch was in flight:
            # take out by number, not by count.
            newest = batch[-1].g
            while self._outbox and self._outbox[0].g <= newest:
                self._outbox.popleft()
            self._metrics.bus_written.inc(len(batch))
            self._metrics.bus_buffered.set(len(self._outbox))

    async def _write(self, batch: Sequence[_Outgoing]) -> None:
        """One round trip: the batch's entries, the streams registry, and (once a minute)
        the trim by age."""
        pipe = self._redis.pipeline(transaction=False)
        origin = self._origin_bytes
        for key, items in _by_log(batch):
            # One entry per log and round trip: its messages' JSON one per line (wire JSON
            # is one line), numbered first..last. Per-command overhead, not Redis, was
            # what capped one entry per message at ~1,000 messages/s.
            pipe.xadd(
                key,
                {"m": "\n".join(i.json for i in items), "o": origin, "f": items[0].n,
                 "n": items[-1].n},
                maxlen=self._log_entries, approximate=True,
            )
        now = time.time()
        pipe.zadd(self._streams_key, {s: int(now * 1000) for s in {i.stream for i in batch}})
        if now - self._trimmed_at >= _TRIM_EVERY:
            oldest = int((now - self._max_age) * 1000)
            for key in self._written_keys:
                pipe.xtrim(key, minid=oldest, approximate=True)
            pipe.zremrangebyscore(self._streams_key, 0, oldest)
            self._trimmed_at = now
        await pipe.execute()

    async def flush(self, deadline: float) -> int:
        """Wait up to ``deadline`` s for the outbox to reach Redis; how many are left."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline
        while self._outbox and loop.time() < until and self._tasks:
            self._wake.set()
            await asyncio.sleep(0.02)
        return len(self._outbox)

    # -- reading --------------------------------------------------------------------------

    async def _read(self, last: dict[bytes, bytes]) -> None:
        """Read every stream's log and hand other processes' entries to the listeners."""
        from redis.exceptions import RedisError

        backoff = _Backoff()
        seen: OrderedDict[tuple[bytes, bytes], int] = OrderedDict()
        refresh_at = 0.0
        failed = False
        loop = asyncio.get_running_loop()
        while True:
            _check_cancelled()
            reply: Any = []
            try:
                if failed:
                    await self._check_restart()
                if loop.time() >= refresh_at:
                    await asyncio.wait_for(self._find_streams(last), _TIMEOUT)
                    refresh_at = loop.time() + _STREAMS_REFRESH
                # The logs of streams published here are not read back: their messages
                # were delivered here as they were published.
                others = {k: v for k, v in last.items() if k not in self._written_keys}
                if others:
                    reply = await self._redis.xread(
                        others, count=self._read_batch, block=_BLOCK_MS
                    )
                else:  # nothing to read: look for new streams (and at Redis) twice a second
                    refresh_at = loop.time() + 0.5
            except (RedisError, OSError, TimeoutError) as exc:
                _check_cancelled()
                if self._closing:
                    return
                failed = True
                self._fail("reader", "read", exc, "reading the event log")
                await asyncio.sleep(backoff.next())
                continue
            if failed:
                failed = False
                backoff.reset()
            self._recovered("reader")
            if not others:
                await asyncio.sleep(0.5)
                continue
            try:
                self._deliver_entries(reply, last, seen)
            except Exception:  # containment: one bad listener must not end the reader
                log.error("redis bus: delivering log entries failed", exc_info=True)

    async def _find_streams(self, last: dict[bytes, bytes]) -> None:
        names = await self._redis.zrange(self._streams_key, 0, -1)
        for name in names:
            key = self._log_key(name.decode()).encode()
            if key not in last:  # a stream that began after this bus started: all of
                last[key] = b"0-0"  # its log is new here

    async def _check_restart(self) -> None:
        """After a failure: say so if Redis restarted (its log may be gone with it)."""
        run_id = await self._server_run_id()
        if run_id != self._run_id and self._run_id is not None:
            log.warning(
                "redis bus: Redis restarted (run id %s → %s): log entries it had not "
                "saved are gone; consoles keep what they showed, and new entries are "
                "logged again", self._run_id[:8], (run_id or "?")[:8],
            )
            self._metrics.bus_errors.labels("restart").inc()
        self._run_id = run_id

    def _deliver_entries(
        self,
        reply: Any,
        last: dict[bytes, bytes],
        seen: OrderedDict[tuple[bytes, bytes], int],
    ) -> None:
        entries: list[tuple[bytes, Any]] = []
        for key, stream_entries in reply:
            if stream_entries:
                last[key] = stream_entries[-1][0]
            entries.extend((key, e) for e in stream_entries)
        if len(reply) > 1:  # several logs: merge them in Redis's time order
            entries.sort(key=lambda item: _entry_order(item[1][0]))
        batch: list[Published] = []
        newest = b"0-0"
        for key, (entry_id, fields) in entries:
            origin = fields.get(b"o")
            if origin == self._origin_bytes:
                continue  # delivered here when it was published
            lines = fields[b"m"].decode().split("\n")
            if origin is not None:
                # Skip what a retried batch repeats (Redis had written it after all).
                lines = lines[self._repeated(seen, (origin, key), fields, len(lines)):]
            for raw in lines:
                try:
                    message = decode(raw)
                except ValueError:
                    self._metrics.bus_errors.labels("decode").inc()
                    log.error("redis bus: undecodable message in %s on %s skipped",
                              entry_id, key)
                    continue
                self._seq += 1
                batch.append(Published(self._seq, message, raw))
            newest = entry_id
        if batch:
            self._deliver(batch)
            # Bus lag (the dashboard's): Redis stamped the entry id with its own clock in
            # ms when the entry was written; once per read batch, for its newest message.
            written = _entry_order(newest)[0] / 1000
            self._metrics.bus_lag.observe(max(0.0, time.time() - written))

    @staticmethod
    def _repeated(
        seen: OrderedDict[tuple[bytes, bytes], int],
        where: tuple[bytes, bytes],
        fields: Any,
        count: int,
    ) -> int:
        """How many of the entry's first messages were delivered already (numbers are
        consecutive per origin and log, ``f``..``n``)."""
        try:
            first, last = int(fields[b"f"]), int(fields[b"n"])
        except (KeyError, ValueError):
            return 0
        before = seen.get(where, 0)
        if last > before:
            seen[where] = last
            seen.move_to_end(where)
            if len(seen) > _ORIGINS_KEPT:
                seen.popitem(last=False)
        return min(count, max(0, before - first + 1))

    # -- views shared with API replicas ---------------------------------------------------

    def _views_key(self, stream: str) -> str:
        return f"{self._prefix}:views:{stream}"

    async def put_views(self, stream: str, views: str) -> None:
        """``{prefix}:views:{stream}``, expiring after 10 s: a replica never serves the
        views of a stream whose worker stopped refreshing them as if they were live."""
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(
                self._redis.set(self._views_key(stream), views, ex=_VIEWS_TTL), _TIMEOUT
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._metrics.bus_errors.labels("views").inc()
            log.debug("redis bus: sharing the views of %s failed (%s)", stream, _why(exc))

    async def shared_views(self) -> dict[str, str]:
        from redis.exceptions import RedisError

        try:
            names = await asyncio.wait_for(
                self._redis.zrange(self._streams_key, 0, -1), _TIMEOUT
            )
            if not names:
                return {}
            streams = [n.decode() for n in names]
            values = await asyncio.wait_for(
                self._redis.mget([self._views_key(s) for s in streams]), _TIMEOUT
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._metrics.bus_errors.labels("views").inc()
            log.debug("redis bus: reading shared views failed (%s)", _why(exc))
            return {}
        return {s: v.decode() for s, v in zip(streams, values, strict=True) if v is not None}

    # -- stream leases (livepilot worker) ------------------------------------------------

    def _lease_keys(self, stream: str) -> list[str]:
        return [f"{self._prefix}:lease:{stream}", f"{self._prefix}:owner:{stream}"]

    async def _script(self, source: str, keys: list[str], args: list[Any], doing: str) -> Any:
        from redis.exceptions import RedisError

        try:
            # Script runs EVALSHA and loads the script again after a Redis restart.
            script = self._redis.register_script(source)
            return await asyncio.wait_for(script(keys=keys, args=args), _TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._metrics.bus_errors.labels("lease").inc()
            raise self._unavailable(exc, doing) from exc

    async def claim(self, stream: str, holder: str, ttl: float) -> Claim:
        """``SET {prefix}:lease:{stream} holder NX PX ttl``, atomically with noting the
        previous taker and the log's last write (where a failover gap starts)."""
        keys = [*self._lease_keys(stream), self._streams_key]
        args = [holder, int(ttl * 1000), int(self._max_age), stream]
        reply = await self._script(_CLAIM, keys, args, f"claiming stream {stream!r}")
        if not int(reply[0]):
            return Claim(taken=False, holder=reply[1].decode() or None)
        previous = reply[1].decode() or None
        last = reply[2].decode() if reply[2] else ""
        return Claim(
            taken=True, holder=holder, previous=previous,
            last_write=float(last) / 1000 if last else None,
        )

    async def renew(self, stream: str, holder: str, ttl: float) -> bool:
        keys = self._lease_keys(stream)
        reply = await self._script(
            _RENEW, keys, [holder, int(ttl * 1000)], f"renewing the lease on {stream!r}"
        )
        return bool(int(reply))

    async def release(self, stream: str, holder: str) -> None:
        await self._script(
            _RELEASE, self._lease_keys(stream)[:1], [holder], f"releasing {stream!r}"
        )

    # -- commands -------------------------------------------------------------------------

    def _command_key(self, stream: str) -> str:
        return f"{self._prefix}:cmd:{stream}"

    async def send_command(self, command: CommandEvent) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        key, fields = self._command_key(command.stream), {"m": encode(command)}
        for attempt in (1, 2):
            try:
                await asyncio.wait_for(
                    self._redis.xadd(key, fields, maxlen=10_000, approximate=True), _TIMEOUT
                )
                return
            except RedisConnectionError as exc:
                # An idle pooled connection to a Redis that restarted fails on first use;
                # a second attempt takes a fresh one.
                self._metrics.bus_errors.labels("command_send").inc()
                if attempt == 2:
                    raise self._unavailable(exc, "sending a command") from exc
            except (RedisError, OSError, TimeoutError) as exc:
                self._metrics.bus_errors.labels("command_send").inc()
                raise self._unavailable(exc, "sending a command") from exc

    async def commands(self, stream: str) -> AsyncIterator[CommandEvent]:
        """The stream's commands, at least once, across pipeline restarts.

        The pipeline reads through a consumer group and acknowledges a command once the
        runner has taken it, so what was sent while no pipeline ran (a restart, a deploy)
        or taken by one that died is delivered on the next start. Commands older than
        ``command_max_age`` seconds are acknowledged and skipped: a moderator's "hide" from
        yesterday must not act on today's stream. Redis being away only pauses this; a
        Redis that came back without the group (restarted empty) gets it recreated.
        """
        from redis.exceptions import RedisError, ResponseError

        key = self._command_key(stream)
        backoff = _Backoff()
        grouped = False
        # First page through what this consumer took and never acknowledged (ids after
        # ``last``), then read new commands (">").
        last: Any = "0"
        catching_up = True
        while True:
            _check_cancelled()  # redis-py may also return normally from a cancelled read
            try:
                if not grouped:
                    await self._create_group(key)
                    grouped = True
                reply = await self._redis.xreadgroup(
                    _GROUP, _CONSUMER, {key: last}, count=100, block=_BLOCK_MS
                )
            except ResponseError as exc:
                _check_cancelled()
                if "NOGROUP" not in str(exc):
                    raise self._unavailable(exc, f"reading commands of {stream!r}") from exc
                log.warning("redis bus: the command group of %s is gone (Redis restarted "
                            "empty?); recreating it", stream)
                self._metrics.bus_errors.labels("group").inc()
                grouped, last, catching_up = False, "0", True
                continue
            except (RedisError, OSError, TimeoutError) as exc:
                _check_cancelled()
                if self._closing:
                    return
                self._metrics.bus_errors.labels("command_read").inc()
                delay = backoff.next()
                log.warning("redis bus: reading commands of %s failed (%s); again in %.1f s",
                            stream, _why(exc), delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            entries = [e for _, stream_entries in reply for e in stream_entries]
            if catching_up and not entries:
                catching_up, last = False, ">"
                continue
            for entry_id, fields in entries:
                if catching_up:
                    last = entry_id
                command = self._command(key, entry_id, fields)
                if command is not None:
                    yield command  # resumes once the runner has queued it
                await self._ack(key, entry_id)

    async def _create_group(self, key: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await asyncio.wait_for(
                self._redis.xgroup_create(key, _GROUP, id="0", mkstream=True), _TIMEOUT
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _command(self, key: str, entry_id: bytes, fields: Any) -> CommandEvent | None:
        if fields is None or b"m" not in fields:
            return None  # trimmed from the capped stream while pending
        try:
            command = decode(fields[b"m"])
        except ValueError:
            log.error("redis bus: bad command %s on %s skipped", entry_id, key)
            return None
        if not isinstance(command, CommandEvent):
            return None
        # The entry id starts with Redis's own clock in ms: no trust in the sender's clock.
        age = time.time() - int(entry_id.split(b"-")[0]) / 1000
        if age > self._command_max_age:
            log.warning(
                "redis bus: skipped %s command %s for %s, sent %.0f s ago (older than %.0f s)",
                command.action, command.id, command.stream, age, self._command_max_age,
            )
            return None
        return command

    async def _ack(self, key: str, entry_id: bytes) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._redis.xack(key, _GROUP, entry_id), _TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:  # pending: it comes again
            log.warning("redis bus: acknowledging command %s failed (%s)", entry_id, _why(exc))

    # -- shutdown -------------------------------------------------------------------------

    async def close(self, deadline: float = 5.0) -> None:
        """Stop reading, write what waits (up to ``deadline`` s), then disconnect."""
        self._forget_listeners()
        left = await self.flush(deadline) if self._tasks else len(self._outbox)
        if left:
            log.error("redis bus: %d message(s) could not be written to the event log "
                      "before shutdown (counted in livepilot_bus_dropped)", left)
            for item in self._outbox:
                self._metrics.bus_dropped.labels(item.type).inc()
            self._dropped += left
            self._outbox.clear()
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
            await asyncio.wait_for(self._redis.aclose(), 2.0)
