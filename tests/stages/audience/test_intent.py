from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from livepilot.errors import RulesError
from livepilot.events import QuestionEvent
from livepilot.insights import Alarm, AlarmState, Insight, Prompt
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Outbox
from livepilot.stages.audience.intent import IntentStage
from livepilot.stages.audience.intent_classifier import IntentClassifier
from livepilot.stages.audience.intent_rules import IntentRules, TechAlarmRules, load_intent_rules
from livepilot.stages.audience.phrases import normalise, tokenize
from livepilot.stages.audience.tech_alarm import TechIssueWatch
from livepilot.testing import EventFactory, FakeClock

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules" / "intents.yaml"


@pytest.fixture(scope="module")
def shipped() -> tuple[IntentRules, IntentClassifier]:
    return load_intent_rules(RULES)


def labels(classifier: IntentClassifier, text: str) -> set[str]:
    out = set()
    for hit in classifier.classify(text):
        out.add(hit.label if hit.kind is None else f"{hit.label}:{hit.kind}")
    return out


def small_rules(**extra: Any) -> IntentClassifier:
    data: dict[str, Any] = {
        "question": {"starts": ["wie|was"], "lead_in": ["hey"], "not": ["wie geil"]},
        "lead": {
            "bulk": ["#10 stueck|pieces"],
            "price": ["was kost*", "preis*"],
        },
        "tech_issue": {
            "no_audio": {
                "say": {"de": "kein Ton", "en": "no audio"},
                "hint": {"de": "Mikro prüfen", "en": "check the mic"},
                "phrases": ["ton .. weg"],
            }
        },
        "negators": ["nicht"],
        "feedback_negative": {"phrases": ["schlecht"]},
        "feedback_positive": {"phrases": ["toll"], "emoji": "❤"},
    }
    data.update(extra)
    return IntentRules.model_validate(data).build()


def test_normalise_folds_umlauts_repeats_mentions_and_apostrophes() -> None:
    assert normalise("Größe?? TOOOOON") == "groesse?? ton"
    assert tokenize("@lisa can't hör nix!!!") == ["cant", "hoer", "nix"]
    assert tokenize("hallo") == ["hallo"]  # double letters stay


def test_phrase_syntax_prefix_gap_and_number_bound() -> None:
    c = small_rules()
    assert labels(c, "was kostet das") == {"question", "lead:price"}
    assert labels(c, "preise bitte") == {"lead:price"}
    assert labels(c, "ton weg") == {"tech_issue:no_audio"}
    assert labels(c, "der ton ist leider weg") == {"tech_issue:no_audio"}
    assert labels(c, "ton ist bei mir leider weg") == set()  # gap is at most two words
    assert labels(c, "ich brauche 50 stück") == {"lead:bulk"}
    assert labels(c, "ich brauche 5 stück") == set()


def test_lead_kinds_in_file_order_first_wins() -> None:
    c = small_rules()
    # "preis" (price) and "#10 stueck" (bulk) both match; bulk is written first.
    assert labels(c, "preis für 20 stück") == {"lead:bulk"}


def test_question_mark_lead_in_exclamation_and_interjection() -> None:
    c = small_rules()
    assert labels(c, "hey wie gehts") == {"question"}
    assert labels(c, "wie geil") == set()
    assert labels(c, "wie geil?") == {"question"}
    assert labels(c, "alles gut?") == {"question"}
    c2 = small_rules(question={"interjections": ["hae"], "starts": []})
    assert labels(c2, "hä?") == set()


def test_negator_flips_feedback() -> None:
    c = small_rules()
    assert labels(c, "nicht schlecht") == {"feedback_positive"}
    assert labels(c, "nicht so toll") == {"feedback_negative"}
    assert labels(c, "❤️❤️") == {"feedback_positive"}


def test_bad_phrase_and_unknown_field_name_the_file_and_place(tmp_path: Path) -> None:
    bad = tmp_path / "intents.yaml"
    bad.write_text("question: {}\nlead:\n  price: ['.. kostet']\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml: lead\.price\[0\].*'\.\.'"):
        load_intent_rules(bad)
    bad.write_text("question: {}\nleads: {}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml: unknown field 'leads'"):
        load_intent_rules(bad)
    bad.write_text("question: {}\nlead:\n  Price: [preis]\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml: lead: key 'Price': String should match"):
        load_intent_rules(bad)
    bad.write_text("question: {}\nlead:\n  bulk:\n    - ab #10 stueck\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml:4: .*put the phrase in quotes"):
        load_intent_rules(bad)
    bad.write_text("question: {}\nlead:\n  bulk:\n    - 'ab #10 stueck'  # fine\n",
                   encoding="utf-8")
    assert load_intent_rules(bad)[1].classify("ab 20 stück")[0].kind == "bulk"
    bad.write_text("question: [", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_intent_rules(bad)


def _read(name: str) -> list[tuple[set[str], str]]:
    rows = []
    for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("# holdout"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        truth, text = line.split("\t", 1)
        rows.append((set() if truth == "-" else set(truth.split(",")), text))
    return rows


@pytest.mark.parametrize("name", ["intent_de.tsv", "intent_en.tsv"])
def test_shipped_patterns_on_labelled_lines(
    shipped: tuple[IntentRules, IntentClassifier], name: str
) -> None:
    _, classifier = shipped
    rows = _read(name)
    assert len(rows) >= 100
    tp = fp = fn = 0
    for truth, text in rows:
        got = labels(classifier, text)
        tp += len(got & truth)
        fp += len(got - truth)
        fn += len(truth - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_shipped_patterns_typical_messages(shipped: tuple[IntentRules, IntentClassifier]) -> None:
    _, c = shipped
    assert labels(c, "Was kostet das?") == {"question", "lead:price"}
    assert labels(c, "kein tooon") == {"tech_issue:no_audio"}
    assert labels(c, "ist das auf lager?") == {"question", "lead:availability"}
    assert "tech_issue:lag" not in labels(c, "ist das auf lager?")
    assert labels(c, "liebe grüße an alle") == set()


def _stage(
    metrics: Metrics | None = None, viewers: int = 3, language: str = "en"
) -> IntentStage:
    rules, classifier = load_intent_rules(RULES)
    watch = TechIssueWatch(
        TechAlarmRules(viewers=viewers, window=30, clear_after=60, cooldown=120),
        dict(rules.tech_issue),
        language=language,
    )
    return IntentStage(classifier, watch, metrics)


def _insight(out: list[Any]) -> Insight:
    return next(m for m in out if isinstance(m, Insight))


def test_stage_labels_skips_toxic_and_takes_native_questions() -> None:
    clock = FakeClock()
    events = EventFactory(clock)
    pipe = Pipeline([_stage()], Metrics())
    insight = _insight(pipe.handle(events.chat("anna", "wie lange dauert der versand"), 0))
    assert [(lb.name, lb.kind, lb.source) for lb in insight.labels] == [
        ("question", None, "intent"),
        ("lead", "shipping", "intent"),
    ]
    assert insight.reasons[0].text == "lead (shipping): matched 'versand'"
    native = QuestionEvent(
        id="q1", stream="test", at=clock.now(), received=clock.now(),
        user=events.user("ben"), text="Was kostet der Hoodie",
    )
    insight = _insight(pipe.handle(native, 0))
    assert [(lb.name, lb.kind) for lb in insight.labels] == [("question", "qna"), ("lead", "price")]


def test_stage_judges_toxic_messages_too() -> None:
    """Intent is independent of toxicity: a flagged message is still a question, and a
    rude tech report still counts towards the alarm."""
    from livepilot.pipeline.stage import Draft

    clock = FakeClock()
    events = EventFactory(clock)
    stage = _stage()
    event = events.chat("troll", "was kostet das du idiot")
    draft = Draft(event=event, now=clock.now())
    draft.label("toxic", "word_filter", kind="insult")
    stage.process(event, draft)
    assert [(lb.name, lb.kind) for lb in draft.labels] == [
        ("toxic", "insult"), ("question", None), ("lead", "price")
    ]
    report = events.chat("grumpy", "man hört dich nicht, du penner")
    draft = Draft(event=report, now=clock.now())
    draft.label("toxic", "toxicity", kind="insult", score=0.7)
    stage.process(report, draft)
    assert ("tech_issue", "no_audio") in [(lb.name, lb.kind) for lb in draft.labels]


@pytest.mark.parametrize(("kind", "judged"), [("link", False), ("raid", False), ("caps", True)])
def test_stage_skips_promotional_spam_but_not_shouting(kind: str, judged: bool) -> None:
    from livepilot.pipeline.stage import Draft

    clock = FakeClock()
    event = EventFactory(clock).chat("bot", "🔥 love it 🔥 was kostet das? free-coins.xyz")
    draft = Draft(event=event, now=clock.now())
    draft.label("spam", "spam", kind=kind)
    _stage().process(event, draft)
    names = {lb.name for lb in draft.labels} - {"spam"}
    assert bool(names) is judged  # a shouted price question is still a lead; an ad is not


def _alarms(out: list[Any]) -> list[Alarm]:
    return [m for m in out if isinstance(m, Alarm)]


def test_tech_alarm_needs_distinct_viewers_in_window_and_raises_once() -> None:
    clock = FakeClock()
    events = EventFactory(clock)
    metrics = Metrics()
    pipe = Pipeline([_stage(metrics)], metrics)
    out: list[Any] = []
    # one viewer complaining three times is not three viewers
    for _ in range(3):
        out += pipe.handle(events.chat("anna", "kein ton"), clock.now())
        clock.advance(1)
    assert _alarms(out) == []
    out += pipe.handle(events.chat("ben", "ton weg??"), clock.now())
    clock.advance(40)  # anna's and ben's reports leave the 30 s window
    out += pipe.handle(events.chat("cem", "hör nix"), clock.now())
    assert _alarms(out) == []
    clock.advance(1)
    out += pipe.handle(events.chat("dana", "no sound"), clock.now())
    out += pipe.handle(events.chat("eli", "hallo? kein ton"), clock.now())
    raised = _alarms(out)
    assert len(raised) == 1
    alarm = raised[0]
    assert alarm.kind == "tech_issue" and alarm.state is AlarmState.RAISED
    assert alarm.message == "3 viewers: no audio in the last 30 s"
    assert alarm.data["issue"] == "no_audio"
    prompts = [m for m in out if isinstance(m, Prompt)]
    assert len(prompts) == 1 and prompts[0].alarm_id == alarm.id
    assert "check the microphone" in prompts[0].text
    # more reports keep it alive but do not repeat it
    for name in ("fay", "gus", "hal"):
        assert _alarms(pipe.handle(events.chat(name, "kein ton"), clock.now())) == []
    assert pipe.stage("intent").watch.active() == {"no_audio": 6}  # type: ignore[attr-defined]
    sample = metrics.registry.get_sample_value(
        "livepilot_tech_issue_reports_total", {"stream": "test", "kind": "no_audio"}
    )
    assert sample == 10


def test_tech_alarm_clears_when_reports_stop_then_cools_down() -> None:
    clock = FakeClock()
    events = EventFactory(clock)
    stage = _stage(viewers=2)
    pipe = Pipeline([stage], Metrics())
    for name in ("a", "b"):
        pipe.handle(events.chat(name, "bild hängt"), clock.now())
    clock.advance(59)
    assert _alarms(pipe.tick(clock.now())) == []
    clock.advance(1)
    cleared = _alarms(pipe.tick(clock.now()))
    assert [(a.state, a.message) for a in cleared] == [
        (AlarmState.CLEARED, "No more reports of frozen or black video")
    ]
    assert _alarms(pipe.tick(clock.advance(1))) == []
    # within the cool-down a new burst stays quiet
    clock.advance(30)
    out: list[Any] = []
    for name in ("c", "d"):
        out += pipe.handle(events.chat(name, "bild hängt"), clock.now())
    assert _alarms(out) == []
    clock.advance(90)  # cool-down over
    out = []
    for name in ("e", "f"):
        out += pipe.handle(events.chat(name, "bildschirm schwarz"), clock.now())
    again = _alarms(out)
    assert len(again) == 1 and again[0].id != cleared[0].id


def test_watch_kinds_are_independent() -> None:
    rules, _ = load_intent_rules(RULES)
    watch = TechIssueWatch(TechAlarmRules(viewers=2), dict(rules.tech_issue))
    box = Outbox()
    watch.report("s", "lag", "a", 0.0, box)
    watch.report("s", "no_audio", "b", 1.0, box)
    assert box.alarms == []
    watch.report("s", "lag", "c", 2.0, box)
    assert [a.data["issue"] for a in box.alarms] == ["lag"]


def test_tech_alarm_ids_name_the_issue_and_are_numbered_across_issues() -> None:
    rules, _ = load_intent_rules(RULES)
    watch = TechIssueWatch(
        TechAlarmRules(viewers=2, window=30, clear_after=60, cooldown=120),
        dict(rules.tech_issue),
    )
    box = Outbox()
    for at, kind, user in [(0, "lag", "a"), (1, "lag", "b"), (2, "no_audio", "a"),
                           (3, "no_audio", "c")]:
        watch.report("s", kind, user, float(at), box)
    watch.tick(70.0, box)
    watch.report("s", "lag", "d", 200.0, box)
    watch.report("s", "lag", "e", 201.0, box)
    assert [(a.id, a.state) for a in box.alarms] == [
        ("s:tech_issue:lag:1", AlarmState.RAISED),
        ("s:tech_issue:no_audio:2", AlarmState.RAISED),
        ("s:tech_issue:lag:1", AlarmState.CLEARED),
        ("s:tech_issue:no_audio:2", AlarmState.CLEARED),
        ("s:tech_issue:lag:3", AlarmState.RAISED),
    ]
    assert [p.id for p in box.prompts] == [
        "s:tech_issue:lag:1:prompt", "s:tech_issue:no_audio:2:prompt", "s:tech_issue:lag:3:prompt"
    ]
    assert box.alarms[2].data == {"issue": "lag", "viewers": 2}


def test_a_reloaded_cooldown_applies_to_a_cool_down_under_way() -> None:
    rules, _ = load_intent_rules(RULES)
    watch = TechIssueWatch(
        TechAlarmRules(viewers=2, window=30, clear_after=10, cooldown=600),
        dict(rules.tech_issue),
    )
    box = Outbox()
    watch.report("s", "lag", "a", 0.0, box)
    watch.report("s", "lag", "b", 1.0, box)
    watch.tick(20.0, box)                       # cleared at 20 s, quiet until 620 s …
    watch.rules = TechAlarmRules(viewers=2, window=30, clear_after=10, cooldown=60)
    watch.report("s", "lag", "c", 90.0, box)    # … but the edited rules say 60 s
    watch.report("s", "lag", "d", 91.0, box)
    assert [(a.id, a.state) for a in box.alarms][-1] == ("s:tech_issue:lag:2", AlarmState.RAISED)


def test_tech_alarm_speaks_the_host_language() -> None:
    clock = FakeClock()
    events = EventFactory(clock)
    pipe = Pipeline([_stage(viewers=2, language="de")], Metrics())
    out = pipe.handle(events.chat("a", "laggt voll"), clock.now())
    out += pipe.handle(events.chat("b", "stream ruckelt"), clock.now())
    messages = [a.message for a in _alarms(out)]
    assert messages == ["2 Zuschauer: Ruckeln oder Laden in den letzten 30 s"]
    prompt = next(m for m in out if isinstance(m, Prompt))
    assert prompt.text == (
        "2 Zuschauer melden: Ruckeln oder Laden – Upload prüfen und Bitrate senken"
    )


def test_arbitrary_text_never_breaks_the_classifier(
    shipped: tuple[IntentRules, IntentClassifier],
) -> None:
    import random

    _, c = shipped
    rng = random.Random(6)
    alphabet = "aäoöuüßsSİı?!.,' @#1230😍❤️👎\u200b\n\tǅﬁ" + "kostetonbildlag"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for hit in c.classify(text):
            assert hit.label in {"question", "lead", "tech_issue", "feedback_positive",
                                 "feedback_negative"}


def test_rules_reload_while_live_and_a_broken_edit_keeps_the_last_good(tmp_path: Path) -> None:
    import os

    from livepilot.pipeline.context import StageContext
    from livepilot.settings import Settings
    from livepilot.stages.audience.intent import build

    path = tmp_path / "intents.yaml"
    shipped_text = RULES.read_text(encoding="utf-8")
    path.write_text(shipped_text, encoding="utf-8")
    clock = FakeClock()
    events = EventFactory(clock)
    stage = build(StageContext(settings=Settings(rules_dir=tmp_path), metrics=Metrics()))
    pipe = Pipeline([stage], Metrics())

    def edit(text: str, stamp: int) -> list[Alarm]:
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(stamp * 10**18, stamp * 10**18))
        clock.advance(2)
        return _alarms(pipe.tick(clock.now()))

    def kinds(text: str) -> list[tuple[str, str | None]]:
        insight = _insight(pipe.handle(events.chat("anna", text), clock.now()))
        return [(lb.name, lb.kind) for lb in insight.labels]

    assert kinds("gewinnspiel heute") == []
    assert edit(shipped_text.replace("lead:\n", "lead:\n  giveaway:\n    - gewinnspiel*\n", 1)
                .replace("  viewers: 3\n", "  viewers: 2\n"), 1) == []
    assert kinds("gewinnspiel heute") == [("lead", "giveaway")]
    raised = edit("question: {}\nlead: {Price: [preis]}\n", 2)
    assert [(a.kind, a.source, a.state) for a in raised] == [
        ("rules_rejected", "intent", AlarmState.RAISED)
    ]
    assert kinds("gewinnspiel heute") == [("lead", "giveaway")]  # still the last good rules
    # the new threshold applies: two viewers are enough now
    out = pipe.handle(events.chat("a", "kein ton"), clock.now())
    out += pipe.handle(events.chat("b", "kein ton"), clock.now())
    assert [a.kind for a in _alarms(out)] == ["tech_issue"]
