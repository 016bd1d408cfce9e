"""The alarm latch: ids, raise once, clear once, cool-down; shared numbering."""

from __future__ import annotations

from livepilot.insights import AlarmState, Severity
from livepilot.pipeline.alarm import AlarmCounter, AlarmLatch, publish
from livepilot.pipeline.stage import Outbox


def test_latch_raises_once_clears_once_and_cools_down() -> None:
    latch = AlarmLatch("s", "x", "engagement", cooldown_s=60)
    first = latch.raise_(0, "on")
    assert first is not None and first.id == "s:x:1" and first.state == AlarmState.RAISED
    assert latch.active == "s:x:1" and latch.raised_at == 0
    assert latch.raise_(1, "on again") is None
    cleared = latch.clear(2, "off")
    assert cleared is not None and cleared.id == first.id
    assert cleared.state == AlarmState.CLEARED
    assert latch.active is None and latch.raised_at is None
    assert latch.clear(3, "off again") is None
    assert not latch.can_raise(61) and latch.raise_(61, "too soon") is None
    again = latch.raise_(62, "on")
    assert again is not None and again.id == "s:x:2"


def test_alarm_fields_come_from_the_latch_and_the_call() -> None:
    latch = AlarmLatch("s", "shitstorm", "engagement", severity=Severity.WARNING)
    raised = latch.raise_(5, "negative share 40%", {"share": 0.4}, severity=Severity.CRITICAL)
    assert raised is not None
    assert (raised.stream, raised.kind, raised.source, raised.at) == ("s", "shitstorm",
                                                                      "engagement", 5)
    assert raised.severity is Severity.CRITICAL and raised.data == {"share": 0.4}
    cleared = latch.clear(9, "calm again")
    assert cleared is not None
    assert cleared.severity is Severity.WARNING and cleared.data == {}
    assert cleared.message == "calm again" and cleared.at == 9


def test_an_edited_cooldown_applies_to_a_cool_down_under_way() -> None:
    latch = AlarmLatch("s", "x", "engagement", cooldown_s=300)
    latch.raise_(0, "on")
    latch.clear(10, "off")
    assert not latch.can_raise(100)
    latch.cooldown_s = 60                       # a rules reload shortens it
    assert latch.can_raise(70)
    latch.cooldown_s = 600                      # … or lengthens it
    assert not latch.can_raise(300)


def test_subject_and_shared_counter_keep_ids_apart() -> None:
    counter = AlarmCounter()
    lag = AlarmLatch("s", "tech_issue", "intent", subject="lag", counter=counter)
    audio = AlarmLatch("s", "tech_issue", "intent", subject="no_audio", counter=counter)
    assert lag.next_id == "s:tech_issue:lag:1"
    first = lag.raise_(0, "lag")
    second = audio.raise_(1, "no audio")
    assert first is not None and second is not None
    assert (first.id, second.id) == ("s:tech_issue:lag:1", "s:tech_issue:no_audio:2")
    assert lag.next_id == "s:tech_issue:lag:3"
    lag.clear(2, "over")
    third = lag.raise_(3, "lag again")
    assert third is not None and third.id == "s:tech_issue:lag:3"


def test_next_id_names_the_next_raise() -> None:
    latch = AlarmLatch("s", "poll", "polls", severity=Severity.INFO)
    for n in (1, 2):
        expected = latch.next_id
        raised = latch.raise_(float(n), "q")
        assert raised is not None and raised.id == expected == f"s:poll:{n}"
        assert latch.next_id == f"s:poll:{n + 1}"
        latch.clear(float(n), "closed")


def test_publish_sends_only_changes() -> None:
    out = Outbox()
    latch = AlarmLatch("s", "x", "engagement")
    publish(out, latch.clear(0, "nothing raised"))
    publish(out, latch.raise_(0, "on"))
    publish(out, latch.raise_(1, "still on"))
    assert [(a.id, a.state) for a in out.alarms] == [("s:x:1", AlarmState.RAISED)]
