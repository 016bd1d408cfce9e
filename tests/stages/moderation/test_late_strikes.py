"""A message only the model flags (its verdict arrives after version 0) still counts on the
author's strike ladder: the toxicity stage feeds a strike back through the stream's queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from livepilot.clock import SystemClock
from livepilot.events import LiveEvent
from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import StreamRunner
from livepilot.settings import Settings
from livepilot.stages.moderation.moderation import ModerationStage
from livepilot.stages.registry import build_pipeline
from livepilot.testing import EventFactory, ListSink

# No block-listed word in any of them: only the German model can flag these.
INSULTS = [
    "Du bist so ein erbärmlicher Versager",
    "Was für ein hässlicher Vogel, einfach peinlich",
    "Du hast echt keine Ahnung, du Witzfigur",
]


async def test_model_only_verdicts_reach_the_strike_ladder() -> None:
    settings = Settings(stages=("word_filter", "toxicity", "moderation"))
    assert settings.toxicity_german_inline is False  # the lane is the default
    metrics = Metrics()
    pipeline = build_pipeline(settings.stages, StageContext(settings, metrics, stream="s"))
    clock = SystemClock()
    f = EventFactory(clock, stream="s")  # type: ignore[arg-type]

    async def stream() -> AsyncIterator[LiveEvent]:
        for text in INSULTS:
            yield f.chat("troll", text)
        await asyncio.sleep(0.5)  # the model's verdicts come back meanwhile
        yield f.chat("anna", "schöner Stream heute")

    sink = ListSink()
    runner = StreamRunner("s", stream(), pipeline, sink, clock, metrics)
    await asyncio.wait_for(runner.run(), 20)

    first = [m for m in sink.messages if isinstance(m, Insight) and m.version == 0]
    late = [m for m in sink.messages if isinstance(m, Insight) and m.version == 1]
    assert not any(i.has("toxic") for i in first[:3])  # the rules saw nothing
    assert sum(i.has("toxic") for i in late) >= 2  # the model did
    moderation = pipeline.stage("moderation")
    assert isinstance(moderation, ModerationStage)
    assert moderation.score("id-troll", clock.now()) > 0
    assert moderation.score("id-anna", clock.now()) == 0
