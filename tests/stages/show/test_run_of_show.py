"""Run-of-show: the plan file, segment timing (warning, overrun), CTA reminders, and the
prepared questions, poll and crisis plan feeding the host prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.events import CommandEvent, LiveEvent
from livepilot.insights import Alarm, AlarmState, Prompt
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.stages.show.alarms import AlarmRules, PromptRules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.run_of_show import RunOfShow, ShowTracker, load_run_of_show
from livepilot.testing import EventFactory, FakeClock
from livepilot.wire import WireMessage

EXAMPLE = Path(__file__).resolve().parents[3] / "rules" / "run-of-show.yaml"

PLAN = RunOfShow.model_validate(
    {
        "warn_before_minutes": 2,
        "crisis": "Ruhig bleiben und zum Produkt wechseln",
        "questions": ["Was wollt ihr sehen?"],
        "segments": [
            {"name": "Intro", "minutes": 5, "questions": ["Woher kommt ihr?"],
             "cta": {"text": "Folgt dem Kanal", "every_minutes": 2}},
            {"name": "Produkt", "minutes": 10,
             "poll": {"question": "Welche Farbe?", "options": ["Blau", "Rot"]}},
            {"name": "Outro", "minutes": 1},
        ],
    }
)


def test_example_plan_is_valid() -> None:
    plan = load_run_of_show(EXAMPLE)
    assert [s.name for s in plan.segments][:2] == ["Begrüßung", "Thema"]
    assert plan.crisis and all(s.minutes > 0 for s in plan.segments)


def test_plan_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "show.yaml"
    path.write_text("segments:\n  - name: A\n    minutes: 0\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"show\.yaml: segments\[0\] 'A': field 'minutes'"):
        load_run_of_show(path)
    path.write_text("segments:\n  - name: A\n    minutes: 1\n    cta_text: x\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"segments\[0\] '[^']*': unknown field 'cta_text'"):
        load_run_of_show(path)
    path.write_text("segments:\n  - {name: A, minutes: 1}\n  - {name: a, minutes: 2}\n",
                    encoding="utf-8")
    with pytest.raises(RulesError, match="unique"):
        load_run_of_show(path)


def test_tracker_warns_before_the_end_then_reports_the_overrun_once() -> None:
    show = ShowTracker(PLAN)
    assert [n.kind for n in show.start(0.0)] == ["started"]
    seen = {t: [n.kind for n in show.tick(float(t))] for t in range(1, 400)}
    kinds = {t: k for t, k in seen.items() if k}
    # 5 min segment: CTA every 2 min, warning 2 min before the end, overrun at 5:00
    assert kinds == {120: ["cta"], 180: ["ending"], 240: ["cta"], 300: ["overrun"],
                     360: ["cta"]}


def test_tracker_advances_by_name_number_and_next_then_finishes() -> None:
    show = ShowTracker(PLAN)
    notes = show.start(0.0, "produkt")
    assert show.current is not None and show.current.name == "Produkt"
    assert notes[0].kind == "started" and notes[0].next is not None
    notes = show.advance(700.0)
    assert [n.kind for n in notes] == ["ended", "started"]
    assert notes[0].minutes == pytest.approx(700 / 60 - 10)
    assert show.current is not None and show.current.name == "Outro"
    assert [n.kind for n in show.advance(800.0)] == ["ended", "finished"]
    assert show.current is None and show.tick(900.0) == []
    show.start(1000.0, "1")
    assert show.current is not None and show.current.name == "Intro"
    with pytest.raises(KeyError):
        show.start(1001.0, "Pause")


def test_questions_cycle_through_segment_then_plan() -> None:
    show = ShowTracker(PLAN)
    show.start(0.0)
    assert [show.question() for _ in range(3)] == [
        "Woher kommt ihr?", "Was wollt ihr sehen?", "Woher kommt ihr?"
    ]
    assert show.poll() is not None and show.poll().question == "Welche Farbe?"  # type: ignore[union-attr]


class Host:
    def __init__(self, plan: RunOfShow | None = PLAN, language: str = "de") -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.make = EventFactory(self.clock, stream="s")
        rules = AlarmRules(prompts=PromptRules(min_gap_s=0, max_per_window=100))
        self.stage = EngagementStage("s", rules, plan=plan, language=language)
        self.pipeline = Pipeline([self.stage], Metrics())
        self.out: list[WireMessage] = []

    def feed(self, event: LiveEvent) -> None:
        self.out.extend(self.pipeline.handle(event, self.clock.now()))

    def command(self, action: str, **args: object) -> None:
        now = self.clock.now()
        self.feed(CommandEvent(id=f"c{now}", stream="s", at=now, received=now, action=action,
                               by="mod", args=args))

    def wait(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)
            self.out.extend(self.pipeline.tick(self.clock.now()))

    def alarms(self, kind: str) -> list[Alarm]:
        return [m for m in self.out if isinstance(m, Alarm) and m.kind == kind]

    def texts(self) -> list[str]:
        return [m.text for m in self.out if isinstance(m, Prompt) and m.expires_at != m.at]


def test_segment_alarms_and_prompts_through_the_stage() -> None:
    host = Host()
    host.command("segment_start", segment="Intro")
    assert host.texts() == ["Segment „Intro“ (5 min): —"]
    host.wait(179)
    assert host.alarms("segment_ending") == []
    host.wait(1)
    ending = host.alarms("segment_ending")
    assert len(ending) == 1 and ending[0].state == AlarmState.RAISED
    assert "Segment „Intro“ endet in 2 min — danach: „Produkt“" in host.texts()
    assert "Call-to-Action: Folgt dem Kanal" in host.texts()
    host.wait(120)
    overrun = host.alarms("segment_overrun")
    assert [a.state for a in host.alarms("segment_ending")] == ["raised", "cleared"]
    assert len(overrun) == 1 and overrun[0].state == AlarmState.RAISED
    assert "Segment „Intro“: die geplanten 5 min sind um — weiter zu „Produkt“?" in host.texts()
    host.command("segment_next")
    assert [a.state for a in host.alarms("segment_overrun")] == ["raised", "cleared"]
    assert host.texts()[-1].startswith("Segment „Produkt“ (10 min)")


def test_dead_air_prompt_uses_the_prepared_question_and_viewer_drop_the_poll() -> None:
    host = Host()
    host.command("segment_start", segment="Produkt")
    host.feed(host.make.viewers(200))
    host.feed(host.make.chat("anna", "hi"))
    host.wait(40)
    assert host.texts()[-1] == "Seit 40 s kein Chat — frag die Zuschauer: Was wollt ihr sehen?"
    host.feed(host.make.viewers(100))
    assert host.texts()[-1].endswith("starte die vorbereitete Umfrage: „Welche Farbe?“")


def test_segment_commands_without_a_plan_are_ignored() -> None:
    host = Host(plan=None)
    host.command("segment_start", segment="Intro")
    host.command("segment_next")
    host.wait(600)
    assert host.alarms("segment_ending") == [] and host.texts() == []


def test_unknown_segment_is_ignored() -> None:
    host = Host()
    host.command("segment_start", segment="Pause")
    host.wait(400)
    assert host.out == []
