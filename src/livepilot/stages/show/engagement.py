"""Engagement: rolling signals, alarms against their baselines, and host prompts.

The stage keeps per-stream rolling state (:class:`~livepilot.stages.show.signals.Signals`:
chat, chatters, likes, gifts, joins, viewers; per-second rings, bounded), compares each
signal with its own recent baseline and raises alarms with hysteresis and cool-down
(:class:`~livepilot.pipeline.alarm.AlarmLatch`):

==================  ====================================================================
``viewer_drop``     viewer count fell by a share from its peak within a window
``dead_air``        no chat for N seconds while viewers watch
``chat_rate_drop``  chat per minute fell well below its EWMA baseline
``like_rate_drop``  likes per minute fell well below its EWMA baseline
``shitstorm``       the share of toxic / negative messages surged
``gift_moment``     a new top gifter, or a big gift (cleared after a hold time)
``segment_ending``  the run-of-show segment ends soon
``segment_overrun`` the segment is over its planned time
==================  ====================================================================

Each alarm offers a concrete prompt in the host's language to one
:class:`~livepilot.stages.show.prompts.PromptDesk`, which rate-limits what the host sees;
thanks for gifts (combined while they wait), greetings for new viewers and (off by
default) "3 open questions about …" go through the same desk. Raids are detected once, by
the spam stage (:mod:`livepilot.stages.moderation.raid`): this stage reads its ``raid``
alarm from the alarms published with the event or tick (the spam stage runs first) and
offers the urgent raid prompt, and reads the ``spam``/``raid`` label on messages so that
raid accounts are never in a greeting. Gift moments and
thank-yous live in :mod:`~livepilot.stages.show.gifts`; the run-of-show's segment alarms and
cues, and the prepared questions, poll and crisis plan other prompts use, in
:mod:`~livepilot.stages.show.cues`. :meth:`EngagementStage.summary` is the live summary.

Everything is decided on stream time (``draft.now`` and ``tick(now)``), so a replay with
event time produces the same alarms and prompts on every run.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from livepilot.events import (
    ChatEvent,
    CommandEvent,
    EmoteEvent,
    FollowEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    LiveEvent,
    QuestionEvent,
    ShareEvent,
    StatusEvent,
    StreamState,
    SubscribeEvent,
    ViewerCountEvent,
)
from livepilot.insights import AlarmState, Prompt, Severity
from livepilot.pipeline.alarm import AlarmLatch
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.show.alarms import AlarmRules, RateDropRule, load_alarm_rules
from livepilot.stages.show.cues import COMMANDS as SHOW_COMMANDS
from livepilot.stages.show.cues import ShowCues
from livepilot.stages.show.gifts import GiftMoments
from livepilot.stages.show.prompts import ACK, DISMISS, PromptDesk, phrase, span
from livepilot.stages.show.rolling import Ewma, SecondRing
from livepilot.stages.show.run_of_show import RunOfShow, ShowTracker, load_run_of_show
from livepilot.stages.show.signals import Signals
from livepilot.stages.show.summary import StreamSummary, SummaryTracker
from livepilot.texts import Phrase, say

if TYPE_CHECKING:
    from livepilot.metrics import Metrics
    from livepilot.pipeline.context import StageContext

__all__ = ["EngagementStage", "build"]

log = logging.getLogger(__name__)

#: New viewers remembered for one greeting prompt.
_GREET_CAP = 5000
#: Raid accounts remembered so that a later join of theirs is not greeted either.
_RAIDERS_CAP = 10_000
#: Why the dead-air alarm clears.
_CHAT_BACK = say("alarm_text.chat_back", "chat is back")


class _RateDrop:
    """One per-minute rate against its EWMA baseline (chat, likes)."""

    def __init__(self, rule: RateDropRule, latch: AlarmLatch) -> None:
        self.rule = rule
        self.latch = latch
        self.baseline = Ewma(rule.halflife_s)

    def retune(self, rule: RateDropRule) -> None:
        self.rule = rule
        self.latch.cooldown_s = rule.cooldown_s
        self.baseline.retune(rule.halflife_s)

    def check(self, now: float, current: float) -> tuple[str, float] | None:
        """Update with the current rate; return ``("raise"|"clear", baseline)`` on a change."""
        rule, base = self.rule, self.baseline.value
        change: tuple[str, float] | None = None
        if base is not None and self.baseline.age >= rule.warmup_s and base >= rule.min_baseline:
            ratio = current / base
            if self.latch.active is None and ratio <= 1 - rule.drop:
                change = ("raise", base)
            elif self.latch.active is not None and ratio >= 1 - rule.clear_drop:
                change = ("clear", base)
        elif self.latch.active is not None:
            change = ("clear", base or 0.0)
        self.baseline.update(now, current)
        return change


class EngagementStage:
    """Rolling engagement state, alarms and host prompts for one stream."""

    name = "engagement"

    def __init__(
        self,
        stream: str,
        rules: AlarmRules | None = None,
        *,
        language: str = "de",
        plan: RunOfShow | None = None,
        metrics: Metrics | None = None,
        rules_source: HotReload[AlarmRules] | None = None,
        plan_source: HotReload[RunOfShow] | None = None,
    ) -> None:
        self._stream = stream
        # Watched files (``build`` passes them): edits are swapped in on a tick, keeping
        # the stream's state.
        self._rules_source = rules_source
        self._plan_source = plan_source
        if rules_source is not None:
            rules = rules_source.current
        if plan_source is not None:
            plan = plan_source.current
        self.rules = rules = rules if rules is not None else AlarmRules()
        self._language = language
        self._metrics = metrics
        dropped = metrics.prompts_dropped if metrics is not None else None
        self.desk = PromptDesk(
            stream,
            self.name,
            rules.prompts,
            on_drop=(lambda reason: dropped.labels(stream, reason).inc()) if dropped else None,
        )
        self.tracker = SummaryTracker(stream)
        self.cues = ShowCues(stream, self.name, plan, desk=self.desk, language=language)
        self.gifts = GiftMoments(stream, self.name, rules.gift_moment, desk=self.desk,
                                 tracker=self.tracker, language=language)

        self.signals = Signals(viewer_window=rules.viewer_drop.window_s)
        self._first_seen: float | None = None
        self._last_chat: float | None = None
        # False while the stream is paused, offline or disconnected.
        self._on_air = True
        self._resumed: float | None = None

        # alarms
        def latch(kind: str, cooldown: float, severity: Severity) -> AlarmLatch:
            return AlarmLatch(stream, kind, self.name, cooldown_s=cooldown, severity=severity)

        self._viewer_drop = latch("viewer_drop", rules.viewer_drop.cooldown_s, Severity.WARNING)
        self._dead_air = latch("dead_air", rules.dead_air.cooldown_s, Severity.WARNING)
        self._chat_drop = _RateDrop(
            rules.chat_rate_drop,
            latch("chat_rate_drop", rules.chat_rate_drop.cooldown_s, Severity.INFO),
        )
        self._like_drop = _RateDrop(
            rules.like_rate_drop,
            latch("like_rate_drop", rules.like_rate_drop.cooldown_s, Severity.INFO),
        )
        self._shitstorm = latch("shitstorm", rules.shitstorm.cooldown_s, Severity.CRITICAL)
        self._shitstorm_base = Ewma(rules.shitstorm.halflife_s)
        self._silence_latches = (
            self._dead_air, self._chat_drop.latch, self._like_drop.latch, self._viewer_drop,
        )
        self._latches = (
            self._viewer_drop, self._dead_air, self._chat_drop.latch, self._like_drop.latch,
            self._shitstorm, self.gifts.latch, self.cues.ending, self.cues.overrun,
        )

        # The raid alarm another stage raised (its id while raised), and raid accounts.
        self._raid_alarm: str | None = None
        self._raiders: OrderedDict[str, None] = OrderedDict()

        # prompts without an alarm: user id → (@handle, when they joined, may be named)
        self._greet_users: dict[str, tuple[str, float, bool]] = {}
        self._greet_extra = 0
        self._last_greet: float | None = None
        self._questions: dict[str, deque[float]] = {}
        self._questions_prompted: dict[str, float] = {}

        if metrics is not None:
            self._g_viewers = metrics.engagement_viewers.labels(stream)
            self._g_rates = {
                signal: metrics.engagement_rate.labels(stream, signal)
                for signal in ("chat", "chatters", "likes", "diamonds", "joins", "follows",
                               "shares", "viewer_slope")
            }

    # -- events ---------------------------------------------------------------------

    def process(self, event: LiveEvent, draft: Draft) -> None:
        now = draft.now
        out = draft.out
        if self._first_seen is None:
            self._first_seen = now
            self._resumed = now
            self._last_greet = now
        if isinstance(event, ChatEvent):
            self._on_chat(event, draft)
        elif isinstance(event, ViewerCountEvent):
            self._on_viewers(event.count, now, out)
        elif isinstance(event, LikeEvent):
            self.signals.likes.add(now, event.count)
            self.tracker.on_like(now, event.count)
        elif isinstance(event, JoinEvent):
            self._on_join(event, now)
        elif isinstance(event, GiftEvent):
            if event.final:  # a streak counts once, when it ends
                self.signals.diamonds.add(now, event.diamonds)
                self.gifts.on_gift(event, now, out)
        elif isinstance(event, QuestionEvent):
            self._count_questions(draft, now)
        elif isinstance(event, FollowEvent):
            self.signals.follows.add(now)
            self.tracker.on_follow(now)
        elif isinstance(event, ShareEvent):
            self.signals.shares.add(now)
            self.tracker.on_share(now)
        elif isinstance(event, CommandEvent):
            self._on_command(event, now, out)
        elif isinstance(event, EmoteEvent):
            # A sticker is chat too: the room is not silent.
            self._last_chat = now
            self._emit_clear(self._dead_air, now, out, _CHAT_BACK)
        elif isinstance(event, SubscribeEvent):
            self.tracker.on_subscribe(now)
        elif isinstance(event, StatusEvent):
            self._on_status(event.state, now, out)
        self.cues.on_event(event, now, out)  # the run-of-show segment's goal
        if out.alarms:
            self._follow_raid(out, now)
        self.desk.release(now, out)

    def _on_status(self, state: StreamState, now: float, out: Outbox) -> None:
        if state is StreamState.CONNECTED:
            if not self._on_air:
                self._on_air = True
                self._resumed = now  # silence and rates are measured from here again
            return
        # Paused, offline, disconnected or ended: silence says nothing about the audience
        # now, so the detectors that read silence stop until the stream is back.
        self._on_air = False
        ended = state is StreamState.LIVE_ENDED
        for latch in self._latches if ended else self._silence_latches:
            self._emit_clear(latch, now, out, say(
                "alarm_text.stream_state", f"stream {state.value}", state=state.value))

    def _on_chat(self, event: ChatEvent, draft: Draft) -> None:
        now = draft.now
        user = event.user
        flagged = any(label.name in self.rules.shitstorm.labels for label in draft.labels)
        first = self.signals.on_chat(now, user.id, flagged=flagged)
        self.tracker.on_chat(now, user.id, user.unique_id, flagged=flagged, first=first)
        self._last_chat = now
        self._emit_clear(self._dead_air, now, draft.out, _CHAT_BACK)
        if any(label.name == "spam" and label.kind == "raid" for label in draft.labels):
            self._greet_users.pop(user.id, None)
            self._raiders[user.id] = None
            if len(self._raiders) > _RAIDERS_CAP:
                self._raiders.popitem(last=False)
        self._count_questions(draft, now)

    def _on_join(self, event: JoinEvent, now: float) -> None:
        self.signals.joins.add(now, event.count)
        self.tracker.on_join(now, event.count)
        if event.user.id in self._raiders:
            return
        raid = self._raid_alarm is not None
        if not raid:  # merged joins during a raid are mostly the raid
            # A coalesced join stands for more viewers than the one user it names.
            self._greet_extra += event.count - 1
        if len(self._greet_users) < _GREET_CAP:
            # Arrivals during a raid are counted but never named: a raid account that
            # joined without posting looks like any other viewer.
            self._greet_users.setdefault(
                event.user.id, ("@" + event.user.unique_id, now, not raid))

    def _on_command(self, cmd: CommandEvent, now: float, out: Outbox) -> None:
        if cmd.action in (ACK, DISMISS):
            self.desk.command(cmd.action, cmd.target, now, out)
        elif cmd.action in SHOW_COMMANDS:
            self.cues.command(cmd, now, out)

    # -- ticks ----------------------------------------------------------------------

    def tick(self, now: float, out: Outbox) -> None:
        if self._rules_source is not None and self._rules_source.poll(now, out):
            self._apply_rules(self._rules_source.current)
        if self._plan_source is not None and self._plan_source.poll(now, out):
            self.cues.replan(self._plan_source.current)
        if self._first_seen is None or self._resumed is None:
            return
        if self._on_air:
            self._check_dead_air(now, out)
            self._check_viewer_drop(now, out, sample=False)
            if now - self._resumed >= self.rules.chat_rate_drop.window_s:
                self._check_rate(now, out, self._chat_drop, self.signals.chat, "chat_rate_drop")
            if now - self._resumed >= self.rules.like_rate_drop.window_s:
                self._check_rate(now, out, self._like_drop, self.signals.likes, "like_rate_drop")
            self._check_shitstorm(now, out)
        if out.alarms:
            self._follow_raid(out, now)
        self.gifts.tick(now, out)
        self._check_greet(now)
        self.cues.tick(now, out)
        signals = self.signals
        self.tracker.on_chatter_rates(
            signals.new_chatters.per_minute(now, 60), signals.returning_chatters.per_minute(now, 60)
        )
        if self._metrics is not None:
            self._export(now)
        self.desk.release(now, out)

    def _apply_rules(self, rules: AlarmRules) -> None:
        """Use edited thresholds from now on; counts, baselines and raised alarms stay."""
        self.rules = rules
        for latch, cooldown in (
            (self._viewer_drop, rules.viewer_drop.cooldown_s),
            (self._dead_air, rules.dead_air.cooldown_s),
            (self._shitstorm, rules.shitstorm.cooldown_s),
        ):
            latch.cooldown_s = cooldown
        self.gifts.retune(rules.gift_moment)
        self._chat_drop.retune(rules.chat_rate_drop)
        self._like_drop.retune(rules.like_rate_drop)
        self._shitstorm_base.retune(rules.shitstorm.halflife_s)
        self.desk.rules = rules.prompts
        self.signals.resize(viewer_window=rules.viewer_drop.window_s)

    def _export(self, now: float) -> None:
        rates = self.signals.rates(now)
        self._g_viewers.set(rates["viewers"])
        for signal, gauge in self._g_rates.items():
            gauge.set(rates[signal])

    # -- detectors ------------------------------------------------------------------

    def _on_viewers(self, count: int, now: float, out: Outbox) -> None:
        self.signals.on_viewers(now, count)
        self.tracker.on_viewers(now, count)
        self._check_viewer_drop(now, out, sample=True)

    def _check_viewer_drop(self, now: float, out: Outbox, *, sample: bool) -> None:
        rule = self.rules.viewer_drop
        if not rule.enabled:
            return
        peak = self.signals.viewer_levels.peak(now)
        if peak is None or peak[0] <= 0:
            self._emit_clear(self._viewer_drop, now, out, say(
                "alarm_text.viewer_counts_missing", "no viewer counts in the window"))
            return
        before, since = int(peak[0]), peak[1]
        after = self.signals.viewers
        drop = max(0.0, (before - after) / before)
        if sample and before >= rule.min_viewers:
            self.tracker.on_drop(before, after, since, now)
        latch = self._viewer_drop
        if latch.active is not None:
            if drop < rule.clear_drop:
                self._emit_clear(latch, now, out, say(
                    "alarm_text.viewers_steady", f"viewer count steady at {after}", n=after))
            return
        if before < rule.min_viewers or drop < rule.drop:
            return
        pct = round(drop * 100)
        # How fast it fell: since viewers were last near the peak, not since the peak.
        levels = self.signals.viewer_levels
        high = levels.last_at_least(now, rule.window_s, before * (1 - rule.clear_drop))
        took = span(now - (high if high is not None else since))
        alarm = latch.raise_(
            now,
            say("alarm_text.viewer_drop", f"Viewer count −{pct} % in {took} ({before} → {after})",
                pct=pct, span=took, before=before, after=after),
            {"before": before, "after": after, "drop": round(drop, 4), "since": since,
             "last_high": high},
        )
        if alarm is None:
            return
        out.alarm(alarm)
        fields: dict[str, Any] = {"pct": pct, "span": took, "before": before, "after": after}
        poll = self.cues.poll()
        if poll is not None:
            text = phrase(self._language, "viewer_drop_poll", poll=poll.question, **fields)
        else:
            text = phrase(self._language, "viewer_drop", question=self.cues.question(), **fields)
        self.desk.offer(now, "viewer_drop", text, priority=2, alarm_id=alarm.id)

    def _check_dead_air(self, now: float, out: Outbox) -> None:
        rule = self.rules.dead_air
        marks = [t for t in (self._last_chat, self._resumed) if t is not None]
        if not rule.enabled or not marks or self.signals.viewers < rule.min_viewers:
            return
        since = max(marks)
        silent = now - since
        if silent < rule.after_s or not self._dead_air.can_raise(now):
            return
        alarm = self._dead_air.raise_(
            now, say("alarm_text.dead_air",
                     f"No chat for {silent:.0f} s ({self.signals.viewers} viewers)",
                     s=round(silent), viewers=self.signals.viewers),
            {"silent_s": round(silent, 1), "viewers": self.signals.viewers},
        )
        if alarm is not None:
            out.alarm(alarm)
            text = phrase(self._language, "dead_air", seconds=f"{silent:.0f}",
                          question=self.cues.question())
            self.desk.offer(now, "dead_air", text, priority=2, alarm_id=alarm.id)

    def _check_rate(
        self, now: float, out: Outbox, detector: _RateDrop, ring: SecondRing, kind: str
    ) -> None:
        if not detector.rule.enabled:
            return
        current = ring.per_minute(now, detector.rule.window_s)
        change = detector.check(now, current)
        if change is None:
            return
        what, base = change
        if what == "clear":
            self._emit_clear(detector.latch, now, out, say(
                "alarm_text.rate_back", f"rate back to {current:.0f}/min", now=round(current)))
            return
        alarm = detector.latch.raise_(
            now, say(f"alarm_text.{kind}",
                     f"{kind.split('_')[0]} rate {current:.0f}/min, baseline {base:.0f}/min",
                     now=round(current), base=round(base)),
            {"rate": round(current, 2), "baseline": round(base, 2)},
        )
        if alarm is None:
            return
        out.alarm(alarm)
        if kind == "chat_rate_drop" and self._dead_air.active is not None:
            return  # the dead-air prompt already says it
        text = phrase(self._language, kind, now=f"{current:.0f}", base=f"{base:.0f}",
                      question=self.cues.question())
        self.desk.offer(now, kind, text, priority=1, alarm_id=alarm.id)

    def _check_shitstorm(self, now: float, out: Outbox) -> None:
        rule = self.rules.shitstorm
        if not rule.enabled:
            return
        messages = self.signals.chat.total(now, rule.window_s)
        flagged = self.signals.flagged.total(now, rule.window_s)
        share = flagged / messages if messages else 0.0
        latch = self._shitstorm
        if latch.active is not None:
            if share < rule.clear_share:
                self._emit_clear(latch, now, out, say(
                    "alarm_text.negative_down", f"negative share down to {share:.0%}",
                    pct=round(share * 100)))
            return
        baseline = self._shitstorm_base.value or 0.0
        if (
            messages >= rule.min_messages
            and flagged >= rule.min_flagged
            and share >= rule.share
            and share >= rule.surge * baseline
        ):
            alarm = latch.raise_(
                now, say("alarm_text.shitstorm",
                         f"{flagged:.0f} of {messages:.0f} messages toxic or negative "
                         f"({share:.0%})",
                         n=round(flagged), messages=round(messages), pct=round(share * 100)),
                {"share": round(share, 4), "flagged": flagged, "messages": messages,
                 "baseline": round(baseline, 4)},
            )
            if alarm is not None:
                out.alarm(alarm)
                text = phrase(self._language, "shitstorm", pct=round(share * 100),
                              plan=self.cues.crisis())
                self.desk.offer(now, "shitstorm", text, priority=3, alarm_id=alarm.id)
                return
        if messages:
            # The baseline learns only outside a storm, so a long storm does not become
            # the stream's "usual" share.
            self._shitstorm_base.update(now, share)

    def _follow_raid(self, box: Outbox, now: float) -> None:
        """Follow the ``raid`` alarm an earlier stage published with this event or tick:
        an urgent prompt while it is raised (withdrawn when it clears), no greetings."""
        for alarm in box.alarms:
            if alarm.kind != "raid" or alarm.source == self.name:
                continue
            if alarm.state is AlarmState.RAISED:
                self._raid_alarm = alarm.id
                # Arrivals shortly before the raid are counted but not named either.
                since = now - self.rules.greet.raid_lookback_s
                self._greet_users = {
                    uid: (handle, joined, named and joined < since)
                    for uid, (handle, joined, named) in self._greet_users.items()
                }
                self.desk.cancel("greet")  # a greeting still waiting may name raid accounts
                text = phrase(self._language, "raid", members=alarm.data.get("members", "?"),
                              text=alarm.data.get("sample", ""))
                self.desk.offer(now, "raid", text, priority=3, alarm_id=alarm.id)
            elif alarm.id == self._raid_alarm:
                self._raid_alarm = None
                self.desk.withdraw(alarm.id, now, box)

    def _check_greet(self, now: float) -> None:
        rule = self.rules.greet
        if not rule.enabled or self._last_greet is None or now - self._last_greet < rule.every_s:
            return
        if self._raid_alarm is not None:
            return  # the greeting waits until the raid is over
        settled = now - rule.settle_s
        # Arrivals since ``settled`` wait for the next round: a raid account posts within
        # seconds of joining, and its label takes it off the list before it is named.
        ready = [(handle, named) for handle, joined, named in self._greet_users.values()
                 if joined <= settled]
        count = len(ready) + self._greet_extra
        named = [handle for handle, may in ready if may]
        if count >= rule.min_new and named:
            # The latest arrivals are the ones still watching the greeting.
            names = ", ".join(named[-rule.names:])
            if count > len(named[-rule.names:]):
                names += ", …"
            text = phrase(self._language, "greet", count=count, names=names)
            self.desk.offer(now, "greet", text, priority=1)
        self._greet_users = {
            uid: seen for uid, seen in self._greet_users.items() if seen[1] > settled
        }
        self._greet_extra = 0
        self._last_greet = now

    def _count_questions(self, draft: Draft, now: float) -> None:
        rule = self.rules.questions
        if not rule.enabled:
            return
        for label in draft.labels:
            if label.name != "question":
                continue
            topic = label.kind if label.kind and label.kind != "qna" else ""
            times = self._questions.setdefault(topic, deque(maxlen=1000))
            times.append(now)
            while times and now - times[0] > rule.window_s:
                times.popleft()
            last = self._questions_prompted.get(topic, float("-inf"))
            if len(times) >= rule.min_count and now - last >= rule.cooldown_s:
                self._questions_prompted[topic] = now
                text = (
                    phrase(self._language, "questions", count=len(times), topic=topic)
                    if topic
                    else phrase(self._language, "questions_any", count=len(times))
                )
                self.desk.offer(now, "questions", text, priority=1, key=f"questions:{topic}")
            break

    # -- helpers --------------------------------------------------------------------

    def _emit_clear(
        self, latch: AlarmLatch, now: float, out: Outbox, message: str | Phrase, *,
        withdraw: bool = True,
    ) -> None:
        self.desk.clear_alarm(latch, now, out, message, withdraw=withdraw)

    # -- read side ------------------------------------------------------------------

    @property
    def show(self) -> ShowTracker | None:
        """Where the run-of-show is (None without a plan)."""
        return self.cues.tracker

    def summary(self) -> StreamSummary:
        """The live stream summary (peak/average viewers, engagement, gifts, top users)."""
        return self.tracker.summary()

    def open_prompts(self, now: float) -> list[Prompt]:
        return self.desk.open_prompts(now)

    def active_alarms(self) -> list[str]:
        """Ids of the alarms currently raised."""
        return [latch.active for latch in self._latches if latch.active is not None]

    def rates(self, now: float) -> dict[str, float]:
        """Per-minute rates over the last minute, and the latest viewer count."""
        return self.signals.rates(now)

    @property
    def viewers(self) -> int:
        return self.signals.viewers


def build(ctx: StageContext) -> EngagementStage:
    settings = ctx.settings
    path = settings.alarms_file or ctx.rules_dir / "alarms.yaml"
    rules = HotReload([path], lambda: load_alarm_rules(path), stream=ctx.stream,
                      source="engagement")
    plan: HotReload[RunOfShow] | None = None
    if settings.run_of_show is not None:
        plan_path = settings.run_of_show
        plan = HotReload([plan_path], lambda: load_run_of_show(plan_path), stream=ctx.stream,
                         source="run_of_show")
    return EngagementStage(
        ctx.stream,
        language=settings.host_language,
        metrics=ctx.metrics,
        rules_source=rules,
        plan_source=plan,
    )
