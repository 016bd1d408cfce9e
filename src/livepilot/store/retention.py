"""How long each kind of history is kept, and the purge that enforces it.

Ages count from when a stream was recorded (``streams.recorded_at``, wall time), not from
the events' own time: a replay of last year's recording is kept as long as a stream
recorded today. The chat log goes first (it holds the most personal data), then leads
(``LIVEPILOT_LEAD_RETENTION_HOURS``, as the lead exports), the moderators' audit log, and
finally the streams themselves with everything else about them. The server's audit log
and the strikes remembered across streams belong to no stream: they age from their own
wall time (an entry's ``at``, a user's last change) and go with the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, select

from livepilot.store import schema

__all__ = ["Retention"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Retention:
    """Seconds to keep each kind; ``None`` keeps it for good."""

    chat_s: float | None
    leads_s: float | None
    audit_s: float | None
    streams_s: float | None

    @classmethod
    def from_days(
        cls, chat: float, audit: float, streams: float, leads_hours: float
    ) -> Retention:
        def seconds(days: float) -> float | None:
            return days * _DAY if days > 0 else None

        return cls(seconds(chat), leads_hours * 3600.0 if leads_hours > 0 else None,
                   seconds(audit), seconds(streams))

    def purge(self, conn: Connection, now: float) -> dict[str, int]:
        """Delete what is past its time; how many rows of each kind went."""
        removed = {
            "chat messages": self._older(conn, schema.chat, self.chat_s, now),
            "leads": self._older(conn, schema.leads, self.leads_s, now),
            "audit entries": self._older(conn, schema.commands, self.audit_s, now),
        }
        if self.audit_s is not None:
            # The server's audit log and the strikes carry their own wall time.
            cutoff = now - self.audit_s
            removed["audit entries"] += conn.execute(
                delete(schema.audit).where(schema.audit.c.at < cutoff)).rowcount or 0
            removed["remembered strikes"] = conn.execute(
                delete(schema.strikes).where(schema.strikes.c.updated_at < cutoff)
            ).rowcount or 0
        if self.streams_s is not None:
            old = select(schema.streams.c.id).where(
                schema.streams.c.recorded_at < now - self.streams_s
            )
            for table in (*schema.APPEND_TABLES, *schema.KEYED_TABLES[1:]):
                conn.execute(delete(table).where(table.c.stream_id.in_(old)))
            result = conn.execute(
                delete(schema.streams).where(schema.streams.c.recorded_at < now - self.streams_s)
            )
            removed["streams"] = result.rowcount or 0
        return removed

    @staticmethod
    def _older(conn: Connection, table: Table, keep_s: float | None, now: float) -> int:
        if keep_s is None:
            return 0
        old = select(schema.streams.c.id).where(schema.streams.c.recorded_at < now - keep_s)
        result = conn.execute(delete(table).where(table.c.stream_id.in_(old)))
        return result.rowcount or 0
