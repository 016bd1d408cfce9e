"""Spam heuristics: one message at a time, per user, per stream; bounded state."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.events import Badge
from livepilot.insights import Action, Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.spam import SpamFilter, build
from livepilot.testing import EventFactory, FakeClock

RULES = Path(__file__).resolve().parents[3] / "rules"


class Room:
    """A stream with the spam stage from a rules directory, and a clock we move by hand."""

    def __init__(self, rules_dir: Path = RULES) -> None:
        self.stage: SpamFilter = build(StageContext(Settings(rules_dir=rules_dir), Metrics(),
                                                    stream="test"))
        self.pipeline = Pipeline([self.stage], Metrics())
        self.clock = FakeClock()
        self.events = EventFactory(self.clock)
        self.alarms: list[object] = []

    def chat(self, user: str, text: str, after: float = 1.0, **kw: bool) -> Insight:
        self.clock.advance(after)
        who = self.events.user(user, *((Badge.MODERATOR,) if kw.get("mod") else ()))
        out = self.pipeline.handle(self.events.chat(who, text), self.clock.now())
        self.alarms.extend(m for m in out if m.type == "alarm")
        return next(m for m in out if isinstance(m, Insight))

    def kinds(self, user: str, text: str, after: float = 1.0) -> list[str | None]:
        return [lb.kind for lb in self.chat(user, text, after).labels]


@pytest.fixture
def room() -> Room:
    return Room()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("FOLGT MIR ALLE FÜR MEHR CONTENT", "caps"),
        ("😂😂😂😂😂😂😂😂😂😂😂😂", "flood"),
        ("❤️❤️❤️❤️❤️❤️❤️❤️❤️❤️❤️❤️", "flood"),          # with variation selectors
        ("!!!!!!!!!!!!!!!!!!!!", "flood"),
        ("🔥🎉💯🔥🎉💯🔥🎉💯🔥🎉💯🔥🎉💯🔥", "flood"),
        ("lol lol lol lol lol lol lol lol lol", "flood"),
        ("gratis Coins auf www.free-coins.xyz", "link"),
        ("https://bit.ly/abc123 für Geschenke", "link"),
        ("gewinne auf freegifts punkt de", "link"),
        ("free coins at coins dot com", "link"),
        ("visit t.me/freegiftsbot", "link"),
        ("schreib mir auf whatsapp 0151 23456789", "phone"),
        ("ruf an: +49 170 1234567", "phone"),
        ("Telegram 0176-12345678", "phone"),
    ],
)
def test_one_message_heuristics(room: Room, text: str, kind: str) -> None:
    insight = room.chat("bot", text)
    assert kind in [lb.kind for lb in insight.labels if lb.name == "spam"], insight.reasons


@pytest.mark.parametrize(
    "text",
    [
        "Hallo zusammen!", "HALLO", "OMG", "😂😂😂", "❤️❤️", "Kostet das 1.000.000 Euro?",
        "Um 19:30 Uhr geht es weiter", "Zum Beispiel bei tiktok.com", "z.B. das rote Kleid",
        "Nummer 5 ist mein Favorit", "node.js is cool", "I scored 12345 points",
        "Der Termin ist am 14.08.2025", "Bestellnummer 12345678", "Wie geht's? Gut.",
    ],
)
def test_ordinary_chat_is_not_spam(room: Room, text: str) -> None:
    insight = room.chat("fan", text)
    assert not insight.has("spam"), insight.reasons


def test_caps_is_review_and_links_are_hidden(room: Room) -> None:
    caps = room.chat("a", "DAS IST DER BESTE STREAM EVER")
    assert caps.action is Action.REVIEW and not caps.hidden
    assert caps.reasons[0].text == "mostly capital letters (100% of 24)"
    link = room.chat("b", "geh auf www.example.com")
    assert link.action is Action.HIDE and link.hidden
    assert link.reasons[0].text == "link to 'example.com'"


def test_repeat_by_similarity_not_only_equality(room: Room) -> None:
    assert not room.chat("anna", "Folgt mir für gratis Coins!!").has("spam")
    assert not room.chat("anna", "folgt mir für gratis coins 2").has("spam")
    third = room.chat("anna", "Folgt mir fuer gratis Coinz!!!")
    assert "repeat" in [lb.kind for lb in third.labels]
    assert "@anna sent this 3 times in 2 min" in third.reasons[0].text
    # someone else saying it is not this user's repeat
    assert not room.chat("ben", "folgt mir für gratis coins").has("spam")


def test_repeats_expire(room: Room) -> None:
    room.chat("anna", "kauft meinen Merch")
    room.chat("anna", "kauft meinen Merch")
    assert not room.chat("anna", "kauft meinen Merch", after=300).has("spam")


def test_short_greetings_from_many_users_are_not_a_raid(room: Room) -> None:
    assert not any(room.chat(f"fan{i}", "hallo", after=0.2).has("spam") for i in range(30))


def test_viewers_answering_the_host_in_chorus_are_not_a_raid(room: Room) -> None:
    chorus = [room.chat(f"fan{i}", "Team Rot ist das beste Team!", after=0.3) for i in range(20)]
    assert not any(insight.has("spam") for insight in chorus)
    assert room.alarms == []


def test_a_promo_wave_needs_no_new_account_flag(room: Room) -> None:
    # First messages in this stream, a link: a raid (TikTok never says an account is new).
    text = "krasse Angebote auf deals punkt de"
    waves = [room.chat(f"acct{i}", text, after=0.5) for i in range(6)]
    assert "raid" in [lb.kind for lb in waves[-1].labels]
    assert "raid" not in [lb.kind for lb in waves[1].labels]


def test_rate_per_user(room: Room) -> None:
    results = [room.chat("fast", f"nachricht nummer {word}", after=1.0).has("spam")
               for word in "eins zwei drei vier fuenf sechs sieben acht".split()]
    assert results == [False] * 6 + [True, True]
    assert not room.chat("fast", "wieder normal", after=20).has("spam")


def test_moderators_are_exempt(room: Room) -> None:
    assert not room.chat("mod", "Shop: www.example.com", mod=True).has("spam")


def test_per_user_state_is_bounded_and_expires(tmp_path: Path) -> None:
    (tmp_path / "spam.yaml").write_text("max_users: 100\nuser_idle_s: 60\n")
    room = Room(tmp_path)
    for i in range(1_000):
        room.chat(f"viewer{i}", f"hallo von {i}", after=0.01)
    assert room.stage.tracked_users == 100
    room.stage.tick(room.clock.now() + 61, Outbox())
    assert room.stage.tracked_users == 0


def test_thresholds_come_from_the_rules_file_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "spam.yaml"
    path.write_text("caps: {enabled: false}\n")
    room = Room(tmp_path)
    assert not room.chat("a", "DAS IST DER BESTE STREAM EVER").has("spam")
    path.write_text("caps: {min_letters: 5, ratio: 0.5, action: hide}\n")
    room.stage.tick(room.clock.now() + 2, Outbox())
    shouting = room.chat("a", "DAS IST DER BESTE STREAM EVER")
    assert shouting.has("spam") and shouting.hidden
