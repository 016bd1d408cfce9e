"""A late verdict (the model's insight update) goes through the message's moderation state
in a running stream: it may hold a message, but never undoes a moderator's decision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from livepilot.clock import SystemClock
from livepilot.events import ChatEvent, CommandEvent, LiveEvent
from livepilot.insights import Insight, Label, ModerationDecision, Visibility
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline, StreamRunner
from livepilot.pipeline.stage import Draft, LateSink, Outbox
from livepilot.settings import Settings
from livepilot.stages.moderation.moderation import build
from livepilot.testing import EventFactory, FakeClock, ListSink

RULES = Path(__file__).resolve().parents[3] / "rules"


class LateModel:
    """A background stage whose verdict comes late: every chat message is toxic and hidden,
    published once ``go`` is set. ``all_in`` is set once it has seen ``expect`` events."""

    name = "toxicity"

    def __init__(self, expect: int) -> None:
        self.go = asyncio.Event()
        self.all_in = asyncio.Event()
        self._expect = expect
        self._done = asyncio.Event()
        self._seen: list[ChatEvent] = []
        self._count = 0

    def process(self, event: LiveEvent, draft: Draft) -> None:
        self._count += 1
        if self._count >= self._expect:
            self.all_in.set()  # the source resumes once this event has been handled
        if isinstance(event, ChatEvent):
            self._seen.append(event)
            draft.pending.append(self.name)

    def tick(self, now: float, out: Outbox) -> None:
        pass

    async def run(self, late: LateSink) -> None:
        await self.go.wait()
        await late([
            Insight(event_id=e.id, stream=e.stream, version=1, hidden=True,
                    labels=(Label(name="toxic", source=self.name, kind="insult"),))
            for e in self._seen
        ])
        self._done.set()
        await asyncio.Event().wait()

    async def drain(self) -> None:
        await self._done.wait()


async def run_stream(decide: Sequence[tuple[str, int]]) -> tuple[list[ChatEvent], ListSink]:
    """Two chat messages; then the moderators' ``(action, message index)``; then the late
    verdict on both."""
    make = EventFactory(FakeClock(), stream="s")
    chats = [make.chat("anna", "erst mal hallo"), make.chat("ben", "na du")]
    model = LateModel(expect=len(chats) + len(decide))
    metrics = Metrics()
    pipeline = Pipeline(
        [model, build(StageContext(Settings(rules_dir=RULES), metrics, stream="s"))], metrics
    )
    sink = ListSink()

    async def source() -> AsyncIterator[LiveEvent]:
        for chat in chats:
            yield chat
        for n, (action, index) in enumerate(decide):
            yield CommandEvent(id=f"cmd-{n}", stream="s", at=0, received=0, action=action,
                               target=chats[index].id, by="lena")
        await model.all_in.wait()
        model.go.set()

    runner = StreamRunner("s", source(), pipeline, sink, SystemClock(), metrics)
    await asyncio.wait_for(runner.run(), 10)
    return chats, sink


def late_insights(sink: ListSink) -> dict[str, Insight]:
    return {m.event_id: m for m in sink.messages if isinstance(m, Insight) and m.version == 1}


def decisions(sink: ListSink) -> list[tuple[str, str, str, str]]:
    return [(m.event_id, m.action, m.previous, m.state) for m in sink.messages
            if isinstance(m, ModerationDecision)]


@pytest.mark.timeout(20)
async def test_a_late_hide_holds_messages_no_moderator_decided_on() -> None:
    chats, sink = await run_stream([])
    late = late_insights(sink)
    assert all(late[c.id].hidden for c in chats)
    assert decisions(sink) == [(c.id, "hold", Visibility.VISIBLE, Visibility.HELD)
                               for c in chats]


@pytest.mark.timeout(20)
async def test_a_moderators_approve_beats_a_later_automatic_hold() -> None:
    chats, sink = await run_stream([("approve", 0)])
    late = late_insights(sink)
    assert late[chats[0].id].hidden is False  # published as the moderator decided
    assert late[chats[1].id].hidden is True
    assert decisions(sink) == [
        (chats[0].id, "approve", Visibility.VISIBLE, Visibility.VISIBLE),
        (chats[1].id, "hold", Visibility.VISIBLE, Visibility.HELD),
    ]
    # the decision comes after the late insight it answers, in one publish
    order = [m.type for m in sink.messages[-3:]]
    assert order == ["insight", "insight", "moderation"]
