"""Leads: who showed buying interest, when, in what, kept and exported sparingly.

A lead is one chat message the intent stage labelled ``lead`` (price, availability,
shipping …). The question stage keeps them in a bounded :class:`LeadBook`; a recording
(``livepilot headless`` output or the event log) yields them with :func:`collect_leads`.
Exports (CSV for the spreadsheet, JSON for a CRM) follow a :class:`LeadPolicy`: by
default the viewer appears only as a keyed pseudonym, no message text is kept at all,
and leads older than the retention period are dropped — data minimisation by default,
more only when a live manager turns it on (``LIVEPILOT_LEAD_*`` settings).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from livepilot.events import ChatEvent, QuestionEvent
from livepilot.insights import Insight

if TYPE_CHECKING:
    from livepilot.settings import Settings
    from livepilot.wire import WireMessage

__all__ = [
    "Lead",
    "LeadBook",
    "LeadPolicy",
    "collect_leads",
    "export_leads",
    "lead_rows",
    "read_leads",
]

UserMode = Literal["handle", "pseudonym", "none"]
ExportFormat = Literal["csv", "json"]


@dataclass(frozen=True, slots=True)
class Lead:
    """One message with buying interest. ``text`` is ``None`` when the policy keeps none."""

    event_id: str
    stream: str
    at: float
    kind: str
    user_id: str
    handle: str
    text: str | None = None
    #: The question-queue item the message joined, if any.
    item: str | None = None


@dataclass(frozen=True, slots=True)
class LeadPolicy:
    """What a lead keeps and shows: user as handle/pseudonym/nothing, text, retention."""

    user: UserMode = "pseudonym"
    message: bool = False
    retention: float = 72 * 3600.0
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        if self.retention <= 0:
            raise ValueError(f"lead retention must be positive, got {self.retention}")

    @classmethod
    def from_settings(cls, settings: Settings) -> LeadPolicy:
        key = settings.lead_pseudonym_key
        return cls(
            user=settings.lead_user,
            message=settings.lead_message,
            retention=settings.lead_retention_hours * 3600.0,
            key=key.get_secret_value().encode() if key is not None else secrets.token_bytes(32),
        )

    def pseudonym(self, user_id: str) -> str:
        """A stable, keyed, non-reversible stand-in for the user id."""
        digest = hmac.new(self.key, user_id.encode(), hashlib.sha256).hexdigest()
        return f"u-{digest[:16]}"

    def keep(self, lead: Lead) -> Lead:
        """The lead as it may be stored: without text unless the policy keeps text."""
        return lead if self.message or lead.text is None else replace(lead, text=None)


class LeadBook:
    """The leads of one stream: bounded (oldest dropped first) and purged by retention."""

    def __init__(self, policy: LeadPolicy, max_leads: int = 10_000) -> None:
        self.policy = policy
        self._leads: deque[Lead] = deque(maxlen=max_leads)

    def add(self, lead: Lead) -> None:
        self._leads.append(self.policy.keep(lead))

    def purge(self, now: float) -> int:
        """Drop leads older than the retention period; return how many."""
        horizon = now - self.policy.retention
        dropped = 0
        while self._leads and self._leads[0].at < horizon:
            self._leads.popleft()
            dropped += 1
        return dropped

    def __iter__(self) -> Iterator[Lead]:
        return iter(self._leads)

    def __len__(self) -> int:
        return len(self._leads)

    def export(self, now: float, fmt: ExportFormat = "csv") -> str:
        return export_leads(self._leads, self.policy, now, fmt)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def lead_rows(leads: Iterable[Lead], policy: LeadPolicy, now: float) -> list[dict[str, str]]:
    """The export's rows, minimised: only columns the policy allows, none past retention."""
    horizon = now - policy.retention
    rows = []
    for lead in leads:
        if lead.at < horizon:
            continue
        row = {"time": _iso(lead.at), "stream": lead.stream, "kind": lead.kind}
        if policy.user == "handle":
            row["user"] = lead.handle
        elif policy.user == "pseudonym":
            row["user"] = policy.pseudonym(lead.user_id)
        if policy.message:
            row["message"] = lead.text or ""
        row["queue_item"] = lead.item or ""
        rows.append(row)
    return rows


def _cell(value: str) -> str:
    # A spreadsheet runs cells starting with these as formulas; chat text is untrusted.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_leads(
    leads: Iterable[Lead], policy: LeadPolicy, now: float, fmt: ExportFormat = "csv"
) -> str:
    """Leads as CSV (header row, formula-safe cells) or JSON (with the policy applied)."""
    rows = lead_rows(leads, policy, now)
    if fmt == "json":
        document = {
            "exported_at": _iso(now),
            "policy": {
                "user": policy.user,
                "message": policy.message,
                "retention_hours": policy.retention / 3600.0,
            },
            "leads": rows,
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown lead export format {fmt!r}; use csv or json")
    columns = ["time", "stream", "kind"]
    if policy.user != "none":
        columns.append("user")
    if policy.message:
        columns.append("message")
    columns.append("queue_item")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def collect_leads(messages: Iterable[WireMessage], window: int = 10_000) -> list[Lead]:
    """Leads in a recording: chat/question events paired with insights labelled ``lead``.

    Only the last ``window`` events wait for their insight, so memory stays bounded on a
    recording of any length. The text is kept; apply a policy when exporting.
    """
    events: OrderedDict[str, ChatEvent | QuestionEvent] = OrderedDict()
    leads: dict[str, Lead] = {}
    for message in messages:
        if isinstance(message, ChatEvent | QuestionEvent):
            events[message.id] = message
            if len(events) > window:
                events.popitem(last=False)
        elif isinstance(message, Insight):
            event = events.get(message.event_id)
            label = next((lb for lb in message.labels if lb.name == "lead"), None)
            if event is None or label is None or message.event_id in leads:
                continue
            queued = next((lb.kind for lb in message.labels if lb.name == "queued"), None)
            leads[message.event_id] = Lead(
                event_id=event.id,
                stream=event.stream,
                at=event.at,
                kind=label.kind or "other",
                user_id=event.user.id,
                handle=event.user.unique_id,
                text=event.text,
                item=queued,
            )
    return sorted(leads.values(), key=lambda lead: lead.at)


def read_leads(path: Path) -> list[Lead]:
    """Leads in a JSONL file with insights (``livepilot replay --jsonl`` output, event log).

    Unreadable lines are skipped here; ``livepilot.wire.read_jsonl`` reports them.
    """
    from livepilot.wire import LineError, read_jsonl

    return collect_leads(m for m in read_jsonl(path) if not isinstance(m, LineError))
