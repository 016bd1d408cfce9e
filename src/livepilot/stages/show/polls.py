"""Chat polls and giveaways, driven by console commands.

A **poll** counts chat messages that are nothing but a vote: ``!1``, ``1``, ``#2``, an
option's name or one of its keywords. Each user has one vote; voting again moves the
vote (the latest counts), repeating it changes nothing, and a vote whose message the
platform deletes is withdrawn. Messages other stages flagged (``toxic``, ``spam``) do not
vote.

A **giveaway** collects users who typed its keyword and draws a winner uniformly at random
among the eligible ones: users flagged toxic or spam during the stream, or struck or
banned by a moderator, are excluded, and so are earlier winners on a re-draw. The random
source is injected (``random.SystemRandom`` by default; tests pass a seeded
``random.Random``), and entries are drawn from a sorted list so a seed gives the same
winner on every run.

Commands (``CommandEvent.action``): ``poll_start`` (args: ``question``, ``options``,
optional ``keywords``; or ``segment`` to run the poll prepared in the run-of-show),
``poll_close``, ``giveaway_start`` (args: ``keyword``, optional ``title``),
``giveaway_draw`` (a second draw picks another winner), and ``ack_prompt`` /
``dismiss_prompt`` for the result prompts. Poll and giveaway are published as alarms of
kind ``poll`` / ``giveaway``: raised on start, cleared with the result.

For overlays and the console they are also published as :class:`~livepilot.insights.Tally`
messages (counts, never who voted or entered): on start, at once when a poll closes or a
winner is drawn, and in between whenever the counts changed — at most every
``TALLY_INTERVAL`` seconds of stream time, so a burst of votes costs one message, not one
per vote. While open, a tally is repeated every ``TALLY_REFRESH`` seconds even without
change: overlays get no history, and one that (re)connects mid-poll shows it soon.
"""

from __future__ import annotations

import logging
import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from livepilot.commands import PollPlan, vote_key
from livepilot.events import ChatEvent, CommandEvent, DeleteEvent, LiveEvent, User
from livepilot.insights import Prompt, Severity, Tally, TallyOption
from livepilot.pipeline.alarm import AlarmLatch, publish
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.show.prompts import ACK, DISMISS, phrase
from livepilot.stages.show.run_of_show import RunOfShow, load_run_of_show
from livepilot.texts import Phrase, say, wire_params

if TYPE_CHECKING:
    from livepilot.pipeline.context import StageContext

__all__ = [
    "TALLY_INTERVAL",
    "TALLY_REFRESH",
    "Giveaway",
    "Poll",
    "PollsStage",
    "build",
    "parse_vote",
]

log = logging.getLogger(__name__)

#: Labels that make a user ineligible for giveaways (and a message not count as a vote).
FLAG_LABELS = frozenset({"toxic", "spam"})
#: Moderator actions that make the target user ineligible.
FLAG_ACTIONS = frozenset({"strike", "ban", "timeout", "block"})
#: Seconds of stream time between two tallies while counts change (a burst → one update).
TALLY_INTERVAL = 0.5
#: Seconds of stream time after which an open poll's or giveaway's tally is sent again.
TALLY_REFRESH = 5.0

_NUMBER_VOTE = re.compile(r"^[!#]?\s*(\d{1,2})\s*[!.]*$")
_WORD = re.compile(r"\w+")
#: Why an open giveaway's alarm clears when another one starts.
_REPLACED = say("alarm_text.giveaway_replaced", "replaced by a new giveaway")


def parse_vote(plan: PollPlan, text: str) -> int | None:
    """The 0-based option a message votes for, or None if it is not (only) a vote."""
    stripped = text.strip()
    number = _NUMBER_VOTE.match(stripped)
    if number:
        index = int(number.group(1)) - 1
        return index if 0 <= index < len(plan.options) else None
    said = vote_key(stripped)
    if not said:
        return None
    for index, option in enumerate(plan.options):
        if said == vote_key(option):
            return index
        if any(said == vote_key(word) for word in plan.keywords.get(option, ())):
            return index
    return None


@dataclass(slots=True)
class Poll:
    """One running (or closed) poll: one vote per user, the latest one counts."""

    id: str
    plan: PollPlan
    started_at: float
    open: bool = True
    max_voters: int = 200_000
    #: user id → (option index, id of the message that cast it)
    votes: dict[str, tuple[int, str]] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.plan.options)

    def vote(self, user_id: str, option: int, event_id: str) -> str:
        """Cast or move a vote; returns ``new``, ``changed``, ``same`` or ``closed``/``full``."""
        if not self.open:
            return "closed"
        previous = self.votes.get(user_id)
        if previous is not None and previous[0] == option:
            return "same"
        if previous is None and len(self.votes) >= self.max_voters:
            return "full"
        if previous is not None:
            self.counts[previous[0]] -= 1
        self.votes[user_id] = (option, event_id)
        self.counts[option] += 1
        return "new" if previous is None else "changed"

    def retract(self, event_id: str) -> bool:
        """Withdraw the vote cast by message ``event_id`` if it is still that user's vote."""
        if not self.open:
            return False
        for user_id, (option, cast_by) in self.votes.items():
            if cast_by == event_id:
                del self.votes[user_id]
                self.counts[option] -= 1
                return True
        return False

    def results(self) -> list[dict[str, Any]]:
        total = sum(self.counts)
        return [
            {"option": option, "votes": count, "share": (count / total) if total else 0.0}
            for option, count in zip(self.plan.options, self.counts, strict=True)
        ]

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.plan.question,
            "open": self.open,
            "voters": len(self.votes),
            "results": self.results(),
        }


@dataclass(slots=True)
class Giveaway:
    """Users who typed ``keyword``; a winner is drawn uniformly among the eligible."""

    id: str
    keyword: str
    title: str
    started_at: float
    open: bool = True
    max_entries: int = 200_000
    #: user id → @handle, in order of entry
    entries: dict[str, str] = field(default_factory=dict)
    winners: list[str] = field(default_factory=list)

    def matches(self, text: str) -> bool:
        key = self.keyword.casefold()
        folded = text.casefold()
        if _WORD.fullmatch(key):
            return key in _WORD.findall(folded)
        return key in folded

    def enter(self, user: User) -> bool:
        if not self.open or user.id in self.entries or len(self.entries) >= self.max_entries:
            return False
        self.entries[user.id] = user.unique_id
        return True

    def eligible(self, flagged: OrderedDict[str, None] | set[str]) -> list[str]:
        """Sorted ids of users who may win (so a seeded draw is reproducible)."""
        return sorted(
            uid for uid in self.entries if uid not in flagged and uid not in self.winners
        )

    def eligible_count(self, flagged: OrderedDict[str, None] | set[str]) -> int:
        """How many entrants may win (:meth:`eligible` without sorting, for live tallies)."""
        won = set(self.winners)
        return sum(1 for uid in self.entries if uid not in flagged and uid not in won)

    def draw(self, rng: random.Random, flagged: OrderedDict[str, None] | set[str]) -> str | None:
        pool = self.eligible(flagged)
        if not pool:
            return None
        winner = rng.choice(pool)
        self.winners.append(winner)
        self.open = False
        return winner

    def snapshot(self, flagged: OrderedDict[str, None] | set[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "keyword": self.keyword,
            "title": self.title,
            "open": self.open,
            "entries": len(self.entries),
            "eligible": len(self.eligible(flagged)),
            "winners": [self.entries[w] for w in self.winners],
        }


class PollsStage:
    """Runs the stream's poll and giveaway from console commands and chat."""

    name = "polls"

    def __init__(
        self,
        stream: str,
        *,
        language: str = "de",
        plan: RunOfShow | None = None,
        plan_source: HotReload[RunOfShow] | None = None,
        rng: random.Random | None = None,
        flagged_cap: int = 100_000,
    ) -> None:
        self._stream = stream
        self._language = language
        self._plan_source = plan_source
        self._plan = plan_source.current if plan_source is not None else plan
        self._rng = rng if rng is not None else random.SystemRandom()
        # Flagged users, insertion-ordered so the oldest can be forgotten past the cap.
        self._flagged: OrderedDict[str, None] = OrderedDict()
        self._flagged_cap = flagged_cap
        self.poll: Poll | None = None
        self.giveaway: Giveaway | None = None
        # Raised while the poll / giveaway is open; its alarm id is the poll's id.
        self._poll_alarm = AlarmLatch(stream, "poll", self.name, severity=Severity.INFO)
        self._giveaway_alarm = AlarmLatch(stream, "giveaway", self.name, severity=Severity.INFO)
        self._prompts = 0
        self._shown: OrderedDict[str, Prompt] = OrderedDict()
        # Tallies: which of "poll" / "giveaway" changed since its last tally, and when
        # (stream time) each was last sent.
        self._changed: set[str] = set()
        self._tallied_at: dict[str, float] = {}

    # -- events ---------------------------------------------------------------------

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, ChatEvent):
            self._chat(event, draft)
        elif isinstance(event, DeleteEvent):
            if self.poll is not None and self.poll.retract(event.target):
                self._changed.add("poll")
        elif isinstance(event, CommandEvent):
            self._command(event, draft)
        if self._changed:
            self._send_changed(draft.now, draft.out)

    def tick(self, now: float, out: Outbox) -> None:
        if self._plan_source is not None and self._plan_source.poll(now, out):
            self._plan = self._plan_source.current
        if self._changed:
            self._send_changed(now, out)
        for kind, running in (("poll", self.poll), ("giveaway", self.giveaway)):
            if (running is not None and running.open
                    and now - self._tallied_at.get(kind, now) >= TALLY_REFRESH):
                self._send_tally(kind, now, out)

    def _chat(self, event: ChatEvent, draft: Draft) -> None:
        if any(label.name in FLAG_LABELS for label in draft.labels):
            self._flag(event.user.id)
            return
        poll = self.poll
        if poll is not None and poll.open:
            option = parse_vote(poll.plan, event.text)
            if option is not None:
                result = poll.vote(event.user.id, option, event.id)
                if result in ("new", "changed", "same"):
                    draft.label("vote", self.name, kind=str(option + 1))
                if result in ("new", "changed"):
                    self._changed.add("poll")
        giveaway = self.giveaway
        if giveaway is not None and giveaway.open and giveaway.matches(event.text):
            if giveaway.enter(event.user):
                self._changed.add("giveaway")
            draft.label("giveaway_entry", self.name)

    def _flag(self, user_id: str) -> None:
        self._flagged[user_id] = None
        self._flagged.move_to_end(user_id)
        if len(self._flagged) > self._flagged_cap:
            self._flagged.popitem(last=False)
        if self.giveaway is not None and user_id in self.giveaway.entries:
            self._changed.add("giveaway")  # fewer eligible, or a winner leaves the tally

    # -- commands -------------------------------------------------------------------

    def _command(self, cmd: CommandEvent, draft: Draft) -> None:
        now = draft.now
        out = draft.out
        if cmd.action in FLAG_ACTIONS and cmd.target:
            self._flag(cmd.target)
        elif cmd.action in (ACK, DISMISS):
            shown = self._shown.pop(cmd.target, None)
            if shown is not None and (shown.expires_at is None or shown.expires_at > now):
                out.prompt(shown.model_copy(update={"expires_at": now}))
        elif cmd.action == "poll_start":
            self._start_poll(cmd, now, out)
        elif cmd.action == "poll_close":
            self._close_poll(now, out)
        elif cmd.action == "giveaway_start":
            self._start_giveaway(cmd, now, out)
        elif cmd.action == "giveaway_draw":
            self._draw(now, out)

    def _start_poll(self, cmd: CommandEvent, now: float, out: Outbox) -> None:
        plan = self._poll_plan(cmd)
        if plan is None:
            return
        self._close_poll(now, out)
        poll = Poll(self._poll_alarm.next_id, plan, now)
        self.poll = poll
        publish(out, self._poll_alarm.raise_(now, plan.question, poll.snapshot()))
        self._send_tally("poll", now, out)

    def _poll_plan(self, cmd: CommandEvent) -> PollPlan | None:
        args = cmd.args
        if "segment" in args:
            if self._plan is None:
                log.warning("stream %s: poll_start for segment %r but no run-of-show is loaded",
                            self._stream, args["segment"])
                return None
            segment = self._plan.find(str(args["segment"]))
            if segment is None or segment.poll is None:
                log.warning("stream %s: poll_start: segment %r has no prepared poll",
                            self._stream, args["segment"])
                return None
            return segment.poll
        try:
            return PollPlan.model_validate(args)
        except ValidationError as exc:
            log.warning("stream %s: poll_start by %s rejected: %s", self._stream, cmd.by, exc)
            return None

    def _close_poll(self, now: float, out: Outbox) -> None:
        poll = self.poll
        if poll is None or not poll.open:
            return
        poll.open = False
        results = ", ".join(
            f"{r['option']} {r['votes']} ({r['share'] * 100:.0f} %)" for r in poll.results()
        )
        publish(out, self._poll_alarm.clear(now, results, poll.snapshot()))
        self._send_tally("poll", now, out)
        text = phrase(self._language, "poll_result", question=poll.plan.question,
                      results=results)
        out.prompt(self._prompt(poll.id, now, text))

    def _start_giveaway(self, cmd: CommandEvent, now: float, out: Outbox) -> None:
        keyword = str(cmd.args.get("keyword", "")).strip()
        if not keyword:
            log.warning("stream %s: giveaway_start by %s without a keyword", self._stream, cmd.by)
            return
        previous = self.giveaway
        if previous is not None and previous.open:
            previous.open = False
            publish(out, self._giveaway_alarm.clear(now, _REPLACED,
                                                    previous.snapshot(self._flagged)))
            self._send_tally("giveaway", now, out)
        giveaway = Giveaway(self._giveaway_alarm.next_id, keyword,
                            str(cmd.args.get("title", "")), now)
        self.giveaway = giveaway
        publish(out, self._giveaway_alarm.raise_(now, say("alarm_text.giveaway_open",
                                                          f"Giveaway: type {keyword!r}",
                                                          keyword=keyword),
                                                 giveaway.snapshot(self._flagged)))
        self._send_tally("giveaway", now, out)

    def _draw(self, now: float, out: Outbox) -> None:
        giveaway = self.giveaway
        if giveaway is None:
            return
        was_open = giveaway.open
        winner = giveaway.draw(self._rng, self._flagged)
        if winner is None:
            log.info("stream %s: giveaway %s has no eligible entries", self._stream, giveaway.id)
            return
        handle = giveaway.entries[winner]
        snapshot = giveaway.snapshot(self._flagged)
        if was_open:
            publish(out, self._giveaway_alarm.clear(
                now, say("alarm_text.giveaway_winner", f"winner @{handle}", user=handle), snapshot))
        text = phrase(self._language, "giveaway_winner", user=handle,
                      entries=len(giveaway.entries))
        out.prompt(self._prompt(giveaway.id, now, text))
        self._send_tally("giveaway", now, out)

    # -- output ---------------------------------------------------------------------

    def _send_changed(self, now: float, out: Outbox) -> None:
        for kind in sorted(self._changed):
            if now - self._tallied_at.get(kind, -TALLY_INTERVAL) >= TALLY_INTERVAL:
                self._send_tally(kind, now, out)

    def _send_tally(self, kind: str, now: float, out: Outbox) -> None:
        tally = self._tally(kind, now)
        self._changed.discard(kind)
        if tally is not None:
            out.tally(tally)
            self._tallied_at[kind] = now

    def _tally(self, kind: str, now: float) -> Tally | None:
        poll, giveaway = self.poll, self.giveaway
        if kind == "poll" and poll is not None:
            return Tally(
                id=poll.id, stream=self._stream, source=self.name, at=now, kind="poll",
                open=poll.open, title=poll.plan.question, voters=len(poll.votes),
                options=tuple(TallyOption(option=r["option"], votes=r["votes"], share=r["share"])
                              for r in poll.results()),
            )
        if kind == "giveaway" and giveaway is not None:
            flagged = self._flagged
            return Tally(
                id=giveaway.id, stream=self._stream, source=self.name, at=now, kind="giveaway",
                open=giveaway.open, title=giveaway.title, keyword=giveaway.keyword,
                entries=len(giveaway.entries), eligible=giveaway.eligible_count(flagged),
                # Overlays are on stream: a winner flagged after the draw is not named there.
                winners=tuple(giveaway.entries[w] for w in giveaway.winners if w not in flagged),
            )
        return None

    def _prompt(self, alarm_id: str, now: float, text: Phrase) -> Prompt:
        self._prompts += 1
        prompt = Prompt(id=f"{self._stream}:prompt:{self._prompts}", stream=self._stream,
                        source=self.name, at=now, text=text.text, alarm_id=alarm_id,
                        expires_at=now + 60.0, code=text.code, params=wire_params(text.params))
        # Kept for ack/dismiss from the console (a handful at most).
        self._shown[prompt.id] = prompt
        if len(self._shown) > 20:
            self._shown.popitem(last=False)
        return prompt

    def snapshot(self) -> dict[str, Any]:
        """The current poll and giveaway, for the API and overlays."""
        return {
            "poll": self.poll.snapshot() if self.poll else None,
            "giveaway": self.giveaway.snapshot(self._flagged) if self.giveaway else None,
        }

    def is_flagged(self, user_id: str) -> bool:
        return user_id in self._flagged


def build(ctx: StageContext) -> PollsStage:
    settings = ctx.settings
    plan: HotReload[RunOfShow] | None = None
    if settings.run_of_show is not None:
        path = settings.run_of_show
        plan = HotReload([path], lambda: load_run_of_show(path), stream=ctx.stream,
                         source="polls")
    seed = settings.giveaway_seed
    rng = random.Random(seed) if seed is not None else None
    return PollsStage(ctx.stream, language=settings.host_language, plan_source=plan, rng=rng)
