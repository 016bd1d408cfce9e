"""Live tallies of polls and giveaways: sent on start, throttled while votes pour in, at
once on close and draw, counts only — and the wire round trip of the message."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from livepilot.events import CommandEvent, DeleteEvent, LiveEvent
from livepilot.insights import Tally, TallyOption
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.stages.show.polls import TALLY_INTERVAL, TALLY_REFRESH, PollsStage
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage, decode, encode

T0 = 1_700_000_000.0


class Flagger:
    """Stands in for the word filter: a ``[toxic]`` marker flags the message."""

    name = "flagger"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if "[toxic]" in getattr(event, "text", ""):
            draft.label("toxic", self.name)

    def tick(self, now: float, out: Outbox) -> None:
        pass


class Studio:
    """The polls stage in a pipeline, on a clock the test moves by hand."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.make = EventFactory(self.clock, stream="s")
        self.stage = PollsStage("s", rng=random.Random(3))
        self.pipeline = Pipeline([Flagger(), self.stage], Metrics())

    def at(self, t: float) -> None:
        self.clock.set(T0 + t)

    def feed(self, event: LiveEvent) -> list[Tally]:
        return tallies(self.pipeline.handle(event, self.clock.now()))

    def command(self, action: str, target: str = "", **args: object) -> list[Tally]:
        now = self.clock.now()
        return self.feed(CommandEvent(id=f"c{now}", stream="s", at=now, received=now,
                                      action=action, target=target, by="mod", args=args))

    def chat(self, user: str, text: str) -> list[Tally]:
        return self.feed(self.make.chat(user, text))

    def tick(self, t: float) -> list[Tally]:
        self.at(t)
        return tallies(self.pipeline.tick(self.clock.now()))


def tallies(messages: list[WireMessage]) -> list[Tally]:
    return [m for m in messages if isinstance(m, Tally)]


def votes(tally: Tally) -> list[int]:
    return [o.votes for o in tally.options]


def test_a_poll_tally_goes_out_on_start() -> None:
    studio = Studio()
    (tally,) = studio.command("poll_start", question="Welche Farbe?", options=["Blau", "Rot"])
    assert tally.id == "s:poll:1" and tally.kind == "poll" and tally.open
    assert tally.title == "Welche Farbe?" and tally.at == T0 and tally.source == "polls"
    assert tally.options == (TallyOption(option="Blau", votes=0, share=0.0),
                             TallyOption(option="Rot", votes=0, share=0.0))
    assert tally.voters == 0 and tally.keyword is None


def test_a_burst_of_votes_makes_one_update_at_the_next_tick() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    sent: list[Tally] = []
    for i in range(40):  # 40 votes within 0.1 s of the start
        studio.at(i * 0.0025)
        sent += studio.chat(f"user{i}", "1" if i % 4 else "2")
    assert sent == []
    assert studio.tick(TALLY_INTERVAL - 0.01) == []  # still inside the interval
    (update,) = studio.tick(TALLY_INTERVAL + 0.1)
    assert votes(update) == [30, 10] and update.voters == 40
    assert [o.share for o in update.options] == [0.75, 0.25]
    assert update.at == T0 + TALLY_INTERVAL + 0.1
    assert studio.tick(TALLY_INTERVAL + 1.1) == []  # nothing changed since


def test_a_vote_after_a_quiet_spell_goes_out_at_once_then_the_rest_waits() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    studio.at(10.0)
    (first,) = studio.chat("anna", "1")
    assert votes(first) == [1, 0]
    studio.at(10.2)
    assert studio.chat("ben", "2") == []
    studio.at(10.3)
    assert studio.chat("ben", "1") == []  # ben moves his vote: the latest counts
    (later,) = studio.tick(11.0)
    assert votes(later) == [2, 0] and later.voters == 2


def test_repeated_votes_do_not_count_as_changes() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    studio.at(5.0)
    assert len(studio.chat("anna", "1")) == 1
    studio.at(6.0)
    assert studio.chat("anna", "!1") == []
    assert studio.tick(7.0) == []


def test_a_deleted_vote_is_withdrawn_from_the_tally() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    studio.at(1.0)
    vote = studio.make.chat("anna", "2")
    studio.feed(vote)
    studio.at(2.0)
    (tally,) = studio.feed(DeleteEvent(id="d", stream="s", at=T0 + 2, received=T0 + 2,
                                       target=vote.id))
    assert votes(tally) == [0, 0] and tally.voters == 0


def test_closing_sends_the_result_at_once_even_inside_the_interval() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    studio.at(0.1)
    studio.chat("anna", "2")
    studio.at(0.2)
    (closed,) = studio.command("poll_close")
    assert not closed.open and votes(closed) == [0, 1] and closed.at == T0 + 0.2
    assert studio.tick(5.0) == []  # the counts it held went out with the result
    assert studio.chat("ben", "1") == []


def test_an_open_poll_is_repeated_for_overlays_that_connect_later() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q", options=["A", "B"])
    assert studio.tick(TALLY_REFRESH - 1) == []
    (again,) = studio.tick(TALLY_REFRESH)
    assert again.open and again.id == "s:poll:1"
    studio.command("poll_close")
    assert studio.tick(3 * TALLY_REFRESH) == []  # a closed poll is not repeated


def test_a_new_poll_sends_the_old_ones_result_then_the_new_one() -> None:
    studio = Studio()
    studio.command("poll_start", question="Q1", options=["A", "B"])
    out = studio.command("poll_start", question="Q2", options=["C", "D"])
    assert [(t.id, t.open) for t in out] == [("s:poll:1", False), ("s:poll:2", True)]


def test_giveaway_tallies_count_entrants_and_name_only_eligible_winners() -> None:
    studio = Studio()
    (started,) = studio.command("giveaway_start", keyword="#gewinn", title="Merch")
    assert started.kind == "giveaway" and started.keyword == "#gewinn"
    assert started.title == "Merch" and (started.entries, started.eligible) == (0, 0)
    assert started.options == () and started.winners == ()
    studio.at(1.0)
    for name in ("anna", "ben", "cem", "troll"):
        studio.chat(name, "#gewinn")
    studio.at(1.1)
    studio.chat("troll", "#gewinn [toxic] idiot")  # flags troll, already entered
    studio.at(1.2)
    studio.command("strike", target="id-cem")
    (update,) = studio.tick(2.0)
    # every entrant counts, but only the unflagged ones may win
    assert (update.entries, update.eligible) == (4, 2) and update.winners == ()
    studio.at(2.1)
    (drawn,) = studio.command("giveaway_draw")  # at once, inside the interval
    assert not drawn.open and len(drawn.winners) == 1
    assert drawn.winners[0] in ("anna", "ben") and drawn.eligible == 1
    winner_id = f"id-{drawn.winners[0]}"
    studio.at(3.0)
    (second,) = studio.command("giveaway_draw")
    assert set(second.winners) == {"anna", "ben"} and second.eligible == 0
    # the first winner is struck afterwards: the overlay stops naming them
    studio.at(4.0)
    (after,) = studio.command("strike", target=winner_id)
    assert after.winners == (second.winners[1],)
    assert "troll" not in encode(after) and "cem" not in encode(after)


def test_a_giveaway_without_eligible_entrants_sends_nothing_on_draw() -> None:
    studio = Studio()
    studio.command("giveaway_start", keyword="los")
    studio.at(1.0)
    assert studio.command("giveaway_draw") == []


@pytest.mark.parametrize(
    "tally",
    [
        Tally(id="s:poll:1", stream="s", source="polls", at=T0, kind="poll", open=True,
              title="Farbe? 💙", voters=3,
              options=(TallyOption(option="Blau", votes=2, share=2 / 3),
                       TallyOption(option="Rot", votes=1, share=1 / 3))),
        Tally(id="s:giveaway:1", stream="s", source="polls", at=T0, kind="giveaway",
              open=False, keyword="#gewinn", entries=5, eligible=3, winners=("anna",)),
    ],
    ids=["poll", "giveaway"],
)
def test_tallies_round_trip_through_the_wire(tally: Tally) -> None:
    raw = encode(tally)
    assert '"type":"tally"' in raw
    assert decode(raw) == tally


def test_a_tally_must_fit_its_kind() -> None:
    with pytest.raises(ValidationError, match="poll tally needs options"):
        Tally(id="p", stream="s", source="polls", at=0, kind="poll", open=True)
    with pytest.raises(ValidationError, match="giveaway tally needs a keyword"):
        Tally(id="g", stream="s", source="polls", at=0, kind="giveaway", open=True)
    with pytest.raises(ValidationError):
        decode('{"type":"tally","id":"g","stream":"s","source":"polls","at":0,'
               '"kind":"giveaway","open":true,"keyword":"x","voters_by_user":{}}')
