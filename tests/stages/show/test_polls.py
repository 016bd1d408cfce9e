"""Polls (one vote per user, the latest counts, deletions withdraw) and giveaways (a fair
draw among eligible users, flagged users excluded), driven by commands like the console."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest

from livepilot.commands import PollPlan
from livepilot.events import CommandEvent, DeleteEvent, LiveEvent
from livepilot.insights import Alarm, AlarmState, Insight, Prompt
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.registry import build_pipeline
from livepilot.stages.show.polls import Giveaway, PollsStage, parse_vote
from livepilot.stages.show.run_of_show import RunOfShow
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage

PLAN = PollPlan(question="Welche Farbe?", options=("Blau", "Rot", "Grün"),
                keywords={"Blau": ("blue", "💙")})


class Flagger:
    """Stands in for the word filter and spam stages: ``[toxic]`` / ``[spam]`` markers."""

    name = "flagger"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        text = getattr(event, "text", "")
        for marker in ("toxic", "spam"):
            if f"[{marker}]" in text:
                draft.label(marker, self.name)

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Room:
    def __init__(self, seed: int = 1, plan: RunOfShow | None = None) -> None:
        self.clock = FakeClock()
        self.make = EventFactory(self.clock, stream="s")
        self.stage = PollsStage("s", rng=random.Random(seed), plan=plan)
        self.pipeline = Pipeline([Flagger(), self.stage], Metrics())
        self.out: list[WireMessage] = []

    def feed(self, event: LiveEvent) -> list[WireMessage]:
        result = self.pipeline.handle(event, self.clock.now())
        self.out.extend(result)
        self.clock.advance(1)
        return result

    def command(self, action: str, target: str = "", **args: object) -> list[WireMessage]:
        now = self.clock.now()
        return self.feed(CommandEvent(id=f"c{now}", stream="s", at=now, received=now,
                                      action=action, target=target, by="mod", args=args))

    def chat(self, user: str, text: str) -> Insight:
        result = self.feed(self.make.chat(user, text))
        return next(m for m in result if isinstance(m, Insight))


@pytest.mark.parametrize(
    ("text", "option"),
    [("1", 0), ("!2", 1), (" #3 ", 2), ("!1!", 0), ("blau", 0), ("Rot!", 1), ("💙", 0),
     ("BLUE", 0), ("4", None), ("0", None), ("1 und 2", None), ("ich nehme blau", None),
     ("", None), ("!", None)],
)
def test_parse_vote(text: str, option: int | None) -> None:
    assert parse_vote(PLAN, text) == option


def test_plan_validation() -> None:
    with pytest.raises(ValueError, match="distinct"):
        PollPlan(question="q", options=("A", "a"))
    with pytest.raises(ValueError, match="unknown option"):
        PollPlan(question="q", options=("A", "B"), keywords={"C": ("c",)})
    with pytest.raises(ValueError):
        PollPlan(question="q", options=("A",))


def test_poll_counts_one_vote_per_user_latest_wins_and_deletes_withdraw() -> None:
    room = Room()
    started = room.command("poll_start", question="Welche Farbe?", options=["Blau", "Rot"])
    alarm = next(m for m in started if isinstance(m, Alarm))
    assert alarm.kind == "poll" and alarm.state == AlarmState.RAISED
    assert room.chat("anna", "1").has("vote")
    room.chat("anna", "!1")          # duplicate: still one vote
    room.chat("ben", "2")
    room.chat("ben", "blau")         # changed mind: the vote moves
    room.chat("cem", "rot")
    deleted = room.make.chat("dora", "2")
    room.feed(deleted)
    assert not room.chat("eve", "ich finde 1 und 2 gut").has("vote")
    room.feed(DeleteEvent(id="d1", stream="s", at=room.clock.now(), received=room.clock.now(),
                          target=deleted.id))
    assert not room.chat("troll", "[spam] 2").has("vote")
    poll = room.stage.poll
    assert poll is not None and poll.counts == [2, 1] and len(poll.votes) == 3
    closed = room.command("poll_close")
    result = next(m for m in closed if isinstance(m, Alarm))
    assert result.id == alarm.id and result.state == AlarmState.CLEARED
    assert [r["votes"] for r in result.data["results"]] == [2, 1]
    prompt = next(m for m in closed if isinstance(m, Prompt))
    assert prompt.text == "Umfrage „Welche Farbe?“: Blau 2 (67 %), Rot 1 (33 %)"
    room.chat("fritz", "1")          # after closing: not counted
    assert poll.counts == [2, 1]


def test_deleting_an_old_vote_message_keeps_the_newer_vote() -> None:
    room = Room()
    room.command("poll_start", question="Q", options=["A", "B"])
    first = room.make.chat("anna", "1")
    room.feed(first)
    room.chat("anna", "2")
    room.feed(DeleteEvent(id="d", stream="s", at=0, received=0, target=first.id))
    assert room.stage.poll is not None and room.stage.poll.counts == [0, 1]


def test_poll_from_the_run_of_show_segment() -> None:
    plan = RunOfShow.model_validate({"segments": [
        {"name": "Produkt", "minutes": 5, "poll": PLAN.model_dump()}]})
    room = Room(plan=plan)
    room.command("poll_start", segment="produkt")
    assert room.stage.poll is not None and room.stage.poll.plan == PLAN


def test_bad_poll_command_is_rejected_without_crashing() -> None:
    room = Room()
    assert [m for m in room.command("poll_start", question="Q", options=["only"])] == []
    assert room.command("poll_start", segment="x") == []
    assert room.stage.poll is None


def test_a_new_poll_closes_the_running_one() -> None:
    room = Room()
    room.command("poll_start", question="Q1", options=["A", "B"])
    out = room.command("poll_start", question="Q2", options=["A", "B"])
    states = [(m.id, m.state) for m in out if isinstance(m, Alarm)]
    assert states == [("s:poll:1", "cleared"), ("s:poll:2", "raised")]


def test_giveaway_draws_among_entrants_excluding_flagged_users() -> None:
    room = Room(seed=7)
    started = room.command("giveaway_start", keyword="#gewinn")
    assert any(isinstance(m, Alarm) and m.kind == "giveaway" for m in started)
    for name in ("anna", "ben", "cem"):
        assert room.chat(name, "ich will #gewinn!").has("giveaway_entry")
    room.chat("dora", "ich will auch")                  # no keyword: not entered
    room.chat("troll", "#gewinn [toxic] du idiot")     # flagged message: not entered
    room.chat("bot", "#gewinn")
    room.chat("bot", "kauft hier [spam]")              # flagged later: excluded too
    room.chat("ben", "#gewinn")                         # entering twice counts once
    room.command("strike", target="id-cem")            # struck by a moderator: excluded
    giveaway = room.stage.giveaway
    assert giveaway is not None
    assert sorted(giveaway.entries) == ["id-anna", "id-ben", "id-bot", "id-cem"]
    out = room.command("giveaway_draw")
    winner = next(m for m in out if isinstance(m, Prompt))
    assert winner.text in ("Gewinner des Giveaways: @anna (aus 4 Teilnehmern)",
                           "Gewinner des Giveaways: @ben (aus 4 Teilnehmern)")
    cleared = next(m for m in out if isinstance(m, Alarm))
    assert cleared.state == AlarmState.CLEARED and cleared.data["eligible"] == 1
    # a re-draw picks the other eligible user, then nobody is left
    second = [m for m in room.command("giveaway_draw") if isinstance(m, Prompt)]
    assert len(second) == 1 and second[0].text != winner.text
    assert room.command("giveaway_draw") == []


def test_giveaway_alarm_is_raised_while_open_and_named_like_the_giveaway() -> None:
    room = Room(seed=3)

    def alarms(out: list[WireMessage]) -> list[tuple[str, str, str]]:
        return [(m.id, m.state, m.message) for m in out if isinstance(m, Alarm)]

    first = room.command("giveaway_start", keyword="eins")
    assert alarms(first) == [("s:giveaway:1", "raised", "Giveaway: type 'eins'")]
    room.chat("anna", "eins")
    replaced = room.command("giveaway_start", keyword="zwei")
    assert alarms(replaced) == [("s:giveaway:1", "cleared", "replaced by a new giveaway"),
                                ("s:giveaway:2", "raised", "Giveaway: type 'zwei'")]
    assert room.stage.giveaway is not None and room.stage.giveaway.id == "s:giveaway:2"
    room.chat("ben", "zwei")
    room.chat("cem", "zwei")
    drawn = room.command("giveaway_draw")
    (cleared,) = alarms(drawn)
    assert cleared[:2] == ("s:giveaway:2", "cleared") and cleared[2].startswith("winner @")
    redraw = room.command("giveaway_draw")      # closed already: a prompt, no second clear
    assert alarms(redraw) == []
    prompts = [m.id for m in [*drawn, *redraw] if isinstance(m, Prompt)]
    assert prompts == ["s:prompt:1", "s:prompt:2"]


def test_giveaway_keyword_matches_words_not_substrings() -> None:
    g = Giveaway("g", "rose", "", 0.0)
    assert g.matches("Rose!") and g.matches("ich will eine rose")
    assert not g.matches("rosenkohl")
    assert Giveaway("g", "#win", "", 0.0).matches("#WIN bitte")


def test_giveaway_draw_is_uniform_over_eligible_users() -> None:
    """20,000 seeded draws over 8 eligible users: every user wins 1/8 of the time (±6 %),
    and the flagged entrants never win. A chi-square test at p≈0.001 guards the spread."""
    rng = random.Random(12345)
    eligible = [f"u{i}" for i in range(8)]
    flagged = {"f1", "f2"}
    wins: Counter[str] = Counter()
    draws = 20_000
    for _ in range(draws):
        g = Giveaway("g", "x", "", 0.0)
        for uid in ["f1", *eligible, "f2"]:
            g.entries[uid] = uid
        winner = g.draw(rng, flagged)
        assert winner is not None
        wins[winner] += 1
    assert set(wins) == set(eligible)
    expected = draws / len(eligible)
    assert all(abs(n - expected) / expected < 0.06 for n in wins.values()), wins
    chi2 = sum((n - expected) ** 2 / expected for n in wins.values())
    assert chi2 < 24.3  # chi-square, 7 degrees of freedom, p = 0.001


def test_the_same_seed_draws_the_same_winner() -> None:
    winners = []
    for _ in range(2):
        room = Room(seed=99)
        room.command("giveaway_start", keyword="los")
        for i in range(30):
            room.chat(f"user{i}", "los")
        room.command("giveaway_draw")
        snapshot = room.stage.snapshot()["giveaway"]
        assert snapshot is not None
        winners.append(snapshot["winners"])
    assert winners[0] == winners[1] and len(winners[0]) == 1


def test_snapshot_for_the_api() -> None:
    room = Room()
    assert room.stage.snapshot() == {"poll": None, "giveaway": None}
    room.command("poll_start", question="Q", options=["A", "B"])
    room.chat("anna", "2")
    poll = room.stage.snapshot()["poll"]
    assert poll == {"id": "s:poll:1", "question": "Q", "open": True, "voters": 1,
                    "results": [{"option": "A", "votes": 0, "share": 0.0},
                                {"option": "B", "votes": 1, "share": 1.0}]}


def test_result_prompts_can_be_acknowledged() -> None:
    room = Room()
    room.command("poll_start", question="Q", options=["A", "B"])
    (prompt,) = [m for m in room.command("poll_close") if isinstance(m, Prompt)]
    now = room.clock.now()
    (closed,) = room.command("ack_prompt", target=prompt.id)
    assert closed == prompt.model_copy(update={"expires_at": now})
    assert room.command("ack_prompt", target=prompt.id) == []


def test_polls_stage_sees_an_edited_run_of_show(tmp_path: Path) -> None:
    plan_file = tmp_path / "show.yaml"
    plan_file.write_text("segments:\n  - {name: Produkt, minutes: 5}\n", encoding="utf-8")
    os.utime(plan_file, (1_000, 1_000))
    settings = Settings(rules_dir=tmp_path, run_of_show=plan_file, stages=("polls",))
    pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "s"))
    stage = pipeline.stage("polls")
    assert isinstance(stage, PollsStage)
    clock = FakeClock()

    def start() -> None:
        now = clock.now()
        pipeline.handle(CommandEvent(id=f"c{now}", stream="s", at=now, received=now,
                                     action="poll_start", args={"segment": "Produkt"}, by="m"),
                        now)

    start()
    assert stage.poll is None  # the segment has no poll yet
    plan_file.write_text(
        "segments:\n  - name: Produkt\n    minutes: 5\n"
        "    poll: {question: \"Farbe?\", options: [Blau, Rot]}\n", encoding="utf-8")
    os.utime(plan_file, (2_000, 2_000))
    clock.advance(1)
    pipeline.tick(clock.now())
    start()
    assert stage.poll is not None and stage.poll.plan.question == "Farbe?"


def _seeded_draw(tmp_path: Path) -> list[str]:
    settings = Settings(rules_dir=tmp_path, giveaway_seed=42, stages=("polls",))
    pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "s"))
    clock = FakeClock()
    make = EventFactory(clock, stream="s")

    def command(action: str, **args: object) -> list[WireMessage]:
        now = clock.now()
        cmd = CommandEvent(id=f"c{action}", stream="s", at=now, received=now,
                           action=action, args=args, by="m")
        return pipeline.handle(cmd, now)

    command("giveaway_start", keyword="los")
    for i in range(50):
        pipeline.handle(make.chat(f"user{i}", "los!"), clock.now())
    return [m.text for m in command("giveaway_draw") if isinstance(m, Prompt)]


def test_giveaway_seed_setting_makes_replayed_draws_repeatable(tmp_path: Path) -> None:
    first = _seeded_draw(tmp_path)
    assert first == _seeded_draw(tmp_path) and len(first) == 1
