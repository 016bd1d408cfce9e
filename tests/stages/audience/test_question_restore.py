"""The question queue rebuilt after a restart from what the store kept."""

from __future__ import annotations

from livepilot.stages.audience.question_queue import PastItem, QuestionQueue
from livepilot.stages.audience.questions import QuestionsStage

T = 1_700_000_000.0


def _past() -> list[PastItem]:
    return [
        PastItem("q1", "question", None, "Wann kommt das nächste Video?", T, T + 5, 3,
                 "answered", "lena", T + 10, "lena", T + 42),
        PastItem("q2", "lead", "price", "Was kostet der Hoodie?", T + 20, T + 30, 2,
                 "claimed", "max", T + 50),
        PastItem("q3", "question", None, "Gibt es Rabatt?", T + 60, T + 60, 1, "open"),
        PastItem("q4", "question", None, "weg damit", T + 61, T + 61, 1, "withdrawn"),
    ]


def test_items_come_back_with_their_state_and_numbering_goes_on() -> None:
    queue = QuestionQueue("anna", expiry=600.0)
    restored = queue.restore(_past())
    assert [i.id for i in restored] == ["q1", "q2", "q3"]  # the withdrawn one stays out
    assert queue.counts() == {"open": 1, "claimed": 1}
    answered = queue.get("q1")
    assert answered is not None and answered.closed_by == "lena"
    assert answered.response_seconds == 42.0 and answered.count == 3
    added = queue.add(label="question", kind=None, text="Wie alt bist du?", user_id="u9",
                      handle="u9", event_id="e9", at=T + 70)
    assert added.item.id == "q4" and not added.merged
    again = queue.add(label="question", kind=None, text="gibt es rabatt", user_id="u8",
                      handle="u8", event_id="e8", at=T + 71)
    assert again.merged and again.item.id == "q3" and again.item.count == 2


def test_the_stage_restores_the_response_times_per_moderator() -> None:
    stage = QuestionsStage("anna", QuestionQueue("anna"))
    assert stage.restore(_past()) == 3
    kpi = stage.kpi()
    assert kpi["answered"] == 1 and kpi["median"] == 42.0
    assert kpi["moderators"]["lena"]["answered"] == 1
    assert kpi["queue"] == {"open": 1, "claimed": 1}
