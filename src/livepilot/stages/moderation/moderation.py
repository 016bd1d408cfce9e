"""Moderation state: a strike score per user that decays, and the action it recommends.

Each flagged message adds points to its author's score (``rules/moderation.yaml``: points
per label, e.g. ``toxic/threat: 2``); the score halves every ``half_life_minutes`` without
a new hit. The highest ladder step the score reaches is the *recommended* action — note →
hide from overlays → timeout in the TikTok app → block — shown to moderators with the
reason (``@anna: strike score 3.4 (3 hits in 10 min) → timeout in the TikTok app``). TikTok
cannot be moderated through an API, so livepilot recommends and hides from its own
outputs; from ``hide_from`` up, every message of that user is hidden until the score has
decayed below that step.

This stage runs after the word filter, spam and toxicity stages and reads their labels.
It also applies moderators' commands (every command reaches every stage): ``strike``
(``args.points``, default 1), ``pardon`` (score back to zero, unblocked), ``block`` /
``ban`` (hide all of the user's messages, locally) and ``unblock`` / ``unban``; ``target``
is the user id. State is bounded: an LRU cap on users, and users whose score has decayed
to nothing are forgotten on tick.

It also owns every chat message's moderation state (visible, held, hidden) and the review
queue (:mod:`livepilot.stages.moderation.message_state`): the commands ``hide``,
``approve``, ``unhide`` and ``hold`` (``target`` is the event id) are published back as
:class:`~livepilot.insights.ModerationDecision` messages, as are the holds earlier stages
ask for on earlier messages (``Draft.holds``: the first messages of a raid wave, once the
spam stage recognises it), and every late insight update
(the model's verdict) passes through :meth:`ModerationStage.revise`, so a moderator's
decision on a message is final. ``pin`` / ``unpin`` put a visible message on the on-screen
spotlight (or take it off) and are published back as a ``pin`` event; a held or hidden
message is never pinned.

:meth:`ModerationStage.recall` hands the stage what a :class:`~livepilot.stages.moderation.
strike_memory.StrikeMemory` (the store) remembers from earlier streams and from before a
restart: scores still decaying, local blocks, and each user's hits so far, so a repeat
offender is named as one ("repeat offender: 5 hits in 3 streams"); every change goes back
to that memory.

:meth:`ModerationStage.user_state` and :meth:`ModerationStage.watch_list` are the read side
the console's user panel shows, :attr:`ModerationStage.messages` the review queue
(through the service's views; the server never imports this module).
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livepilot.events import ChatEvent, CommandEvent, LiveEvent, QuestionEvent
from livepilot.insights import Action, Insight
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import ACTION_ORDER, Draft, Outbox
from livepilot.stages.moderation.message_state import MESSAGE_ACTIONS, MessageStates
from livepilot.stages.moderation.rules import RULES_FILE, StrikeRules, StrikeStep
from livepilot.stages.moderation.strike_memory import RememberedUser, StrikeMemory
from livepilot.texts import Phrase, say
from livepilot.yamlfile import load_model_or_default

if TYPE_CHECKING:
    from pathlib import Path

    from livepilot.pipeline.context import StageContext

__all__ = ["ModerationStage", "build", "load_strike_rules"]

log = logging.getLogger(__name__)

_FORGET_BELOW = 0.05
_SWEEP = 200
_WATCH_LIST = 50
_BLOCK_COMMANDS = frozenset({"block", "ban"})
_UNBLOCK_COMMANDS = frozenset({"unblock", "unban"})

_WHAT = {
    Action.REVIEW: "review",
    Action.NOTE: "note for the moderators",
    Action.HIDE: "hide from overlays",
    Action.TIMEOUT: "timeout in the TikTok app",
    Action.BLOCK: "block in the TikTok app",
}


@dataclass(slots=True)
class _Strikes:
    score: float = 0.0
    at: float = 0.0
    handle: str = ""
    hits: deque[float] = field(default_factory=lambda: deque(maxlen=32))


@dataclass(slots=True)
class _Past:
    """A user's hits over every stream so far; ``here``: one of them in this stream."""

    hits: int = 0
    streams: int = 0
    here: bool = False


class ModerationStage:
    """Strike ladder with decay, the local block list moderators control, and every chat
    message's moderation state."""

    name = "moderation"

    def __init__(self, rules: HotReload[StrikeRules],
                 messages: MessageStates | None = None) -> None:
        self._rules = rules
        self._users: OrderedDict[str, _Strikes] = OrderedDict()
        self._blocked: OrderedDict[str, str] = OrderedDict()
        #: Hits per user across streams (bounded like ``_users``), and where they go.
        self._past: OrderedDict[str, _Past] = OrderedDict()
        self._memory: StrikeMemory | None = None
        #: Each chat message's state and the review queue.
        self.messages = messages if messages is not None else MessageStates()

    @property
    def tracked_users(self) -> int:
        return len(self._users)

    def recall(
        self,
        users: list[RememberedUser],
        memory: StrikeMemory | None,
        now: float,
        *,
        continuing_since: float | None = None,
    ) -> None:
        """Start from what ``memory`` remembered (call before the first event): scores
        that have not decayed away by ``now``, local blocks, and the hits so far. When
        this stream continues one that stopped (a restart), ``continuing_since`` is its
        start: a hit since then was in this stream, not an earlier one."""
        rules = self._rules.current
        for user in users[-rules.max_users:]:
            here = continuing_since is not None and user.at >= continuing_since
            if user.hits:
                self._past[user.user_id] = _Past(user.hits, user.streams, here)
            state = _Strikes(user.score, user.at, user.handle)
            if self._decayed(state, now, rules) >= _FORGET_BELOW:
                self._users[user.user_id] = state
            if user.blocked_by:
                self._blocked[user.user_id] = user.blocked_by
        self._memory = memory
        if users:
            log.info("moderation: recalled %d user(s) with strikes (%d scoring, %d blocked)",
                     len(users), len(self._users), len(self._blocked))

    def score(self, user_id: str, now: float) -> float:
        """The user's strike score at ``now`` (0 for unknown users)."""
        state = self._users.get(user_id)
        return 0.0 if state is None else self._decayed(state, now, self._rules.current)

    @staticmethod
    def _decayed(state: _Strikes, now: float, rules: StrikeRules) -> float:
        elapsed = max(0.0, now - state.at)
        return float(state.score * 0.5 ** (elapsed / (rules.half_life_minutes * 60.0)))

    def user_state(self, user_id: str, now: float) -> dict[str, Any]:
        """One user's moderation state at ``now``, JSON-ready; a user never seen is a clean
        zero state (score 0, no step), not an error.

        ``score`` is decayed to ``now`` and rounded as the reasons show it; ``hits`` counts
        the hits within three half-lives; ``step`` is the ladder action the score reaches
        and ``recommended`` that action in words; ``hidden`` says whether the user's next
        message stays off the overlays (blocked, or at or above ``hide_from``).
        """
        rules = self._rules.current
        state = self._users.get(user_id)
        blocked_by = self._blocked.get(user_id)
        score = 0.0 if state is None else round(self._decayed(state, now, rules), 1)
        step = self._step(score, rules)
        reaches_hide = step is not None and (
            ACTION_ORDER[step.action] >= ACTION_ORDER[rules.hide_from]
        )
        past = self._past.get(user_id)
        if state is None or step is None:
            reason = "no strikes" if score == 0 else f"strike score {score:.1f}, below the ladder"
        else:
            reason = self._describe(state, score, step, now, rules, past).text
        return {
            "user_id": user_id,
            "handle": "" if state is None else state.handle,
            "score": score,
            "hits": 0 if state is None else len(self._recent_hits(state, now, rules)),
            "step": None if step is None else str(step.action),
            "recommended": None if step is None else _WHAT[step.action],
            "reason": reason,
            "hidden": blocked_by is not None or reaches_hide,
            "blocked": blocked_by is not None,
            "blocked_by": blocked_by,
            # Across streams (as remembered by the store): every hit, in how many streams,
            # and whether any came in an earlier stream.
            "total_hits": 0 if past is None else past.hits,
            "streams": 0 if past is None else past.streams,
            "repeat": past is not None and past.streams > (1 if past.here else 0),
        }

    def watch_list(self, now: float, limit: int = _WATCH_LIST) -> list[dict[str, Any]]:
        """The users the moderators should watch: every local block, then the highest
        scores at ``now`` (above zero once rounded), at most ``limit`` in all."""
        rules = self._rules.current
        scored = heapq.nlargest(
            limit,
            ((self._decayed(state, now, rules), user_id) for user_id, state in self._users.items()
             if user_id not in self._blocked),
        )
        blocked = list(reversed(self._blocked))[:limit]  # the latest blocks first
        chosen = blocked + [user_id for score, user_id in scored if round(score, 1) > 0]
        return [self.user_state(user_id, now) for user_id in chosen[:limit]]

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, CommandEvent):
            if event.action in MESSAGE_ACTIONS:
                decision = self.messages.command(event, draft.now)
                if decision is not None:
                    draft.out.decide(decision)
            elif event.action in ("pin", "unpin"):  # the on-screen spotlight
                pin = self.messages.pin(event, draft.now)
                if pin is not None:
                    draft.out.pin(pin)
            else:
                self._command(event, draft.now)
            return
        if not isinstance(event, ChatEvent | QuestionEvent):
            return
        blocked_by = self._blocked.get(event.user.id)
        self._judge(event, draft, blocked_by)
        decision = self.messages.admit(event, draft, blocked_by)
        if decision is not None:
            draft.out.decide(decision)
        for hold in draft.holds:
            decision = self.messages.hold(hold.event_id, event.stream, draft.now, hold.source,
                                          hold.reason)
            if decision is not None:
                draft.out.decide(decision)

    def revise(self, insight: Insight, now: float, out: Outbox) -> Insight:
        """A late verdict made to agree with the message's state (see
        :meth:`MessageStates.revise`)."""
        insight, decision = self.messages.revise(insight, now)
        if decision is not None:
            out.decide(decision)
        return insight

    def _judge(self, event: ChatEvent | QuestionEvent, draft: Draft,
               blocked_by: str | None) -> None:
        rules = self._rules.current
        user = event.user
        if blocked_by is not None:
            draft.hidden = True
            draft.reason(self.name, say("reason.blocked",
                                        f"@{user.unique_id} is blocked by {blocked_by}",
                                        user=user.unique_id, by=blocked_by))
        points = self._points(draft, rules)
        state = self._users.get(user.id)
        if points <= 0 and state is None:
            return
        if state is None:
            state = self._new_state(user.id, rules)
        else:
            self._users.move_to_end(user.id)
        state.handle = user.unique_id
        # Decide on the score as shown (one decimal), so "2.0" never means "below 2".
        score = round(self._add(state, points, draft.now, rules), 1)
        if points > 0:
            self._hit(user.id, state)
        step = self._step(score, rules)
        if step is None:
            return
        hiding = ACTION_ORDER[step.action] >= ACTION_ORDER[rules.hide_from]
        if points > 0:
            draft.recommend(step.action)
            draft.reason(self.name, self._describe(state, score, step, draft.now, rules,
                                                   self._past.get(user.id)))
        elif hiding:
            # A clean message from a user high on the ladder stays off the overlays.
            draft.reason(self.name, say(
                "reason.strike_decay",
                f"@{state.handle}: strike score {score:.1f} — messages hidden from overlays "
                f"until it decays",
                user=state.handle, score=f"{score:.1f}",
            ))
        if hiding:
            draft.hidden = True

    @staticmethod
    def _points(draft: Draft, rules: StrikeRules) -> float:
        best: dict[str, float] = {}
        for label in draft.labels:
            key = f"{label.name}/{label.kind}" if label.kind else label.name
            points = rules.points.get(key, rules.points.get(label.name, 0.0))
            if points > best.get(label.name, 0.0):
                best[label.name] = points
        total = sum(best.values())
        if total and draft.action is Action.REVIEW:
            total *= rules.review_factor
        return total

    def _new_state(self, user_id: str, rules: StrikeRules) -> _Strikes:
        state = _Strikes()
        self._users[user_id] = state
        while len(self._users) > rules.max_users:
            self._users.popitem(last=False)
        return state

    def _add(self, state: _Strikes, points: float, now: float, rules: StrikeRules) -> float:
        score = self._decayed(state, now, rules)
        if points > 0:
            score += points
            state.score, state.at = score, now
            state.hits.append(now)
        return score

    @staticmethod
    def _step(score: float, rules: StrikeRules) -> StrikeStep | None:
        reached = None
        for step in rules.ladder:
            if score >= step.score:
                reached = step
        return reached

    def _hit(self, user_id: str, state: _Strikes) -> None:
        """Count a hit across streams and tell the memory."""
        past = self._past.get(user_id)
        if past is None:
            past = self._past[user_id] = _Past()
            while len(self._past) > self._rules.current.max_users:
                self._past.popitem(last=False)
        else:
            self._past.move_to_end(user_id)
        past.hits += 1
        if not past.here:
            past.streams += 1
            past.here = True
        self._remember(user_id, state)

    def _remember(self, user_id: str, state: _Strikes | None) -> None:
        memory = self._memory
        if memory is None:
            return
        past = self._past.get(user_id)
        memory.remember(RememberedUser(
            user_id, state.handle if state is not None else "",
            state.score if state is not None else 0.0, state.at if state is not None else 0.0,
            past.hits if past is not None else 0, past.streams if past is not None else 0,
            self._blocked.get(user_id),
        ))

    @staticmethod
    def _describe(
        state: _Strikes, score: float, step: StrikeStep, now: float, rules: StrikeRules,
        past: _Past | None = None,
    ) -> Phrase:
        recent = ModerationStage._recent_hits(state, now, rules)
        if len(recent) == 1:
            hits = say("reason.strike_hits", "1 hit", n=1)
        elif recent:
            minutes = max(1, round((now - recent[0]) / 60.0))
            hits = say("reason.strike_hits_in", f"{len(recent)} hits in {minutes} min",
                       n=len(recent), min=minutes)
        else:
            hits = say("reason.strike_hits_earlier", "earlier hits")
        repeat: Phrase | str = ""
        if past is not None and past.streams > (1 if past.here else 0):
            repeat = say("reason.strike_past",
                         f"; repeat offender: {past.hits} hits in {past.streams} streams",
                         n=past.hits, streams=past.streams)
        return say(
            "reason.strike",
            f"@{state.handle}: strike score {score:.1f} ({hits}) → {_WHAT[step.action]}{repeat}",
            user=state.handle, score=f"{score:.1f}", hits=hits, step=str(step.action),
            past=repeat,
        )

    @staticmethod
    def _recent_hits(state: _Strikes, now: float, rules: StrikeRules) -> list[float]:
        horizon = now - 3 * rules.half_life_minutes * 60.0
        return [t for t in state.hits if t >= horizon]

    def _command(self, command: CommandEvent, now: float) -> None:
        action = command.action
        target = command.target
        if not target or action not in {"strike", "pardon"} | _BLOCK_COMMANDS | _UNBLOCK_COMMANDS:
            return
        rules = self._rules.current
        if action == "strike":
            state = self._users.get(target) or self._new_state(target, rules)
            handle = command.args.get("handle")
            if isinstance(handle, str) and handle:
                state.handle = handle
            label = command.args.get("label")
            if isinstance(label, str):
                # A stage's late verdict (e.g. the model): the points that label earns.
                kind = command.args.get("kind")
                points = rules.points.get(f"{label}/{kind}", rules.points.get(label, 0.0))
                self._add(state, points, now, rules)
                if points > 0:
                    self._hit(target, state)
                return
            raw = command.args.get("points", 1.0)
            points = float(raw) if isinstance(raw, int | float) and raw > 0 else 1.0
            score = self._add(state, points, now, rules)
            self._hit(target, state)
            log.info("moderation: %s struck user %s (+%s, score %.1f)", command.by, target,
                     points, score)
        elif action == "pardon":
            self._users.pop(target, None)
            self._blocked.pop(target, None)
            self._past.pop(target, None)
            self._remember(target, None)
            log.info("moderation: %s pardoned user %s", command.by, target)
        elif action in _BLOCK_COMMANDS:
            self._blocked.pop(target, None)
            self._blocked[target] = f"@{command.by}"
            while len(self._blocked) > rules.max_users:
                self._blocked.popitem(last=False)
            self._remember(target, self._users.get(target))
            log.info("moderation: %s blocked user %s locally", command.by, target)
        else:
            self._blocked.pop(target, None)
            self._remember(target, self._users.get(target))
            log.info("moderation: %s unblocked user %s", command.by, target)

    def tick(self, now: float, out: Outbox) -> None:
        self._rules.poll(now, out)
        self.messages.expire(now)
        rules = self._rules.current
        users = self._users
        # Least recently touched first; look at a bounded number per tick.
        for user_id in _head(users, _SWEEP):
            state = users[user_id]
            if self._decayed(state, now, rules) < _FORGET_BELOW:
                del users[user_id]
            else:
                users.move_to_end(user_id)


def _head(users: OrderedDict[str, _Strikes], size: int) -> list[str]:
    out = []
    for user_id in users:
        out.append(user_id)
        if len(out) >= size:
            break
    return out


def load_strike_rules(path: Path) -> StrikeRules:
    """``rules/moderation.yaml``, or the defaults when the file does not exist."""
    return load_model_or_default(path, StrikeRules, RULES_FILE)


def build(ctx: StageContext) -> ModerationStage:
    path = ctx.rules_dir / "moderation.yaml"
    rules = HotReload(
        [path], lambda: load_strike_rules(path), stream=ctx.stream, source="moderation"
    )
    return ModerationStage(rules)
