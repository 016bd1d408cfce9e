"""Spam heuristics: shouting, floods, repeats, links, phone numbers, rate, and raids.

Stateless checks look at one message (caps, flood, link, phone). Stateful ones keep
bounded state with expiry: per user (recent messages for repeats and rate; LRU-capped,
forgotten after ``user_idle_s``) and per stream (the raid detector,
:mod:`~livepilot.stages.moderation.raid`, which also reads joins). Thresholds come from
``rules/spam.yaml`` (:class:`~livepilot.stages.moderation.rules.SpamRules`) and are
hot-reloaded; the state survives a reload.

Every hit labels ``spam`` with a ``kind`` (caps, flood, repeat, raid, link, phone, rate),
gives a reason in words and recommends the configured action; ``hide`` and stronger also
hide the message from overlays. A raid also raises the stream's one ``raid`` alarm,
cleared when the raid is over. The message that makes a wave a raid also asks (through
:attr:`Draft.holds <livepilot.pipeline.stage.Draft.holds>`) for the wave's earlier
messages, published before anyone could tell, to be held when the raid action hides
(``hide`` or stronger): the moderation stage holds them unless a moderator decided on
them.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from livepilot.events import ChatEvent, JoinEvent, LiveEvent, StatusEvent, StreamState, User
from livepilot.insights import Action
from livepilot.ml.text import analysed
from livepilot.pipeline.reload import HotReload
from livepilot.pipeline.stage import ACTION_ORDER, Draft, Outbox
from livepilot.stages.moderation.normalize import fold
from livepilot.stages.moderation.raid import RaidDetector
from livepilot.stages.moderation.rules import RULES_FILE, SpamRules
from livepilot.texts import Phrase, say
from livepilot.yamlfile import load_model_or_default

if TYPE_CHECKING:
    from livepilot.pipeline.context import StageContext

__all__ = ["RAID_HOLD", "SpamFilter", "SpamHit", "build", "load_spam_rules"]

_TLDS = (
    "com|net|org|de|at|ch|eu|uk|us|ru|su|cn|xyz|io|me|ly|gg|co|info|biz|shop|store|top|site|"
    "online|link|app|tk|cc|tv|live|club|vip|win|bet|casino|fun|icu|sbs|click|to|is|ws|pw|nl|fr"
)
# Labels of at most 63 characters (the DNS limit) and at most 10 of them before the TLD,
# and possessive spaces: every start position costs a bounded number of steps, so a
# search is linear in the text ("a-a-a-…" or "a.a.a.…" made it quadratic).
_LINK = re.compile(
    r"(?:https?://|www\.)([^\s/]+)"
    rf"|\b((?:[a-z0-9-]{{1,63}}+\.){{1,10}}(?:{_TLDS}))(?![a-z0-9])"
    rf"|\b([a-z0-9-]{{2,63}})\s*+[(\[]?\s*+(?:dot|punkt)\s*+[)\]]?\s*+({_TLDS})\b"
)
_PHONE = re.compile(r"(?<![\w.,])(\+|00|0)?\d[\d \-/()]{5,}\d(?![\d.,]?\d)")
_PHONE_CONTEXT = re.compile(
    r"whats\s*app|telegram|signal|wa\.me|\btel\b|\btelefon|\bcall\b|anrufen|\bruf\b"
    r"|\b(?:handy|telefon|tel)?nummer\b|\bnumber\b|\bdm\b|\bsms\b",
)
_NOT_LETTER = re.compile(r"[^a-z]+")
_UPPER = re.compile(r"[A-Z]")
_DIGIT = re.compile(r"\d")
_SYMBOL = re.compile(r"[^\w\s]|_")
_JOINERS = dict.fromkeys(map(ord, "\ufe0f\ufe0e\u200d"), None)
#: Why the earlier messages of a raid wave are held.
RAID_HOLD = "part of a raid wave"


@dataclass(frozen=True, slots=True)
class SpamHit:
    kind: str
    reason: Phrase
    action: Action


@dataclass(slots=True)
class _UserState:
    recent: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=8))
    times: deque[float] = field(default_factory=deque)
    last: float = 0.0


@lru_cache(maxsize=8)
def _run_pattern(size: int) -> re.Pattern[str]:
    return re.compile(rf"([^\w\s]|_)\1{{{size - 1},}}")


def _fingerprint(folded: str) -> str:
    """Letters only: ``Follow ME!!! 1`` and ``follow me 2`` meet."""
    return _NOT_LETTER.sub("", folded)[:120]


class SpamFilter:
    """The spam stage. Decision logic is synchronous; state is bounded and expires."""

    name = "spam"

    def __init__(self, rules: HotReload[SpamRules], stream: str = "default") -> None:
        self._rules = rules
        self._stream = stream
        self._users: OrderedDict[str, _UserState] = OrderedDict()
        self.raids = RaidDetector(stream, self.name)

    @property
    def tracked_users(self) -> int:
        return len(self._users)

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if not isinstance(event, ChatEvent):
            if isinstance(event, JoinEvent):
                self.raids.on_join(event.user, event.count, draft.now, self._rules.current.raid)
            elif isinstance(event, StatusEvent) and event.state is StreamState.LIVE_ENDED:
                self.raids.end(draft.now, draft.out,
                               say("alarm_text.raid_why_ended", "the stream ended"))
            return
        rules = self._rules.current
        badges = event.user.badges
        if badges and rules.exempt_badges and any(b in rules.exempt_badges for b in badges):
            return
        earlier: list[str] = []
        hits = self.check(event.user, event.text, draft.now, draft.out, rules,
                          event_id=event.id, earlier=earlier)
        if ACTION_ORDER[rules.raid.action] >= ACTION_ORDER[Action.HIDE]:
            for event_id in earlier:  # held as the raid's later messages are hidden
                draft.hold(event_id, self.name, RAID_HOLD)
        for hit in hits:
            if not any(lb.source == self.name and lb.kind == hit.kind for lb in draft.labels):
                draft.label("spam", self.name, kind=hit.kind)
            draft.reason(self.name, hit.reason)
            draft.recommend(hit.action)
            if ACTION_ORDER[hit.action] >= ACTION_ORDER[Action.HIDE]:
                draft.hidden = True

    def check(
        self, user: User, text: str, now: float, out: Outbox, rules: SpamRules | None = None,
        *, event_id: str = "", earlier: list[str] | None = None,
    ) -> list[SpamHit]:
        """Every heuristic that fires for ``text`` from ``user`` at ``now``; updates state.

        When this message (``event_id``) makes a wave a raid, the event ids of the wave's
        earlier messages are added to ``earlier``.
        """
        rules = rules or self._rules.current
        hits: list[SpamHit] = []
        text = analysed(text)
        folded = fold(text)
        fingerprint = _fingerprint(folded)
        self._caps(text, rules, hits)
        self._flood(text, folded, rules, hits)
        self._link(folded, rules, hits)
        self._phone(folded, rules, hits)
        state = self._user(user.id, now, rules)
        self._rate(user, state, now, rules, hits)
        self._repeat(user, state, fingerprint or folded.strip(), now, rules, hits)
        if rules.raid.enabled:
            found = [hit.kind for hit in hits]
            verdict = self.raids.on_chat(user, text, folded, found, now, rules.raid, out,
                                         event_id)
            if verdict is not None:
                if verdict.reason is not None:
                    hits.append(SpamHit("raid", verdict.reason, rules.raid.action))
                if earlier is not None:
                    earlier.extend(verdict.earlier)
        return hits

    # -- one message -----------------------------------------------------------------

    @staticmethod
    def _caps(text: str, rules: SpamRules, hits: list[SpamHit]) -> None:
        caps = rules.caps
        if not caps.enabled:
            return
        if len(text) < caps.min_letters:
            return
        # Cheap first: most messages have a handful of capitals and stop here.
        upper = len(_UPPER.findall(text)) if text.isascii() else sum(map(str.isupper, text))
        if upper < caps.min_letters * caps.ratio:
            return
        letters = sum(map(str.isalpha, text))
        if letters < caps.min_letters:
            return
        if upper / letters >= caps.ratio:
            hits.append(SpamHit(
                "caps", say("reason.caps",
                            f"mostly capital letters ({upper / letters:.0%} of {letters})",
                            share=round(upper / letters * 100), n=letters), caps.action
            ))

    @staticmethod
    def _flood(text: str, folded: str, rules: SpamRules, hits: list[SpamHit]) -> None:
        flood = rules.flood
        if not flood.enabled or len(text) < min(flood.max_run, flood.min_length):
            return
        bare = text if text.isascii() else text.translate(_JOINERS)
        symbols = len(_SYMBOL.findall(bare))
        # A run of one emoji or symbol ("😂😂😂…", "!!!!…"); letters stretched for joy
        # ("jaaaaa") are not spam.
        if symbols >= flood.max_run:
            run = _run_pattern(flood.max_run).search(bare)
            if run is not None:
                size = len(run.group(0))
                hits.append(
                    SpamHit("flood", say("reason.run", f"{run.group(1)!r} {size} times in a row",
                                         text=run.group(1), n=size), flood.action)
                )
                return
        visible = len(bare) - bare.count(" ")
        if visible >= flood.min_length:
            if symbols / visible >= flood.symbol_ratio:
                hits.append(SpamHit(
                    "flood", say("reason.symbols", f"mostly emoji/symbols ({symbols} of {visible})",
                                 symbols=symbols, n=visible), flood.action
                ))
                return
        tokens = folded.split()
        if len(tokens) >= 8 and len(set(tokens)) <= 2:
            word = max(set(tokens), key=tokens.count)
            repeats = tokens.count(word)
            hits.append(SpamHit(
                "flood", say("reason.same_word", f"the same word {word!r} {repeats} times",
                             word=word, n=repeats), flood.action
            ))

    @staticmethod
    def _link(folded: str, rules: SpamRules, hits: list[SpamHit]) -> None:
        link = rules.link
        if not link.enabled:
            return
        if "." not in folded and "dot" not in folded and "punkt" not in folded:
            return
        for found in _LINK.finditer(folded):
            domain = found.group(1) or found.group(2) or f"{found.group(3)}.{found.group(4)}"
            domain = domain.strip(".").removeprefix("www.")
            if any(domain == ok or domain.endswith("." + ok) for ok in link.allow_domains):
                continue
            hits.append(SpamHit("link", say("reason.link", f"link to {domain!r}", target=domain),
                                link.action))
            return

    @staticmethod
    def _phone(folded: str, rules: SpamRules, hits: list[SpamHit]) -> None:
        phone = rules.phone
        if not phone.enabled or len(_DIGIT.findall(folded)) < phone.min_digits:
            return
        for found in _PHONE.finditer(folded):
            number = found.group(0)
            digits = sum(map(str.isdigit, number))
            if digits < phone.min_digits or digits > 15:
                continue
            if found.group(1) or _PHONE_CONTEXT.search(folded):
                shown = number[:4] + "…" if len(number) > 5 else number
                hits.append(SpamHit("phone", say("reason.phone", f"phone number {shown!r}",
                                                 number=shown), phone.action))
                return

    # -- per user --------------------------------------------------------------------

    def _user(self, user_id: str, now: float, rules: SpamRules) -> _UserState:
        users = self._users
        state = users.pop(user_id, None)
        if state is None:
            state = _UserState()
            if len(users) >= rules.max_users:
                users.popitem(last=False)
        users[user_id] = state  # most recently seen last: expiry walks from the front
        state.last = now
        return state

    @staticmethod
    def _rate(
        user: User, state: _UserState, now: float, rules: SpamRules, hits: list[SpamHit]
    ) -> None:
        rate = rules.rate
        times = state.times
        times.append(now)
        while times and times[0] <= now - rate.window_s:
            times.popleft()
        while len(times) > rate.max_messages + 1:
            times.popleft()  # bounded: only "more than max" matters
        if rate.enabled and len(times) > rate.max_messages:
            hits.append(SpamHit(
                "rate",
                say("reason.rate",
                    f"@{user.unique_id} sent more than {rate.max_messages} messages in "
                    f"{rate.window_s:.0f} s",
                    user=user.unique_id, n=rate.max_messages, s=round(rate.window_s)),
                rate.action,
            ))

    @staticmethod
    def _repeat(
        user: User, state: _UserState, key: str, now: float, rules: SpamRules,
        hits: list[SpamHit],
    ) -> None:
        repeat = rules.repeat
        recent = state.recent
        while recent and recent[0][0] <= now - repeat.window_s:
            recent.popleft()
        if repeat.enabled and len(key) >= repeat.min_length:
            similar = 1
            best = 0.0
            for _, earlier in recent:
                score = 100.0 if earlier == key else fuzz.ratio(
                    key, earlier, score_cutoff=repeat.similarity
                )
                if score >= repeat.similarity:
                    similar += 1
                    best = max(best, score)
            if similar >= repeat.count:
                hits.append(SpamHit(
                    "repeat",
                    say("reason.repeat",
                        f"@{user.unique_id} sent this {similar} times in "
                        f"{repeat.window_s / 60:.0f} min (similarity {best:.0f})",
                        user=user.unique_id, n=similar, min=round(repeat.window_s / 60),
                        similarity=round(best)),
                    repeat.action,
                ))
        recent.append((now, key))

    def tick(self, now: float, out: Outbox) -> None:
        self._rules.poll(now, out)
        rules = self._rules.current
        users = self._users
        while users:
            first = next(iter(users))
            if users[first].last > now - rules.user_idle_s:
                break
            del users[first]
        self.raids.tick(now, rules.raid, out)


def load_spam_rules(path: Path) -> SpamRules:
    """``rules/spam.yaml``, or the defaults when the file does not exist."""
    return load_model_or_default(path, SpamRules, RULES_FILE)


def build(ctx: StageContext) -> SpamFilter:
    path = ctx.rules_dir / "spam.yaml"
    rules = HotReload([path], lambda: load_spam_rules(path), stream=ctx.stream, source="spam")
    return SpamFilter(rules, ctx.stream)
