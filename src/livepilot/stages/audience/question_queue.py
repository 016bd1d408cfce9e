"""The question queue: one stream's questions, leads and complaints as mergeable items.

Near-duplicates from different viewers merge into one item with a count and the askers
("7 people asked: Was kostet das?"): an item's *topic* is its words without stop words,
compared with rapidfuzz; for leads the words that only name the kind ("kostet", "preis",
"link") are set apart as synonym groups that must not contradict each other.

Items live through ``open → claimed → answered | dismissed`` (or expire when nobody asks
again); a message found toxic after it joined an item is taken back out of it
(:meth:`QuestionQueue.withdraw`). The time from the first ask to "answered" is the
response-time KPI, per stream and per moderator (:class:`ResponseTimes`). Pure state: no
I/O, no clock; the :mod:`~livepilot.stages.audience.questions` stage drives it.

After a restart of the same stream the queue is rebuilt from what the store kept
(:meth:`QuestionQueue.restore` with :class:`PastItem` s): open and claimed items go on,
closed ones are history again, and new items number on from the highest id.
"""

from __future__ import annotations

import logging
import statistics
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rapidfuzz import fuzz, process

from livepilot.errors import LivepilotError
from livepilot.stages.audience.faq import FaqMatch, content_tokens
from livepilot.stages.audience.phrases import tokenize

__all__ = [
    "Added",
    "ItemState",
    "PastItem",
    "QuestionQueue",
    "QueueError",
    "QueueItem",
    "ResponseTimes",
    "Withdrawn",
]

log = logging.getLogger(__name__)

#: Askers remembered by name per item; the count goes on beyond.
_MAX_ASKERS = 200
#: Message ids remembered per item (for the console to highlight them).
_MAX_EVENTS = 50
#: Queued messages remembered (newest) so a late verdict can withdraw one; the model's
#: verdict comes seconds after the message, far inside this window.
_MAX_ASKS = 10_000


class QueueError(LivepilotError):
    """A moderator command that does not apply (unknown item, already closed)."""


class ItemState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    DISMISSED = "dismissed"
    EXPIRED = "expired"


@dataclass(slots=True)
class QueueItem:
    """One thing viewers want answered, however many asked it."""

    id: str
    stream: str
    label: str
    kind: str | None
    text: str
    topic: str
    #: For leads: the synonym groups of the kind words ("price.0"); see ``rules/intents.yaml``.
    groups: frozenset[str]
    asked_at: float
    last_at: float
    askers: dict[str, str] = field(default_factory=dict)  # user id → @handle
    count: int = 0
    asks: int = 0
    native: bool = False
    events: list[str] = field(default_factory=list)
    suggestion: FaqMatch | None = None
    state: ItemState = ItemState.OPEN
    claimed_by: str | None = None
    claimed_at: float | None = None
    closed_by: str | None = None
    closed_at: float | None = None
    reply: str | None = None

    @property
    def active(self) -> bool:
        return self.state in (ItemState.OPEN, ItemState.CLAIMED)

    @property
    def response_seconds(self) -> float | None:
        if self.state is not ItemState.ANSWERED or self.closed_at is None:
            return None
        return self.closed_at - self.asked_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state for the console and the API."""
        s = self.suggestion
        return {
            "id": self.id,
            "stream": self.stream,
            "state": str(self.state),
            "label": self.label,
            "kind": self.kind,
            "text": self.text,
            "count": self.count,
            "asks": self.asks,
            "askers": list(self.askers.values()),
            "native": self.native,
            "events": list(self.events),
            "asked_at": self.asked_at,
            "last_at": self.last_at,
            "suggestion": None if s is None else {
                "entry": s.entry, "answer": s.answer, "confidence": s.confidence,
                "links": list(s.links),
            },
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at,
            "closed_by": self.closed_by,
            "closed_at": self.closed_at,
            "reply": self.reply,
            "response_seconds": self.response_seconds,
        }


@dataclass(frozen=True, slots=True)
class Added:
    """What :meth:`QuestionQueue.add` did: the item, whether it merged, whom it evicted."""

    item: QueueItem
    merged: bool
    evicted: QueueItem | None = None


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What :meth:`QuestionQueue.withdraw` did: the item, and whether it left the queue."""

    item: QueueItem
    dropped: bool


@dataclass(frozen=True, slots=True)
class PastItem:
    """An item as the store kept it (askers by count only: who asked is not kept)."""

    id: str
    label: str
    kind: str | None
    text: str | None
    asked_at: float
    last_at: float
    askers: int
    state: str
    claimed_by: str | None = None
    claimed_at: float | None = None
    closed_by: str | None = None
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Ask:
    item: str
    user_id: str
    text: str


class QuestionQueue:
    """Pure queue state for one stream: clustering, lifecycle, expiry. No I/O, no clock."""

    def __init__(
        self,
        stream: str,
        *,
        similarity: float = 85.0,
        expiry: float = 600.0,
        claimed_expiry: float | None = None,
        max_items: int = 500,
        history: int = 200,
        max_asks: int = _MAX_ASKS,
        kind_group: Callable[[str], str | None] | None = None,
    ) -> None:
        self.stream = stream
        self.similarity = similarity
        self.expiry = expiry
        #: A claimed item someone works on lives longer before it expires.
        self.claimed_expiry = claimed_expiry if claimed_expiry is not None else 3 * expiry
        self.max_items = max_items
        self._kind_group = kind_group or (lambda token: None)
        self._items: dict[str, QueueItem] = {}
        self._groups: dict[tuple[str, str | None], list[QueueItem]] = {}
        self._closed: deque[QueueItem] = deque(maxlen=history)
        #: Queued message id → its ask, oldest first, at most ``max_asks``.
        self._asks: OrderedDict[str, _Ask] = OrderedDict()
        self._max_asks = max_asks
        self._seq = 0

    def topic(self, label: str, text: str) -> tuple[str, frozenset[str]]:
        """What a message is about: its topic words, and for leads its kind-word groups.

        "preis?", "was kostet das" and "how much" are all (``""``, ⊆ {price.0}); "was
        kostet der hoodie" is (``"hoodie"``, {price.0}); "geht paypal" and "wie bestell
        ich" differ in group (how_to_order.1 vs .0), so they stay apart.
        """
        words = content_tokens(text)
        if label != "lead":
            return (" ".join(words) if words else " ".join(tokenize(text))), frozenset()
        topic: list[str] = []
        groups: set[str] = set()
        for word in words:
            group = self._kind_group(word)
            if group is None:
                topic.append(word)
            else:
                groups.add(group)
        return " ".join(topic), frozenset(groups)

    def add(
        self,
        *,
        label: str,
        kind: str | None,
        text: str,
        user_id: str,
        handle: str,
        event_id: str,
        at: float,
        native: bool = False,
        suggestion: FaqMatch | None = None,
    ) -> Added:
        topic, groups = self.topic(label, text)
        group = self._groups.setdefault((label, kind), [])
        item = self._similar(group, topic, groups)
        merged = item is not None
        evicted = None
        if item is None:
            if len(self._items) >= self.max_items:
                evicted = self._evict()
            self._seq += 1
            item = QueueItem(
                f"q{self._seq}", self.stream, label, kind, text.strip(), topic, groups, at, at
            )
            self._items[item.id] = item
            group.append(item)
        if user_id not in item.askers:
            item.count += 1
            if len(item.askers) < _MAX_ASKERS:
                item.askers[user_id] = handle
        item.asks += 1
        item.last_at = max(item.last_at, at)
        item.native = item.native or native
        item.groups |= groups
        if len(item.events) < _MAX_EVENTS:
            item.events.append(event_id)
        if suggestion is not None and (
            item.suggestion is None or suggestion.confidence > item.suggestion.confidence
        ):
            item.suggestion = suggestion
        asks = self._asks
        asks[event_id] = _Ask(item.id, user_id, text.strip())
        asks.move_to_end(event_id)
        if len(asks) > self._max_asks:
            asks.popitem(last=False)
        return Added(item, merged, evicted)

    def withdraw(self, event_id: str) -> Withdrawn | None:
        """Take a queued message back out of its item (it turned out toxic).

        The asker no longer counts unless another of their messages in the item does; an
        item with no ask left leaves the queue without a trace in the closed history. An
        item whose text came from this message takes the text of its next remembered ask,
        or leaves the queue when none is remembered, so the text never reaches the host.
        ``None`` when the message is not remembered or its item is already closed.
        """
        ask = self._asks.pop(event_id, None)
        if ask is None:
            return None
        item = self._items.get(ask.item)
        if item is None:
            return None
        was_text = bool(item.events) and item.events[0] == event_id
        if event_id in item.events:
            item.events.remove(event_id)
        item.asks -= 1
        # Only the item's first _MAX_EVENTS asks are listed: past them a repeat asker
        # whose other messages are not listed counts as gone (the count stays a bound).
        remaining = [a for e in item.events if (a := self._asks.get(e)) is not None]
        if all(a.user_id != ask.user_id for a in remaining):
            item.count -= 1
            item.askers.pop(ask.user_id, None)
        if was_text:
            if remaining:
                item.text = remaining[0].text
                item.topic = self.topic(item.label, item.text)[0]
            else:
                item.count = 0
        if item.count <= 0 or item.asks <= 0:
            del self._items[item.id]
            self._groups[(item.label, item.kind)].remove(item)
            return Withdrawn(item, dropped=True)
        return Withdrawn(item, dropped=False)

    def restore(self, items: list[PastItem]) -> list[QueueItem]:
        """Rebuild the queue from the store after a restart (call before the first
        event); the restored items, oldest first. Items whose id is taken or whose state
        is unknown (``withdrawn``: they left the queue) are left out."""
        restored = []
        for past in sorted(items, key=lambda p: (p.asked_at, p.id)):
            if past.id in self._items or not past.id[1:].isdigit():
                continue
            try:
                state = ItemState(past.state)
            except ValueError:
                continue
            text = past.text or ""
            topic, groups = self.topic(past.label, text)
            item = QueueItem(
                past.id, self.stream, past.label, past.kind, text, topic, groups,
                past.asked_at, past.last_at, count=max(1, past.askers),
                asks=max(1, past.askers), state=state, claimed_by=past.claimed_by,
                claimed_at=past.claimed_at, closed_by=past.closed_by, closed_at=past.closed_at,
            )
            self._seq = max(self._seq, int(past.id[1:]))
            if item.active:
                self._items[item.id] = item
                self._groups.setdefault((item.label, item.kind), []).append(item)
            else:
                self._closed.append(item)
            restored.append(item)
        return restored

    def _similar(
        self, group: list[QueueItem], topic: str, groups: frozenset[str]
    ) -> QueueItem | None:
        # Kind words must not contradict: no groups (e.g. "how much") fits any.
        fits = [i for i in group if not groups or not i.groups or not groups.isdisjoint(i.groups)]
        if not fits:
            return None
        if not topic:
            return next((item for item in fits if not item.topic), None)
        found = process.extractOne(
            topic,
            [item.topic for item in fits],
            scorer=fuzz.token_sort_ratio,
            score_cutoff=self.similarity,
        )
        return fits[found[2]] if found is not None else None

    def _evict(self) -> QueueItem:
        # Full: the open item that was asked least recently goes (claimed ones stay).
        candidates = [i for i in self._items.values() if i.state is ItemState.OPEN]
        victim = min(candidates or self._items.values(), key=lambda i: i.last_at)
        self._close(victim, ItemState.EXPIRED, None, victim.last_at)
        return victim

    def _close(self, item: QueueItem, state: ItemState, by: str | None, at: float) -> None:
        item.state = state
        item.closed_by = by
        item.closed_at = at
        del self._items[item.id]
        self._groups[(item.label, item.kind)].remove(item)
        self._closed.append(item)

    def _active(self, item_id: str) -> QueueItem:
        item = self._items.get(item_id)
        if item is not None:
            return item
        closed = next((i for i in self._closed if i.id == item_id), None)
        if closed is not None:
            raise QueueError(f"{item_id} is already {closed.state}")
        raise QueueError(f"{item_id} is not in the queue (expired or unknown)")

    def claim(self, item_id: str, by: str, at: float) -> QueueItem:
        """Mark that ``by`` takes care of it (another moderator may take it over)."""
        item = self._active(item_id)
        if item.claimed_by is not None and item.claimed_by != by:
            log.info("stream %s: %s taken over by %s from %s", self.stream, item_id, by,
                     item.claimed_by)
        item.state = ItemState.CLAIMED
        item.claimed_by = by
        item.claimed_at = at
        return item

    def answer(self, item_id: str, by: str, at: float, reply: str | None = None) -> QueueItem:
        item = self._active(item_id)
        item.reply = reply
        self._close(item, ItemState.ANSWERED, by, at)
        return item

    def dismiss(self, item_id: str, by: str, at: float) -> QueueItem:
        item = self._active(item_id)
        self._close(item, ItemState.DISMISSED, by, at)
        return item

    def expire(self, now: float) -> list[QueueItem]:
        """Close items nobody asked again for ``expiry`` (claimed: ``claimed_expiry``)."""
        gone = []
        for item in list(self._items.values()):
            if item.state is ItemState.OPEN:
                stale = now - item.last_at >= self.expiry
            else:
                since = max(item.last_at, item.claimed_at or item.last_at)
                stale = now - since >= self.claimed_expiry
            if stale:
                self._close(item, ItemState.EXPIRED, None, now)
                gone.append(item)
        return gone

    def is_active(self, item_id: str) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> QueueItem | None:
        return self._items.get(item_id) or next(
            (i for i in self._closed if i.id == item_id), None
        )

    def askers(self, label: str, kind: str | None) -> int:
        """Distinct askers over the active items of one label and kind."""
        return sum(item.count for item in self._groups.get((label, kind), ()))

    def counts(self) -> dict[str, int]:
        out = {ItemState.OPEN.value: 0, ItemState.CLAIMED.value: 0}
        for item in self._items.values():
            out[item.state.value] += 1
        return out

    def snapshot(self, closed: bool = True) -> list[dict[str, Any]]:
        """Active items (most asked first), then recently closed ones (newest first)."""
        active = sorted(self._items.values(), key=lambda i: (-i.count, i.asked_at))
        items = [i.to_dict() for i in active]
        if closed:
            items.extend(i.to_dict() for i in reversed(self._closed))
        return items

    def __len__(self) -> int:
        return len(self._items)


class ResponseTimes:
    """Question asked → answered, in seconds: the stream's KPI and each moderator's."""

    def __init__(self, keep: int = 1000) -> None:
        self._keep = keep
        self._all: deque[float] = deque(maxlen=keep)
        self._by: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}

    def record(self, moderator: str, seconds: float) -> None:
        self._all.append(seconds)
        self._by.setdefault(moderator, deque(maxlen=self._keep)).append(seconds)
        self._counts[moderator] = self._counts.get(moderator, 0) + 1

    @staticmethod
    def _summary(values: deque[float], count: int) -> dict[str, float | int | None]:
        if not values:
            return {"answered": count, "median": None, "p90": None, "mean": None}
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return {
            "answered": count,
            "median": statistics.median(ordered),
            "p90": p90,
            "mean": statistics.fmean(ordered),
        }

    def kpi(self) -> dict[str, Any]:
        """``{"answered", "median", "p90", "mean", "moderators": {name: {...}}}``."""
        out: dict[str, Any] = self._summary(self._all, sum(self._counts.values()))
        out["moderators"] = {
            name: self._summary(values, self._counts[name]) for name, values in self._by.items()
        }
        return out
