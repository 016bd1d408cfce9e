"""Published messages → the store's rows, in stream time (no database needed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from livepilot.events import CommandEvent, GapEvent, StatusEvent, StreamState, ViewerCountEvent
from livepilot.insights import Alarm, AlarmState, Insight, Label
from livepilot.leads import LeadPolicy
from livepilot.store.recording import Recording
from livepilot.store.segments import ShowPlan
from livepilot.testing import EventFactory, FakeClock

T0 = 1_767_222_000.0


class Rows:
    """A RowSink that keeps what it is handed: the newest keyed rows, every appended row."""

    def __init__(self) -> None:
        self.streams: dict[str, dict[str, Any]] = {}
        self.keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.appended: list[tuple[str, dict[str, Any]]] = []

    def stream(self, key: str, row: dict[str, Any], *, opening: bool = False) -> None:
        self.streams[key] = dict(row)

    def put(self, table: Table, row: dict[str, Any]) -> None:
        pk = tuple(row[c.name] for c in table.primary_key.columns if c.name != "stream_id")
        self.keyed[(table.name, *pk)] = dict(row)

    def append(self, table: Table, row: dict[str, Any]) -> bool:
        self.appended.append((table.name, dict(row)))
        return True

    def minute(self, n: int) -> dict[str, Any]:
        return self.keyed[("minutes", n)]

    def of(self, table: str) -> list[dict[str, Any]]:
        return [row for name, row in self.appended if name == table]


def _recording(rows: Rows, policy: LeadPolicy | None = None, plan: ShowPlan | None = None
               ) -> Recording:
    return Recording("anna", T0, rows, creator="anna", platform="tiktok", plan=plan,
                     policy=policy or LeadPolicy(user="pseudonym", key=b"k" * 32),
                     wall=lambda: 2e9)


def _insight(event_id: str, *labels: tuple[str, str | None, float | None], version: int = 0,
             pending: tuple[str, ...] = (), reasons: tuple[str, ...] = ()) -> Insight:
    from livepilot.insights import Reason

    return Insight(
        event_id=event_id, stream="anna", version=version, pending=pending,
        labels=tuple(Label(name=n, source="t", kind=k, score=s) for n, k, s in labels),
        reasons=tuple(Reason(source="t", text=r) for r in reasons),
    )


def test_minutes_are_stream_time_from_the_first_event() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows)
    rec.event(make.viewers(100))
    clock.advance(30)
    rec.event(make.chat("mia", "hallo"))
    rec.insight(_insight("anna-2"))
    clock.advance(45)  # 75 s: minute 1
    rec.event(make.viewers(200))
    rec.event(make.gift("tom", "Rose", diamonds=5, count=3))
    rec.event(make.like("tom", count=7))
    clock.advance(60)  # 135 s: the last event, so the end
    rec.event(make.chat("mia", "tschüss"))
    rec.finish("live_ended")

    m0, m1, m2 = rows.minute(0), rows.minute(1), rows.minute(2)
    assert (m0["chat"], m0["chatters"], m0["new_users"]) == (1, 1, 1)
    # 100 viewers for 60 s of minute 0 and 15 s of minute 1, then 200 until the end.
    assert m0["viewer_seconds"] == 6000 and m0["covered_s"] == 60
    assert m1["viewer_seconds"] == 100 * 15 + 200 * 45 and m1["covered_s"] == 60
    assert m2["viewer_seconds"] == 200 * 15 and m2["covered_s"] == 15
    assert (m1["gifts"], m1["diamonds"], m1["likes"], m1["interactors"]) == (1, 15, 7, 1)
    stream = rows.streams[rec.key]
    assert rec.key == "anna@2025-12-31T23:00:00Z"
    assert stream["peak_viewers"] == 200 and stream["peak_at"] == T0 + 75
    assert stream["ended_at"] == T0 + 135 and stream["end_reason"] == "live_ended"


def test_a_chat_counts_with_its_final_verdict_in_its_own_minute() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows)
    chat = make.chat("mia", "du opfer")
    rec.event(chat)
    # The rules saw nothing; the model's verdict follows as version 1, a minute later.
    rec.insight(_insight(chat.id, pending=("toxicity",)))
    clock.advance(70)
    rec.event(make.viewers(10))
    assert rows.of("chat") == []
    rec.insight(_insight(chat.id, ("toxic", "insult", 0.97), version=1))
    rec.emit()
    assert rows.minute(0)["flagged"] == 1 and rows.minute(0)["toxic"] == 1
    assert rows.minute(1)["flagged"] == 0
    (logged,) = rows.of("chat")
    assert logged["labels"] == "toxic:insult" and logged["text"] == "du opfer"
    # Users are kept as the lead settings say: a keyed pseudonym, never the handle.
    assert logged["user"].startswith("u-") and "mia" not in logged["user"]


def test_a_verdict_that_never_comes_is_not_waited_for_forever() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows)
    chat = make.chat("mia", "hi")
    rec.event(chat)
    rec.insight(_insight(chat.id, pending=("toxicity",)))
    clock.advance(31)
    rec.event(make.chat("tom", "hallo"))
    assert [row["event_id"] for row in rows.of("chat")] == [chat.id]


def test_questions_answers_and_who_answered() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows)
    first = make.chat("mia", "Was kostet das?")
    rec.event(first)
    rec.insight(_insight(first.id, ("lead", "price", None), ("queued", "q1", 1.0)))
    clock.advance(5)
    again = make.chat("tom", "wie teuer ist das")
    rec.event(again)
    rec.insight(_insight(again.id, ("lead", "price", None), ("queued", "q1", 2.0)))
    clock.advance(40)
    rec.event(make.viewers(50))
    answer = CommandEvent(id="cmd-1", stream="anna", at=1.0, received=1.0, action="answer",
                          target="q1", by="lena", args={"text": "29 €"})
    rec.command(answer)  # arrives from the console: stamped with stream time
    rec.insight(_insight("cmd-1", ("answered", "q1", 45.0),
                         reasons=("q1 answered by lena after 45 s",)))
    rec.emit()
    item = rows.keyed[("questions", "q1")]
    assert item["label"] == "lead" and item["kind"] == "price"
    assert item["text"] is None  # leads keep no text unless LIVEPILOT_LEAD_MESSAGE is on
    assert (item["askers"], item["state"], item["closed_by"]) == (2, "answered", "lena")
    assert item["response_s"] == 45.0 and item["closed_at"] == T0 + 45
    (command,) = rows.of("commands")
    assert command["at"] == T0 + 45 and command["by"] == "lena"
    assert command["outcome"] == "q1 answered by lena after 45 s"
    rec.finish("stopped")
    leads = rows.of("leads")
    assert [(lead["kind"], lead["text"], lead["item"]) for lead in leads] == [
        ("price", None, "q1"), ("price", None, "q1")
    ]


def test_segments_follow_the_commands_and_name_the_minutes() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows, plan=ShowPlan("Launch", ("Begrüßung", "Produkt", "Abschied")))

    def command(action: str, **args: Any) -> None:
        rec.command(CommandEvent(id=f"c{clock.now()}", stream="anna", at=clock.now(),
                                 received=clock.now(), action=action, by="lena", args=args))

    rec.event(make.viewers(10))
    command("segment_start")
    clock.advance(130)
    rec.event(make.viewers(12))
    command("segment_start", segment="produkt")
    clock.advance(60)
    rec.event(make.chat("mia", "cool"))
    command("segment_start", segment="7")  # not in the plan: ignored, as the stage does
    command("segment_next")
    clock.advance(60)
    rec.event(make.chat("mia", "tschüss"))
    command("segment_next")  # after the last one the show is finished
    rec.finish("live_ended")
    segments = sorted((k, v) for k, v in rows.keyed.items() if k[0] == "segments")
    assert [(v["name"], v["started_at"] - T0, v["ended_at"] - T0) for _, v in segments] == [
        ("Begrüßung", 0, 130), ("Produkt", 130, 190), ("Abschied", 190, 250)
    ]
    assert rows.minute(3)["segment"] == "Produkt"
    assert rows.minute(4)["segment"] == "Abschied"


def test_alarms_gaps_and_states_are_kept() -> None:
    clock = FakeClock(T0)
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    rec = _recording(rows)
    rec.event(StatusEvent(id="s1", stream="anna", at=T0, received=T0,
                          state=StreamState.CONNECTED))
    raised = Alarm(id="anna:dead_air:1", stream="anna", kind="dead_air", source="engagement",
                   at=T0 + 10, message="no chat for 40 s", data={"seconds": 40})
    rec.alarm(raised)
    rec.alarm(raised.model_copy(update={"state": AlarmState.CLEARED, "at": T0 + 25}))
    rec.event(GapEvent(id="g1", stream="anna", at=T0 + 90, received=T0 + 90, start=T0 + 30,
                       end=T0 + 90, cause="connection_lost"))
    rec.event(ViewerCountEvent(id="v", stream="anna", at=T0 + 91, received=T0 + 91, count=40,
                               total=900))
    clock.set(T0 + 95)
    rec.event(make.chat("x", "y"))
    rec.finish("stopped")
    alarm = rows.keyed[("alarms", "anna:dead_air:1")]
    assert (alarm["raised_at"], alarm["cleared_at"]) == (T0 + 10, T0 + 25)
    assert rows.of("gaps") == [{"stream": rec.key, "start": T0 + 30, "end": T0 + 90,
                                "cause": "connection_lost"}]
    assert [s["state"] for s in rows.of("states")] == ["connected"]
    assert rows.streams[rec.key]["viewers_total"] == 900
    assert rows.streams[rec.key]["end_reason"] == "stopped"
