"""The report's numbers on a stream small enough to work out by hand."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from livepilot.events import CommandEvent, User, ViewerCountEvent
from livepilot.insights import Alarm, AlarmState, Insight, Label, Reason, Severity
from livepilot.leads import LeadPolicy
from livepilot.report import build_report, chat_log_csv, minutes_csv, render_html, report_json
from livepilot.store import History, Recorder, ShowPlan, StoreSettings
from livepilot.testing import EventFactory, FakeClock

T0 = 1_767_222_000.0
HOSTILE = "<script>alert(1)</script>"


async def _commands(*commands: CommandEvent) -> AsyncIterator[CommandEvent]:
    for command in commands:
        yield command


async def _record(settings: StoreSettings) -> None:
    """Four minutes: 100 viewers, then the product segment and 50; questions, a gift."""
    recorder = Recorder.start(settings, LeadPolicy(user="handle"), CollectorRegistry())
    tap = recorder.tap("anna", platform="tiktok", creator="anna",
                       plan=ShowPlan("Launch", ("Intro", "Produkt")))
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")

    def viewers(count: int, total: int) -> ViewerCountEvent:
        return ViewerCountEvent(id=f"v{clock.now()}", stream="anna", at=clock.now(),
                                received=clock.now(), count=count, total=total)

    def command(action: str, target: str = "", **args: object) -> CommandEvent:
        return CommandEvent(id=f"cmd-{action}-{clock.now()}", stream="anna", at=0.0,
                            received=0.0, action=action, target=target, by="lena", args=args)

    tap.feed([viewers(100, 120)])
    async for _ in tap.commands(_commands(command("segment_start", segment="Intro"))):
        pass
    for n in range(30):
        clock.set(T0 + 2 + n * 7.5)  # 30 messages over the four minutes, from 10 users
        chat = make.chat(f"user{n % 10}", f"nachricht {n}")
        labels: list[Label] = []
        if n in (1, 3, 5):
            labels = [Label(name="question", source="intent"),
                      Label(name="queued", source="questions", kind="q1", score=(n + 1) // 2)]
        if n == 7:
            labels = [Label(name="question", source="intent"),
                      Label(name="queued", source="questions", kind="q2", score=1)]
            chat = chat.model_copy(update={"text": HOSTILE})
        if n == 9:
            labels = [Label(name="toxic", source="word_filter", kind="insult")]
        tap.feed([chat, Insight(event_id=chat.id, stream="anna", labels=tuple(labels))])
        if n == 5:  # q1 answered 30 s after it was first asked
            clock.set(T0 + 2 + 7.5 + 30)
            answer = command("answer", "q1")
            async for _ in tap.commands(_commands(answer)):
                pass
            tap.feed([Insight(event_id=answer.id, stream="anna",
                              labels=(Label(name="answered", source="questions", kind="q1",
                                            score=30.0),),
                              reasons=(Reason(source="questions", text="q1 answered"),))])
        if n == 15:
            clock.set(T0 + 120)
            tap.feed([viewers(50, 250)])
            async for _ in tap.commands(_commands(command("segment_next"))):
                pass
            tap.feed([Alarm(id="anna:viewer_drop:1", stream="anna", kind="viewer_drop",
                            source="engagement", at=T0 + 121, message="Viewer count −50 %")])
    clock.set(T0 + 200)
    tap.feed([make.gift(User(id="g", unique_id=HOSTILE), "Lion", diamonds=500),
              make.share("ann")])
    clock.set(T0 + 240)
    tap.feed([viewers(50, 300)])
    tap.close("live_ended")
    assert await recorder.aclose(deadline=20)


async def test_the_numbers_are_the_documented_ones(tmp_path: Path) -> None:
    settings = StoreSettings(data_dir=tmp_path)
    await _record(settings)
    history = History.open(settings)
    data = history.load(history.last())
    report = build_report(data, "en")

    assert report.duration_s == 240 and report.started_at == "2025-12-31T23:00:00Z"
    assert (report.peak_viewers, report.peak_at_s) == (100, 0)
    # 100 viewers for 120 s, 50 for 120 s: 18,000 viewer-seconds over 240 s.
    assert report.avg_viewers == 75 and report.engagement.viewer_minutes == 300
    assert report.viewers_per_minute == (100, 100, 50, 50, None)  # the end, 4:00, is empty
    # The platform's cumulative count; watch time by Little's law: 75 × 240 s ÷ 300.
    assert (report.total_viewers, report.total_viewers_source) == (300, "platform")
    assert report.avg_watch_time_s == 60
    # 30 chats + 1 gift + 1 share over 300 viewer-minutes; 12 distinct people of 300.
    assert report.engagement.interactions == 32
    assert report.engagement.interactions_per_viewer_minute == round(32 / 300, 4)
    assert report.engagement.interacted_share == 0.04
    assert report.diamonds == 500 and report.top_gifters[0].user == HOSTILE

    (drop,) = report.drop_offs
    assert (drop.at_s, drop.before, drop.after, drop.share) == (120, 100, 50, 0.5)
    assert drop.segment == "Produkt"
    assert [(s.name, s.start_s, s.end_s) for s in report.segments] == [
        ("Intro", 0, 120), ("Produkt", 120, 240)
    ]
    q = report.questions
    assert (q.asked, q.answered, q.unanswered, q.median_response_s) == (2, 1, 1, 30)
    assert [(m.moderator, m.answered, m.median_response_s) for m in q.by_moderator] == [
        ("lena", 1, 30)
    ]
    assert q.top[0].askers == 3 and q.top[0].by == "lena"
    assert report.moderation.flagged == 1 and report.moderation.flagged_share == round(1 / 30, 4)
    assert report.moderation.actions == {"answer": 1, "segment_next": 1, "segment_start": 1}
    assert [(a.kind, a.at_s) for a in report.alarms] == [("viewer_drop", 121)]
    assert report.advice[0].kind == "drop_off"
    assert report.advice[0].numbers["segment"] == "Produkt"
    assert "100 to 50" in report.advice[0].detail
    # Two questions are too few to judge; one insult in 30 messages (3.3 %) is not.
    assert [a.kind for a in report.advice] == ["drop_off", "moderation"]
    assert report.advice[1].numbers["flagged_share"] == round(1 / 30, 4)

    doc = json.loads(report_json(report))
    for key in ("stream", "started_at", "duration_s", "peak_viewers", "peak_at_s",
                "total_viewers", "avg_watch_time_s", "diamonds", "top_gifters", "alarms",
                "viewers_per_minute", "questions"):
        assert key in doc
    assert doc["alarms"][0]["at_s"] == 121

    rows = list(csv.DictReader(io.StringIO(minutes_csv(report))))
    assert [row["minute"] for row in rows][:4] == ["0", "1", "2", "3"]
    assert sum(int(row["chat"]) for row in rows) == 30

    log = "".join(chat_log_csv(history.chat_log(history.last()), T0))
    assert "nachricht 0" in log and log.count("\n") == 31
    history.close()


async def test_the_page_speaks_both_languages_and_escapes_what_viewers_wrote(
    tmp_path: Path,
) -> None:
    settings = StoreSettings(data_dir=tmp_path)
    await _record(settings)
    history = History.open(settings)
    data = history.load(history.last())
    german = render_html(build_report(data, "de"), "de")
    english = render_html(build_report(data, "en"), "en")
    history.close()
    assert "Drei Dinge fürs nächste Mal" in german and "Abbrüche" in german
    assert "Three things to change next time" in english
    for page in (german, english):
        assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script" not in page and "http://" not in page.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")
        assert page.count("<svg") >= 4


async def test_polls_and_giveaways_show_how_they_came_out(tmp_path: Path) -> None:
    settings = StoreSettings(data_dir=tmp_path)
    recorder = Recorder.start(settings, LeadPolicy(), CollectorRegistry())
    tap = recorder.tap("anna", platform="tiktok", creator="anna")
    clock = FakeClock(T0)
    tap.feed([EventFactory(clock, stream="anna").chat("kim", "hallo")])
    poll = {"id": "poll-1", "question": f"Rot oder {HOSTILE}?", "open": True}
    raised = Alarm(id="poll-1", stream="anna", kind="poll", source="polls", at=T0 + 10,
                   severity=Severity.INFO, message="Umfrage: Rot oder Blau?", data=poll)
    tap.feed([raised])
    tap.feed([raised.model_copy(update={"state": AlarmState.CLEARED, "at": T0 + 70,
                                        "message": "Rot 7 (70 %), Blau 3",
                                        "data": poll | {"open": False}})])
    tap.feed([Alarm(id="give-1", stream="anna", kind="giveaway", source="polls", at=T0 + 80,
                    severity=Severity.INFO, message="Gewinnspiel", data={"title": "Hoodie"})])
    clock.set(T0 + 120)
    tap.close("live_ended")
    assert await recorder.aclose(deadline=20)
    history = History.open(settings)
    report = build_report(history.load(history.last()), "de")
    history.close()
    held = {a.kind: a for a in report.alarms}
    assert (held["poll"].subject, held["poll"].result) == (f"Rot oder {HOSTILE}?",
                                                           "Rot 7 (70 %), Blau 3")
    assert (held["giveaway"].subject, held["giveaway"].result) == ("Hoodie", None)
    page = render_html(report, "de")
    assert "Umfragen und Gewinnspiele" in page and "Rot 7 (70 %), Blau 3" in page
    assert "nicht beendet" in page and HOSTILE not in page
    assert json.loads(report_json(report))["alarms"][0]["result"] == "Rot 7 (70 %), Blau 3"
