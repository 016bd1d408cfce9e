"""Each chat message's moderation state: visible, held, hidden — and the review queue."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from livepilot.events import ChatEvent, CommandEvent
from livepilot.insights import Insight, Label, ModerationDecision, Reason, Visibility
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.message_state import MessageStates
from livepilot.stages.moderation.moderation import ModerationStage, build
from livepilot.testing import EventFactory, FakeClock

RULES = Path(__file__).resolve().parents[3] / "rules"

clock = FakeClock()
make = EventFactory(clock, stream="s")


def judged(text: str, *, user: str = "anna", hidden: bool = False,
           flag: str | None = None) -> tuple[ChatEvent, Draft]:
    event = make.chat(user, text)
    draft = Draft(event=event, now=clock.now())
    if flag:
        draft.label(flag, "word_filter", kind="insult" if flag == "toxic" else None)
        draft.reason("word_filter", f"matched {text[:10]!r}")
    draft.hidden = hidden
    return event, draft


def command(action: str, target: str, by: str = "mia") -> CommandEvent:
    now = clock.now()
    return CommandEvent(id=f"cmd-{action}-{target}-{by}", stream="s", at=now, received=now,
                        action=action, target=target, by=by)


def admitted(book: MessageStates, text: str, **kwargs: object) -> ChatEvent:
    event, draft = judged(text, **kwargs)  # type: ignore[arg-type]
    book.admit(event, draft)
    return event


def test_visible_to_hidden_and_back_with_who_and_when() -> None:
    book = MessageStates()
    chat = admitted(book, "hallo zusammen")
    assert book.state(chat.id) is Visibility.VISIBLE and book.open_count == 0
    hide = book.command(command("hide", chat.id, by="lena"), now=100.0)
    assert hide is not None
    assert (hide.previous, hide.state, hide.by, hide.moderator) == (
        Visibility.VISIBLE, Visibility.HIDDEN, "lena", True)
    assert hide.command == f"cmd-hide-{chat.id}-lena" and hide.at == 100.0
    unhide = book.command(command("unhide", chat.id, by="mia"), now=101.0)
    assert unhide is not None and (unhide.previous, unhide.state) == (
        Visibility.HIDDEN, Visibility.VISIBLE)
    state = book.message(chat.id)
    assert (state["state"], state["by"], state["since"], state["action"]) == (
        "visible", "mia", 101.0, "unhide")


def test_a_held_message_is_an_open_item_until_a_moderator_approves_it() -> None:
    book = MessageStates()
    held = admitted(book, "du h*rensohn", hidden=True, flag="toxic")
    admitted(book, "schöner stream")
    assert book.state(held.id) is Visibility.HELD
    review = book.review()
    assert review["open"] == 1 and review["handled"] == 0
    item = review["open_items"][0]
    assert item["event_id"] == held.id and item["flags"] == ["toxic:insult"]
    assert item["by"] == "word_filter" and item["reasons"] and item["text"] == "du h*rensohn"
    approve = book.command(command("approve", held.id), now=5.0)
    assert approve is not None and (approve.previous, approve.state) == (
        Visibility.HELD, Visibility.VISIBLE)
    review = book.review()
    assert review["open"] == 0 and review["handled"] == 1
    assert review["handled_items"][0]["by"] == "mia"
    assert review["handled_items"][0]["previous"] == "held"


def test_held_to_hidden() -> None:
    book = MessageStates()
    held = admitted(book, "spam spam spam", hidden=True, flag="spam")
    hide = book.command(command("hide", held.id), now=1.0)
    assert hide is not None and (hide.previous, hide.state) == (Visibility.HELD,
                                                                Visibility.HIDDEN)
    assert book.open_count == 0


def test_the_same_decision_twice_changes_nothing() -> None:
    book = MessageStates()
    chat = admitted(book, "eins")
    assert book.command(command("hide", chat.id, by="lena"), now=1.0) is not None
    assert book.command(command("hide", chat.id, by="mia"), now=2.0) is None
    assert book.message(chat.id)["by"] == "lena"  # the first decision stands
    assert book.command(command("approve", chat.id), now=3.0) is not None
    assert book.command(command("unhide", chat.id), now=4.0) is None
    assert book.review()["handled"] == 1  # one message, its latest decision


def test_a_moderator_may_hold_a_message_back_into_the_queue() -> None:
    book = MessageStates()
    chat = admitted(book, "link in bio")
    hold = book.command(command("hold", chat.id), now=1.0)
    assert hold is not None and hold.state is Visibility.HELD and book.open_count == 1
    assert book.command(command("hold", chat.id), now=2.0) is None
    assert book.message(chat.id)["reason"] == "held for review by mia"
    assert book.command(command("approve", chat.id, by="lena"), now=3.0) is not None
    assert book.open_count == 0


def test_a_flagged_visible_message_is_reviewed_too() -> None:
    book = MessageStates()
    mild = admitted(book, "du bist doof", flag="toxic")
    assert book.state(mild.id) is Visibility.VISIBLE and book.open_count == 1
    ok = book.command(command("approve", mild.id), now=1.0)
    assert ok is not None and (ok.previous, ok.state) == (Visibility.VISIBLE,
                                                          Visibility.VISIBLE)
    assert book.open_count == 0 and book.message(mild.id)["final"] is True


def test_an_unknown_target_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    book = MessageStates()
    with caplog.at_level(logging.WARNING, "livepilot.stages.moderation.message_state"):
        assert book.command(command("hide", "never-seen"), now=1.0) is None
    assert "hide by mia ignored: no message 'never-seen'" in caplog.text
    assert book.message("never-seen") == {"event_id": "never-seen", "state": None}


def test_other_commands_are_not_message_commands() -> None:
    book = MessageStates()
    chat = admitted(book, "hi")
    assert book.command(command("strike", chat.id), now=1.0) is None
    assert book.state(chat.id) is Visibility.VISIBLE


def test_memory_is_bounded_by_count_and_age() -> None:
    book = MessageStates(max_messages=100, max_open=10, ttl=60.0)
    first = clock.now()
    ids = [admitted(book, f"[{i}] spam", hidden=True, flag="spam").id for i in range(1_000)]
    assert len(book) == 100 and book.open_count == 10 and book.dropped == 990
    assert book.state(ids[0]) is None and book.state(ids[-1]) is Visibility.HELD
    assert book.review()["open_items"][0]["event_id"] == ids[-1]  # newest first
    assert book.expire(first + 30.0) == 0
    assert book.expire(first + 61.0) == 100
    assert len(book) == 0 and book.open_count == 0
    assert book.command(command("approve", ids[-1]), now=first + 62.0) is None


def test_a_late_verdict_holds_a_visible_message_no_moderator_decided_on() -> None:
    book = MessageStates()
    chat = admitted(book, "geh sterben")
    late = Insight(event_id=chat.id, stream="s", version=1, hidden=True,
                   labels=(Label(name="toxic", source="toxicity", kind="threat"),),
                   reasons=(Reason(source="toxicity", text="threat 0.97"),))
    revised, decision = book.revise(late, now=7.0)
    assert revised is late
    assert decision is not None and (decision.previous, decision.state, decision.by,
                                     decision.moderator, decision.action) == (
        Visibility.VISIBLE, Visibility.HELD, "toxicity", False, "hold")
    assert book.open_count == 1
    assert book.review()["open_items"][0]["flags"] == ["toxic:threat"]


def test_a_moderators_decision_is_final_for_the_message() -> None:
    book = MessageStates()
    approved = admitted(book, "hmm", hidden=True, flag="toxic")
    hidden = admitted(book, "harmlos")
    book.command(command("approve", approved.id), now=1.0)
    book.command(command("hide", hidden.id), now=1.0)
    for chat, late_hidden, want in ((approved, True, False), (hidden, False, True)):
        late = Insight(event_id=chat.id, stream="s", version=1, hidden=late_hidden,
                       labels=(Label(name="toxic", source="toxicity"),))
        revised, decision = book.revise(late, now=2.0)
        assert decision is None and revised.hidden is want and revised.version == 1
    assert book.open_count == 0


def test_stages_never_release_a_held_message() -> None:
    book = MessageStates()
    held = admitted(book, "x", hidden=True, flag="spam")
    revised, decision = book.revise(Insight(event_id=held.id, stream="s", version=1), now=1.0)
    assert decision is None and revised.hidden is True


def test_a_stage_holds_an_earlier_message_once_unless_a_moderator_decided() -> None:
    book = MessageStates()
    early = admitted(book, "folgt @promo für gratis coins")
    approved = admitted(book, "folgt @promo für gratis coins")
    hidden = admitted(book, "folgt @promo für gratis coins")
    book.command(command("approve", approved.id), now=1.0)
    book.command(command("hide", hidden.id), now=1.0)
    decision = book.hold(early.id, "s", 2.0, "spam", "part of a raid wave")
    assert decision is not None and (
        decision.event_id, decision.previous, decision.state, decision.action, decision.by,
        decision.moderator, decision.reason) == (
        early.id, Visibility.VISIBLE, Visibility.HELD, "hold", "spam", False,
        "part of a raid wave")
    view = book.message(early.id)
    assert (view["state"], view["since"], view["open"], view["reasons"]) == (
        "held", 2.0, True, ["part of a raid wave"])
    assert book.hold(early.id, "s", 3.0, "spam", "part of a raid wave") is None
    assert book.hold(approved.id, "s", 3.0, "spam", "part of a raid wave") is None
    assert book.hold(hidden.id, "s", 3.0, "spam", "part of a raid wave") is None
    assert book.hold("never-seen", "s", 3.0, "spam", "part of a raid wave") is None
    assert book.message(approved.id)["state"] == "visible"
    assert book.message(hidden.id)["state"] == "hidden"


def test_hostile_text_is_kept_short_in_linear_time() -> None:
    book = MessageStates()
    started = time.perf_counter()
    chat = admitted(book, "ä" * 2_000_000, hidden=True, flag="spam")
    assert time.perf_counter() - started < 0.5
    assert len(book.message(chat.id)["text"]) == 300


# -- inside the moderation stage --------------------------------------------------------


class HideFlagger:
    """Stands in for the filters: ``[hide]`` flags and hides, ``[mild]`` only flags."""

    name = "word_filter"

    def process(self, event: object, draft: Draft) -> None:
        text = getattr(event, "text", "")
        if "[hide]" in text or "[mild]" in text:
            draft.label("toxic", self.name, kind="insult")
            draft.reason(self.name, "matched an insult")
        if "[hide]" in text:
            draft.hidden = True

    def tick(self, now: float, out: Outbox) -> None:
        pass


def room() -> tuple[Pipeline, ModerationStage]:
    stage = build(StageContext(Settings(rules_dir=RULES), Metrics(), stream="s"))
    return Pipeline([HideFlagger(), stage], Metrics()), stage


def test_the_stage_publishes_each_decision_and_owns_the_review_view() -> None:
    pipeline, stage = room()
    bad = make.chat("troll", "du [hide]")
    [_, insight] = pipeline.handle(bad, clock.now())
    assert isinstance(insight, Insight) and insight.hidden
    assert stage.messages.review()["open"] == 1
    out = pipeline.handle(command("approve", bad.id, by="lena"), clock.now())
    [decision] = out
    assert isinstance(decision, ModerationDecision)
    assert (decision.event_id, decision.state, decision.by) == (bad.id, Visibility.VISIBLE,
                                                                "lena")
    assert pipeline.handle(command("approve", bad.id, by="lena"), clock.now()) == []
    assert stage.messages.review()["open"] == 0


def test_a_blocked_authors_messages_are_hidden_by_the_block_not_queued() -> None:
    pipeline, stage = room()
    pipeline.handle(command("block", "id-troll", by="mia"), clock.now())
    chat = make.chat("troll", "[mild] noch mal")
    [_, insight, decision] = pipeline.handle(chat, clock.now())
    assert isinstance(insight, Insight) and insight.hidden
    assert isinstance(decision, ModerationDecision)
    assert (decision.action, decision.state, decision.by, decision.command) == (
        "block", Visibility.HIDDEN, "@mia", None)
    state = stage.messages.message(chat.id)
    assert (state["state"], state["by"], state["final"], state["open"]) == (
        "hidden", "@mia", True, False)


def test_late_updates_go_through_the_stage_in_the_pipeline() -> None:
    pipeline, _ = room()
    chat = make.chat("anna", "harmlos")
    pipeline.handle(chat, clock.now())
    late = Insight(event_id=chat.id, stream="s", version=1, hidden=True,
                   labels=(Label(name="toxic", source="toxicity"),))
    revised, decision = pipeline.revise([late], clock.now())
    assert revised == late
    assert isinstance(decision, ModerationDecision) and decision.state is Visibility.HELD
    # a verdict for an event the stage never saw passes through untouched
    other = Insight(event_id="elsewhere", stream="s", version=1, hidden=True)
    assert pipeline.revise([other], clock.now()) == [other]
