"""What a recording makes of withdrawn questions and poll results (rows, no database)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table

from livepilot.insights import Alarm, AlarmState, Insight, Label
from livepilot.leads import LeadPolicy
from livepilot.store import schema
from livepilot.store.recording import Recording
from livepilot.testing import EventFactory, FakeClock


class Rows:
    """A row sink that keeps what it is handed, newest keyed row per key."""

    def __init__(self) -> None:
        self.keyed: dict[tuple[str, ...], dict[str, Any]] = {}
        self.appended: list[tuple[str, dict[str, Any]]] = []

    def stream(self, key: str, row: dict[str, Any], *, opening: bool = False) -> None:
        pass

    def put(self, table: Table, row: dict[str, Any]) -> None:
        key = tuple(str(row.get(c.name)) for c in table.primary_key.columns)
        self.keyed[(table.name, *key)] = dict(row)

    def append(self, table: Table, row: dict[str, Any]) -> bool:
        self.appended.append((table.name, row))
        return True

    def questions(self) -> dict[str, dict[str, Any]]:
        return {row["item"]: row for (name, *_), row in self.keyed.items()
                if name == "questions"}


def _recording(rows: Rows, start: float) -> Recording:
    return Recording("anna", start, rows, creator="anna", platform="tiktok", plan=None,
                     policy=LeadPolicy(), wall=lambda: start)


def _queued(event_id: str, item: str, version: int, *, pending: bool) -> Insight:
    return Insight(event_id=event_id, stream="anna", version=version, labels=(
        Label(name="question", source="intent"),
        Label(name="queued", source="questions", kind=item, score=1.0)),
        pending=("toxicity",) if pending else ())


def test_a_question_withdrawn_by_a_late_verdict_is_stored_as_withdrawn() -> None:
    clock = FakeClock()
    make = EventFactory(clock, stream="anna")
    rows = Rows()
    recording = _recording(rows, clock.now())
    ask = make.chat("kim", "wann kommt das video?")
    recording.event(ask)
    recording.insight(_queued(ask.id, "q1", 0, pending=True))
    recording.emit()
    assert rows.questions()["q1"]["state"] == "open"
    # The model found it toxic: the update comes without the queue's labels.
    recording.insight(Insight(event_id=ask.id, stream="anna", version=1, labels=(
        Label(name="toxic", source="toxicity", kind="insult"),)))
    recording.emit()
    stored = rows.questions()["q1"]
    assert stored["state"] == "withdrawn" and stored["withdrawn"] == 1


def test_a_poll_is_stored_with_its_result() -> None:
    clock = FakeClock()
    rows = Rows()
    recording = _recording(rows, clock.now())
    recording.event(EventFactory(clock, stream="anna").chat("kim", "hi"))
    raised = Alarm(id="poll-1", stream="anna", kind="poll", source="polls", at=clock.now(),
                   message="Poll: Rot oder Blau?", data={"question": "Rot oder Blau?"})
    recording.alarm(raised)
    recording.alarm(raised.model_copy(update={
        "state": AlarmState.CLEARED, "at": clock.now() + 60, "message": "Rot 7 (70 %), Blau 3",
        "data": {"question": "Rot oder Blau?", "votes": [7, 3]}}))
    row = rows.keyed[("alarms", "None", "poll-1")]
    assert row["cleared_at"] == clock.now() + 60 and row["message"] == "Poll: Rot oder Blau?"
    assert json.loads(row["data"]) == {"question": "Rot oder Blau?", "votes": [7, 3],
                                       "result": "Rot 7 (70 %), Blau 3"}


def test_a_resumed_stream_goes_on_with_its_numbers_and_marks_the_pause() -> None:
    from livepilot.store.recording import Resumption

    clock = FakeClock()
    start = clock.now()
    minute: dict[str, Any] = {c.name: 0 for c in schema.minutes.columns}
    minute.update(stream_id=7, minute=0, chat=3, viewer_seconds=600.0, covered_s=60.0)
    stored = {"id": 7, "key": "anna@x", "started_at": start, "last_at": start + 50,
              "recorded_at": start, "peak_viewers": 40, "peak_at": start + 5,
              "viewers_total": None, "users_capped": False}
    question = {"stream_id": 7, "item": "q1", "label": "question", "kind": None, "text": "wann?",
                "asked_at": start + 1, "last_at": start + 1, "askers": 2, "state": "answered",
                "claimed_by": None, "claimed_at": None, "closed_by": "lena",
                "closed_at": start + 30, "response_s": 29.0, "withdrawn": 0}
    rows = Rows()
    clock.set(start + 55)
    recording = Recording("anna", clock.now(), rows, creator="anna", platform="tiktok",
                          plan=None, policy=LeadPolicy(), wall=lambda: start,
                          resume=Resumption(stream=stored, minutes=[minute],
                                            questions=[question]))
    assert recording.key == Recording("anna", start, Rows(), creator="anna",
                                      platform="tiktok", plan=None, policy=LeadPolicy(),
                                      wall=lambda: start).key
    assert rows.appended == [("gaps", {"stream": recording.key, "start": start + 50,
                                       "end": start + 55, "cause": "restart"})]
    recording.event(EventFactory(clock, stream="anna").chat("kim", "hallo"))
    recording.finish("stopped")
    minutes = {row["minute"]: row for (name, *_), row in rows.keyed.items() if name == "minutes"}
    assert minutes[0]["chat"] == 4  # three before the restart, one after
    assert minutes[0]["viewer_seconds"] == 600.0
    # A later change to a restored item is recorded on it.
    recording.insight(Insight(event_id="cmd-x", stream="anna", labels=(
        Label(name="dismissed", source="questions", kind="q1"),)))
    recording.emit()
    assert rows.questions()["q1"]["state"] == "dismissed"
