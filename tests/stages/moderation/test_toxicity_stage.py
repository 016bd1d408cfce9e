"""The toxicity stage: the rule verdict at once, the models' verdict (German, and a slower
scorer) as a late update for the same event id off the loop, the German model inline as an
option, shedding, and a chat stream that never waits for a model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from livepilot.clock import SystemClock
from livepilot.errors import ConfigError
from livepilot.events import Badge, ChatEvent, LiveEvent
from livepilot.insights import Action, AlarmState, Insight
from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig
from livepilot.ml.german import GermanModel, GermanVerdict
from livepilot.ml.lane import LaneScores
from livepilot.ml.language import LanguageRouter
from livepilot.ml.policy import ToxicityPolicy
from livepilot.ml.scorer import ScorerStatus, Scores
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline, StreamRunner
from livepilot.pipeline.stage import Outbox, Stage
from livepilot.score import score_lines
from livepilot.settings import Settings
from livepilot.stages.moderation.toxicity import ToxicityStage, build
from livepilot.stages.registry import STAGES, build_pipeline
from livepilot.testing import EventFactory, FakeClock, ListSink

INSULTS = Path(__file__).parents[2] / "data" / "german_insults_no_blockwords.txt"


class ShoutScorer:
    """A real, cheap English "model": toxicity = share of upper-case letters. It can be
    held to play a slow or saturated model."""

    name = "shout"
    covers_german = False

    def __init__(self, *, fail: bool = False) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail
        self.seen: list[str] = []

    @property
    def status(self) -> ScorerStatus:
        return ScorerStatus(self.name, True)

    def load(self) -> None:
        pass

    def score(self, texts: Sequence[str]) -> list[Scores]:
        self.gate.wait(10)
        self.seen.extend(texts)
        if self.fail:
            raise RuntimeError("broken model")
        return [{"toxicity": sum(c.isupper() for c in t) / max(1, sum(c.isalpha() for c in t))}
                for t in texts]


@pytest.fixture(scope="module")
def german() -> GermanModel:
    return GermanModel.load()


@pytest.fixture(scope="module")
def router() -> LanguageRouter:
    r = LanguageRouter()
    r.load()
    return r


class ThreadSpy:
    """The German model, noting the threads it runs on (or failing, to play a broken one)."""

    def __init__(self, model: GermanModel, *, fail: bool = False) -> None:
        self.model = model
        self.fail = fail
        self.threads: set[int] = set()

    def predict(self, texts: Sequence[str]) -> list[GermanVerdict]:
        self.threads.add(threading.get_ident())
        if self.fail:
            raise RuntimeError("broken German model")
        return self.model.predict(texts)


def stage_with(
    scorer: ShoutScorer | None, german: GermanModel | ThreadSpy | None, router: LanguageRouter,
    metrics: Metrics, *, inline: bool = False, **config: float,
) -> ToxicityStage:
    return ToxicityStage(ToxicityPolicy(), german, router, metrics, scorer,  # type: ignore[arg-type]
                         german_inline=inline, batcher=BatcherConfig(**config))  # type: ignore[arg-type]


def insight_of(out: Sequence[object]) -> Insight:
    return next(m for m in out if isinstance(m, Insight))


INSULT = "Du bist so ein erbärmlicher Versager"
FRIENDLY = "Danke für den tollen Stream!"


def assert_german_flag(bad: Insight) -> None:
    assert bad.has("toxic") and bad.pending == ()
    assert bad.labels[0].source == "toxicity" and bad.labels[0].kind in ("insult", "abuse")
    assert bad.scores["toxicity"] >= 0.5 and bad.action in (Action.REVIEW, Action.HIDE)
    assert "German model" in bad.reasons[0].text


def assert_german_fine(fine: Insight) -> None:
    assert not fine.has("toxic") and fine.action is None and fine.scores["toxicity"] < 0.5
    assert fine.pending == () and "toxicity_german" in fine.scores


def assert_no_detoxify(stage: ToxicityStage) -> None:
    detox = stage.status[1]
    assert detox["scorer"] == "detoxify" and detox["available"] is False
    assert "livepilot models pull multilingual" in str(detox["reason"])
    assert stage.status[0]["available"] is True


async def test_default_build_scores_the_german_model_off_the_loop() -> None:
    """Version 0 goes out with the rule verdict (nothing) and ``pending``; the German
    model's verdict follows as version 1 of the same event. This is the default."""
    assert Settings().toxicity_german_inline is False
    ctx = StageContext(Settings(), Metrics())
    stage = build(ctx)
    assert_no_detoxify(stage)
    assert not stage.german_inline
    events = EventFactory(FakeClock())
    insult, fine = events.chat("troll", INSULT), events.chat("fan", FRIENDLY)
    gift = events.gift("fan")
    sink = ListSink()
    await run_stream(stage, [insult, fine, gift], sink, until=2)
    first = {m.event_id: m for m in sink.messages if isinstance(m, Insight) and m.version == 0}
    late = {m.event_id: m for m in sink.messages if isinstance(m, Insight) and m.version == 1}
    for event in (insult, fine):
        assert first[event.id].pending == ("toxicity",)
        assert not first[event.id].has("toxic") and first[event.id].action is None
        assert "toxicity_german" not in first[event.id].scores
    assert_german_flag(late[insult.id])
    assert_german_fine(late[fine.id])
    assert not any(m.scores for m in sink.messages
                   if isinstance(m, Insight) and m.event_id == gift.id)


def test_german_inline_build_gives_the_verdict_in_version_0() -> None:
    ctx = StageContext(Settings(toxicity_german_inline=True), Metrics())
    stage = build(ctx)
    assert_no_detoxify(stage)
    assert stage.german_inline
    events = EventFactory(FakeClock())
    pipeline = Pipeline([stage], ctx.metrics)
    bad = insight_of(pipeline.handle(events.chat("troll", INSULT), 0))
    assert bad.version == 0
    assert_german_flag(bad)
    assert_german_fine(insight_of(pipeline.handle(events.chat("fan", FRIENDLY), 0)))
    gift = pipeline.handle(events.gift("fan"), 0)
    assert not any(isinstance(m, Insight) and m.scores for m in gift)


async def test_the_german_model_never_runs_on_the_loop_by_default(
    german: GermanModel, router: LanguageRouter,
) -> None:
    spy = ThreadSpy(german)
    stage = stage_with(None, spy, router, Metrics(), max_wait=0.001)
    factory = EventFactory(FakeClock())
    events: list[LiveEvent] = [factory.chat(f"u{i}", f"{INSULT} Nummer {i}") for i in range(20)]
    sink = ListSink()
    await run_stream(stage, events, sink, until=20)
    assert spy.threads and threading.get_ident() not in spy.threads
    late = [m for m in sink.messages if isinstance(m, Insight) and m.version == 1]
    assert all(m.has("toxic") and m.pending == () for m in late)


async def test_inline_option_runs_the_german_model_on_the_loop(
    german: GermanModel, router: LanguageRouter,
) -> None:
    spy = ThreadSpy(german)
    stage = stage_with(None, spy, router, Metrics(), inline=True)
    event = EventFactory(FakeClock()).chat("troll", INSULT)
    sink = ListSink()
    await run_stream(stage, [event], sink, until=0)  # no lane without a slower scorer
    assert spy.threads == {threading.get_ident()}
    assert_german_flag(insight_of(sink.messages))


def test_thresholds_come_from_settings() -> None:
    with pytest.raises(ConfigError, match="LIVEPILOT_TOXICITY_REVIEW"):
        build(StageContext(Settings(toxicity_review=0.9, toxicity_hide=0.6), Metrics()))
    strict = build(StageContext(Settings(toxicity_review=0.1, toxicity_hide=0.2), Metrics()))
    verdict = strict.judge(INSULT)
    assert verdict.action is Action.HIDE and verdict.hidden


def insult_lines() -> list[str]:
    return [ln.strip() for ln in INSULTS.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("inline", [False, True], ids=["lane", "inline"])
async def test_word_filter_and_model_flag_most_insults_without_block_words(
    inline: bool,
) -> None:
    ctx = StageContext(Settings(toxicity_german_inline=inline), Metrics())
    stages = [STAGES["word_filter"](ctx), STAGES["toxicity"](ctx)]
    events = EventFactory(FakeClock())
    lines = insult_lines()
    chats: list[LiveEvent] = [events.chat("troll", line) for line in lines]
    sink = ListSink()
    # the lane's updates arrive as version 1; inline, version 0 is final
    await run_stream(stages, chats, sink, until=0 if inline else len(lines))
    final = {m.event_id: m for m in sink.messages if isinstance(m, Insight)}  # last version
    flagged = 0
    for line, event in zip(lines, chats, strict=True):
        insight = final[event.id]
        assert insight.pending == (), line
        assert not any(lb.source == "word_filter" for lb in insight.labels), line
        flagged += any(lb.source == "toxicity" for lb in insight.labels)
    assert flagged / len(lines) >= 0.75, f"{flagged}/{len(lines)}"


async def run_stream(
    stages: ToxicityStage | Sequence[Stage], events: list[LiveEvent], sink: ListSink, *,
    until: int,
) -> None:
    """Run the real StreamRunner; it drains the stage's late updates before it returns."""

    async def source() -> AsyncIterator[LiveEvent]:
        for event in events:
            yield event

    metrics = Metrics()
    chain = [stages] if isinstance(stages, ToxicityStage) else list(stages)
    runner = StreamRunner("test", source(), Pipeline(chain, metrics), sink, SystemClock(),
                          metrics)
    await asyncio.wait_for(runner.run(), 20)
    assert sum(1 for m in sink.messages if isinstance(m, Insight) and m.version) == until


@pytest.mark.parametrize("inline", [False, True], ids=["lane", "inline"])
async def test_model_verdict_follows_as_version_1_of_the_same_event(
    german: GermanModel, router: LanguageRouter, inline: bool,
) -> None:
    metrics = Metrics()
    stage = stage_with(ShoutScorer(), german, router, metrics, inline=inline, max_wait=0.001)
    factory = EventFactory(FakeClock())
    shouting = factory.chat("a", "YOU ARE THE WORST STREAMER EVER")
    calm = factory.chat("b", "nice stream, how much is the hoodie?")
    emotes = factory.chat("c", "😂😂😂 !!!")
    sink = ListSink()
    await run_stream(stage, [shouting, calm, emotes], sink, until=2)

    insights = [m for m in sink.messages if isinstance(m, Insight)]
    first = {i.event_id: i for i in insights if i.version == 0}
    late = {i.event_id: i for i in insights if i.version == 1}
    assert first[shouting.id].pending == ("toxicity",)
    assert first[calm.id].pending == ("toxicity",)
    assert first[emotes.id].pending == ()  # emote-only never goes to a model
    assert ("toxicity_german" in first[shouting.id].scores) is inline
    assert set(late) == {shouting.id, calm.id}

    update = late[shouting.id]
    assert update.pending == () and update.has("toxic")
    assert update.action is Action.HIDE and update.hidden
    assert update.scores["toxicity"] == 1.0 and update.scores["shout_toxicity"] == 1.0
    assert "toxicity_german" in update.scores  # both models' evidence in one update
    assert any("shout 1.00" in r.text for r in update.reasons)
    assert not late[calm.id].has("toxic") and late[calm.id].pending == ()
    # the v0 ordering holds: every update comes after its event's first insight
    order = [(i.event_id, i.version) for i in insights]
    assert order.index((shouting.id, 0)) < order.index((shouting.id, 1))
    assert stage.published == 2


async def test_lane_merges_a_foreign_model_on_german_text_as_inline_did(
    german: GermanModel, router: LanguageRouter,
) -> None:
    """A model that does not know German only counts on German text the German model left
    uncertain — decided when the lane's result is merged, exactly as inline decided it
    before offering the text."""
    texts = [
        "DANKE FÜR DEN TOLLEN STREAM",  # German model sure it is fine: shouting ignored
        "WAS FÜR EIN LANGWEILIGER STREAM",  # uncertain (~0.43): the shouting counts
        INSULT.upper(),  # German model sure it is offensive
    ]
    finals: dict[bool, list[Insight]] = {}
    for inline, until in ((False, 3), (True, 1)):  # inline: only the uncertain one is late
        stage = stage_with(ShoutScorer(), german, router, Metrics(), inline=inline,
                           max_wait=0.001)
        factory = EventFactory(FakeClock())
        events: list[LiveEvent] = [factory.chat(f"u{i}", t) for i, t in enumerate(texts)]
        sink = ListSink()
        await run_stream(stage, events, sink, until=until)
        final = {m.event_id: m for m in sink.messages if isinstance(m, Insight)}
        finals[inline] = [final[e.id] for e in events]
    lane, inline_ = finals[False], finals[True]
    assert [(i.scores, i.labels, i.reasons, i.action, i.hidden) for i in lane] == [
        (i.scores, i.labels, i.reasons, i.action, i.hidden) for i in inline_
    ]
    thanks, bored, insult = lane
    assert not thanks.has("toxic") and "shout_toxicity" not in thanks.scores
    assert bored.action is Action.REVIEW and bored.scores["shout_toxicity"] == 1.0
    assert insult.has("toxic") and "shout_toxicity" not in insult.scores


async def test_repeated_text_is_answered_from_the_cache(
    german: GermanModel, router: LanguageRouter,
) -> None:
    scorer = ShoutScorer()
    stage = stage_with(scorer, german, router, Metrics(), max_wait=0.001)
    factory = EventFactory(FakeClock())
    sink = ListSink()
    await run_stream(stage, [factory.chat("a", "SPAM SPAM SPAM")], sink, until=1)
    pipeline = Pipeline([stage], Metrics())
    cached = insight_of(pipeline.handle(factory.chat("b", "SPAM SPAM SPAM"), 0))
    assert cached.version == 0 and cached.pending == () and cached.not_scored is None
    assert "shout_toxicity" in cached.scores and "toxicity_german" in cached.scores
    assert scorer.seen == ["SPAM SPAM SPAM"]
    # A model that reads the text as typed may judge a variant differently: the cache
    # key is the exact text while such a model is in the lane ...
    variant = insight_of(pipeline.handle(factory.chat("c", "spam SPAM spam"), 0))
    assert variant.pending == ("toxicity",)
    # ... and the normalised text when only the German model (which reads nothing else) is.
    alone = stage_with(None, german, router, Metrics(), max_wait=0.001)
    await run_stream(alone, [factory.chat("a", "SPAM SPAM SPAM")], ListSink(), until=1)
    shared = insight_of(Pipeline([alone], Metrics()).handle(factory.chat("b", "spam Spam spam"),
                                                              0))
    assert shared.pending == () and "toxicity_german" in shared.scores


async def test_a_failing_model_still_clears_pending(
    german: GermanModel, router: LanguageRouter,
) -> None:
    stage = stage_with(ShoutScorer(fail=True), german, router, Metrics(), max_wait=0.001)
    event = EventFactory(FakeClock()).chat("a", "hello everyone, how are you")
    sink = ListSink()
    await run_stream(stage, [event], sink, until=1)
    update = [m for m in sink.messages if isinstance(m, Insight) and m.version == 1]
    assert len(update) == 1 and update[0].pending == () and update[0].event_id == event.id
    # the lane contains the slower model's failure: the German verdict still arrives
    assert "toxicity_german" in update[0].scores and "shout_toxicity" not in update[0].scores


async def test_a_failing_german_lane_keeps_the_rule_verdict(router: LanguageRouter) -> None:
    """The word filter's verdict goes out at once; the failed job's update only clears
    ``pending`` and keeps it."""
    ctx = StageContext(Settings(), Metrics())
    broken = ThreadSpy(GermanModel.load(), fail=True)
    stage = ToxicityStage(ToxicityPolicy(), broken, router, ctx.metrics,  # type: ignore[arg-type]
                          batcher=BatcherConfig(max_wait=0.001))
    event = EventFactory(FakeClock()).chat("troll", "du idiot")  # low severity: review
    sink = ListSink()
    await run_stream([STAGES["word_filter"](ctx), stage], [event], sink, until=1)
    first, update = (m for m in sink.messages if isinstance(m, Insight))
    assert first.pending == ("toxicity",) and first.action is Action.REVIEW
    assert first.not_scored is None
    assert update.version == 1 and update.pending == () and update.not_scored == "error"
    assert update.model_copy(
        update={"version": 0, "pending": ("toxicity",), "not_scored": None}
    ) == first
    assert ctx.metrics.registry.get_sample_value(
        "livepilot_toxicity_not_scored_total", {"reason": "error"}) == 1


async def test_chat_does_not_wait_for_a_saturated_model(
    german: GermanModel, router: LanguageRouter,
) -> None:
    """The model is stuck; every message still gets its insight at once. The lane sheds
    by priority: trusted viewers' messages past the overload depth, then (queue full) the
    newcomers; every shed message says so, and the stage raises an alarm."""
    scorer = ShoutScorer()
    scorer.gate.clear()
    metrics = Metrics()
    stage = stage_with(scorer, german, router, metrics, max_batch=4, max_wait=0.001,
                       queue_size=40, overload_depth=20)
    factory = EventFactory(FakeClock())
    events: list[ChatEvent] = []
    for i in range(200):
        # Half the viewers are subscribers (trusted), half are strangers.
        user = factory.user(f"u{i}", *([Badge.SUBSCRIBER] if i % 2 else []))
        events.append(factory.chat(user, f"hello chat number {i}, great show"))
    sink = ListSink()
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(stage.run(sink_late(sink)))
    pipeline = Pipeline([stage], metrics)
    started = loop.time()
    for event in events:
        await sink(pipeline.handle(event, 0))
        await asyncio.sleep(0)
    elapsed = loop.time() - started
    try:
        first = [m for m in sink.messages if isinstance(m, Insight) and m.version == 0]
        assert len(first) == 200
        assert elapsed < 2.0  # ~0.1 ms a message; the stuck lane costs nothing
        pending = [i for i in first if i.pending]
        shed = [i for i in first if i.not_scored == "overload"]
        assert len(pending) + len(shed) == 200
        ids = {e.id: e for e in events}
        trusted_shed = sum(1 for i in shed if ids[i.event_id].user.badges)
        assert trusted_shed >= 80  # past depth 20 only strangers were let in ...
        assert sum(1 for i in pending if ids[i.event_id].user.badges) <= 20
        counted = {
            reason: metrics.registry.get_sample_value(
                "livepilot_toxicity_shed_total", {"reason": reason}
            ) or 0
            for reason in ("overload", "full", "evicted")
        }
        assert counted["overload"] == trusted_shed  # ... trusted viewers shed at the door
        assert counted["overload"] + counted["full"] == len(shed)
        # Evicted jobs were owed an update: it went out at once, saying why.
        evicted = [m for m in sink.messages if isinstance(m, Insight) and m.version == 1]
        assert len(evicted) == counted["evicted"] > 0
        assert all(m.not_scored == "overload" and m.pending == () for m in evicted)
        assert metrics.registry.get_sample_value(
            "livepilot_toxicity_not_scored_total", {"reason": "overload"}
        ) == len(shed) + len(evicted)
        # bounded: what is still owed fits the queue plus the batch stuck in the model
        assert len(pending) - counted["evicted"] <= 40 + 4
        box = Outbox()
        stage.tick(100.0, box)
        (alarm,) = box.alarms
        assert alarm.kind == "model_overload" and alarm.state is AlarmState.RAISED
        assert alarm.source == "toxicity" and alarm.data["shed"] == len(shed) + len(evicted)
        assert stage.overloaded
        assert metrics.registry.get_sample_value(
            "livepilot_toxicity_overloaded", {"stream": "default"}) == 1
    finally:
        scorer.gate.set()
    # The model is back: every owed update arrives, and the alarm clears.
    for _ in range(200):
        if not any(i.pending for i in final_insights(sink).values()):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    final = final_insights(sink)
    assert len(final) == 200 and not any(i.pending for i in final.values())
    assert all((i.not_scored is None) == ("shout_toxicity" in i.scores) for i in final.values())
    box = Outbox()
    stage.tick(120.0, box)
    assert box.alarms == []  # not yet: shedding stopped less than 30 s ago
    stage.tick(131.0, box)
    (cleared,) = box.alarms
    assert cleared.state is AlarmState.CLEARED and cleared.id == alarm.id
    assert not stage.overloaded


def final_insights(sink: ListSink) -> dict[str, Insight]:
    """The last version of each insight the sink saw."""
    out: dict[str, Insight] = {}
    for m in sink.messages:
        if not isinstance(m, Insight):
            continue
        held = out.get(m.event_id)
        if held is None or m.version >= held.version:
            out[m.event_id] = m
    return out


def sink_late(sink: ListSink):  # type: ignore[no-untyped-def]
    async def late(messages: list[Insight]) -> None:
        await sink(messages)

    return late


def test_uncertain_messages_from_strangers_go_first(
    german: GermanModel, router: LanguageRouter,
) -> None:
    """The lane's priority: rules uncertain (a mild word hit) and viewer not trusted."""
    ctx = StageContext(Settings(), Metrics())
    stage = stage_with(ShoutScorer(), german, router, ctx.metrics, queue_size=64,
                       overload_depth=64)
    pipeline = Pipeline([STAGES["word_filter"](ctx), stage], ctx.metrics)
    factory = EventFactory(FakeClock())
    mod, anna = factory.user("mod", Badge.MODERATOR), factory.user("anna")
    for who, text in [(mod, "hello there"), (anna, "hello there too"),
                      (mod, "du idiot lol"), (anna, "du idiot haha")]:
        pipeline.handle(factory.chat(who, text), 0)
    assert stage._batcher is not None
    order = [(job.text, job.priority) for job in stage._batcher.take_all()]
    assert order == [("du idiot haha", 3), ("du idiot lol", 2), ("hello there too", 1),
                     ("hello there", 0)]


def test_pending_map_is_bounded(german: GermanModel, router: LanguageRouter) -> None:
    """Past ``pending_size`` owed updates a message is not offered (it says why) rather
    than an owed update forgotten."""
    metrics = Metrics()
    stage = ToxicityStage(ToxicityPolicy(), german, router, metrics, ShoutScorer(),  # type: ignore[arg-type]
                          batcher=BatcherConfig(queue_size=512, overload_depth=512),
                          pending_size=10)
    factory = EventFactory(FakeClock())
    pipeline = Pipeline([stage], metrics)
    events = [factory.chat("u", f"hello number {i} from here") for i in range(30)]
    first = [insight_of(pipeline.handle(event, 0)) for event in events]
    assert [bool(i.pending) for i in first] == [True] * 10 + [False] * 20
    assert all(i.not_scored == "overload" for i in first[10:])
    late = stage.update(events[0].id, LaneScores(model={"toxicity": 0.0}))
    assert late is not None and late.version == 1 and late.pending == ()
    assert late.not_scored is None
    assert stage.update(events[0].id, None) is None  # one update per message, not two
    assert stage.update(events[-1].id, None) is None  # never pending


def test_a_late_verdict_takes_the_place_of_the_rule_verdict(
    german: GermanModel, router: LanguageRouter,
) -> None:
    """Labels and reasons read the same whether the model ran inline or in the lane."""
    finals = []
    for inline in (False, True):
        ctx = StageContext(Settings(toxicity_german_inline=inline), Metrics())
        stage = stage_with(None, german, router, ctx.metrics, inline=inline)
        pipeline = Pipeline([STAGES["word_filter"](ctx), stage, STAGES["intent"](ctx)],
                            ctx.metrics)
        event = EventFactory(FakeClock()).chat("troll", f"was kostet das, {INSULT.lower()}")
        first = insight_of(pipeline.handle(event, 0))
        if not inline:
            assert not first.has("toxic") and first.label_names == ["question", "lead"]
            jobs = stage._batcher.take_all()  # type: ignore[union-attr]
            scores = stage._lane.score([j.text for j in jobs])  # type: ignore[union-attr]
            first = stage.update(event.id, scores[0])  # type: ignore[assignment]
        finals.append(first)
    lane, inline_ = finals
    assert lane.label_names == ["toxic", "question", "lead"]
    assert (lane.labels, lane.reasons, lane.scores, lane.action) == (
        inline_.labels, inline_.reasons, inline_.scores, inline_.action)


def score(lines: Sequence[str], settings: Settings, metrics: Metrics | None = None,
          ) -> list[dict[str, Any]]:
    """``livepilot score``'s rows for ``lines`` (the default stage chain)."""
    ctx = StageContext(settings, metrics or Metrics(), stream="score")
    return list(score_lines(lines, build_pipeline(settings.stages, ctx)))


TOO_LONG = "Du bist so langweilig. " * 50


@pytest.mark.parametrize("inline", [False, True], ids=["lane", "inline"])
def test_score_gives_every_line_a_model_verdict_or_a_reason(inline: bool) -> None:
    lines = insult_lines()
    friendly = ["Danke für den Stream!", "Wie teuer ist der Hoodie?", "hallo aus Wien 👋"]
    others = ["😂😂😂 !!!", "du hurensohn", TOO_LONG,
              "je suis vraiment très content de vous voir ce soir mes amis"]
    metrics = Metrics()
    rows = score([*lines, *friendly, *others], Settings(toxicity_german_inline=inline),
                 metrics)
    assert len(rows) == len(lines) + len(friendly) + len(others)
    judged, rest = rows[: -len(others)], rows[-len(others):]
    assert all(r["not_scored"] is None and r["toxicity"] is not None for r in judged)
    flagged = sum("toxic" in r["labels"] for r in judged[: len(lines)])
    assert flagged / len(lines) >= 0.75
    assert not any("toxic" in r["labels"] for r in judged[len(lines):])
    assert [r["not_scored"] for r in rest] == ["no_letters", "rules", "too_long", "no_language"]
    blocked = rest[1]
    assert blocked["action"] == "hide" and "toxic" in blocked["labels"]
    counted = {
        reason: metrics.registry.get_sample_value(
            "livepilot_toxicity_not_scored_total", {"reason": reason})
        for reason in ("no_letters", "rules", "too_long", "no_language", "overload")
    }
    assert counted == {"no_letters": 1, "rules": 1, "too_long": 1, "no_language": 1,
                       "overload": 0}


@pytest.mark.parametrize("inline", [False, True], ids=["lane", "inline"])
def test_livepilot_score_flags_most_insults_without_block_words(
    tmp_path: Path, inline: bool,
) -> None:
    """``livepilot score FILE`` with the default stage chain (the real command's code)."""
    import io
    import json

    from livepilot.score import score_command

    lines = [ln for ln in INSULTS.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    infile = tmp_path / "insults.txt"
    infile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    settings = Settings(toxicity_german_inline=inline)
    assert score_command(str(infile), settings, progress=False, stdout=out,
                         stderr=io.StringIO()) == len(lines)
    rows = [json.loads(row) for row in out.getvalue().splitlines()]
    assert [r["text"] for r in rows] == lines
    flagged = [r for r in rows if "toxic" in r["labels"]]
    assert len(flagged) / len(rows) >= 0.75
    assert all(r["toxicity"] >= 0.5 and r["action"] in ("review", "hide") for r in flagged)
