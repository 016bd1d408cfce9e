"""Engagement stage cost per event (µs, median and spread over repetitions).

A deterministic stream mix (60 % chat, 25 % likes, 8 % joins, 5 % viewer counts, 2 %
gifts; 1,000 users; 50 events per second of stream time with one tick per second) goes
through ``process`` of each stage, with a fresh ``Draft`` per event as the pipeline makes
it. The baseline is a stage that does nothing, measured in the same run, so the table
shows what engagement itself adds. Run: ``.venv/bin/python benchmarks/engagement.py``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from livepilot.events import CommandEvent, LiveEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.stage import Draft, Outbox, Stage
from livepilot.stages.show.alarms import AlarmRules
from livepilot.stages.show.engagement import EngagementStage
from livepilot.stages.show.polls import PollsStage
from livepilot.stages.show.run_of_show import load_run_of_show
from livepilot.testing import EventFactory, FakeClock

EVENTS = 50_000
PER_SECOND = 50
REPEAT = 7
TEXTS = [
    "Hallo zusammen!", "Wie teuer ist das?", "schönes Outfit", "Grüße aus Köln",
    "Gibt es das auch in Blau?", "haha 😂", "1", "mega", "hi from London", "❤️❤️",
]


class Noop:
    name = "noop"

    def process(self, event: LiveEvent, draft: Draft) -> None:
        pass

    def tick(self, now: float, out: Outbox) -> None:
        pass


def make_events() -> list[LiveEvent]:
    rng = random.Random(7)
    clock = FakeClock(1_700_000_000.0)
    make = EventFactory(clock, stream="bench")
    users = [make.user(f"user{i}", new_account=i % 10 == 0) for i in range(1000)]
    events: list[LiveEvent] = []
    viewers = 2000
    for i in range(EVENTS):
        clock.set(1_700_000_000.0 + i / PER_SECOND)
        roll = rng.random()
        user = rng.choice(users)
        if roll < 0.60:
            events.append(make.chat(user, rng.choice(TEXTS)))
        elif roll < 0.85:
            events.append(make.like(user, count=rng.randint(1, 15)))
        elif roll < 0.93:
            events.append(make.join(user))
        elif roll < 0.98:
            viewers = max(100, viewers + rng.randint(-40, 40))
            events.append(make.viewers(viewers))
        else:
            events.append(make.gift(user, "Rose", diamonds=1, count=rng.randint(1, 20)))
    return events


def polls_open() -> PollsStage:
    stage = PollsStage("bench", rng=random.Random(1))
    for action, args in (
        ("poll_start", {"question": "Farbe?", "options": ["Blau", "Rot"]}),
        ("giveaway_start", {"keyword": "mega"}),
    ):
        cmd = CommandEvent(id=action, stream="bench", at=0, received=0, action=action, by="b",
                           args=args)
        stage.process(cmd, Draft(event=cmd, now=0))
    return stage


def run(build: Callable[[], Stage], events: list[LiveEvent]) -> tuple[float, float]:
    """One pass; returns (µs per event for process, µs per tick)."""
    stage = build()
    next_tick = int(events[0].at) + 1
    spent = 0.0
    tick_spent = 0.0
    ticks = 0
    perf = time.perf_counter
    for event in events:
        while next_tick <= event.at:
            started = perf()
            stage.tick(float(next_tick), Outbox())
            tick_spent += perf() - started
            ticks += 1
            next_tick += 1
        started = perf()
        draft = Draft(event=event, now=event.at)
        stage.process(event, draft)
        spent += perf() - started
    return spent / len(events) * 1e6, tick_spent / max(ticks, 1) * 1e6


def main() -> None:
    events = make_events()
    plan = load_run_of_show(Path(__file__).resolve().parents[1] / "rules" / "run-of-show.yaml")
    cases: list[tuple[str, Callable[[], Stage]]] = [
        ("baseline: no-op stage (Draft only)", Noop),
        ("engagement", lambda: EngagementStage("bench", AlarmRules(), metrics=Metrics())),
        ("engagement + run-of-show", lambda: EngagementStage(
            "bench", AlarmRules(), plan=plan, metrics=Metrics())),
        ("polls (no poll open)", lambda: PollsStage("bench", rng=random.Random(1))),
        ("polls (poll and giveaway open)", polls_open),
    ]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
    for _ in range(REPEAT):  # interleaved, so drift hits every case alike
        for name, build in cases:
            results[name].append(run(build, events))
    print(f"{EVENTS:,} events, {EVENTS // PER_SECOND} s of stream time, {REPEAT} repetitions\n")
    print("| stage | µs/event median | min–max | µs/tick median | min–max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, _ in cases:
        per_event = [r[0] for r in results[name]]
        per_tick = [r[1] for r in results[name]]
        print(
            f"| {name} | {statistics.median(per_event):.2f} | "
            f"{min(per_event):.2f}–{max(per_event):.2f} | {statistics.median(per_tick):.1f} | "
            f"{min(per_tick):.1f}–{max(per_tick):.1f} |"
        )


if __name__ == "__main__":
    main()
