"""Host prompts: the texts in the host's language, and the desk that rate-limits them.

Every detector *offers* a prompt; the :class:`PromptDesk` decides when the host sees it.
The host gets at most one prompt per ``min_gap_s``, and at most ``max_per_window``
routine prompts (thanks, greetings, CTAs) per window; important ones (viewer drop, dead
air, gift moments) only wait for the gap — and not even for that when the prompt that
started it was a routine one: a big gift's thanks never waits 15 s behind a rose's —
and urgent ones (shitstorm, raid) skip the queue. Waiting prompts form a priority queue
with ageing: each ``AGE_STEP_S`` waited adds one to a routine prompt's rank (never past
the important ones), so an old thanks is not starved by fresh greetings. They go stale
after ``expire_s``; a newer prompt of the same kind replaces a waiting one (the greeting
with 12 names replaces the one with 5).

Acknowledging or dismissing (``CommandEvent`` ``ack_prompt`` / ``dismiss_prompt`` with the
prompt id as ``target``) republishes the prompt with ``expires_at`` set to now, so
console and overlays drop it; a dismissal also mutes that kind of prompt for a while.
When an alarm clears, its prompt is withdrawn the same way.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from livepilot.insights import Prompt
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.stage import Outbox
from livepilot.stages.show.alarms import PromptRules
from livepilot.texts import CODES, Param, Phrase, say, wire_params

__all__ = [
    "ACK", "AGE_STEP_S", "DISMISS", "TEMPLATES", "Language", "PromptDesk", "phrase", "render",
    "span",
]

log = logging.getLogger(__name__)

Language = Literal["de", "en"]

ACK = "ack_prompt"
DISMISS = "dismiss_prompt"
#: Seconds of waiting that raise a waiting prompt's rank by one (ageing; see above).
AGE_STEP_S = 20.0

_DE: Mapping[str, str] = MappingProxyType(
    {
        "fallback_question": "Woher schaut ihr heute zu?",
        "fallback_crisis": "ruhig bleiben, nicht auf Provokationen eingehen, die Moderation "
        "handeln lassen",
        "dead_air": "Seit {seconds} s kein Chat — frag die Zuschauer: {question}",
        "viewer_drop_poll": "Zuschauer −{pct} % in {span} ({before} → {after}) — "
        "starte die vorbereitete Umfrage: „{poll}“",
        "viewer_drop": "Zuschauer −{pct} % in {span} ({before} → {after}) — "
        "hol sie zurück mit einer Frage: {question}",
        "chat_rate_drop": "Der Chat wird ruhiger ({now}/min statt {base}/min) — sprich "
        "Zuschauer mit Namen an oder frag: {question}",
        "like_rate_drop": "Weniger Likes ({now}/min statt {base}/min) — bitte um Likes "
        "fürs nächste Ziel",
        "shitstorm": "Anzeichen für einen Shitstorm ({pct} % negative Nachrichten) — "
        "wechsle zum Krisenplan: {plan}",
        "raid": "Raid/Bot-Welle: {members} neue Konten schreiben „{text}“ — nicht vorlesen, "
        "niemanden davon begrüßen, die Moderation handeln lassen",
        "top_gifter": "Neuer Top-Gifter: danke @{user} ({diamonds} 💎 insgesamt)",
        "big_gift": "Großes Geschenk: danke @{user} für {gift} ({diamonds} 💎)",
        "thanks_streak": "Danke @{user} für die {gift}-Serie ({count}×)",
        "thanks": "Danke @{user} für {gift}",
        "thanks_many": "Danke für die Geschenke: {names}{more}",
        "thanks_more": " und {count} weitere",
        "greet": "Begrüße die {count} neuen Zuschauer: {names}",
        "questions": "{count} offene Fragen zum Thema {topic}",
        "questions_any": "{count} offene Fragen im Chat",
        "segment_start": "Segment „{name}“ ({minutes} min): {points}",
        "segment_ending": "Segment „{name}“ endet in {minutes} min{after}",
        "segment_after": " — danach: „{next}“",
        "segment_overrun": "Segment „{name}“: die geplanten {minutes} min sind um{after}",
        "segment_overrun_after": " — weiter zu „{next}“?",
        "cta": "Call-to-Action: {text}",
        "poll_result": "Umfrage „{question}“: {results}",
        "giveaway_winner": "Gewinner des Giveaways: @{user} (aus {entries} Teilnehmern)",
    }
)

_EN: Mapping[str, str] = MappingProxyType(
    {
        "fallback_question": "Where are you watching from today?",
        "fallback_crisis": "stay calm, don't react to provocations, let the moderators act",
        "dead_air": "Dead air for {seconds} s — ask the chat: {question}",
        "viewer_drop_poll": "Viewer count −{pct} % in {span} ({before} → {after}) — "
        "start the poll you prepared: “{poll}”",
        "viewer_drop": "Viewer count −{pct} % in {span} ({before} → {after}) — "
        "win them back with a question: {question}",
        "chat_rate_drop": "Chat is slowing down ({now}/min instead of {base}/min) — "
        "call viewers by name or ask: {question}",
        "like_rate_drop": "Fewer likes ({now}/min instead of {base}/min) — ask for likes "
        "towards the next goal",
        "shitstorm": "Shitstorm signs ({pct} % negative messages) — switch to the crisis "
        "plan: {plan}",
        "raid": "Raid / bot wave: {members} new accounts posting “{text}” — don't read it "
        "out or greet any of them, let the moderators act",
        "top_gifter": "New top gifter: thank @{user} ({diamonds} 💎 in total)",
        "big_gift": "Big gift: thank @{user} for {gift} ({diamonds} 💎)",
        "thanks_streak": "Thank @{user} for the {gift} streak ({count}×)",
        "thanks": "Thank @{user} for {gift}",
        "thanks_many": "Thank you for the gifts: {names}{more}",
        "thanks_more": " and {count} more",
        "greet": "Greet the {count} new viewers: {names}",
        "questions": "{count} open questions about {topic}",
        "questions_any": "{count} open questions in the chat",
        "segment_start": "Segment “{name}” ({minutes} min): {points}",
        "segment_ending": "Segment “{name}” ends in {minutes} min{after}",
        "segment_after": " — next: “{next}”",
        "segment_overrun": "Segment “{name}”: the planned {minutes} min are up{after}",
        "segment_overrun_after": " — move on to “{next}”?",
        "cta": "Call to action: {text}",
        "poll_result": "Poll “{question}”: {results}",
        "giveaway_winner": "Giveaway winner: @{user} (out of {entries} entries)",
    }
)

#: Prompt texts per host language; fields in braces are filled by :func:`render`.
TEMPLATES: Mapping[str, Mapping[str, str]] = MappingProxyType({"de": _DE, "en": _EN})


def span(seconds: float) -> str:
    """A short duration for prompt texts: ``45 s`` under 90 seconds, else ``3 min``."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def render(language: str, key: str, **fields: Any) -> str:
    """The prompt text ``key`` in ``language`` (German when the language is unknown)."""
    templates = TEMPLATES.get(language, _DE)
    return templates[key].format(**fields)


def phrase(language: str, key: str, **fields: Param) -> Phrase:
    """:func:`render` with its code (``prompt.<key>``) and params, so the console can say
    it in its own language; a field may be a nested phrase (an optional tail)."""
    # A template may leave a field out (like_rate_drop asks no question).
    used = {name: fields[name] for name in CODES[f"prompt.{key}"]}
    return say(f"prompt.{key}", render(language, key, **fields), **used)


@dataclass(slots=True)
class _Offer:
    seq: int
    kind: str
    key: str
    text: str | Phrase
    priority: int
    alarm_id: str | None
    offered_at: float


class PromptDesk:
    """Decides which offered prompts reach the host, and when."""

    def __init__(
        self,
        stream: str,
        source: str,
        rules: PromptRules,
        *,
        on_drop: Callable[[str], None] | None = None,
        shown_cap: int = 100,
    ) -> None:
        self._stream = stream
        self._source = source
        self._rules = rules
        self._on_drop = on_drop
        self._pending: list[_Offer] = []
        self._sent: deque[float] = deque()
        self._last_sent = float("-inf")
        self._last_priority = -1  # of the prompt that started the current gap
        self._muted: dict[str, float] = {}
        # Recently shown prompts (for ack/dismiss and withdrawal), oldest first, capped.
        self._shown: OrderedDict[str, tuple[Prompt, str]] = OrderedDict()
        self._shown_cap = shown_cap
        self._seq = 0
        self._ids = 0
        self._top = -1
        self._oldest = float("inf")

    def offer(
        self,
        now: float,
        kind: str,
        text: str | Phrase,
        *,
        priority: int = 1,
        alarm_id: str | None = None,
        key: str | None = None,
    ) -> None:
        """Queue a prompt; ``key`` (default: the kind) replaces a waiting one with the same key."""
        if self._muted.get(kind, float("-inf")) > now:
            self._drop("muted")
            return
        key = key or kind
        for i, waiting in enumerate(self._pending):
            if waiting.key == key:
                del self._pending[i]
                break
        self._seq += 1
        self._pending.append(_Offer(self._seq, kind, key, text, priority, alarm_id, now))
        if len(self._pending) > self._rules.max_pending:
            worst = min(self._pending, key=lambda o: (o.priority, -o.seq))
            self._pending.remove(worst)
            self._drop("overflow")
        self._summarise()

    def _summarise(self) -> None:
        """Remember the best priority and the oldest offer waiting (for the fast path)."""
        pending = self._pending
        self._top = max((o.priority for o in pending), default=-1)
        self._oldest = min((o.offered_at for o in pending), default=float("inf"))

    def release(self, now: float, out: Outbox) -> None:
        """Publish what the rate limit allows now, best first."""
        if not self._pending:
            return
        rules = self._rules
        window = self._sent
        while window and now - window[0] >= rules.window_s:
            window.popleft()
        # Fast path (runs on every event): nothing is stale and nothing may go out yet.
        if now - self._oldest <= rules.expire_s and self._top < rules.urgent_priority and (
            (now - self._last_sent < rules.min_gap_s and not self._jumps_gap(self._top))
            or (self._top < rules.important_priority and len(window) >= rules.max_per_window)
        ):
            return
        fresh = [o for o in self._pending if now - o.offered_at <= rules.expire_s]
        for _ in range(len(self._pending) - len(fresh)):
            self._drop("expired")
        self._pending = fresh
        try:
            self._release(now, out, window)
        finally:
            self._summarise()

    def _jumps_gap(self, priority: int) -> bool:
        """An important prompt does not wait out a gap a routine prompt started."""
        rules = self._rules
        return (
            priority >= rules.important_priority
            and self._last_priority < rules.important_priority
        )

    def _rank(self, offer: _Offer, now: float) -> tuple[float, int]:
        """Priority with ageing (routine prompts never age past the important ones),
        then first come, first served."""
        rank = float(offer.priority)
        ceiling = self._rules.important_priority - 0.5
        if rank < ceiling:
            rank = min(ceiling, rank + (now - offer.offered_at) / AGE_STEP_S)
        return rank, -offer.seq

    def _release(self, now: float, out: Outbox, window: deque[float]) -> None:
        rules = self._rules
        while self._pending:
            best = max(self._pending, key=lambda o: self._rank(o, now))
            urgent = best.priority >= rules.urgent_priority
            capped = best.priority < rules.important_priority
            gap_over = now - self._last_sent >= rules.min_gap_s or self._jumps_gap(best.priority)
            allowed = gap_over and (not capped or len(window) < rules.max_per_window)
            if not (urgent or allowed):
                return
            self._pending.remove(best)
            self._publish(best, now, out)
            if not urgent:
                self._last_sent = now
                self._last_priority = best.priority
                window.append(now)

    def _publish(self, offer: _Offer, now: float, out: Outbox) -> None:
        self._ids += 1
        prompt = Prompt(
            id=f"{self._stream}:prompt:{self._ids}",
            stream=self._stream,
            source=self._source,
            at=now,
            text=str(offer.text),
            priority=offer.priority,
            alarm_id=offer.alarm_id,
            expires_at=now + self._rules.expire_s,
            code=offer.text.code if isinstance(offer.text, Phrase) else None,
            params=wire_params(offer.text.params) if isinstance(offer.text, Phrase) else {},
        )
        self._shown[prompt.id] = (prompt, offer.kind)
        if len(self._shown) > self._shown_cap:
            self._shown.popitem(last=False)
        out.prompt(prompt)

    def withdraw(self, alarm_id: str, now: float, out: Outbox) -> None:
        """The alarm behind a prompt cleared: drop it from the queue and from the screen."""
        self._pending = [o for o in self._pending if o.alarm_id != alarm_id]
        self._summarise()
        for prompt_id, (prompt, _kind) in list(self._shown.items()):
            if prompt.alarm_id == alarm_id:
                self._close(prompt_id, now, out)

    def clear_alarm(
        self, latch: AlarmLatch, now: float, out: Outbox, message: str | Phrase, *,
        withdraw: bool = True,
    ) -> None:
        """Clear ``latch`` if raised: publish the clear and (usually) withdraw its prompt."""
        alarm_id = latch.active
        cleared = latch.clear(now, message)
        if cleared is not None and alarm_id is not None:
            out.alarm(cleared)
            if withdraw:
                self.withdraw(alarm_id, now, out)

    def command(self, action: str, prompt_id: str, now: float, out: Outbox) -> bool:
        """Apply ``ack_prompt`` / ``dismiss_prompt``; return False for an unknown prompt."""
        entry = self._shown.get(prompt_id)
        if entry is None:
            log.debug("stream %s: %s for unknown prompt %s", self._stream, action, prompt_id)
            return False
        if action == DISMISS:
            self._muted[entry[1]] = now + self._rules.mute_after_dismiss_s
        self._close(prompt_id, now, out)
        return True

    def open_prompts(self, now: float) -> list[Prompt]:
        """Prompts on screen right now (not expired, acknowledged or dismissed)."""
        return [
            p for p, _ in self._shown.values() if p.expires_at is None or p.expires_at > now
        ]

    def cancel(self, key: str) -> bool:
        """Drop a waiting offer with this key (a greeting overtaken by a raid)."""
        for i, waiting in enumerate(self._pending):
            if waiting.key == key:
                del self._pending[i]
                self._summarise()
                return True
        return False

    def is_waiting(self, key: str) -> bool:
        """Whether an offer with this key is still in the queue (not yet shown)."""
        return any(o.key == key for o in self._pending)

    @property
    def rules(self) -> PromptRules:
        return self._rules

    @rules.setter
    def rules(self, rules: PromptRules) -> None:
        """New limits (a rules reload) apply from the next offer or release."""
        self._rules = rules

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _close(self, prompt_id: str, now: float, out: Outbox) -> None:
        prompt, _kind = self._shown.pop(prompt_id)
        if prompt.expires_at is not None and prompt.expires_at <= now:
            return
        out.prompt(prompt.model_copy(update={"expires_at": now}))

    def _drop(self, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop(reason)
