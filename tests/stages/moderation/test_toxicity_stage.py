"""The toxicity stage: the rule verdict at once, the models' verdict (German, and a slower
scorer) as a late update for the same event id off the loop, the German model inline as an
option, shedding, and a chat stream that never waits for a model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from livepilot.clock import SystemClock
from livepilot.errors import ConfigError
from livepilot.events import LiveEvent
from livepilot.insights import Action, Insight
from livepilot.metrics import Metrics
from livepilot.ml.batcher import BatcherConfig
from livepilot.ml.german import GermanModel, GermanVerdict
from livepilot.ml.lane import LaneScores
from livepilot.ml.language import LanguageRouter
from livepilot.ml.policy import ToxicityPolicy
from livepilot.ml.scorer import ScorerStatus, Scores
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline, StreamRunner
from livepilot.pipeline.stage import Stage
from livepilot.settings import Settings
from livepilot.stages.moderation.toxicity import ToxicityStage, build, score_texts
from livepilot.stages.registry import STAGES
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
    assert stage.status[1] == {
        "scorer": "detoxify", "available": False,
        "reason": "LIVEPILOT_DETOXIFY_CHECKPOINT is not set",
    }
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
    again = Pipeline([stage], Metrics()).handle(factory.chat("b", "spam SPAM spam"), 0)
    # normalised text is the cache key: case-folded variants share the model's verdict
    cached = insight_of(again)
    assert cached.version == 0 and cached.pending == ()
    assert "shout_toxicity" in cached.scores and "toxicity_german" in cached.scores
    assert scorer.seen == ["SPAM SPAM SPAM"]


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
    assert update.version == 1 and update.pending == ()
    assert update.model_copy(update={"version": 0, "pending": ("toxicity",)}) == first


async def test_chat_does_not_wait_for_a_saturated_model(
    german: GermanModel, router: LanguageRouter,
) -> None:
    """The model is stuck; every message still gets its insight at once, the model queue
    sheds ordinary messages past its overload depth and counts them."""
    scorer = ShoutScorer()
    scorer.gate.clear()
    metrics = Metrics()
    stage = stage_with(scorer, german, router, metrics, max_batch=4, max_wait=0.001,
                       queue_size=40, overload_depth=20)
    factory = EventFactory(FakeClock())
    events: list[LiveEvent] = [factory.chat(f"u{i}", f"hello chat number {i}, great show")
                               for i in range(200)]
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
        pending = sum(1 for i in first if i.pending)
        shed = {
            reason: metrics.registry.get_sample_value(
                "livepilot_toxicity_shed_total", {"reason": reason}
            )
            for reason in ("overload", "full", "evicted")
        }
        assert shed["overload"]  # ordinary messages were turned away at the door
        overload, full, evicted = (shed[r] or 0 for r in ("overload", "full", "evicted"))
        assert pending + overload + full == 200
        # bounded: what is still owed fits the queue plus the batch stuck in the model
        assert pending - evicted <= 40 + 4
    finally:
        scorer.gate.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def sink_late(sink: ListSink):  # type: ignore[no-untyped-def]
    async def late(messages: list[Insight]) -> None:
        await sink(messages)

    return late


def test_pending_map_is_bounded(german: GermanModel, router: LanguageRouter) -> None:
    metrics = Metrics()
    stage = ToxicityStage(ToxicityPolicy(), german, router, metrics, ShoutScorer(),  # type: ignore[arg-type]
                          batcher=BatcherConfig(queue_size=512, overload_depth=512),
                          pending_size=10)
    factory = EventFactory(FakeClock())
    pipeline = Pipeline([stage], metrics)
    ids = [factory.chat("u", f"hello number {i} from here").id for i in range(1)]
    events = [factory.chat("u", f"hello number {i} from here") for i in range(30)]
    for event in events:
        pipeline.handle(event, 0)
    assert stage.update(events[0].id, LaneScores(model={"toxicity": 1.0})) is None  # evicted
    assert stage.update(ids[0], None) is None
    late = stage.update(events[-1].id, LaneScores(model={"toxicity": 0.0}))
    assert late is not None and late.version == 1 and late.pending == ()


@pytest.mark.parametrize("inline", [False, True], ids=["lane", "inline"])
def test_score_texts_gives_the_final_verdict_per_text(inline: bool) -> None:
    lines = insult_lines()
    friendly = ["Danke für den Stream!", "Wie teuer ist der Hoodie?", "hallo aus Wien 👋"]
    insights = score_texts([*lines, *friendly], Settings(toxicity_german_inline=inline))
    assert len(insights) == len(lines) + len(friendly)
    assert all("toxicity" in i.scores and i.pending == () for i in insights)
    flagged = sum(i.has("toxic") for i in insights[: len(lines)])
    assert flagged / len(lines) >= 0.75
    assert not any(i.has("toxic") for i in insights[len(lines):])
    blocked = score_texts(["du hurensohn"], Settings())[0]
    assert blocked.hidden and {lb.source for lb in blocked.labels} >= {"word_filter"}


def test_lane_and_inline_reach_the_same_final_verdicts() -> None:
    texts = [*insult_lines(), "Danke für den Stream!", "du idiot", "du hurensohn", "😂😂",
             "nice stream, how much is the hoodie?", "was für ein langweiliger stream"]
    lane, inline = (score_texts(texts, Settings(toxicity_german_inline=flag))
                    for flag in (False, True))
    # Same verdicts; only messages the rules already decided miss the German model's
    # score in the lane: they are not sent to a model at all.
    assert [(i.scores.get("toxicity"), i.labels, i.reasons, i.action, i.hidden)
            for i in lane] == [
        (i.scores.get("toxicity"), i.labels, i.reasons, i.action, i.hidden) for i in inline
    ]
    for a, b in zip(lane, inline, strict=True):
        assert a.scores == b.scores or (a.hidden and a.scores == {
            k: v for k, v in b.scores.items() if k != "toxicity_german"})


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
