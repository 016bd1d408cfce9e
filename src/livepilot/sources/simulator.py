"""A realistic demo stream: mixed German/English chat, gifts, likes, joins, a viewer curve.

Seeded: the same seed gives the same events in the same order. ``speed`` scales the
pauses between events (2.0 = twice as fast); ``speed=0`` does not sleep at all and stamps
events with simulated time from ``start`` (for recordings, tests and benchmarks).

The viewer curve rises, holds, and then drops (by about 40 % over a few minutes) in a
cycle of ``cycle`` seconds, so the demo shows a drop alarm; chat, joins, likes and gifts
follow the audience. Spam bursts (one link pasted by two to four never-seen accounts) and
insults, many obfuscated, are mixed in at realistic rates, and once a cycle the audio
drops out for ~40 s and viewers complain.

Users look as TikTok sends them: an id, a handle, a nickname and badges, no account age.
With ``raids=True`` a raid comes once a cycle, at a fifth of it (3 minutes into the demo):
25–35 accounts nobody has seen join and, within 18 s, paste near-identical promotion
("FOLLOW @… FOR FREE COINS" in varying case, leetspeak, typos and emoji). The raids
draw from their own random generator, so the rest of the stream is the same with or
without them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

from livepilot.clock import Clock, SystemClock
from livepilot.events import (
    Badge,
    ChatEvent,
    FollowEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    LiveEvent,
    ShareEvent,
    StatusEvent,
    StreamState,
    User,
    ViewerCountEvent,
)

__all__ = ["Simulator"]

_FIRST = (
    "anna lena max lukas mia leon emma paul sophie jonas lea finn marie ben laura tim "
    "julia noah sarah elias nina felix hannah jan clara tom emily jake chloe ryan ava "
    "mehmet elif can ayse luca giulia"
).split()
_SUFFIX = ("", "_", ".", "x", "99", "2001", "_official", "07", "_tv", "ka", "mausi", "_de")

_GREET = (
    "Hallo zusammen!",
    "hi",
    "Hey :)",
    "Servus aus München",
    "moin moin",
    "Grüße aus Wien 👋",
    "hello from the UK",
    "hi guys",
    "Guten Abend!",
    "endlich live 😍",
    "da bin ich wieder",
    "hallöchen",
    "hey {host}!",
    "Grüezi aus Zürich",
    "bin neu hier",
)
_CHATTER = (
    "😂😂😂",
    "haha",
    "geil",
    "so cool",
    "lol",
    "sieht mega aus",
    "❤️❤️",
    "das ist so schön",
    "love it",
    "wow",
    "ich feier das",
    "omg",
    "nice",
    "wie immer top",
    "yesss",
    "🔥🔥🔥",
    "mega Stimmung heute",
    "ich bin dabei",
    "gg",
    "oh nein",
    "krass",
    "this is great",
    "ich schau jeden Tag zu",
    "gute Musik",
    "mach weiter so",
    "bester Stream",
)
_QUESTION = (
    "wie alt bist du?",
    "Was machst du morgen?",
    "woher kommst du",
    "wann ist der nächste live?",
    "kannst du mich grüßen?",
    "what's the song?",
    "Welche Kamera benutzt du",
    "where are you from?",
    "hast du Haustiere?",
    "warum bist du so spät heute",
    "wie heißt das Lied",
    "machst du morgen wieder live?",
    "do you speak english?",
)
_PURCHASE = (
    "Was kostet das?",
    "was kostet der pulli",
    "wie teuer ist das",
    "gibts das in M?",
    "Gibt es das auch in schwarz?",
    "wo kann man das bestellen",
    "link bitte!!",
    "how much is it?",
    "do you ship to austria?",
    "Versand nach Österreich?",
    "gibts nen Rabattcode?",
    "ist das noch auf lager",
    "kann man auf rechnung zahlen?",
    "price pls",
)
_FEEDBACK = (
    "du bist so lieb",
    "bester live ever",
    "das Produkt ist super, hab es schon",
    "langweilig",
    "Qualität war schlecht bei meiner Bestellung",
    "the quality is amazing",
)
_TECH = (
    "Ton ist weg",
    "kein ton",
    "ich hör nix",
    "no sound??",
    "hört man dich?",
    "Ton???",
    "bild hängt",
    "laggt voll",
    "stream hängt bei mir",
)
_INSULT = (
    "du hurensohn",
    "h*rensohn",
    "hurens0hn",
    "h u r e n s o h n",
    "halt die fresse",
    "du bist so ein idiot",
    "missgeburt",
    "du opfer",
    "wichser",
    "geh sterben",
    "fick dich",
    "f1ck d1ch",
    "du spast",
    "kys",
    "you are so ugly lol",
    "stupid bitch",
    "du bist hässlich",
    "verpiss dich",
    "arschl0ch",
    "niemand mag dich",
)
_SPAM = (
    "🔥 FREE COINS 👉 tiktok-coins.xyz 🔥",
    "Gratis Follower!!! www.follow-boost.ru",
    "💰 verdiene 500€ am Tag, schreib mir: +49 151 23456789",
    "check my profile for giveaway 🎁🎁🎁",
)
_GIFTS = (
    (5655, "Rose", 1, 0.55),
    (5827, "TikTok", 1, 0.15),
    (5269, "Finger Heart", 5, 0.12),
    (6064, "Perfume", 20, 0.07),
    (5879, "Doughnut", 30, 0.05),
    (7934, "Hand Hearts", 100, 0.03),
    (6820, "Corgi", 299, 0.015),
    (8913, "Rosa Nebula", 15, 0.01),
)
_RAID_HANDLES = ("free.coins.drop", "gratis_muenzen_tt", "coins4you.live", "followboost_de")
_RAID_TEXTS = (
    "FOLLOW @{handle} FOR FREE COINS",
    "folgt @{handle} für gratis Coins",
    "free coins bei @{handle} schnell sein",
    "GRATIS FOLLOWER bei @{handle} einfach folgen",
)
_RAID_ENDS = ("", " 🔥🔥", " 💰💰", "!!", " 👉👉", " ✅", " 🎁🎁🎁")
_RAID_LEET = (("free", "fr33"), ("coins", "c0ins"), ("FREE", "FR33"), ("COINS", "C0INS"))
#: Seconds over which a raid's accounts post, and the longest they join before posting.
_RAID_SPREAD = 18.0
_RAID_LEAD = 12.0
_CATEGORIES: tuple[tuple[tuple[str, ...], float], ...] = (
    (_GREET, 0.17),
    (_CHATTER, 0.45),
    (_QUESTION, 0.12),
    (_PURCHASE, 0.10),
    (_FEEDBACK, 0.05),
    (_INSULT, 0.05),
)


class Simulator:
    """A seeded, endless (or ``duration``-bounded) demo stream."""

    def __init__(
        self,
        stream: str = "demo",
        *,
        seed: int = 1,
        speed: float = 1.0,
        duration: float | None = None,
        start: float | None = None,
        clock: Clock | None = None,
        cycle: float = 900.0,
        peak_viewers: int = 600,
        host: str = "lena.live",
        raids: bool = False,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.stream = stream
        self._seed = seed
        self._speed = speed
        self._duration = duration
        self._clock = clock or SystemClock()
        self._start = start
        self._cycle = cycle
        self._peak = peak_viewers
        self._host = host
        self._raids = raids

    def viewers_at(self, t: float) -> int:
        """The planned audience ``t`` seconds into the stream: rise, hold, drop."""
        phase = (t % self._cycle) / self._cycle
        base = max(20, self._peak // 30)
        if phase < 0.4:  # build up
            level = base + (self._peak - base) * math.sin(phase / 0.4 * math.pi / 2)
        elif phase < 0.75:  # hold, with a little wobble
            level = self._peak * (1 + 0.04 * math.sin(t / 23))
        else:  # drop to ~55 % over the last quarter
            fall = (phase - 0.75) / 0.25
            level = self._peak * (1 - 0.45 * min(1.0, fall * 3))
        return int(level)

    async def events(self) -> AsyncIterator[LiveEvent]:
        start = self._start if self._start is not None else self._clock.now()
        wall0 = self._clock.now()
        for t, event in self._timeline(start):
            if self._speed > 0:
                target = wall0 + t / self._speed
                delay = target - self._clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = self._clock.now()
                event = event.model_copy(update={"at": now, "received": now})
            yield event

    # The timeline is a pure generator of (simulated seconds, event): deterministic per seed.
    def _timeline(self, start: float) -> Iterator[tuple[float, LiveEvent]]:
        rng = random.Random(self._seed)
        ids = itertools.count(1)
        users = _UserPool(rng)
        heap: list[tuple[float, int, dict[str, Any]]] = []
        seq = itertools.count()

        def at(t: float, **fields: Any) -> None:
            heapq.heappush(heap, (t, next(seq), fields))

        def make(t: float, fields: dict[str, Any]) -> LiveEvent:
            base = {
                "id": f"{self.stream}-{next(ids)}",
                "stream": self.stream,
                "at": start + t,
                "received": start + t,
            }
            kind = fields.pop("kind")
            return _KINDS[kind](**base, **fields)

        at(0.0, kind="status", state=StreamState.CONNECTED, detail="simulator")
        second = 0
        last_viewers = self.viewers_at(0)
        raid_rng = random.Random(self._seed * 7919 + 1)
        # Planned early enough that the raid's joins (up to _RAID_LEAD s before each post)
        # are still ahead of the second being emitted.
        raid_second = max(0, int(self._cycle * 0.2) - int(_RAID_LEAD) - 1)
        while self._duration is None or second < self._duration:
            viewers = self.viewers_at(second)
            self._plan_second(rng, users, second, viewers, last_viewers, at)
            if self._raids and int(second % self._cycle) == raid_second:
                _plan_raid(raid_rng, second + _RAID_LEAD + 1, at)
            last_viewers = viewers
            second += 1
            while heap and heap[0][0] < second:
                t, _, fields = heapq.heappop(heap)
                yield t, make(t, fields)
        end = float(second)
        while heap:
            t, _, fields = heapq.heappop(heap)
            end = max(end, t)
            yield t, make(t, fields)
        yield (
            end,
            make(
                end,
                {
                    "kind": "status",
                    "state": StreamState.LIVE_ENDED,
                    "detail": "simulation finished",
                },
            ),
        )

    def _plan_second(
        self, rng: random.Random, users: _UserPool, s: int, viewers: int, before: int, at: Any
    ) -> None:
        if s % 5 == 0:
            at(s + 0.01, kind="viewers", count=viewers)
        # Chat: about one message per 80 viewers per second, bursty.
        for _ in range(_poisson(rng, viewers / 80)):
            user = users.pick()
            texts = rng.choices([c[0] for c in _CATEGORIES], [c[1] for c in _CATEGORIES])[0]
            text = rng.choice(texts).replace("{host}", self._host)
            at(s + rng.random(), kind="chat", user=user, text=text)
        # Once a cycle the audio drops out for ~40 s and viewers say so.
        if 0.55 <= (s % self._cycle) / self._cycle < 0.55 + 40 / self._cycle:
            for _ in range(_poisson(rng, 0.5)):
                at(s + rng.random(), kind="chat", user=users.pick(), text=rng.choice(_TECH))
        # Joins follow growth (and churn).
        for _ in range(_poisson(rng, max(0, viewers - before) + viewers / 150)):
            at(s + rng.random(), kind="join", user=users.new())
        # Like bursts: a few users tapping many times.
        for _ in range(_poisson(rng, viewers / 120)):
            user = users.pick()
            t = s + rng.random()
            for k in range(rng.randint(1, 4)):
                at(t + 0.2 * k, kind="like", user=user, count=rng.randint(3, 15))
        if rng.random() < viewers / 20_000:
            at(s + rng.random(), kind="follow", user=users.pick())
        if rng.random() < viewers / 40_000:
            at(s + rng.random(), kind="share", user=users.pick())
        # Gifts; streakable ones (1-5 diamonds) come as a streak with progress updates.
        for _ in range(_poisson(rng, viewers / 900)):
            gift_id, name, value, _ = rng.choices(_GIFTS, [g[3] for g in _GIFTS])[0]
            user = users.pick()
            t0 = s + rng.random()
            if value <= 5 and rng.random() < 0.6:
                n = rng.randint(2, 12)
                streak = f"{user.id}:{gift_id}:{s}:{rng.randrange(10**6)}"
                for k in range(1, n + 1):
                    at(
                        t0 + 0.35 * k,
                        kind="gift",
                        user=user,
                        gift_id=gift_id,
                        gift_name=name,
                        diamond_value=value,
                        count=k,
                        streak_id=streak,
                        final=k == n,
                    )
            else:
                at(
                    t0,
                    kind="gift",
                    user=user,
                    gift_id=gift_id,
                    gift_name=name,
                    diamond_value=value,
                    count=1,
                )
        # A spam burst now and then: one text pasted by a spammer's few never-seen accounts
        # within seconds (a raid is bigger: see ``raids``).
        if s > 30 and rng.random() < 1 / 150:
            text = rng.choice(_SPAM)
            for _ in range(rng.randint(2, 4)):
                at(s + rng.random() * 3, kind="chat", user=users.new(fresh=True), text=text)


class _UserPool:
    """Regulars who chat often, plus a stream of newcomers; bounded."""

    def __init__(self, rng: random.Random, size: int = 3_000) -> None:
        self._rng = rng
        self._users: list[User] = []
        self._size = size
        self._n = itertools.count(1)
        for _ in range(40):
            self.new()

    def new(self, fresh: bool = False) -> User:
        rng = self._rng
        n = next(self._n)
        if fresh:
            handle = f"user{rng.randint(10**7, 10**8)}"
        else:
            handle = rng.choice(_FIRST) + rng.choice(_SUFFIX) + (str(n % 97) if n > 60 else "")
        badges: set[Badge] = set()
        if not fresh:
            if rng.random() < 0.3:
                badges.add(Badge.FOLLOWER)
            if rng.random() < 0.05:
                badges.add(Badge.SUBSCRIBER)
            if rng.random() < 0.01:
                badges.add(Badge.MODERATOR)
        user = User(
            id=f"u{n}",
            unique_id=handle,
            nickname=handle.split("_")[0].capitalize(),
            badges=frozenset(badges),
        )
        if not fresh:
            if len(self._users) >= self._size:
                self._users[rng.randrange(self._size)] = user
            else:
                self._users.append(user)
        return user

    def pick(self) -> User:
        # Regulars write more than newcomers, but no one writes a message every few
        # seconds (that would be a spammer, and the spam stage would rightly say so).
        n = len(self._users)
        if self._rng.random() < 0.3:
            return self._users[int(n * self._rng.random() ** 2)]
        return self._users[self._rng.randrange(n)]


def _plan_raid(rng: random.Random, start: float, at: Any) -> None:
    """A raid as TikTok shows it: accounts nobody has seen join, then paste near-identical
    promotion within ``_RAID_SPREAD`` seconds of ``start``."""
    template = rng.choice(_RAID_TEXTS).format(handle=rng.choice(_RAID_HANDLES))
    for _ in range(rng.randint(25, 35)):
        # TikTok ids are 19-digit numbers; new accounts keep the default "user…" handle.
        uid = str(7_100_000_000_000_000_000 + rng.randrange(10**17))
        handle = f"user{rng.randrange(10**9, 10**10)}"
        bot = User(id=uid, unique_id=handle, nickname=handle)
        posted = start + rng.random() * _RAID_SPREAD
        at(posted - rng.uniform(1.0, _RAID_LEAD), kind="join", user=bot)
        at(posted, kind="chat", user=bot, text=_raid_variant(rng, template))


def _raid_variant(rng: random.Random, text: str) -> str:
    """One account's copy: case, leetspeak, a doubled letter and emoji vary."""
    roll = rng.random()
    if roll < 0.3:
        text = text.upper()
    elif roll < 0.5:
        text = text.lower()
    for plain, leet in _RAID_LEET:
        if plain in text and rng.random() < 0.2:
            text = text.replace(plain, leet)
    if rng.random() < 0.25:
        i = rng.randrange(len(text))
        if text[i].isalpha():
            text = text[: i + 1] + text[i:]
    return text + rng.choice(_RAID_ENDS)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation keeps this O(1) for busy seconds
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


_KINDS: dict[str, type[LiveEvent]] = {
    "chat": ChatEvent,
    "gift": GiftEvent,
    "join": JoinEvent,
    "like": LikeEvent,
    "follow": FollowEvent,
    "share": ShareEvent,
    "viewers": ViewerCountEvent,
    "status": StatusEvent,
}
