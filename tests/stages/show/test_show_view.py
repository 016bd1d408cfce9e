"""The ``show`` view: the run-of-show's state as the console reads it."""

from __future__ import annotations

import json
from typing import Any

from livepilot.events import CommandEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.service import VIEWS
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.run_of_show import RunOfShow
from livepilot.testing import FakeClock

PLAN = RunOfShow.model_validate(
    {
        "title": "Launch",
        "questions": ["Was wollt ihr sehen?"],
        "segments": [
            {"name": "Intro", "minutes": 5, "talking_points": ["Hallo sagen"],
             "questions": ["Woher kommt ihr?"],
             "cta": {"text": "Folgt dem Kanal", "every_minutes": 2}},
            {"name": "Produkt", "minutes": 10,
             "poll": {"question": "Welche Farbe?", "options": ["Blau", "Rot"]}},
        ],
    }
)


class Show:
    """An engagement stage in a pipeline, read through the ``show`` view."""

    def __init__(self, plan: RunOfShow | None = PLAN) -> None:
        self.clock = FakeClock(1_700_000_000.0)
        self.stage = EngagementStage("s", plan=plan)
        self.pipeline = Pipeline([self.stage], Metrics())

    def command(self, action: str, **args: object) -> None:
        now = self.clock.now()
        event = CommandEvent(id=f"c{now}", stream="s", at=now, received=now, action=action,
                             by="lead", args=args)
        self.pipeline.handle(event, now)

    def wait(self, seconds: int) -> None:
        for _ in range(seconds):
            self.pipeline.tick(self.clock.advance(1))

    def view(self) -> Any:
        stage_name, read = VIEWS["show"]
        assert stage_name == "engagement"
        return read(self.stage, self.clock.now())


def test_without_a_plan_the_view_says_so() -> None:
    assert Show(plan=None).view() == {"loaded": False}


def test_before_the_start_the_view_lists_the_plan_and_no_current_segment() -> None:
    view = Show().view()
    assert view["loaded"] is True and view["title"] == "Launch"
    assert [(s["name"], s["minutes"], s["poll"]) for s in view["segments"]] == [
        ("Intro", 5, False), ("Produkt", 10, True),
    ]
    assert view["current"] is None and view["finished_at"] is None
    assert view["next_question"] == "Was wollt ihr sehen?"
    json.dumps(view)  # JSON-ready as it is


def test_current_segment_with_time_left_cta_and_prepared_questions() -> None:
    show = Show()
    show.command("segment_start")
    show.wait(90)
    view = show.view()
    current = view["current"]
    assert current["name"] == "Intro" and current["index"] == 0
    assert current["elapsed_s"] == 90 and current["remaining_s"] == 5 * 60 - 90
    assert current["overrun"] is False
    assert current["talking_points"] == ["Hallo sagen"]
    assert current["questions"] == ["Woher kommt ihr?"]
    assert current["cta"] == {"text": "Folgt dem Kanal", "every_minutes": 2, "next_in_s": 30}
    assert view["next"] == "Produkt"
    assert view["next_question"] == "Woher kommt ihr?"
    # reading the view does not use up the prepared question the next prompt will ask
    assert show.view()["next_question"] == "Woher kommt ihr?"
    assert show.stage.cues.question() == "Woher kommt ihr?"
    assert show.view()["next_question"] == "Was wollt ihr sehen?"


def test_next_segment_and_overrun_show_in_the_view() -> None:
    show = Show()
    show.command("segment_next")  # not started: starts the first
    show.command("segment_next")
    show.wait(10 * 60 + 5)
    current = show.view()["current"]
    assert current["name"] == "Produkt" and current["index"] == 1
    assert current["overrun"] is True and current["remaining_s"] == -5
    assert current["poll"] == {"question": "Welche Farbe?", "options": ["Blau", "Rot"],
                               "keywords": {}}
    assert current["cta"] is None
    assert show.view()["next"] is None
    show.command("segment_next")  # after the last segment the show is finished
    finished = show.view()
    assert finished["current"] is None and finished["finished_at"] is not None
    show.command("segment_start")  # and can start again
    assert show.view()["finished_at"] is None and show.view()["current"]["name"] == "Intro"
