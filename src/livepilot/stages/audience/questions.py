"""The questions stage: questions, leads and complaints that must not scroll past.

Messages the intent stage labelled ``lead``, ``question`` or ``feedback_negative`` (and
every question from the platform's own Q&A) enter one :class:`~livepilot.pipeline.
question_queue.QuestionQueue` per stream, which merges near-duplicates from different
viewers into one item ("7 people asked: Was kostet das?").

Moderators drive the items' lifecycle with commands (``CommandEvent`` with ``action``
``claim``, ``answer`` or ``dismiss``, ``target`` the item id, ``by`` the moderator); the
time from the first ask to "answered" is the response-time KPI, per stream and per
moderator.

Each queued message's insight carries the label ``queued`` (kind = item id, score =
askers) and, when the knowledge base has one, the suggested answer with its confidence.
When enough people ask the same thing, the host gets a prompt. :meth:`QuestionsStage.
snapshot` is the queue's state for the console and API.

After a restart of the same stream, :meth:`QuestionsStage.restore` puts back what the
store kept: the items with their state, who claimed and who answered them, and the
response times.

A toxic, spam or tech-issue message stays out of the queue. The model's verdict often
comes later, as an updated insight: :meth:`QuestionsStage.revise` then withdraws the
message from its item (the item goes when it was its only ask), corrects or withdraws the
host prompt it helped cause, and takes this stage's labels, reasons and FAQ answer off the
update, so the final insight is the one a message judged at once gets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livepilot.events import ChatEvent, CommandEvent, LiveEvent, QuestionEvent
from livepilot.insights import Insight, Label, Prompt
from livepilot.leads import Lead, LeadBook, LeadPolicy
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.audience import intent
from livepilot.stages.audience.faq import KnowledgeBase, load_faq
from livepilot.stages.audience.intent_classifier import IntentClassifier
from livepilot.stages.audience.intent_rules import IntentRules, load_intent_rules
from livepilot.stages.audience.question_queue import (
    PastItem,
    QuestionQueue,
    QueueError,
    QueueItem,
    ResponseTimes,
)
from livepilot.texts import Phrase, say, wire_params

if TYPE_CHECKING:
    from livepilot.metrics import Metrics
    from livepilot.pipeline.context import StageContext

__all__ = [
    "COMMANDS",
    "QuestionsStage",
    "build",
]

log = logging.getLogger(__name__)

#: Moderator actions this stage applies.
COMMANDS = frozenset({"claim", "answer", "dismiss"})
#: Queue item ids: ``q1``, ``q2`` … per stream.
_ITEM_ID = re.compile(r"^q\d+$")
#: Labels that keep a message out of the queue, whenever they arrive.
_KEEP_OUT = frozenset({"toxic", "spam", "tech_issue"})

#: The host prompt per lead kind, when ``{n}`` people asked about it (code
#: ``prompt.lead_<kind>``; ``prompt.lead_other`` names a kind it does not know).
_LEAD_PROMPTS: dict[str, dict[str, str]] = {
    "de": {
        "price": "{n} Leute fragen nach dem Preis",
        "availability": "{n} Leute fragen nach Größen, Farben oder ob es noch da ist",
        "shipping": "{n} Leute fragen nach dem Versand",
        "how_to_order": "{n} Leute fragen, wie sie bestellen können",
        "link": "{n} Leute fragen nach dem Link",
        "discount": "{n} Leute fragen nach einem Rabattcode",
        "bulk": "{n} Leute fragen nach Großbestellungen",
        "collab": "{n} Leute fragen nach einer Kooperation",
        "purchase": "{n} Leute wollen kaufen — sag kurz, wie und wo man bestellt",
        "product": "{n} Leute fragen nach Material und Details zum Produkt",
        "other": "{n} Leute fragen nach {topic}",
    },
    "en": {
        "price": "{n} people asked about the price",
        "availability": "{n} people asked about sizes, colours or stock",
        "shipping": "{n} people asked about shipping",
        "how_to_order": "{n} people asked how to order",
        "link": "{n} people asked for the link",
        "discount": "{n} people asked for a discount code",
        "bulk": "{n} people asked about bulk orders",
        "collab": "{n} people asked about working together",
        "purchase": "{n} people want to buy — say how and where to order",
        "product": "{n} people asked about materials and product details",
        "other": "{n} people asked about {topic}",
    },
}


class QuestionsStage:
    """The question queue as a pipeline stage: fills it, applies commands, prompts."""

    name = "questions"

    def __init__(
        self,
        stream: str,
        queue: QuestionQueue,
        *,
        faq: HotReload[KnowledgeBase] | KnowledgeBase | None = None,
        intents: HotReload[tuple[IntentRules, IntentClassifier]] | None = None,
        leads: LeadBook | None = None,
        metrics: Metrics | None = None,
        prompt_after: int = 3,
        prompt_cooldown: float = 300.0,
        prompt_gap: float = 30.0,
        language: str = "de",
    ) -> None:
        self.stream = stream
        self.queue = queue
        self._faq = faq
        #: The intent rules the queue's synonym groups come from, followed silently (the
        #: intent stage reports a broken file).
        self._intents = intents
        self.leads = leads if leads is not None else LeadBook(LeadPolicy())
        self.responses = ResponseTimes()
        self._metrics = metrics
        self._prompt_after = prompt_after
        self._prompt_cooldown = prompt_cooldown
        self._prompt_gap = prompt_gap
        self._last_prompt = float("-inf")
        self._language = language if language in _LEAD_PROMPTS else "en"
        #: Per prompted topic: when, for how many askers, and the prompt (to correct it).
        self._prompted: dict[str, tuple[float, int, Prompt]] = {}
        self._seq = 0

    @property
    def knowledge_base(self) -> KnowledgeBase | None:
        faq = self._faq
        return faq.current if isinstance(faq, HotReload) else faq

    # -- events -------------------------------------------------------------------------

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, CommandEvent):
            if event.action in COMMANDS and _ITEM_ID.match(event.target):
                self._command(event, draft)
            return
        if not isinstance(event, ChatEvent | QuestionEvent):
            return
        # A toxic question keeps its labels (the moderators see it flagged, as a
        # question) but stays out of the queue, whose items reach the host's prompts and
        # the on-screen spotlight.
        if _keeps_out(draft.labels):
            return
        label, kind = self._pick(draft, native=isinstance(event, QuestionEvent))
        if label is None:
            return
        suggestion = None
        kb = self.knowledge_base
        if kb is not None and label != "feedback_negative":
            suggestion = kb.match(event.text)
        added = self.queue.add(
            label=label, kind=kind, text=event.text, user_id=event.user.id,
            handle=event.user.unique_id, event_id=event.id, at=draft.now,
            native=isinstance(event, QuestionEvent), suggestion=suggestion,
        )
        item = added.item
        draft.label("queued", self.name, kind=item.id, score=float(item.count))
        best = suggestion or item.suggestion
        if best is not None:
            draft.answer = best.answer
            draft.scores["faq"] = best.confidence
            draft.reason(self.name, say("reason.faq", f"FAQ {best.entry!r} ({best.confidence:.2f})",
                                        entry=best.entry, score=f"{best.confidence:.2f}"))
        if added.merged and item.count > 1:
            draft.reason(self.name, say("reason.asked", f"{item.count} people asked: {item.text}",
                                        n=item.count, text=item.text))
        if label == "lead" and kind is not None:
            self.leads.add(Lead(event.id, event.stream, draft.now, kind, event.user.id,
                                event.user.unique_id, event.text, item.id))
        if added.evicted is not None:
            self._outcome("evicted")
        self._maybe_prompt(item, draft.now, draft.out)
        self._gauges()

    @staticmethod
    def _pick(draft: Draft, native: bool) -> tuple[str | None, str | None]:
        lead = next((lb for lb in draft.labels if lb.name == "lead"), None)
        if lead is not None:
            return "lead", lead.kind
        if native or draft.has("question"):
            return "question", None
        if draft.has("feedback_negative"):
            return "feedback_negative", None
        return None, None

    def _command(self, event: CommandEvent, draft: Draft) -> None:
        queue, now, by = self.queue, draft.now, event.by
        try:
            if event.action == "claim":
                item = queue.claim(event.target, by, now)
                draft.reason(self.name, say("reason.claimed", f"{item.id} claimed by {by}",
                                            id=item.id, by=by))
            elif event.action == "answer":
                reply = event.args.get("text")
                text = reply if isinstance(reply, str) else None
                item = queue.answer(event.target, by, now, text)
                seconds = item.response_seconds or 0.0
                self.responses.record(by, seconds)
                if self._metrics is not None:
                    self._metrics.question_response.labels(self.stream, by).observe(seconds)
                self._outcome("answered")
                draft.reason(self.name, say(
                    "reason.answered", f"{item.id} answered by {by} after {seconds:.0f} s",
                    id=item.id, by=by, s=round(seconds)))
            else:
                item = queue.dismiss(event.target, by, now)
                self._outcome("dismissed")
                draft.reason(self.name, say("reason.dismissed", f"{item.id} dismissed by {by}",
                                            id=item.id, by=by))
        except QueueError as exc:
            draft.reason(self.name, say("reason.question_refused", f"{event.action} by {by}: {exc}",
                                        action=event.action, by=by, error=str(exc)))
        else:
            # The command's insight says what changed, so every console (also behind a
            # bus, on another machine) can update its queue: label = new state, kind =
            # item id, score = response seconds for an answer.
            draft.label(str(item.state), self.name, kind=item.id, score=item.response_seconds)
        self._gauges()

    def restore(self, items: list[PastItem]) -> int:
        """The queue as it was before a restart (call before the first event): items
        with their state, and each answer's response time for the KPI. How many came
        back."""
        restored = self.queue.restore(items)
        for item in restored:
            seconds = item.response_seconds
            if seconds is not None and item.closed_by:
                self.responses.record(item.closed_by, seconds)
        self._gauges()
        if restored:
            log.info("stream %s: %d question item(s) restored", self.stream, len(restored))
        return len(restored)

    # -- late verdicts -----------------------------------------------------------------

    def revise(self, insight: Insight, now: float, out: Outbox) -> Insight:
        """A late update that keeps its message out of the queue (the model found it
        toxic): the message leaves its item, and the update loses what this stage added."""
        name = self.name
        if not _keeps_out(insight.labels) or not any(
            lb.source == name for lb in insight.labels
        ):
            return insight
        withdrawn = self.queue.withdraw(insight.event_id)
        if withdrawn is not None:
            item = withdrawn.item
            if withdrawn.dropped:
                self._outcome("withdrawn")
            self._correct_prompt(item, withdrawn.dropped, now, out)
            self._gauges()
        scores = insight.scores
        faq = "faq" in scores
        return insight.model_copy(update={
            "labels": tuple(lb for lb in insight.labels if lb.source != name),
            "reasons": tuple(r for r in insight.reasons if r.source != name),
            # Only this stage answers, and only with a FAQ match.
            "answer": None if faq else insight.answer,
            "scores": {k: v for k, v in scores.items() if k != "faq"} if faq else scores,
        })

    def _correct_prompt(self, item: QueueItem, dropped: bool, now: float, out: Outbox) -> None:
        """The host's prompt about ``item`` as it stands without the withdrawn ask: while
        shown, it is withdrawn (too few ask now) or, when its count or text no longer
        holds, republished with the same id (which replaces it)."""
        key, n = self._subject(item)
        if key is None:
            return
        if dropped and item.label == "question":
            n = 0
        entry = self._prompted.get(key)
        if entry is None:
            return
        at, told, prompt = entry
        if prompt.expires_at is not None and prompt.expires_at <= now:
            return
        if n < self._prompt_after:
            # As if never prompted: the topic may reach the host again with real askers.
            del self._prompted[key]
            out.prompt(prompt.model_copy(update={"expires_at": now}))
            return
        # Corrected down (never up: the host heard of it once) and to the item's text.
        n = min(n, told)
        said = self._prompt_text(item, n)
        if said.text == prompt.text:
            return
        fixed = prompt.model_copy(
            update={"text": said.text, "params": wire_params(said.params)}
        )
        self._prompted[key] = (at, n, fixed)
        out.prompt(fixed)

    # -- prompts ------------------------------------------------------------------------

    def _subject(self, item: QueueItem) -> tuple[str | None, int]:
        """The prompt key an item counts towards, and how many ask about it."""
        if item.label == "lead":
            return f"lead:{item.kind}", self.queue.askers("lead", item.kind)
        if item.label == "question":
            return item.id, item.count
        return None, 0

    def _maybe_prompt(self, item: QueueItem, now: float, out: Outbox) -> None:
        key, n = self._subject(item)
        if key is None:
            return
        if n < self._prompt_after:
            return
        # The host hears about a topic again only after the cool-down and once twice as
        # many asked; and about any question at most once per gap.
        last = self._prompted.get(key)
        if last is not None and (now - last[0] < self._prompt_cooldown or n < 2 * last[1]):
            return
        if now - self._last_prompt < self._prompt_gap:
            return
        self._last_prompt = now
        self._seq += 1
        said = self._prompt_text(item, n)
        prompt = Prompt(
            id=f"{self.stream}:questions:{key}:{self._seq}",
            stream=self.stream,
            source=self.name,
            at=now,
            text=said.text,
            code=said.code,
            params=wire_params(said.params),
            priority=2,
            expires_at=now + 90,
        )
        self._prompted[key] = (now, n, prompt)
        out.prompt(prompt)

    def _prompt_text(self, item: QueueItem, n: int) -> Phrase:
        de = self._language == "de"
        if item.label == "lead" and item.kind is not None:
            templates = _LEAD_PROMPTS[self._language]
            if item.kind in templates:
                return say(f"prompt.lead_{item.kind}", templates[item.kind].format(n=n), n=n)
            topic = item.kind.replace("_", " ")
            return say("prompt.lead_other", templates["other"].format(n=n, topic=topic),
                       n=n, topic=topic)
        text = item.text if len(item.text) <= 80 else item.text[:79] + "…"
        said = f"{n} Leute fragen: „{text}“" if de else f'{n} people asked: "{text}"'
        return say("prompt.asked", said, n=n, text=text)

    # -- time ---------------------------------------------------------------------------

    def tick(self, now: float, out: Outbox) -> None:
        for _ in self.queue.expire(now):
            self._outcome("expired")
        if isinstance(self._faq, HotReload):
            before = self._faq.error
            if self._faq.poll(now, out):
                self._count_reload("ok")
            elif self._faq.error is not None and self._faq.error != before:
                self._count_reload("invalid")
        if self._intents is not None:
            self._intents.poll(now, Outbox())
        self.leads.purge(now)
        # Forget prompts whose subject left the queue (bounded by the queue's size).
        for key in list(self._prompted):
            if key.startswith("lead:"):
                alive = self.queue.askers("lead", key[5:]) > 0
            else:
                alive = self.queue.is_active(key)
            if not alive:
                del self._prompted[key]
        self._gauges()

    def _count_reload(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.faq_reloads.labels(result).inc()

    # -- reading ------------------------------------------------------------------------

    def snapshot(self, closed: bool = True) -> list[dict[str, Any]]:
        """The queue for the console/API: active items first, then recently closed."""
        return self.queue.snapshot(closed)

    def kpi(self) -> dict[str, Any]:
        """Response times (stream and per moderator) and the queue's size."""
        out = self.responses.kpi()
        out["queue"] = self.queue.counts()
        return out

    def _outcome(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.question_items.labels(self.stream, outcome).inc()

    def _gauges(self) -> None:
        if self._metrics is None:
            return
        for state, n in self.queue.counts().items():
            self._metrics.question_queue.labels(self.stream, state).set(n)


def _keeps_out(labels: Sequence[Label]) -> bool:
    return any(label.name in _KEEP_OUT for label in labels)


def faq_path(ctx: StageContext) -> Path | None:
    """``LIVEPILOT_FAQ_FILE``, else ``faq-<stream>.yaml``, else ``faq.yaml``, else none."""
    configured = getattr(ctx.settings, "faq_file", None)
    if configured is not None:
        return Path(configured)
    for name in (f"faq-{ctx.stream}.yaml", "faq.yaml"):
        candidate = ctx.rules_dir / name
        if candidate.is_file():
            return candidate
    return None


def build(ctx: StageContext) -> QuestionsStage:
    settings = ctx.settings
    intents_path = intent.rules_path(ctx)
    intents = HotReload(
        [intents_path], lambda: load_intent_rules(intents_path), stream=ctx.stream,
        source="questions",
    )
    queue = QuestionQueue(
        ctx.stream,
        similarity=settings.question_similarity,
        expiry=settings.question_expiry,
        kind_group=lambda token: intents.current[1].lead_group(token),
    )
    path = faq_path(ctx)
    faq: HotReload[KnowledgeBase] | None = None
    if path is not None:
        faq_file = path
        faq = HotReload([faq_file], lambda: load_faq(faq_file), stream=ctx.stream, source="faq")
        log.info("knowledge base %s: %d entries, tone %s", path, len(faq.current),
                 faq.current.tone)
    return QuestionsStage(
        ctx.stream,
        queue,
        faq=faq,
        intents=intents,
        leads=LeadBook(LeadPolicy.from_settings(settings)),
        metrics=ctx.metrics,
        prompt_after=settings.question_prompt_after,
        language=getattr(settings, "host_language", "de"),
    )
