"""The store's writer: one thread that batches rows into the database, off the event loop.

The recorder (on the event loop) hands rows over without ever waiting: :meth:`StoreWriter.
append` for rows that are written once (chat, gifts, prompts …), :meth:`StoreWriter.put`
for rows rewritten by key as they change (a minute, a question, an alarm), and
:meth:`StoreWriter.stream` for a stream's own row. Each call takes a lock for a few list
or dict operations; the database work happens on the writer thread, which commits a batch
every ``flush_s`` (or sooner when many rows wait).

When the database fails (a PostgreSQL restart, a full disk) the batch goes back into the
buffer and the writer retries with growing pauses; the outage is logged once, shown in
:meth:`StoreWriter.status` and ``livepilot_store_up``. Keyed rows keep only their newest
version, so they never grow past the number of keys; appended rows are bounded by
``buffer``: past it new rows are dropped and counted per table
(``livepilot_store_dropped_rows``). Nothing here ever raises into the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from livepilot.errors import StoreUnavailable
from livepilot.store import schema
from livepilot.store.database import describe_error
from livepilot.store.metrics import StoreMetrics
from livepilot.store.retention import Retention

__all__ = ["Row", "StoreStatus", "StoreWriter"]

log = logging.getLogger(__name__)

#: A row as the recorder builds it: column → value, with ``stream`` (the stream's key)
#: in place of ``stream_id``.
Row = dict[str, Any]

_MAX_PAUSE = 30.0
_PURGE_EVERY = 3600.0
#: Children first: a stream replaced by a new copy loses these rows before its own.
_CHILD_TABLES = (*schema.APPEND_TABLES, *schema.KEYED_TABLES[1:])


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The writer's state for the console, ``/api/store`` and logs."""

    state: Literal["starting", "up", "down", "closed"]
    database: str
    error: str | None
    #: Rows waiting for the database, and rows lost to a full buffer so far.
    buffered: int
    dropped: int
    written: int
    #: Wall time of the last successful commit.
    last_write: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state, "database": self.database, "error": self.error,
            "buffered": self.buffered, "dropped": self.dropped, "written": self.written,
            "last_write": self.last_write,
        }


@dataclass
class _Batch:
    #: key → (row, opening): the stream rows, newest wins; ``opening`` replaces an
    #: earlier copy of the same recording.
    streams: dict[str, tuple[Row, bool]] = field(default_factory=dict)
    keyed: dict[tuple[Any, ...], tuple[Table, Row]] = field(default_factory=dict)
    appended: list[tuple[Table, Row]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.streams) + len(self.keyed) + len(self.appended)


def _key_of(table: Table, row: Row) -> tuple[Any, ...]:
    # Rows of tables outside any stream (strikes) carry no ``stream``.
    return (table.name, row.get("stream"), *(row[c.name] for c in table.primary_key.columns
                                             if c.name != "stream_id"))


class StoreWriter:
    """Batches rows to the database on its own thread; see the module docstring."""

    def __init__(
        self,
        open_engine: Callable[[], Engine],
        metrics: StoreMetrics,
        *,
        database: str,
        buffer: int = 200_000,
        flush_s: float = 0.5,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._open_engine = open_engine
        self._metrics = metrics
        self._database = database
        self._capacity = buffer
        self._flush_s = flush_s
        self._retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._batch = _Batch()
        self._appended = 0
        self._stopping = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._ids: dict[str, int] = {}
        self._state: Literal["starting", "up", "down", "closed"] = "starting"
        self._error: str | None = None
        self._dropped = 0
        self._written = 0
        self._last_write: float | None = None
        self._purged_at = float("-inf")
        #: Set once the first connection attempt is over, whatever its outcome.
        self._tried = threading.Event()
        metrics.up.set(0)

    # -- the event loop's side (never waits for the database) -----------------------------

    def stream(self, key: str, row: Row, *, opening: bool = False) -> None:
        """The stream's own row. ``opening``: a new recording under this key, which
        replaces any earlier one (stored, or still waiting here)."""
        with self._lock:
            batch = self._batch
            if opening:
                kept = [(t, r) for t, r in batch.appended if r["stream"] != key]
                self._appended -= len(batch.appended) - len(kept)
                batch.appended = kept
                batch.keyed = {k: v for k, v in batch.keyed.items() if k[1] != key}
            earlier = batch.streams.get(key)
            batch.streams[key] = (row, opening or (earlier is not None and earlier[1]))

    def put(self, table: Table, row: Row) -> None:
        with self._lock:
            self._batch.keyed[_key_of(table, row)] = (table, row)

    def append(self, table: Table, row: Row) -> bool:
        """Queue a row; ``False`` (and counted) when the buffer is full."""
        with self._lock:
            if self._appended >= self._capacity:
                self._dropped += 1
                dropped = True
            else:
                self._batch.appended.append((table, row))
                self._appended += 1
                dropped = False
                if self._appended >= 5_000:
                    self._wake.notify()
        if dropped:
            self._metrics.dropped.labels(table.name).inc()
            if self._dropped in (1, 1_000) or self._dropped % 100_000 == 0:
                log.error("store: buffer full (%d rows), %d row(s) dropped so far",
                          self._capacity, self._dropped)
        return not dropped

    def engine(self, timeout: float = 5.0) -> Engine | None:
        """The writer's engine once it connected (waiting up to ``timeout`` s for the
        first attempt), for the few reads at start-up; ``None`` while the store is down.
        Blocks: call it before the streams run, or from a thread."""
        self._tried.wait(timeout)
        with self._lock:
            return self._engine if self._state == "up" else None

    def status(self) -> StoreStatus:
        with self._lock:
            buffered = len(self._batch)
            return StoreStatus(self._state, self._database, self._error, buffered,
                               self._dropped, self._written, self._last_write)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="livepilot-store", daemon=True)
        self._thread.start()

    def close(self, deadline: float = 10.0) -> bool:
        """Write what waits (for up to ``deadline`` s), then stop; ``True`` if all was
        written. Blocks: call it from a thread (:meth:`aclose`) when a loop is running."""
        with self._lock:
            self._stopping = True
            self._deadline = time.monotonic() + deadline
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(deadline + 1.0)
        left = len(self._batch)
        if left:
            log.error("store: %d row(s) could not be written before shutdown (%s)",
                      left, self._error or "deadline")
        with self._lock:
            self._state = "closed"
        if self._engine is not None:
            self._engine.dispose()
        return left == 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything handed over so far is written (tests, one-shot runs)."""
        end = time.monotonic() + timeout
        with self._lock:
            self._wake.notify()
        while time.monotonic() < end:
            with self._lock:
                if not len(self._batch) and not self._busy:
                    return True
                self._wake.notify()
            time.sleep(0.01)
        return False

    # -- the writer thread ----------------------------------------------------------------

    _busy = False

    def _run(self) -> None:
        pause = 0.5
        while not self._connect():
            if self._sleep(pause):
                return
            pause = min(_MAX_PAUSE, pause * 2)
        pause = 0.5
        while True:
            with self._lock:
                if not self._stopping and self._appended < 5_000:
                    self._wake.wait(self._flush_s)
                stopping = self._stopping
                batch, self._batch = self._batch, _Batch()
                self._appended = 0
                self._busy = bool(len(batch))
            self._metrics.buffered.set(0)
            if len(batch):
                if self._write(batch):
                    pause = 0.5
                else:
                    self._restore(batch)
                    if stopping and time.monotonic() >= self._deadline:
                        return
                    if self._sleep(pause):
                        continue  # stopping: one more try before the deadline
                    pause = min(_MAX_PAUSE, pause * 2)
                    continue
            self._maybe_purge()
            if stopping:
                with self._lock:
                    if not len(self._batch):
                        return

    def _sleep(self, seconds: float) -> bool:
        """Pause (waking early on close); ``True`` when closing and past the deadline."""
        with self._lock:
            if not self._stopping:
                self._wake.wait(seconds)
            stopping = self._stopping
        if stopping:
            time.sleep(min(seconds, max(0.0, self._deadline - time.monotonic()), 0.5))
            return time.monotonic() >= self._deadline
        return False

    def _connect(self) -> bool:
        try:
            self._engine = self._open_engine()
        except StoreUnavailable as exc:
            self._down(str(exc))
            self._tried.set()
            return False
        self._up()
        self._tried.set()
        return True

    def _up(self) -> None:
        with self._lock:
            was = self._state
            self._state, self._error = "up", None
        self._metrics.up.set(1)
        if was == "down":
            log.warning("store: %s is back; writing what waited", self._database)

    def _down(self, error: str) -> None:
        with self._lock:
            was = self._state
            self._state, self._error = "down", error
        self._metrics.up.set(0)
        self._metrics.failures.inc()
        if was != "down":
            log.error("store: cannot write to %s (%s); buffering up to %d rows and retrying",
                      self._database, error, self._capacity)

    def _restore(self, batch: _Batch) -> None:
        """Put a failed batch back in front of what arrived meanwhile (newest rows win)."""
        with self._lock:
            now = self._batch
            for key, (row, opening) in batch.streams.items():
                newer = now.streams.get(key)
                now.streams[key] = (newer[0], newer[1] or opening) if newer else (row, opening)
            for row_key, item in batch.keyed.items():
                now.keyed.setdefault(row_key, item)
            now.appended[:0] = batch.appended
            self._appended += len(batch.appended)
            self._busy = False
        self._metrics.buffered.set(len(self._batch))

    def _write(self, batch: _Batch) -> bool:
        engine = self._engine
        assert engine is not None
        started = time.perf_counter()
        try:
            with engine.begin() as conn:
                for key, (row, opening) in batch.streams.items():
                    self._write_stream(conn, key, row, opening)
                self._write_keyed(conn, batch)
                self._write_appended(conn, batch)
        except (SQLAlchemyError, OSError) as exc:
            # Ids learnt in a transaction that was rolled back are not to be trusted.
            self._ids.clear()
            self._down(describe_error(exc))
            return False
        except Exception as exc:  # a bug must not stop the writer: log, drop, go on
            log.error("store: cannot write a batch of %d row(s); dropped", len(batch),
                      exc_info=True)
            self._ids.clear()
            with self._lock:
                self._dropped += len(batch.appended)
                self._busy = False
            self._error = f"{type(exc).__name__}: {exc}"
            return True
        self._metrics.flush_seconds.observe(time.perf_counter() - started)
        counts: dict[str, int] = {}
        for table, _ in batch.appended:
            counts[table.name] = counts.get(table.name, 0) + 1
        for table, _ in batch.keyed.values():
            counts[table.name] = counts.get(table.name, 0) + 1
        if batch.streams:
            counts["streams"] = len(batch.streams)
        for name, n in counts.items():
            self._metrics.written.labels(name).inc(n)
        with self._lock:
            self._written += len(batch)
            self._last_write = self._clock()
            self._busy = False
        self._up()
        return True

    def _write_stream(self, conn: Connection, key: str, row: Row, opening: bool) -> None:
        values = {k: v for k, v in row.items() if k != "stream"}
        streams = schema.streams
        known = None if opening else self._ids.get(key)
        if known is None:
            known = conn.execute(select(streams.c.id).where(streams.c.key == key)).scalar()
            if known is not None and opening:
                # The same recording again (a replay run twice): it replaces the old copy.
                log.info("store: replacing the earlier recording of %s", key)
                for table in _CHILD_TABLES:
                    conn.execute(delete(table).where(table.c.stream_id == known))
                conn.execute(delete(streams).where(streams.c.id == known))
                known = None
        if known is None:
            result = conn.execute(insert(streams).values(key=key, **values))
            (known,) = result.inserted_primary_key or (None,)
            assert known is not None
        else:
            conn.execute(update(streams).where(streams.c.id == known).values(**values))
        self._ids[key] = int(known)

    def _stream_id(self, conn: Connection, key: str) -> int:
        known = self._ids.get(key)
        if known is None:
            known = conn.execute(
                select(schema.streams.c.id).where(schema.streams.c.key == key)
            ).scalar_one()
            self._ids[key] = known
        return known

    def _rows(self, conn: Connection, rows: list[Row]) -> list[Row]:
        out = []
        for row in rows:
            if "stream" not in row:  # the audit log and strikes belong to no stream
                out.append(row)
                continue
            values = {k: v for k, v in row.items() if k != "stream"}
            values["stream_id"] = self._stream_id(conn, row["stream"])
            out.append(values)
        return out

    def _write_keyed(self, conn: Connection, batch: _Batch) -> None:
        by_table: dict[str, tuple[Table, list[Row]]] = {}
        for table, row in batch.keyed.values():
            by_table.setdefault(table.name, (table, []))[1].append(row)
        for table, rows in by_table.values():
            _upsert(conn, table, self._rows(conn, rows))

    def _write_appended(self, conn: Connection, batch: _Batch) -> None:
        by_table: dict[str, tuple[Table, list[Row]]] = {}
        for table, row in batch.appended:
            by_table.setdefault(table.name, (table, []))[1].append(row)
        for table, rows in by_table.values():
            conn.execute(insert(table), self._rows(conn, rows))

    def _maybe_purge(self) -> None:
        if self._retention is None or self._engine is None:
            return
        now = self._clock()
        if now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        try:
            with self._engine.begin() as conn:
                removed = self._retention.purge(conn, now)
        except SQLAlchemyError as exc:
            log.warning("store: retention purge failed (%s); next try in an hour",
                        describe_error(exc))
            return
        if any(removed.values()):
            log.info("store: retention removed %s",
                     ", ".join(f"{n} {what}" for what, n in removed.items() if n))


def _upsert(conn: Connection, table: Table, rows: list[Row]) -> None:
    """Insert rows, replacing the row with the same primary key where there is one."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        columns = [name for name in rows[0] if name not in keys]
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            lite = sqlite.insert(table)
            conn.execute(lite.on_conflict_do_update(
                index_elements=keys, set_={name: lite.excluded[name] for name in columns}
            ), rows)
        else:
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(table)
            conn.execute(pg.on_conflict_do_update(
                index_elements=keys, set_={name: pg.excluded[name] for name in columns}
            ), rows)
        return
    for row in rows:  # any other database: delete, then insert
        conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
        conn.execute(insert(table).values(**row))
