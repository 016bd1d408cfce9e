"""The server's audit log in the store: kept as it is written, read back at start-up.

:class:`AuditKeeper` is what :class:`livepilot.server.audit.AuditLog` keeps its entries
with (its ``AuditKeeper`` protocol): :meth:`AuditKeeper.keep` queues a row for the
writer thread (never blocking a request), :meth:`AuditKeeper.recall` reads the newest
entries back when a server starts, so the console shows what happened before a restart.
Entries are plain dicts with the fields of ``AuditEntry`` (the store does not import the
server). Retention: ``LIVEPILOT_RETENTION_AUDIT_DAYS``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from livepilot.store import schema
from livepilot.store.database import describe_error
from livepilot.store.recording import RowSink

__all__ = ["AuditKeeper"]

log = logging.getLogger(__name__)


class AuditKeeper:
    """The audit log's rows: written through ``sink``, read with ``engine()``."""

    def __init__(self, sink: RowSink, engine: Callable[[], Engine | None]) -> None:
        self._sink = sink
        self._engine = engine

    def keep(self, entry: dict[str, Any]) -> None:
        self._sink.append(schema.audit, {
            "at": float(entry["at"]), "stream_name": str(entry["stream"])[:200],
            "action": str(entry["action"])[:40], "target": str(entry["target"])[:300],
            "by": str(entry["by"])[:80],
            "args": json.dumps(entry.get("args") or {}, sort_keys=True, default=str),
            "role": str(entry.get("role") or "")[:40], "verified": bool(entry.get("verified")),
            "command": str(entry.get("command") or "")[:200],
            "applied": bool(entry.get("applied")),
            "previous": entry.get("previous"), "state": entry.get("state"),
        })

    def recall(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, oldest first; empty (logged) when the store
        cannot be read."""
        engine = self._engine()
        if engine is None:
            log.warning("store: down at start-up; the audit log starts empty")
            return []
        a = schema.audit
        try:
            with engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(
                    select(a).order_by(a.c.at.desc(), a.c.id.desc()).limit(limit))]
        except SQLAlchemyError as exc:
            log.warning("store: cannot read the audit log (%s); it starts empty",
                        describe_error(exc))
            return []
        rows.reverse()
        return [
            {"at": r["at"], "stream": r["stream_name"], "action": r["action"],
             "target": r["target"], "by": r["by"], "args": _args(r["args"]),
             "role": r["role"], "verified": bool(r["verified"]), "command": r["command"],
             "applied": bool(r["applied"]), "previous": r["previous"], "state": r["state"]}
            for r in rows
        ]


def _args(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
