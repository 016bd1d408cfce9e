"""Raids and bot waves, detected from what a live platform actually sends.

A raid is many accounts arriving and pasting the same (or nearly the same) text within
seconds, usually to promote something. TikTok says nothing about an account's age, so the
detector reads only what every platform gives:

* **first-time chatters**: the first message seen from a user id in this stream;
* **joins**: who joined shortly before posting, and the join rate against the stream's
  own recent average (joins the ingest queue coalesced still count towards the rate);
* **near-same text from many distinct accounts**: each text is normalised (case and
  look-alikes folded, @handles, links and numbers masked, emoji and punctuation dropped,
  leetspeak undone, letter runs cut to two) and matched exactly, or by rapidfuzz ratio
  against the most recent wave that starts with the same characters and the one that ends
  with them: at most two comparisons per message, whatever the chat rate;
* **promotion**: follow @…, "free coins", "check my profile", "schau auf <link>"; a link
  or a phone number in a text of ``min_words`` words or more (a greeting of the host whose
  handle looks like a domain, "hey lena.live!", promotes nothing);
* ``User.new_account`` where a platform sends it: one more sign, never required.

A wave becomes a raid when enough distinct accounts posted it within ``window_s``, most
of them new to the chat (first message in this stream, or joined just before), and it
either promotes something or its accounts arrived just before posting (joins shortly
before their messages, or a join burst). Short texts ("hallo", "❤️❤️", "first") never
do, and viewers answering the host in chorus have mostly chatted before. From then on
every message of the wave, and every other message its new accounts send while the raid
lasts, gets a verdict. The wave's first messages went out before it could be recognised;
they are counted in the raid, and the verdict of the message that made the wave a raid
names them (the latest ``_MAX_EARLIER``, posted by accounts without a trusted badge) so
the moderation stage can hold them after the fact.

Several waves at once are one raid: one ``raid`` alarm, raised once the raid has
``alarm_users`` accounts, with the count and a sample text (handles and links masked, so
the host can see it on screen without advertising anyone); cleared when all its waves
have been quiet for ``window_s``. Memory is bounded: waves expire after ``window_s`` and
are capped in number and in posts, joins live in a capped table that expires, and who
chatted before is a fixed-size filter (:class:`~livepilot.stages.sketches.SeenFilter`:
the latest ``max_chatters`` accounts always remembered; a first-time chatter taken for a
returning one at most 1 % of the time, which only ever makes a wave look less like a raid).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from collections.abc import Collection
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from livepilot.events import Badge, User
from livepilot.insights import Severity
from livepilot.pipeline.alarm import AlarmLatch, AlarmSink, publish
from livepilot.stages.moderation.normalize import unleet
from livepilot.stages.moderation.rules import RaidRules
from livepilot.stages.sketches import SeenFilter
from livepilot.texts import Phrase, say

__all__ = ["RaidDetector", "RaidVerdict", "normalise"]

#: Badges of the stream's own community: never counted as new, never labelled.
_TRUSTED = frozenset({Badge.MODERATOR, Badge.SUBSCRIBER, Badge.TOP_GIFTER})

# Sender flags: first message in this stream, joined just before, new account (platform).
_FIRST = 1
_JOINED = 2
_NEW = 4
_FRESH = _FIRST | _JOINED | _NEW
_ARRIVED = _JOINED | _NEW

#: Characters of a message that are normalised (raid texts are short; this bounds the
#: key and every comparison whatever the message's length).
_READ = 400
_KEY = 200
#: Characters at a key's start and end that index it (the latest wave with that start,
#: and with that end) for near-same lookups.
_EDGE = 10
_MAX_WAVES = 5_000
#: Posts held across all waves; past this the least recently active wave is forgotten.
_MAX_POSTS = 50_000
_MAX_WAVE_POSTS = 2_000
_MAX_ALIASES = 16
_MAX_JOINS = 50_000
_MAX_MEMBERS = 10_000
#: How often a first-time chatter may be taken for one who chatted before.
_CHATTERS_FP_RATE = 0.01
#: Earlier messages of a wave named when it is recognised (the latest ones).
_MAX_EARLIER = 50
#: The usual join rate: an average with this half-life, trusted after this much history.
_JOIN_HALFLIFE_S = 300.0
_JOIN_WARMUP_S = 120.0

# Tokens of a folded text: @handles, links, runs of letters and digits. Emoji and
# punctuation are no tokens: they vary freely between copies.
_TOKEN = re.compile(r"@[\w.]+|(?:https?://|www\.)\S+|[^\W_]+")
_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
# Three or more of one character (the joined tokens have no punctuation to run).
_RUN3 = re.compile(r"(.)\1\1")
_RUNS = re.compile(r"(.)\1{2,}")
# Promotion in a normalised text ("@" a handle, "~" a link), German and English. Each
# group's name says what it found (``_PROMOTES``). Every repeat is bounded or anchored by
# a literal, so a search is linear in the text.
_PROMO = re.compile(
    r"\b(?P<free>(?:free|gratis|kostenlos\w*|umsonst)(?: \w+)? (?:coins*|muenzen|gifts?"
    r"|geschenke?|follower\w*|likes?|diamonds?|diamanten|fans|views))\b"
    r"|\b(?P<follow>(?:follow|folg\w*|abonnier\w*|besuch\w*|check\w*|schau\w*|guck\w*"
    r"|join)(?: \w+){0,2} @)"
    r"|\b(?P<follow_me>(?:follow|folg\w*) (?:me|mir|back)|f[a4]f|l[a4]l|sub[a4]sub"
    r"|follow[a4]follow)\b"
    r"|\b(?P<profile>(?:check|visit|see)(?: out)? my (?:profile|page|bio|account|live"
    r"|channel)|mein\w* (?:profil|bio|kanal|live|account|seite)|link in (?:my |der |meiner )?bio)\b"
    r"|\b(?P<write_me>(?:dm|pm) me|schreib\w* mir)\b"
    r"|\b(?P<visit>(?:schau\w*|guck\w*|geh\w*|go|visit|klick\w*|click|check\w*|join)"
    r"(?: \w+){0,2} ~)"
)
_PROMOTES = {
    "free": "free coins/gifts/followers",
    "follow": "following @…",
    "follow_me": "following them",
    "profile": "their profile",
    "write_me": "writing to them",
    "visit": "a link to visit",
}
#: Each part of what a wave promotes, as a code (``promo.<key>``) the console translates.
_PROMO_CODES = {**{text: key for key, text in _PROMOTES.items()},
                "a link": "link", "a phone number": "phone"}
_HANDLE = re.compile(r"@[\w.]+")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def normalise(folded: str, host: str = "") -> tuple[str, str, int]:
    """``(plain, key, words)`` of a folded message.

    ``plain`` has the words (leetspeak undone, runs of three or more of a letter cut to
    two), ``@`` for each handle and ``~`` for each link; ``key`` also masks numbers
    (``#``), so ``FOLLOW @bob_7 FOR FR33 COINS 🔥🔥`` and ``follow @anna FOR free
    coinsss!!`` meet. A mention of the ``host`` says nothing about the text and is dropped.
    """
    text = folded[:_READ]
    if "@" not in text and "://" not in text and "www." not in text:
        tokens = _WORD.findall(text)  # the usual case: words only
        if _DIGIT.search(text) is not None:
            tokens = [t if t.isalpha() or t.isdigit() else unleet(t) for t in tokens]
    else:
        tokens = []
        for token in _TOKEN.findall(text):
            first = token[0]
            if first == "@":
                if not host or token[1:].rstrip(".") != host:
                    tokens.append("@")
            elif first in "hw" and token.startswith(("http://", "https://", "www.")):
                tokens.append("~")
            elif token.isalpha() or token.isdigit():
                tokens.append(token)
            else:
                tokens.append(unleet(token))
    plain = " ".join(tokens)
    if _RUN3.search(plain) is not None:
        plain = _RUNS.sub(r"\1\1", plain)
    key = _DIGITS.sub("#", plain) if _DIGIT.search(plain) is not None else plain
    return plain, key[:_KEY], len(tokens)


def _display(text: str, size: int = 40) -> str:
    """A sample for alarms and prompts: handles and links masked, shortened."""
    shown: list[str] = []
    for word in text[:120].split():
        if word.startswith("@"):
            word = "@…"
        elif _URL.match(word) or _is_domain(word):
            word = "[link]"
        shown.append(word)
    text = " ".join(shown)
    text = _HANDLE.sub("@…", text)
    return text if len(text) <= size else text[: size - 1] + "…"


def _is_domain(word: str) -> bool:
    name, dot, tld = word.strip(".,;:!?()[]").rpartition(".")
    return bool(dot) and len(name) >= 2 and 2 <= len(tld) <= 6 and tld.isascii() and tld.isalpha()


@dataclass(slots=True, eq=False)
class _Wave:
    """Near-same texts within the window: who posted, when, and how new they were."""

    key: str
    #: The first message: its text, normalised text and what the spam checks found
    #: in it (what it promotes and its sample are worked out only for a growing wave).
    text: str
    plain: str
    words: int
    found: tuple[str, ...]
    #: What the wave promotes, in words ("" for nothing; None: not worked out yet).
    promo: str | None = None
    last: float = 0.0
    #: Counted into the current raid (its earlier posts and accounts).
    raid: bool = False
    #: (time, user id, event id): the event id is "" for a trusted account's post.
    posts: deque[tuple[float, str, str]] = field(default_factory=deque)
    #: user id → [posts in the window, flags at their first post in it]
    senders: dict[str, list[int]] = field(default_factory=dict)
    fresh: int = 0
    arrived: int = 0
    aliases: list[str] | None = None

    def add(self, t: float, user_id: str, flags: int, horizon: float, event_id: str) -> int:
        """Record a post; return the change in posts held (expired ones go first)."""
        posts = self.posts
        change = 1 - self.expire(horizon) if posts and posts[0][0] <= horizon else 1
        posts.append((t, user_id, event_id))
        entry = self.senders.get(user_id)
        if entry is None:
            self.senders[user_id] = [1, flags]
            self.fresh += bool(flags & _FRESH)
            self.arrived += bool(flags & _ARRIVED)
        else:
            entry[0] += 1
        if len(posts) > _MAX_WAVE_POSTS:
            self._pop()
            change -= 1
        self.last = t
        return change

    def expire(self, horizon: float) -> int:
        posts = self.posts
        gone = 0
        while posts and posts[0][0] <= horizon:
            self._pop()
            gone += 1
        return gone

    def _pop(self) -> None:
        _t, user_id, _event_id = self.posts.popleft()
        entry = self.senders[user_id]
        entry[0] -= 1
        if not entry[0]:
            del self.senders[user_id]
            self.fresh -= bool(entry[1] & _FRESH)
            self.arrived -= bool(entry[1] & _ARRIVED)

    def span(self, now: float) -> float:
        return now - self.posts[0][0] if self.posts else 0.0

    def earlier(self) -> tuple[str, ...]:
        """The event ids of the posts before the latest one (the latest ``_MAX_EARLIER``,
        oldest first), trusted accounts' posts left out."""
        ids: list[str] = []
        posts = self.posts
        for n in range(len(posts) - 2, -1, -1):
            event_id = posts[n][2]
            if event_id:
                ids.append(event_id)
                if len(ids) >= _MAX_EARLIER:
                    break
        ids.reverse()
        return tuple(ids)


@dataclass(frozen=True, slots=True)
class RaidVerdict:
    """What the raid detector says about one chat message."""

    #: Why it belongs to a raid, or ``None`` (it does not, or its author is trusted).
    reason: Phrase | None
    #: The event ids of its wave's earlier messages, when this message made the wave a
    #: raid: they were published before the wave was recognised.
    earlier: tuple[str, ...] = ()


@dataclass(slots=True)
class _Raid:
    """One raid: the accounts of its waves, from its first wave's detection to the end."""

    started: float
    last: float
    sample: str
    promo: str
    #: Accounts new to the chat that posted in a raid wave (capped; ``size`` counts all).
    members: set[str] = field(default_factory=set)
    size: int = 0
    arrived: int = 0
    messages: int = 0
    alarmed: bool = False

    def add(self, user_id: str, flags: int) -> None:
        if user_id in self.members:
            return
        if len(self.members) < _MAX_MEMBERS:
            self.members.add(user_id)
        self.size += 1
        self.arrived += bool(flags & _ARRIVED)


class RaidDetector:
    """Raid state of one stream; the spam stage feeds it chat and joins."""

    def __init__(self, stream: str, source: str) -> None:
        self._host = stream.lstrip("@").casefold()
        self._latch = AlarmLatch(stream, "raid", source, severity=Severity.CRITICAL)
        self._waves: OrderedDict[str, _Wave] = OrderedDict()  # by key, least recent first
        self._heads: dict[str, _Wave] = {}
        self._tails: dict[str, _Wave] = {}
        self._aliases: dict[str, _Wave] = {}
        self._posts = 0
        # Who chatted in this stream: sized by ``max_chatters`` at the first message.
        self._chatted: SeenFilter | None = None
        self._joined: OrderedDict[str, float] = OrderedDict()
        # Joins per second over the window, their sum, and the usual sum (an average).
        self._join_seconds: deque[list[int]] = deque()
        self._join_total = 0
        self._join_base: float | None = None
        self._join_age = 0.0
        self._join_sampled: float | None = None
        self._raid: _Raid | None = None
        self._expired_at = float("-inf")

    # -- read side -------------------------------------------------------------------

    @property
    def tracked_waves(self) -> int:
        return len(self._waves)

    @property
    def tracked_chatters(self) -> int:
        """Accounts the first-message filter holds (up to twice ``max_chatters``)."""
        return len(self._chatted) if self._chatted is not None else 0

    @property
    def chatters_bytes(self) -> int:
        """The first-message filter's size: fixed, however many accounts chatted."""
        return self._chatted.nbytes if self._chatted is not None else 0

    @property
    def tracked_joins(self) -> int:
        return len(self._joined)

    @property
    def alarm_id(self) -> str | None:
        """The raised ``raid`` alarm's id, if any."""
        return self._latch.active

    # -- events ----------------------------------------------------------------------

    def on_join(self, user: User, count: int, now: float, rules: RaidRules) -> None:
        """A join event (``count`` > 1 when the ingest queue merged several)."""
        joined = self._joined
        joined.pop(user.id, None)
        joined[user.id] = now
        if len(joined) > _MAX_JOINS:
            joined.popitem(last=False)
        second = int(now)
        seconds = self._join_seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += count
        else:
            seconds.append([second, count])
        self._join_total += count
        self._expire_joins(now, rules)

    def on_chat(
        self,
        user: User,
        text: str,
        folded: str,
        found: Collection[str],
        now: float,
        rules: RaidRules,
        out: AlarmSink,
        event_id: str = "",
    ) -> RaidVerdict | None:
        """Whether this message belongs to a raid (``None``: nothing to say); updates the
        state.

        ``found`` are the kinds the one-message checks found (``link``, ``phone``);
        ``event_id`` is the message's, named in a later verdict if it turns out to have
        been one of a raid wave's first messages.
        """
        user_id = user.id
        trusted = not _TRUSTED.isdisjoint(user.badges)
        chatted = self._chatted
        if chatted is None:
            chatted = self._chatted = SeenFilter(rules.max_chatters, _CHATTERS_FP_RATE)
        elif chatted.capacity != rules.max_chatters:
            chatted.resize(rules.max_chatters)  # a reload: from the next generation on
        first = chatted.add(user_id)
        if now >= self._expired_at + 1:  # once a second is enough (a window is 30)
            self._expire(now, rules, out)
        flags = 0
        if not trusted:
            joined = self._joined.get(user_id)
            if first:
                flags = _FIRST
            if joined is not None and now - joined <= rules.join_lead_s:
                flags |= _JOINED
            if user.new_account:
                flags |= _NEW
        reason: Phrase | None = None
        earlier: tuple[str, ...] = ()
        # Every account's message counts (regulars saying the same thin a wave out: a
        # chorus is no raid), whoever came first.
        wave: _Wave | None = None
        plain, key, words = normalise(folded, self._host)
        if len(key) >= rules.min_length:
            wave = self._find(key, rules) or self._open(key, plain, text, words, found)
        if wave is not None:
            if found and not wave.found:
                wave.found = tuple(found)  # a later copy carries the link
                wave.promo = None
            self._posts += wave.add(now, user_id, flags, now - rules.window_s,
                                    "" if trusted else event_id)
            self._waves.move_to_end(wave.key)
            # Judged on every post: a wave is a raid while it looks like one (a phrase many
            # viewers use all the time never does; a raid's burst ends).
            if len(wave.senders) > 1 and self._is_raid(wave, rules):
                if not wave.raid:
                    earlier = wave.earlier()
                raid = self._join(wave, now)
                raid.last = now
                raid.messages += 1
                if flags & _FRESH:
                    raid.add(user_id, flags)
                if not trusted:
                    reason = self._wave_reason(wave, now)
                self._alarm(raid, now, rules, out)
            while self._posts > _MAX_POSTS or len(self._waves) > _MAX_WAVES:
                self._forget(next(iter(self._waves.values())))
        current = self._raid
        if reason is None and current is not None and not trusted and user_id in current.members:
            current.messages += 1
            reason = say("reason.raid_member",
                         f"raid: @{user.unique_id} is one of its {current.size} accounts "
                         f"(they posted {current.sample!r})",
                         user=user.unique_id, n=current.size, text=current.sample)
        if reason is None and not earlier:
            return None
        return RaidVerdict(reason, earlier)

    def end(self, now: float, out: AlarmSink, why: Phrase) -> None:
        """The stream ended: a raid in progress is over."""
        if self._raid is not None:
            self._end(self._raid, now, out, why)

    def tick(self, now: float, rules: RaidRules, out: AlarmSink) -> None:
        self._expire(now, rules, out)
        self._expire_joins(now, rules)
        joined = self._joined
        horizon = now - rules.join_lead_s
        while joined and next(iter(joined.values())) <= horizon:
            joined.popitem(last=False)
        self._learn_join_rate(now, rules)

    # -- waves -----------------------------------------------------------------------

    def _find(self, key: str, rules: RaidRules) -> _Wave | None:
        wave = self._waves.get(key) or self._aliases.get(key)
        if wave is not None:
            return wave
        best: _Wave | None = None
        best_score = 0.0
        for candidate in (self._heads.get(key[:_EDGE]), self._tails.get(key[-_EDGE:])):
            if candidate is None or candidate is best:
                continue
            score = fuzz.ratio(key, candidate.key, score_cutoff=rules.similarity)
            if score > best_score:
                best, best_score = candidate, score
        if best is not None:
            if best.aliases is None:
                best.aliases = []
            if len(best.aliases) < _MAX_ALIASES:
                best.aliases.append(key)
                self._aliases[key] = best
        return best

    def _open(
        self, key: str, plain: str, text: str, words: int, found: Collection[str]
    ) -> _Wave:
        wave = _Wave(key=key, text=text, plain=plain, words=words, found=tuple(found))
        self._waves[key] = wave
        self._heads[key[:_EDGE]] = wave
        self._tails[key[-_EDGE:]] = wave
        return wave

    def _forget(self, wave: _Wave) -> None:
        del self._waves[wave.key]
        self._posts -= len(wave.posts)
        key = wave.key
        if self._heads.get(key[:_EDGE]) is wave:
            del self._heads[key[:_EDGE]]
        if self._tails.get(key[-_EDGE:]) is wave:
            del self._tails[key[-_EDGE:]]
        for alias in wave.aliases or ():
            if self._aliases.get(alias) is wave:
                del self._aliases[alias]

    def _expire(self, now: float, rules: RaidRules, out: AlarmSink) -> None:
        self._expired_at = now
        horizon = now - rules.window_s
        waves = self._waves
        while waves:
            wave = next(iter(waves.values()))
            if wave.last > horizon:
                break
            self._forget(wave)
        raid = self._raid
        if raid is not None and raid.last <= horizon:
            quiet = round(rules.window_s)
            self._end(raid, now, out, say("alarm_text.raid_why_quiet",
                                          f"no raid message for {quiet} s", s=quiet))

    def _is_raid(self, wave: _Wave, rules: RaidRules) -> bool:
        senders = len(wave.senders)
        if senders < rules.min_users_promo and senders < rules.min_users:
            return False  # most waves: one message
        if wave.promo is None:
            wave.promo = _promotes(wave.plain, wave.words, wave.found, rules)
        if senders < (rules.min_users_promo if wave.promo else rules.min_users):
            return False
        if wave.fresh < rules.new_share * senders:
            return False  # mostly accounts that chatted before: a chorus
        if wave.promo:
            return True
        if wave.words < rules.min_words:
            return False
        return wave.arrived >= rules.join_share * senders or self._join_burst(rules)

    # -- the raid --------------------------------------------------------------------

    def _join(self, wave: _Wave, now: float) -> _Raid:
        """The current raid (started now if need be), with ``wave`` counted in."""
        raid = self._raid
        if raid is None:
            raid = self._raid = _Raid(started=wave.posts[0][0], last=now,
                                      sample=_display(wave.text), promo=wave.promo or "")
        if wave.raid:
            return raid
        wave.raid = True
        # The posts before the wave was recognised count too (they were published as
        # they came; the alarm says how many accounts there were).
        raid.messages += len(wave.posts) - 1
        for user_id, (_posts, flags) in wave.senders.items():
            if flags & _FRESH:
                raid.add(user_id, flags)
        return raid

    def _wave_reason(self, wave: _Wave, now: float) -> Phrase:
        senders = len(wave.senders)
        took = round(wave.span(now))
        joined: Phrase | str = ""
        promotes: Phrase | str = ""
        if wave.arrived:
            joined = say("reason.raid_joined", f", {wave.arrived} joined just before",
                         n=wave.arrived)
        if wave.promo:
            promotes = say("reason.raid_promotes", f"; promotes {wave.promo}",
                           what=_promo_phrase(wave.promo))
        return say("reason.raid",
                   f"raid: {senders} accounts posted this within {took} s, "
                   f"{wave.fresh} of them new to the chat{joined}{promotes}",
                   n=senders, s=took, new=wave.fresh, joined=joined, promotes=promotes)

    def _alarm(self, raid: _Raid, now: float, rules: RaidRules, out: AlarmSink) -> None:
        if raid.alarmed or not rules.alarm or raid.size < rules.alarm_users:
            return
        self._latch.cooldown_s = rules.cooldown_s
        joins = self._join_total
        took = round(now - raid.started)
        joined: Phrase | str = ""
        promotes: Phrase | str = ""
        if raid.arrived:
            joined = say("alarm_text.raid_joined", f" ({raid.arrived} joined just before)",
                         n=raid.arrived)
        if raid.promo:
            promotes = say("alarm_text.raid_promotes", f"; promotes {raid.promo}",
                           what=_promo_phrase(raid.promo))
        message = say("alarm_text.raid_raised",
                      f"Raid / bot wave: {raid.size} accounts new to the chat posted "
                      f"{raid.sample!r} within {took} s{joined}{promotes}",
                      n=raid.size, text=raid.sample, s=took, joined=joined, promotes=promotes)
        alarm = self._latch.raise_(now, message, {
            "members": raid.size, "messages": raid.messages, "sample": raid.sample,
            "joined_before": raid.arrived, "joins": joins, "promo": raid.promo,
            "since": raid.started,
        })
        if alarm is not None:
            raid.alarmed = True
            publish(out, alarm)

    def _end(self, raid: _Raid, now: float, out: AlarmSink, why: Phrase) -> None:
        self._raid = None
        for wave in self._waves.values():
            wave.raid = False
        took = raid.last - raid.started
        publish(out, self._latch.clear(
            now,
            say("alarm_text.raid_cleared",
                f"Raid is over ({why}): {raid.size} accounts, {raid.messages} messages in "
                f"{took:.0f} s",
                why=why, n=raid.size, messages=raid.messages, s=round(took)),
            {"members": raid.size, "messages": raid.messages, "sample": raid.sample,
             "since": raid.started, "duration_s": round(took, 1)},
        ))

    # -- chatters and joins ----------------------------------------------------------

    def _expire_joins(self, now: float, rules: RaidRules) -> None:
        seconds = self._join_seconds
        horizon = int(now) - rules.window_s
        while seconds and seconds[0][0] <= horizon:
            self._join_total -= seconds.popleft()[1]

    def _join_burst(self, rules: RaidRules) -> bool:
        total = self._join_total
        if total < rules.min_joins:
            return False
        base = self._join_base
        return base is None or self._join_age < _JOIN_WARMUP_S or total >= rules.join_surge * base

    def _learn_join_rate(self, now: float, rules: RaidRules) -> None:
        """The usual joins per window: an average that does not learn from bursts."""
        last = self._join_sampled
        self._join_sampled = now
        total = float(self._join_total)
        base = self._join_base
        if base is None or last is None:
            self._join_base = total
            return
        if total >= rules.min_joins and total >= rules.join_surge * base:
            return
        dt = max(0.0, now - last)
        weight = 1.0 - math.exp(-dt * math.log(2) / _JOIN_HALFLIFE_S)
        self._join_base = base + weight * (total - base)
        self._join_age += dt


def _promo_phrase(promo: str) -> Phrase:
    """:func:`_promotes`'s words with their codes: each part ``promo.<key>``, joined by
    ``promo.and`` (a part it does not know stays as written)."""
    said: Phrase | None = None
    for part in reversed(promo.split(" and ")):
        key = _PROMO_CODES.get(part)
        one = say(f"promo.{key}", part) if key else say("promo.other", part, text=part)
        said = one if said is None else say("promo.and", f"{one} and {said}", a=one, b=said)
    return said if said is not None else say("promo.other", promo, text=promo)


def _promotes(plain: str, words: int, found: Collection[str], rules: RaidRules) -> str:
    """What a text promotes, in words (``free coins/gifts/followers and a link``), or ``""``.

    A call to action counts on its own; a link or phone number (``found`` by the spam
    checks, or a URL here) only in a text of ``min_words`` words or more.
    """
    match = _PROMO.search(plain) if plain else None
    if match is None and words < rules.min_words:
        return ""
    parts: list[str] = []
    what = match.lastgroup if match is not None else None
    if what is not None:
        parts.append(_PROMOTES[what])
    if ("link" in found or "~" in plain) and what != "visit":
        parts.append("a link")
    if "phone" in found:
        parts.append("a phone number")
    return " and ".join(parts)
