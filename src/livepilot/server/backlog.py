"""The console backlog: the newest published messages as they stand now, not as they were
first published.

The bus's log keeps every message as it went out. A console that connects late (its
backlog) and ``GET /api/recent`` need the current picture instead: each event's latest
insight, with the moderators' later decisions applied. So the backlog folds updates into
place, keeping the order a console needs (event, then its insight, then the decision):

- an insight replaces the earlier version of the same event's insight where that one
  stood; an older version arriving late is dropped;
- a ``moderation`` decision replaces the event's earlier decision where it stood, and the
  event's insight is rewritten so ``hidden`` says what the message's state says now
  (a hidden message comes back hidden, an approved one visible);
- everything else is appended.

Bounded: the newest ``size`` entries. Each entry keeps the JSON string the bus already
holds, so the backlog adds a small object per message, not a second copy of its text.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice

from livepilot.bus.base import Published
from livepilot.insights import Insight, ModerationDecision, Visibility
from livepilot.wire import decode

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

_INSIGHT, _DECISION = 1, 2


class _Entry:
    __slots__ = ("hidden", "json", "key", "kind", "version")

    def __init__(self, raw: str, kind: int = 0, key: str = "", version: int = 0,
                 hidden: bool = False) -> None:
        self.json = raw
        self.kind = kind
        self.key = key  # the event id of an insight or decision
        self.version = version
        self.hidden = hidden  # a decision's state: off the overlays


class Backlog:
    """The newest ``size`` messages with updates folded in (see the module docstring)."""

    def __init__(self, size: int = 50_000) -> None:
        if size < 1:
            raise ValueError(f"the backlog size must be positive, got {size}")
        self._size = size
        self._entries: deque[_Entry] = deque()
        self._insights: dict[str, _Entry] = {}
        self._decisions: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, batch: Iterable[Published]) -> None:
        """Fold a published batch in."""
        for item in batch:
            message = item.message
            if isinstance(message, Insight):
                self._insight(message, item.json)
            elif isinstance(message, ModerationDecision):
                self._decision(message, item.json)
            else:
                self._append(_Entry(item.json))

    def seed(self, raw: Sequence[str]) -> None:
        """Fold in what the bus's log already held at start (oldest first)."""
        skipped = 0
        for line in raw:
            try:
                message = decode(line)
            except ValueError:
                skipped += 1
                continue
            self.add((Published(0, message, line),))
        if skipped:
            log.warning("backlog: %d undecodable log entries skipped", skipped)

    def recent(self, limit: int) -> list[str]:
        """The JSON of the newest ``limit`` entries, oldest first."""
        if limit <= 0:
            return []
        newest = [entry.json for entry in islice(reversed(self._entries), limit)]
        newest.reverse()
        return newest

    def _insight(self, insight: Insight, raw: str) -> None:
        event_id = insight.event_id
        entry = self._insights.get(event_id)
        if entry is not None and entry.version > insight.version:
            return  # an older version arriving late
        decided = self._decisions.get(event_id)
        if decided is not None and decided.hidden != insight.hidden:
            raw = insight.model_copy(update={"hidden": decided.hidden}).model_dump_json()
        if entry is None:
            self._append(_Entry(raw, _INSIGHT, event_id, insight.version))
        else:
            entry.json, entry.version = raw, insight.version

    def _decision(self, decision: ModerationDecision, raw: str) -> None:
        event_id = decision.event_id
        hidden = decision.state is not Visibility.VISIBLE
        insight = self._insights.get(event_id)
        if insight is not None:
            data = json.loads(insight.json)
            if data.get("hidden") != hidden:
                data["hidden"] = hidden
                insight.json = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        entry = self._decisions.get(event_id)
        if entry is None:
            self._append(_Entry(raw, _DECISION, event_id, hidden=hidden))
        else:
            entry.json, entry.hidden = raw, hidden

    def _append(self, entry: _Entry) -> None:
        entries = self._entries
        entries.append(entry)
        if entry.kind == _INSIGHT:
            self._insights[entry.key] = entry
        elif entry.kind == _DECISION:
            self._decisions[entry.key] = entry
        while len(entries) > self._size:
            old = entries.popleft()
            if old.kind == _INSIGHT and self._insights.get(old.key) is old:
                del self._insights[old.key]
            elif old.kind == _DECISION and self._decisions.get(old.key) is old:
                del self._decisions[old.key]
