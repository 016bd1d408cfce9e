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

Bounded: the newest ``size`` entries. Each entry keeps the JSON string that goes out to
clients, so the backlog adds a small object per message, not a second copy of its text.

The backlog also numbers what goes out: every message added gets the next ``seq`` (one
backlog per stream, so the numbers are per stream), written into its JSON as the first
field. A client that reconnects names the last ``seq`` it applied and gets exactly what
it missed (:meth:`Backlog.since`), or learns it has to start from a snapshot because
entries newer than that have already fallen off.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import count, islice

from livepilot.bus.base import Published
from livepilot.insights import Insight, ModerationDecision, Visibility
from livepilot.wire import decode

__all__ = ["Backlog", "with_seq"]

log = logging.getLogger(__name__)

_INSIGHT, _DECISION = 1, 2


def with_seq(seq: int, raw: str) -> str:
    """``raw`` (a JSON object) with ``"seq": seq`` as its first field; no re-parsing."""
    return f'{{"seq":{seq},{raw[1:]}' if raw != "{}" else f'{{"seq":{seq}}}'


class _Entry:
    __slots__ = ("hidden", "json", "key", "kind", "order", "seq", "version")

    def __init__(self, raw: str, seq: int, order: int, kind: int = 0, key: str = "",
                 version: int = 0, hidden: bool = False) -> None:
        self.json = raw
        self.seq = seq  # the stream's number of the message this entry holds now
        self.order = order  # position across every backlog sharing the same counter
        self.kind = kind
        self.key = key  # the event id of an insight or decision
        self.version = version
        self.hidden = hidden  # a decision's state: off the overlays


class Backlog:
    """The newest ``size`` messages with updates folded in (see the module docstring)."""

    def __init__(self, size: int = 50_000, *, order: Iterator[int] | None = None) -> None:
        if size < 1:
            raise ValueError(f"the backlog size must be positive, got {size}")
        self._size = size
        self._entries: deque[_Entry] = deque()
        self._insights: dict[str, _Entry] = {}
        self._decisions: dict[str, _Entry] = {}
        self._order = order if order is not None else count()
        self._seq = 0
        self._floor = 0  # the newest seq that fell off: a client behind it gets a snapshot

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def head(self) -> int:
        """The newest ``seq`` given out (0 before the first message)."""
        return self._seq

    def add(self, batch: Iterable[Published]) -> list[str]:
        """Fold a published batch in; return each message's JSON with its ``seq``, in order
        (what clients receive)."""
        out: list[str] = []
        for item in batch:
            out.append(self.add_one(item))
        return out

    def add_one(self, item: Published) -> str:
        """Fold one message in; return its JSON with its ``seq``."""
        self._seq += 1
        seq = self._seq
        raw = with_seq(seq, item.json)
        message = item.message
        if isinstance(message, Insight):
            self._insight(message, raw, seq)
        elif isinstance(message, ModerationDecision):
            self._decision(message, raw, seq)
        else:
            self._append(_Entry(raw, seq, next(self._order)))
        return raw

    def since(self, seq: int) -> list[str] | None:
        """Exactly what a client that applied everything up to ``seq`` missed, oldest
        first — or ``None`` when part of that has fallen off (or ``seq`` is from the
        future): the client needs a snapshot. O(entries): runs once per reconnect."""
        if seq < self._floor or seq > self._seq:
            return None
        if seq == self._seq:
            return []
        newer = [(e.seq, e.json) for e in self._entries if e.seq > seq]
        newer.sort()
        return [raw for _, raw in newer]

    def tail(self, limit: int) -> list[tuple[int, str]]:
        """The newest ``limit`` entries as ``(order, json)``, oldest first (for merging
        several streams' backlogs)."""
        if limit <= 0:
            return []
        newest = [(e.order, e.json) for e in islice(reversed(self._entries), limit)]
        newest.reverse()
        return newest

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

    def _insight(self, insight: Insight, raw: str, seq: int) -> None:
        event_id = insight.event_id
        entry = self._insights.get(event_id)
        if entry is not None and entry.version > insight.version:
            return  # an older version arriving late
        decided = self._decisions.get(event_id)
        if decided is not None and decided.hidden != insight.hidden:
            fixed = insight.model_copy(update={"hidden": decided.hidden})
            raw = with_seq(seq, fixed.model_dump_json())
        if entry is None:
            self._append(_Entry(raw, seq, next(self._order), _INSIGHT, event_id,
                                insight.version))
        else:
            entry.json, entry.version, entry.seq = raw, insight.version, seq

    def _decision(self, decision: ModerationDecision, raw: str, seq: int) -> None:
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
            self._append(_Entry(raw, seq, next(self._order), _DECISION, event_id,
                                hidden=hidden))
        else:
            entry.json, entry.hidden, entry.seq = raw, hidden, seq

    def _append(self, entry: _Entry) -> None:
        entries = self._entries
        entries.append(entry)
        if entry.kind == _INSIGHT:
            self._insights[entry.key] = entry
        elif entry.kind == _DECISION:
            self._decisions[entry.key] = entry
        while len(entries) > self._size:
            old = entries.popleft()
            self._floor = max(self._floor, old.seq)
            if old.kind == _INSIGHT and self._insights.get(old.key) is old:
                del self._insights[old.key]
            elif old.kind == _DECISION and self._decisions.get(old.key) is old:
                del self._decisions[old.key]
