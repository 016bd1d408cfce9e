from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from livepilot.events import CommandEvent, QuestionEvent
from livepilot.insights import Action, Alarm, AlarmState, Insight, Label, Prompt, Reason
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft
from livepilot.settings import Settings
from livepilot.stages.audience.faq import load_faq
from livepilot.stages.audience.intent import IntentStage
from livepilot.stages.audience.intent_rules import TechAlarmRules, load_intent_rules
from livepilot.stages.audience.question_queue import ItemState, QuestionQueue, QueueError
from livepilot.stages.audience.questions import QuestionsStage, build
from livepilot.stages.audience.tech_alarm import TechIssueWatch
from livepilot.testing import EventFactory, FakeClock

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
_ids = itertools.count(1)
# Compiled rules are immutable; build them once for the module.
_intents = functools.cache(lambda: load_intent_rules(RULES / "intents.yaml"))
_shop = functools.cache(lambda: load_faq(RULES / "faq.yaml"))


class Stream:
    """intent + questions over the shipped rules, driven by a fake clock."""

    def __init__(self, faq: Any = "shop", language: str = "de", **queue: Any) -> None:
        self.clock = FakeClock()
        self.events = EventFactory(self.clock)
        self.metrics = Metrics()
        rules, classifier = _intents()
        watch = TechIssueWatch(TechAlarmRules(), dict(rules.tech_issue))
        kb = _shop() if faq == "shop" else faq
        self.queue = QuestionQueue("test", kind_group=classifier.lead_group, **queue)
        self.stage = QuestionsStage(
            "test", self.queue, faq=kb, metrics=self.metrics, language=language
        )
        self.pipe = Pipeline([IntentStage(classifier, watch), self.stage], self.metrics)

    def say(self, user: str, text: str) -> list[Any]:
        return self.pipe.handle(self.events.chat(user, text), self.clock.now())

    def insight(self, user: str, text: str) -> Insight:
        return next(m for m in self.say(user, text) if isinstance(m, Insight))

    def command(self, action: str, target: str, by: str = "mod-anna", **args: Any) -> list[Any]:
        now = self.clock.now()
        event = CommandEvent(
            id=f"cmd-{next(_ids)}", stream="test", at=now, received=now,
            action=action, target=target, by=by, args=args,
        )
        return self.pipe.handle(event, now)

    def item(self, item_id: str) -> dict[str, Any]:
        return next(i for i in self.stage.snapshot() if i["id"] == item_id)


def queued(insight: Insight) -> tuple[str | None, float | None]:
    label = next((lb for lb in insight.labels if lb.name == "queued"), None)
    return (None, None) if label is None else (label.kind, label.score)


def test_near_duplicates_from_different_viewers_merge_into_one_item() -> None:
    s = Stream()
    assert queued(s.insight("anna", "Was kostet das?")) == ("q1", 1.0)
    s.clock.advance(2)
    assert queued(s.insight("ben", "was kostet das")) == ("q1", 2.0)
    assert queued(s.insight("ben", "was kostet das???")) == ("q1", 2.0)  # same viewer again
    assert queued(s.insight("cem", "wie viel kostet das??")) == ("q1", 3.0)
    last = s.insight("dana", "preis?")
    assert queued(last) == ("q1", 4.0)
    assert any(r.text == "4 people asked: Was kostet das?" for r in last.reasons)
    item = s.item("q1")
    assert (item["label"], item["kind"], item["count"], item["asks"]) == ("lead", "price", 4, 5)
    assert item["askers"] == ["anna", "ben", "cem", "dana"]
    assert item["text"] == "Was kostet das?"
    # a different product is a different question; a typo of it is not
    assert queued(s.insight("eli", "was kostet der hoodie")) == ("q2", 1.0)
    assert queued(s.insight("fay", "was kostet der hodie?")) == ("q2", 2.0)
    # the same words about another kind of lead stay apart
    assert queued(s.insight("gus", "wie lange dauert der versand"))[0] == "q3"


def test_lead_kind_words_merge_within_their_synonym_group_only() -> None:
    s = Stream()
    assert queued(s.insight("a", "price pls"))[0] == "q1"
    assert queued(s.insight("b", "how much is it?")) == ("q1", 2.0)  # no kind word: fits
    assert queued(s.insight("c", "wo kann man das bestellen"))[0] == "q2"
    assert queued(s.insight("d", "kann man auf rechnung zahlen?"))[0] == "q3"  # payment
    assert queued(s.insight("e", "geht auch paypal")) == ("q3", 2.0)
    assert queued(s.insight("f", "wie kauf ich das")) == ("q2", 2.0)
    assert queued(s.insight("g", "was kostet versand?"))[0] == "q4"
    assert queued(s.insight("h", "versandkosten?")) == ("q4", 2.0)


def test_plain_questions_cluster_by_topic_words() -> None:
    s = Stream()
    assert queued(s.insight("a", "wie alt bist du?")) == ("q1", 1.0)
    assert queued(s.insight("b", "wie alt bist du eigentlich")) == ("q1", 2.0)
    assert queued(s.insight("c", "how old are you")) == ("q2", 1.0)
    assert queued(s.insight("d", "wo wohnst du")) == ("q3", 1.0)


def test_what_enters_the_queue() -> None:
    s = Stream()
    assert queued(s.insight("a", "kein ton")) == (None, None)  # tech issue: alarm, not queue
    assert queued(s.insight("a", "ton weg?")) == (None, None)
    assert queued(s.insight("b", "mega schön 😍")) == (None, None)
    assert queued(s.insight("c", "hallo aus köln")) == (None, None)
    assert queued(s.insight("d", "kam kaputt an")) == ("q1", 1.0)  # complaint
    assert s.item("q1")["label"] == "feedback_negative"
    event = s.events.chat("troll", "was kostet das")
    draft = Draft(event=event, now=s.clock.now())
    draft.label("toxic", "word_filter")
    s.stage.process(event, draft)
    assert not draft.has("queued")


def test_native_questions_join_the_same_queue() -> None:
    s = Stream()
    s.say("anna", "wie alt bist du?")
    now = s.clock.now()
    native = QuestionEvent(
        id="qna-1", stream="test", at=now, received=now,
        user=s.events.user("ben"), text="Wie alt bist du",
    )
    insight = next(m for m in s.pipe.handle(native, now) if isinstance(m, Insight))
    assert queued(insight) == ("q1", 2.0)
    assert s.item("q1")["native"] is True


def test_faq_suggestion_goes_into_the_insight() -> None:
    s = Stream()
    insight = s.insight("anna", "wie lange dauert der versand?")
    assert insight.answer is not None and insight.answer.startswith("Wir verschicken")
    assert insight.scores["faq"] == 1.0
    assert any("FAQ 'versand'" in r.text for r in insight.reasons)
    assert s.item(queued(insight)[0] or "")["suggestion"]["entry"] == "versand"
    assert s.insight("ben", "Was kostet das?").answer is None
    assert Stream(faq=None).insight("cem", "wie lange dauert der versand?").answer is None


def test_lifecycle_and_response_time_per_moderator() -> None:
    s = Stream()
    s.say("anna", "wie lange dauert der versand?")
    s.clock.advance(10)
    s.say("ben", "wie lange dauert der versand")  # first ask counts
    s.clock.advance(5)
    out = s.command("claim", "q1", by="mod-anna")
    assert [r.text for r in out[0].reasons] == ["q1 claimed by mod-anna"]
    assert [(lb.name, lb.kind) for lb in out[0].labels] == [("claimed", "q1")]
    assert s.item("q1")["state"] == "claimed"
    assert s.item("q1")["claimed_at"] == s.clock.now()
    s.clock.advance(15)
    out = s.command("answer", "q1", by="mod-ben", text="DHL, 2-3 Tage")
    assert [r.text for r in out[0].reasons] == ["q1 answered by mod-ben after 30 s"]
    assert [(lb.name, lb.kind, lb.score) for lb in out[0].labels] == [("answered", "q1", 30.0)]
    item = s.item("q1")
    assert (item["state"], item["closed_by"], item["reply"]) == ("answered", "mod-ben",
                                                                 "DHL, 2-3 Tage")
    assert item["response_seconds"] == 30.0
    # a new ask after the answer opens a new item
    s.say("cem", "wie lange dauert der versand")
    s.clock.advance(90)
    s.command("answer", "q2", by="mod-ben")
    s.say("dana", "wo wohnst du")
    s.clock.advance(20)
    s.command("answer", "q3", by="mod-anna")

    kpi = s.stage.kpi()
    assert (kpi["answered"], kpi["median"]) == (3, 30.0)
    assert kpi["moderators"]["mod-ben"]["answered"] == 2
    assert kpi["moderators"]["mod-ben"]["median"] == 60.0
    assert kpi["moderators"]["mod-anna"]["mean"] == 20.0
    assert kpi["queue"] == {"open": 0, "claimed": 0}
    registry = s.metrics.registry
    labels = {"stream": "test", "moderator": "mod-ben"}
    assert registry.get_sample_value("livepilot_question_response_seconds_count", labels) == 2
    assert registry.get_sample_value("livepilot_question_response_seconds_sum", labels) == 120
    bucket = dict(labels, le="30.0")
    assert registry.get_sample_value("livepilot_question_response_seconds_bucket", bucket) == 1
    answered = {"stream": "test", "outcome": "answered"}
    assert registry.get_sample_value("livepilot_question_items_total", answered) == 3


def test_commands_that_do_not_apply_say_why() -> None:
    s = Stream()
    s.say("anna", "wo wohnst du")
    s.command("dismiss", "q1", by="mod-anna")
    assert s.item("q1")["state"] == "dismissed"
    out = s.command("answer", "q1", by="mod-ben")
    assert [r.text for r in out[0].reasons] == ["answer by mod-ben: q1 is already dismissed"]
    assert out[0].labels == ()
    out = s.command("claim", "q99")
    assert "q99 is not in the queue" in out[0].reasons[0].text
    assert s.command("dismiss", "test:dead_air:1") == []  # someone else's target
    assert s.command("hide", "q1") == []
    assert s.stage.kpi()["answered"] == 0


def test_items_expire_unless_asked_again_and_claimed_ones_live_longer() -> None:
    s = Stream(expiry=60.0)
    s.say("a", "wo wohnst du")
    s.say("b", "wie alt bist du")
    s.command("claim", "q2")
    s.clock.advance(50)
    s.say("c", "wo wohnst du denn")  # asked again: stays
    s.clock.advance(50)
    s.pipe.tick(s.clock.now())
    assert [i["id"] for i in s.stage.snapshot(closed=False)] == ["q1", "q2"]
    s.clock.advance(60)
    s.pipe.tick(s.clock.now())
    assert [i["id"] for i in s.stage.snapshot(closed=False)] == ["q2"]
    assert s.item("q1")["state"] == "expired"
    s.clock.advance(100)  # claimed: 3 × expiry since the claim
    s.pipe.tick(s.clock.now())
    assert s.stage.snapshot(closed=False) == []
    expired = {"stream": "test", "outcome": "expired"}
    assert s.metrics.registry.get_sample_value("livepilot_question_items_total", expired) == 2


def test_host_prompt_when_enough_people_ask_with_cooldown() -> None:
    s = Stream(language="de")

    def prompts(out: list[Any]) -> list[str]:
        return [m.text for m in out if isinstance(m, Prompt)]

    assert prompts(s.say("a", "was kostet das")) == []
    assert prompts(s.say("b", "was kostet der hoodie")) == []  # another item, same kind
    assert prompts(s.say("c", "preis??")) == ["3 Leute fragen nach dem Preis"]
    assert prompts(s.say("d", "wieviel kostet das")) == []
    for user in ("x", "y", "z"):
        s.say(user, "wo wohnst du")
    s.clock.advance(31)  # the gap between question prompts is over …
    assert prompts(s.say("w", "wo wohnst du")) == ['4 Leute fragen: „wo wohnst du“']
    s.clock.advance(300)  # … and the cool-down for the price
    assert prompts(s.say("e", "preis pls")) == []  # 5: not yet twice as many as 3
    assert prompts(s.say("f", "kostet?")) == ["6 Leute fragen nach dem Preis"]

    en = Stream(language="en")
    for user in ("a", "b"):
        assert prompts(en.say(user, "wie alt bist du?")) == []
    assert prompts(en.say("c", "wie alt bist du")) == ['3 people asked: "wie alt bist du?"']


@pytest.mark.parametrize(
    ("language", "texts", "said", "code"),
    [
        ("de", ["hab grad bestellt", "ich nehm zwei", "gekauft!"],
         "3 Leute wollen kaufen — sag kurz, wie und wo man bestellt", "prompt.lead_purchase"),
        ("en", ["is it vegan?", "is it waterproof?", "is it real silver?"],
         "3 people asked about materials and product details", "prompt.lead_product"),
        ("de", ["wie kann ich bestellen", "wo bestell ich das", "wie bestelle ich?"],
         "3 Leute fragen, wie sie bestellen können", "prompt.lead_how_to_order"),
    ],
)
def test_each_lead_kind_has_its_own_host_prompt_with_a_code(
    language: str, texts: list[str], said: str, code: str
) -> None:
    s = Stream(language=language)
    out: list[Any] = []
    for user, text in zip("abc", texts, strict=True):
        out += s.say(user, text)
    prompts = [m for m in out if isinstance(m, Prompt)]
    assert [(p.text, p.code, p.params) for p in prompts] == [(said, code, {"n": 3})]


def test_snapshot_orders_by_count_then_age_then_closed() -> None:
    s = Stream()
    s.say("a", "wo wohnst du")
    s.clock.advance(1)
    for user in ("b", "c"):
        s.say(user, "wie alt bist du")
    s.say("d", "link?")
    s.command("answer", "q3")
    ids = [(i["id"], i["state"]) for i in s.stage.snapshot()]
    assert ids == [("q2", "open"), ("q1", "open"), ("q3", "answered")]


def test_full_queue_evicts_the_least_recently_asked_open_item() -> None:
    queue = QuestionQueue("s", max_items=2)
    kw: dict[str, Any] = {"kind": None, "user_id": "u", "handle": "u", "event_id": "e"}
    queue.add(label="question", text="wo wohnst du", at=1.0, **kw)
    queue.add(label="question", text="wie alt bist du", at=2.0, **kw)
    queue.claim("q1", "mod", 3.0)
    added = queue.add(label="question", text="was machst du heute", at=4.0, **kw)
    assert added.evicted is not None and added.evicted.id == "q2"
    assert queue.get("q2") is not None and queue.get("q2").state is ItemState.EXPIRED  # type: ignore[union-attr]
    assert len(queue) == 2
    with pytest.raises(QueueError, match="already expired"):
        queue.answer("q2", "mod", 5.0)


def test_leads_are_kept_minimised_with_their_queue_item() -> None:
    s = Stream()
    s.say("anna", "link pls")
    s.say("ben", "wo wohnst du")
    leads = list(s.stage.leads)
    assert [(lead.kind, lead.handle, lead.item, lead.text) for lead in leads] == [
        ("link", "anna", "q1", None)  # the default policy keeps no message text
    ]


def _alarms(out: list[Any]) -> list[Alarm]:
    return [m for m in out if isinstance(m, Alarm)]


def test_faq_hot_reload_from_tick_with_alarm_on_a_broken_edit(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text((RULES / "faq.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(rules_dir=tmp_path)
    ctx = StageContext(settings=settings, metrics=Metrics(), stream="test")
    s = Stream()
    stage = build(ctx)  # finds tmp_path/faq.yaml; intents.yaml falls back to the shipped one
    s.pipe = Pipeline([s.pipe.stages[0], stage], ctx.metrics)

    def edit(text: str, stamp: int) -> list[Alarm]:
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(stamp * 10**18, stamp * 10**18))
        s.clock.advance(1.5)  # the file is checked at most once a second
        return _alarms(s.pipe.tick(s.clock.now()))

    assert s.insight("a", "habt ihr einen laden in berlin?").answer is None
    assert edit(path.read_text(encoding="utf-8") + """
  - id: laden
    questions: ["Habt ihr einen Laden in Berlin?"]
    answer: Ja, in der Torstraße 1 – komm vorbei!
""", 1) == []
    assert s.insight("b", "habt ihr nen laden in berlin").answer == (
        "Ja, in der Torstraße 1 – komm vorbei!"
    )
    raised = edit("tone: du\nentries:\n  - id: x\n", 2)
    assert [(a.kind, a.source, a.state) for a in raised] == [
        ("rules_rejected", "faq", AlarmState.RAISED)
    ]
    assert "entries[0] 'x': field 'questions'" in raised[0].message
    assert s.insight("c", "habt ihr einen laden in berlin").answer is not None  # last good
    cleared = edit("tone: du\nentries:\n  - id: x\n    questions: [a]\n    answer: b\n", 3)
    assert [(a.id, a.state) for a in cleared] == [(raised[0].id, AlarmState.CLEARED)]
    assert stage.knowledge_base is not None and len(stage.knowledge_base) == 1
    reloads = ctx.metrics.registry.get_sample_value
    assert reloads("livepilot_faq_reloads_total", {"result": "ok"}) == 2
    assert reloads("livepilot_faq_reloads_total", {"result": "invalid"}) == 1


def test_build_picks_the_stream_faq_and_settings() -> None:
    settings = Settings(rules_dir=RULES, question_prompt_after=4, host_language="en")
    stage = build(StageContext(settings=settings, metrics=Metrics(), stream="behoerde"))
    assert stage.knowledge_base is not None and stage.knowledge_base.tone == "Sie"
    assert stage.name == "questions"
    shop = build(StageContext(settings=settings, metrics=Metrics(), stream="nordlicht"))
    assert shop.knowledge_base is not None and shop.knowledge_base.tone == "du"
    empty = build(StageContext(settings=Settings(rules_dir=ROOT / "tests"), metrics=Metrics()))
    assert empty.knowledge_base is None


async def test_replayed_stream_through_the_runner_with_event_time() -> None:
    from collections.abc import AsyncIterator

    from livepilot.clock import EventClock
    from livepilot.events import LiveEvent
    from livepilot.pipeline.runner import StreamRunner
    from livepilot.stages.audience import intent
    from livepilot.testing import ListSink

    settings = Settings(rules_dir=RULES, host_language="en")
    metrics = Metrics()
    ctx = StageContext(settings=settings, metrics=metrics, stream="test")
    pipe = Pipeline([intent.build(ctx), build(ctx)], metrics)
    clock = FakeClock()
    events = EventFactory(clock)
    script: list[LiveEvent] = []
    for user in ("a", "b", "c", "d"):
        script.append(events.chat(user, "Was kostet der Versand?"))
        clock.advance(2)
    for user in ("e", "f", "g"):
        script.append(events.chat(user, "kein ton??"))
        clock.advance(1)
    clock.advance(30)
    now = clock.now()
    script.append(CommandEvent(id="c1", stream="test", at=now, received=now,
                               action="answer", target="q1", by="mod-mia"))
    clock.advance(120)  # silence: the tech alarm clears on a tick from event time
    script.append(events.chat("h", "danke!"))

    async def source() -> AsyncIterator[LiveEvent]:
        for event in script:
            yield event

    sink = ListSink()
    await StreamRunner("test", source(), pipe, sink, EventClock(), metrics).run()
    alarms = [m for m in sink.messages if isinstance(m, Alarm)]
    assert [(a.kind, a.state) for a in alarms] == [
        ("tech_issue", AlarmState.RAISED), ("tech_issue", AlarmState.CLEARED)
    ]
    assert alarms[0].message == "3 viewers: no audio in the last 30 s"
    prompts = [m.text for m in sink.messages if isinstance(m, Prompt)]
    assert "3 people asked about shipping" in prompts
    questions = pipe.stage("questions")
    assert isinstance(questions, QuestionsStage)
    assert questions.kpi()["moderators"]["mod-mia"]["median"] == 41.0
    snapshot = questions.snapshot()
    assert [(i["id"], i["state"], i["count"]) for i in snapshot] == [("q1", "answered", 4)]
    assert snapshot[0]["suggestion"]["entry"] == "versandkosten"


# -- late verdicts ----------------------------------------------------------------------


def found_toxic(first: Insight) -> Insight:
    """The model's late update of ``first``, as the toxicity stage publishes it."""
    return first.model_copy(update={
        "version": first.version + 1,
        "labels": (*first.labels, Label(name="toxic", source="toxicity", kind="insult",
                                       score=0.97)),
        "reasons": (*first.reasons, Reason(source="toxicity", text="model: insult 0.97")),
        "scores": {**first.scores, "toxicity": 0.97},
        "action": Action.HIDE,
        "hidden": True,
    })


def test_late_toxic_verdict_takes_the_only_ask_out_of_the_queue() -> None:
    s = Stream()
    first = s.insight("anna", "wie lange dauert der versand, du idiot?")
    item_id = queued(first)[0]
    assert item_id is not None and first.answer is not None and "faq" in first.scores
    out = s.pipe.revise([found_toxic(first)], s.clock.now())
    [late] = out
    assert isinstance(late, Insight)
    # What a message found toxic at once gets: no queue, no FAQ answer.
    assert queued(late) == (None, None)
    assert [lb.source for lb in late.labels if lb.source == "questions"] == []
    assert [r for r in late.reasons if r.source == "questions"] == []
    assert late.answer is None and "faq" not in late.scores
    assert late.has("toxic") and late.has("question") and late.version == first.version + 1
    assert all(i["id"] != item_id for i in s.stage.snapshot())  # not even as closed
    assert len(s.queue) == 0
    withdrawn = {"stream": "test", "outcome": "withdrawn"}
    assert s.metrics.registry.get_sample_value("livepilot_question_items_total", withdrawn) == 1
    assert s.metrics.registry.get_sample_value(
        "livepilot_question_queue", {"stream": "test", "state": "open"}) == 0
    with pytest.raises(QueueError, match="not in the queue"):
        s.queue.answer(item_id, "mod-anna", s.clock.now())


def test_late_toxic_verdict_takes_one_asker_off_and_withdraws_the_prompt() -> None:
    s = Stream(language="en")
    for user in ("a", "b"):
        s.say(user, "wie alt bist du?")
    s.clock.advance(1)
    out = s.say("c", "wie alt bist du eigentlich")
    [prompt] = [m for m in out if isinstance(m, Prompt)]
    third = next(m for m in out if isinstance(m, Insight))
    assert queued(third) == ("q1", 3.0)
    s.clock.advance(2)
    late = s.pipe.revise([found_toxic(third)], s.clock.now())
    [withdrawn] = [m for m in late if isinstance(m, Prompt)]
    # The same id with its expiry now takes it off the console and the overlays.
    assert withdrawn.id == prompt.id and withdrawn.expires_at == s.clock.now()
    assert queued(next(m for m in late if isinstance(m, Insight))) == (None, None)
    item = s.item("q1")
    assert (item["count"], item["asks"], item["askers"]) == (2, 2, ["a", "b"])
    # A real third asker prompts the host again (after the gap between prompts).
    s.clock.advance(31)
    again = [m for m in s.say("d", "wie alt bist du") if isinstance(m, Prompt)]
    assert [p.text for p in again] == ['3 people asked: "wie alt bist du?"']


def test_an_item_whose_text_was_toxic_takes_the_next_asks_text() -> None:
    s = Stream(language="en")
    out = [s.say(user, text) for user, text in (
        ("a", "WIE ALT BIST DU EIGENTLICH"), ("b", "wie alt bist du"), ("c", "wie alt bist du?"),
    )]
    prompt = next(m for m in out[2] if isinstance(m, Prompt))
    assert "EIGENTLICH" in prompt.text
    first = next(m for m in out[0] if isinstance(m, Insight))
    s.clock.advance(1)
    s.say("c", "wie alt bist du eigentlich")  # c asks again: still one asker
    late = s.pipe.revise([found_toxic(first)], s.clock.now())
    assert s.item("q1")["text"] == "wie alt bist du"
    assert (s.item("q1")["count"], s.item("q1")["asks"]) == (2, 3)
    # Two askers are below the prompt threshold: the prompt is withdrawn, not corrected.
    [gone] = [m for m in late if isinstance(m, Prompt)]
    assert gone.id == prompt.id and gone.expires_at == s.clock.now()


def test_a_repeat_asker_keeps_counting_and_a_big_item_corrects_its_prompt() -> None:
    s = Stream(language="en")
    for user in ("x", "y", "z"):
        s.say(user, "wo wohnst du")  # prompts the host: the next prompt waits the gap
    for user in ("a", "b", "c"):
        s.say(user, "wie alt bist du")
    s.clock.advance(31)
    out = s.say("d", "wie alt bist du")
    [prompt] = [m for m in out if isinstance(m, Prompt)]
    assert prompt.text == '4 people asked: "wie alt bist du"'
    fourth = next(m for m in out if isinstance(m, Insight))
    d_again = s.insight("d", "wie alt bist du eigentlich")
    assert queued(d_again) == ("q2", 4.0)
    late = s.pipe.revise([found_toxic(d_again)], s.clock.now())
    assert [m for m in late if isinstance(m, Prompt)] == []  # d still asks: 4 holds
    assert (s.item("q2")["count"], s.item("q2")["asks"]) == (4, 4)
    late = s.pipe.revise([found_toxic(fourth)], s.clock.now())
    assert (s.item("q2")["count"], s.item("q2")["asks"]) == (3, 3)
    [fixed] = [m for m in late if isinstance(m, Prompt)]
    assert fixed.id == prompt.id and fixed.text == '3 people asked: "wie alt bist du"'
    assert fixed.expires_at == prompt.expires_at


def test_a_clean_late_update_changes_nothing() -> None:
    s = Stream()
    first = s.insight("anna", "wie lange dauert der versand?")
    before = s.stage.snapshot()
    clean = first.model_copy(update={"version": first.version + 1,
                                     "scores": {**first.scores, "toxicity": 0.02}})
    [late] = s.pipe.revise([clean], s.clock.now())
    assert late is clean
    assert s.stage.snapshot() == before and queued(late) == (queued(first)[0], 1.0)


def test_the_queue_remembers_a_bounded_number_of_asks() -> None:
    queue = QuestionQueue("s", max_asks=2)
    for n, text in enumerate(("wo wohnst du", "wie alt bist du", "was machst du heute")):
        queue.add(label="question", kind=None, text=text, user_id=f"u{n}", handle=f"u{n}",
                  event_id=f"e{n}", at=float(n))
    assert queue.withdraw("e0") is None  # forgotten: its item stays
    assert len(queue) == 3
    gone = queue.withdraw("e2")
    assert gone is not None and gone.dropped and gone.item.id == "q3"
    assert queue.withdraw("e2") is None and len(queue) == 2
