"""Where the run-of-show stood, read back from the store after a restart or a crash.

A recorder writes a stream with segment commands, likes and gifts into a real store
(SQLite and PostgreSQL); a fresh pipeline then carries it over as a live stream's start-up
does, and its run-of-show tracker must stand where the stopped one stood: the same
segment, its timer from the moderator's command, the goal's count since the segment
started — or the show finished.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from livepilot.events import CommandEvent
from livepilot.leads import LeadPolicy
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.stages.registry import build_pipeline
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.run_of_show import ShowTracker
from livepilot.store import Recorder, StoreSettings
from livepilot.store.carryover import find_resumption, resume_show
from livepilot.store.database import open_database
from livepilot.store.segments import ShowPlan, counted_since, show_position
from livepilot.store.wiring import carry_over, show_plan
from livepilot.testing import EventFactory, FakeClock, settings_for_tests

pytestmark = pytest.mark.timeout(60)

PLAN = """
segments:
  - name: Intro
    minutes: 5
    goal: {metric: likes, target: 1000}
  - name: Produkt
    minutes: 10
    goal: {metric: diamonds, target: 500, label: "500 Diamanten"}
"""


class _Run:
    """One process's recording of stream ``anna`` on a fake clock (also its wall)."""

    def __init__(self, store: StoreSettings, plan: Path, clock: FakeClock) -> None:
        self.clock = clock
        self.make = EventFactory(clock, stream="anna")
        self.recorder = Recorder.start(store, LeadPolicy(), CollectorRegistry())
        self.recorder.wall = clock.now
        self.tap = self.recorder.tap("anna", platform="other", plan=show_plan(plan))
        self._commands = 0

    def at(self, t: float) -> _Run:
        self.clock.set(t)
        return self

    def feed(self, *events: Any) -> None:
        self.tap.feed(list(events))

    def command(self, action: str, **args: Any) -> None:
        self._commands += 1
        self.feed(CommandEvent(id=f"cmd-{self._commands}", stream="anna", at=self.clock.now(),
                               received=self.clock.now(), action=action, by="lena", args=args))

    def stop(self) -> None:
        self.tap.close("stopped")
        assert self.recorder.close(deadline=30)

    def crash(self) -> None:
        """What a killed process leaves: what the writer stored so far, no end."""
        assert self.tap.recording is not None
        self.tap.recording.emit()
        assert self.recorder.writer.close(30)


def _restarted(store: StoreSettings, plan: Path, now: float) -> tuple[ShowTracker, Any]:
    """A fresh live pipeline carried over at ``now``: its tracker and the resumption."""
    settings = settings_for_tests(run_of_show=plan)
    recorder = Recorder.start(store, LeadPolicy(), CollectorRegistry())
    try:
        tap = recorder.tap("anna", platform="other", plan=show_plan(plan))
        pipeline = build_pipeline(settings.stages, StageContext(settings, Metrics(), "anna"))
        carry_over(recorder, tap, pipeline, now=now)
        stage = pipeline.stage("engagement")
        assert isinstance(stage, EngagementStage) and stage.show is not None
        return stage.show, tap.resume
    finally:
        recorder.close()


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "show.yaml"
    path.write_text(PLAN, encoding="utf-8")
    return path


def test_a_stop_mid_segment_goes_on_with_its_timer_and_goal(
    store_settings: StoreSettings, plan: Path
) -> None:
    t0 = time.time() - 600  # minute 0 of the stream starts here
    run = _Run(store_settings, plan, FakeClock(t0))
    run.feed(run.make.chat("kim", "hallo"), run.at(t0 + 10).make.like("kim", 40))
    run.at(t0 + 30).command("segment_start", segment="Intro")
    run.feed(run.at(t0 + 45).make.like("ben", 60), run.at(t0 + 70).make.like("cara", 100),
             run.at(t0 + 90).make.chat("kim", "weiter"))
    run.stop()

    tracker, resume = _restarted(store_settings, plan, now=t0 + 120)
    snap = tracker.snapshot(t0 + 120)["current"]
    assert snap["name"] == "Intro" and snap["started_at"] == t0 + 30
    assert snap["elapsed_s"] == 90  # the restart's 30 s included: the show went on
    # 160 likes came after the start. The minute it started in (40 before, 60 after) is
    # split by time, as if spread evenly: half of 100, plus the 100 of minute 1.
    assert snap["goal"] == {"metric": "likes", "target": 1000, "label": "", "value": 150,
                            "reached": False}
    # The store goes on with the segment too: the stop had ended it, it runs again.
    assert resume is not None and [(s["name"], s["ended_at"]) for s in resume.segments] == [
        ("Intro", None)]


def test_diamonds_count_exactly_and_a_met_goal_is_not_cheered_again(
    store_settings: StoreSettings, plan: Path
) -> None:
    t0 = time.time() - 900
    run = _Run(store_settings, plan, FakeClock(t0))
    run.feed(run.make.chat("kim", "hallo"))
    run.at(t0 + 20).command("segment_start", segment="Intro")
    run.feed(run.at(t0 + 50).make.gift("ben", "Lion", diamonds=300))  # Intro's: not counted
    run.at(t0 + 75).command("segment_next")
    run.feed(run.at(t0 + 80).make.gift("cara", "Rose", diamonds=250),
             run.at(t0 + 100).make.gift("dora", "Rose", diamonds=260),
             run.at(t0 + 110).make.gift("emil", "Rose", diamonds=9, final=False))  # a streak
    run.stop()

    tracker, _ = _restarted(store_settings, plan, now=t0 + 200)
    assert tracker.current is not None and tracker.current.name == "Produkt"
    goal = tracker.snapshot(t0 + 200)["current"]["goal"]
    assert (goal["value"], goal["reached"]) == (510, True)
    assert tracker.count("diamonds", 5, t0 + 201) == []  # reached before: no second cheer
    assert tracker.goal_value == 515


def test_a_show_that_had_finished_stays_finished(
    store_settings: StoreSettings, plan: Path
) -> None:
    t0 = time.time() - 900
    run = _Run(store_settings, plan, FakeClock(t0))
    run.feed(run.make.chat("kim", "hallo"))
    run.at(t0 + 20).command("segment_start", segment="Produkt")
    run.at(t0 + 60).command("segment_next")  # after the last segment: the show is over
    run.stop()  # no event after the command: the stop's end is the segment's end too

    tracker, resume = _restarted(store_settings, plan, now=t0 + 100)
    assert tracker.current is None and tracker.finished_at == t0 + 60
    assert resume is not None and resume.segments[-1]["ended_at"] == t0 + 60


def test_after_a_crash_the_running_segment_goes_on(
    store_settings: StoreSettings, plan: Path
) -> None:
    t0 = time.time() - 900
    run = _Run(store_settings, plan, FakeClock(t0))
    run.feed(run.make.chat("kim", "hallo"))
    run.at(t0 + 60).command("segment_start", segment="Produkt")
    run.feed(run.at(t0 + 61).make.gift("ben", "Lion", diamonds=120),
             run.at(t0 + 65).make.like("ben", 30))
    run.crash()

    tracker, resume = _restarted(store_settings, plan, now=t0 + 80)
    assert resume is not None and resume.cause == "crash"
    current = tracker.snapshot(t0 + 80)["current"]
    # The command still waited for its outcome when the process died (not stored): the
    # timer starts at the segment row's start, the stream time then.
    assert (current["name"], current["started_at"]) == ("Produkt", t0 + 60)
    assert current["goal"]["value"] == 120


def test_without_the_commands_a_segment_the_stop_ended_is_taken_as_running() -> None:
    rows = [{"seq": 1, "name": "Intro", "position": 0, "started_at": 10.0, "ended_at": 50.0}]
    plan = ShowPlan("", ("Intro", "Produkt"))
    running = show_position(plan, rows, [], stopped_at=50.0)
    assert (running.segment, running.started_at, running.finished_at) == ("Intro", 10.0, None)
    # a row that ended before the stream did was ended by the show finishing
    assert show_position(plan, rows, [], stopped_at=80.0).finished_at == 50.0
    # the command that started it gives the timer its start (the stage's clock)
    started = [{"action": "segment_start", "target": "", "args": '{"segment": "Intro"}',
                "at": 10.0, "wall_at": 12.5}]
    assert show_position(plan, rows, started, stopped_at=50.0).started_at == 12.5
    finished = [*started, {"action": "segment_next", "target": "", "args": "{}", "at": 50.0,
                           "wall_at": 51.0}]
    plan_of_one = ShowPlan("", ("Intro",))
    assert show_position(plan_of_one, rows, finished, stopped_at=50.0).finished_at == 50.0


def test_counted_since_splits_only_the_minute_the_segment_started_in() -> None:
    minutes = [{"minute": 0, "likes": 60}, {"minute": 1, "likes": 30}, {"minute": 2, "likes": 10}]
    assert counted_since(minutes, 0.0, 60.0, 150.0, "likes") == 40  # on a boundary: exact
    assert counted_since(minutes, 0.0, 45.0, 150.0, "likes") == 55  # 15/60 of minute 0
    # the last minute spans only up to the stream's last event
    assert counted_since(minutes, 0.0, 130.0, 140.0, "likes") == 5  # 10/20 of minute 2


def test_without_the_gifts_the_diamonds_come_from_the_minutes(tmp_path: Path) -> None:
    store = StoreSettings(data_dir=tmp_path / "data")
    plan = tmp_path / "show.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    t0 = time.time() - 100
    run = _Run(store, plan, FakeClock(t0))
    run.feed(run.make.chat("kim", "hallo"))
    run.at(t0 + 10).command("segment_start", segment="Produkt")
    run.feed(run.at(t0 + 20).make.gift("ben", "Lion", diamonds=100))
    run.stop()
    engine = open_database(store)
    try:
        found = find_resumption(engine, "anna", "other", t0 + 30)
        assert found is not None
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE gifts")  # a store that cannot answer
        resumed, position = resume_show(engine, found, ShowPlan("", ("Intro", "Produkt")))
        assert (position.segment, position.started_at) == ("Produkt", t0 + 10)
        # minute 0 runs to the last event (t0 + 20); 10 of its 20 s are the segment's
        assert position.counted["diamonds"] == 50
        assert resumed.segments[-1]["ended_at"] is None
    finally:
        engine.dispose()
