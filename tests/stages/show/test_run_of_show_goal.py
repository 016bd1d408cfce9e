"""Run-of-show segment goals: the plan field, the ``goal`` alarm that carries a running
segment's goal to the overlays, counting from the segment's start, and the host prompt
when the goal is met (once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.events import CommandEvent, LiveEvent
from livepilot.insights import Alarm, Prompt
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
        "segments": [
            {"name": "Intro", "minutes": 5,
             "goal": {"metric": "likes", "target": 100, "label": "100 Herzen"}},
            {"name": "Produkt", "minutes": 10, "goal": {"metric": "diamonds", "target": 50}},
            {"name": "Outro", "minutes": 1},
        ],
    }
)


def test_the_example_plan_has_segment_goals() -> None:
    plan = load_run_of_show(EXAMPLE)
    goals = {s.name: s.goal for s in plan.segments if s.goal is not None}
    assert goals["Begrüßung"] is not None and goals["Begrüßung"].metric == "likes"


def test_a_wrong_goal_is_refused_with_file_segment_and_field(tmp_path: Path) -> None:
    path = tmp_path / "show.yaml"
    path.write_text("segments:\n  - name: A\n    minutes: 5\n"
                    "    goal: {metric: herzen, target: 10}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"show\.yaml: segments\[0\] 'A': field 'goal\.metric'.*"
                                         r"'likes', 'diamonds' or 'follows'"):
        load_run_of_show(path)
    path.write_text("segments:\n  - name: A\n    minutes: 5\n"
                    "    goal: {metric: likes, target: 0}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"field 'goal\.target'"):
        load_run_of_show(path)
    path.write_text("segments:\n  - name: A\n    minutes: 5\n"
                    "    goal: {metric: likes, target: 10, titel: x}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"field 'goal': unknown field 'titel'"):
        load_run_of_show(path)


def test_the_tracker_counts_from_the_segment_start_and_notes_the_goal_once() -> None:
    show = ShowTracker(PLAN)
    assert show.count("likes", 500, 0.0) == []  # no segment running: nothing counts
    show.start(10.0, "Intro")
    assert show.count("diamonds", 500, 11.0) == []  # not this segment's metric
    assert show.count("likes", 60, 12.0) == []
    notes = show.count("likes", 45, 13.0)
    assert [(n.kind, n.value) for n in notes] == [("goal_reached", 105)]
    assert show.count("likes", 10, 14.0) == []  # once
    assert show.snapshot(15.0)["current"]["goal"] == {
        "metric": "likes", "target": 100, "label": "100 Herzen", "value": 115, "reached": True}
    show.advance(20.0)  # Produkt: a new count
    assert show.goal_value == 0
    assert show.snapshot(20.0)["current"]["goal"]["reached"] is False


class Host:
    def __init__(self, plan: RunOfShow = PLAN, language: str = "de") -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.make = EventFactory(self.clock, stream="s")
        rules = AlarmRules(prompts=PromptRules(min_gap_s=0, max_per_window=100))
        self.stage = EngagementStage("s", rules, plan=plan, language=language)
        self.pipeline = Pipeline([self.stage], Metrics())
        self.out: list[WireMessage] = []

    def feed(self, *events: LiveEvent) -> None:
        for event in events:
            self.out.extend(self.pipeline.handle(event, self.clock.now()))

    def command(self, action: str, **args: object) -> None:
        now = self.clock.now()
        self.feed(CommandEvent(id=f"c{now}", stream="s", at=now, received=now, action=action,
                               by="mod", args=args))

    def goals(self) -> list[Alarm]:
        return [m for m in self.out if isinstance(m, Alarm) and m.kind == "goal"]

    def cheers(self) -> list[Prompt]:
        return [m for m in self.out if isinstance(m, Prompt) and "Ziel erreicht" in m.text]


def test_a_segment_goal_raises_its_alarm_and_cheers_the_host_once() -> None:
    host = Host()
    host.feed(host.make.like("anna", 500))  # before the segment: not counted
    host.command("segment_start", segment="Intro")
    raised = host.goals()
    assert len(raised) == 1 and raised[0].state == "raised"
    assert raised[0].data["metric"] == "likes" and raised[0].data["target"] == 100
    assert raised[0].data["label"] == "100 Herzen" and raised[0].data["value"] == 0
    host.feed(host.make.like("anna", 60), host.make.gift("ben", "Lion", diamonds=29_999))
    assert host.cheers() == []
    host.feed(host.make.like("cara", 40))
    host.clock.advance(1)
    host.out.extend(host.pipeline.tick(host.clock.now()))
    cheers = host.cheers()
    assert len(cheers) == 1 and cheers[0].text == (
        "Ziel erreicht: 100 Likes in „Intro“ – bedank dich beim Chat!")
    host.feed(host.make.like("dora", 300))
    host.clock.advance(1)
    host.out.extend(host.pipeline.tick(host.clock.now()))
    assert len(host.cheers()) == 1  # once per segment run

    # The next segment: the old goal is cleared, the new one raised, counting from 0.
    host.command("segment_next")
    states = [(a.data.get("metric"), a.state) for a in host.goals()]
    assert states[1:] == [(None, "cleared"), ("diamonds", "raised")]
    assert host.goals()[-1].data["value"] == 0
    host.command("segment_next")  # Outro has no goal
    assert host.goals()[-1].state == "cleared"


def test_a_gift_streak_counts_once_at_its_end_in_english() -> None:
    host = Host(language="en")
    host.command("segment_start", segment="Produkt")
    host.feed(host.make.gift("anna", "Rose", diamonds=1, count=30, streak="s1", final=False),
              host.make.gift("anna", "Rose", diamonds=1, count=49, streak="s1", final=True))
    assert host.stage.show is not None and host.stage.show.goal_value == 49
    host.feed(host.make.gift("ben", "Rose", diamonds=1))
    host.clock.advance(1)
    host.out.extend(host.pipeline.tick(host.clock.now()))
    cheers = [m.text for m in host.out if isinstance(m, Prompt) and "Goal reached" in m.text]
    assert cheers == ["Goal reached: 50 diamonds in “Produkt” – thank the chat!"]
