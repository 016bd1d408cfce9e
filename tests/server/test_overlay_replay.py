"""Overlay state that outlives a connection: the alerts an alert overlay missed while it was
away (numbered with the stream's ``seq``, bounded by time and count, only for the same
server run) and the run-of-show segment's goal, projected from the ``goal`` alarm and
counted from the segment's start."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livepilot.bus.base import Published
from livepilot.insights import Alarm, AlarmState
from livepilot.server.audience import OverlayProjector
from livepilot.testing import TEST_OVERLAY_KEY, EventFactory, FakeClock, running_server
from livepilot.wire import WireMessage, encode

f = EventFactory(FakeClock(), stream="s")


def batch(*messages: WireMessage) -> Sequence[Published]:
    return [Published(i, m, encode(m)) for i, m in enumerate(messages)]


def goal_alarm(state: AlarmState = AlarmState.RAISED, n: int = 1, **data: object) -> Alarm:
    data = {"segment": "Intro", "metric": "likes", "target": 100, "label": "", "value": 0,
            **data}
    return Alarm(id=f"s:goal:{n}", stream="s", kind="goal", source="engagement", at=0.0,
                 state=state, severity="info", message="goal", data=data)


def test_alerts_carry_their_seq_and_a_returning_overlay_gets_what_came_after() -> None:
    p = OverlayProjector(stream="s")
    out = p.project(batch(f.gift("anna", "Rose", diamonds=1, count=3, streak="x", final=False),
                          f.gift("anna", "Rose", diamonds=5, count=5, streak="x"),
                          f.chat("ben", "hallo"), f.follow("cara"), f.share("dora")),
                    now=100.0, first_seq=11)
    alerts = [(k, json.loads(raw)) for k, raw in out if k in ("gift", "follow", "share")]
    assert [(k, a["seq"]) for k, a in alerts] == [("gift", 11), ("gift", 12), ("follow", 14),
                                                  ("share", 15)]
    assert all(a["stream"] == "s" for _, a in alerts)
    # the streak's partial step is never an alert, so it is not replayed
    missed = [json.loads(raw) for raw in p.missed_alerts(11, 101.0, 120, 20)]
    assert [(m["type"], m["seq"]) for m in missed] == [("gift", 12), ("follow", 14),
                                                        ("share", 15)]
    assert p.missed_alerts(14, 101.0, 120, 20) == [p.missed_alerts(0, 101.0, 120, 20)[-1]]
    assert p.missed_alerts(15, 101.0, 120, 20) == []  # nothing after the newest


def test_replay_is_bounded_by_time_and_count() -> None:
    p = OverlayProjector(stream="s")
    p.project(batch(f.follow("old")), now=0.0, first_seq=1)
    p.project(batch(*(f.follow(f"u{i}") for i in range(30))), now=200.0, first_seq=2)
    recent = p.missed_alerts(0, 230.0, 120, 500)
    assert len(recent) == 30  # the one from 230 s ago is too old for a 120 s window
    newest = [json.loads(raw)["seq"] for raw in p.missed_alerts(0, 230.0, 120, 5)]
    assert newest == [27, 28, 29, 30, 31]  # the newest five, oldest first
    assert p.missed_alerts(0, 230.0, 0, 5) == []  # ?replay=0: never
    assert len(p.missed_alerts(0, 230.0, 600, 500)) == 31


def test_the_segment_goal_counts_from_its_alarm_and_is_in_the_snapshot() -> None:
    p = OverlayProjector(stream="s")
    kinds = frozenset({"goal", "counters"})
    p.project(batch(f.like("anna", 70)), now=0.0)
    assert [json.loads(r)["type"] for r in p.snapshot(kinds, 0.0)] == ["counters"]
    out = p.project(batch(goal_alarm(label="100 Herzen")), now=1.0)
    assert json.loads(out[-1][1]) == {
        "type": "goal", "stream": "s", "active": True, "metric": "likes", "target": 100,
        "label": "100 Herzen", "segment": "Intro", "value": 0, "reached": False}
    p.project(batch(f.like("anna", 60), f.follow("ben"), f.gift("cara", "Lion", diamonds=9)),
              now=2.0)
    out = p.project(batch(f.like("dora", 45)), now=3.0)
    goal = json.loads(dict(out)["goal"])
    assert goal["value"] == 105 and goal["reached"] is True
    # an overlay (re)connecting mid-segment starts from the same bar
    assert json.loads(p.snapshot(kinds, 4.0)[-1]) == goal
    # the segment ends: the bar goes, and later likes move nothing
    out = p.project(batch(goal_alarm(AlarmState.CLEARED)), now=5.0)
    assert json.loads(dict(out)["goal"]) == {"type": "goal", "stream": "s", "active": False}
    assert "goal" not in dict(p.project(batch(f.like("emil", 5)), now=6.0))
    assert [json.loads(r)["type"] for r in p.snapshot(kinds, 7.0)] == ["counters"]


def test_a_stale_clear_or_an_unknown_metric_leaves_the_goal_alone() -> None:
    p = OverlayProjector(stream="s")
    p.project(batch(goal_alarm(n=2, metric="diamonds", target=50, value=7)), now=0.0)
    p.project(batch(goal_alarm(AlarmState.CLEARED, n=1)), now=1.0)  # an older segment's
    p.project(batch(goal_alarm(n=3, metric="hearts")), now=2.0)  # not countable: ignored
    snap = json.loads(p.snapshot(frozenset({"goal"}), 3.0)[0])
    assert (snap["metric"], snap["target"], snap["value"]) == ("diamonds", 50, 7)


async def _frames(url: str, want: int) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    async with connect(url, compression=None, open_timeout=10) as ws:
        while len(got) < want:
            got.extend(json.loads(await ws.recv(decode=True)))
    return got


@pytest.mark.timeout(60)
async def test_the_alert_socket_replays_only_for_the_same_run_and_refuses_bad_bounds() -> None:
    async with running_server([]) as srv:
        make = EventFactory(FakeClock(time.time()), stream="s")
        await srv.bus.publish([make.follow("anna"), make.chat("ben", "hi"), make.follow("cara"),
                               make.gift("dora", "Lion", diamonds=29_999)])
        base = f"{srv.ws}/ws/overlay/alerts?key={TEST_OVERLAY_KEY}&stream=s"
        hello = (await _frames(base, 1))[0]
        for _ in range(100):  # the bus delivers to the hub in its own task
            if hello["streams"].get("s", {}).get("head") == 4:  # type: ignore[union-attr]
                break
            hello = (await _frames(base, 1))[0]
        assert hello["streams"] == {"s": {"mode": "snapshot", "head": 4}}
        epoch = hello["epoch"]

        got = await _frames(f"{base}&epoch={epoch}&since=1", 3)
        assert got[0]["streams"] == {"s": {"mode": "snapshot", "head": 4, "replayed": 2}}
        assert [(m["type"], m["seq"]) for m in got[1:]] == [("follow", 3), ("gift", 4)]
        got = await _frames(f"{base}&epoch={epoch}&since=s:0&replay_max=1", 2)
        assert [(m["type"], m["seq"]) for m in got[1:]] == [("gift", 4)]
        # another server run's numbers mean nothing here: state only, no replay
        got = await _frames(f"{base}&epoch=0123456789&since=1", 1)
        assert got[0]["streams"] == {"s": {"mode": "snapshot", "head": 4}}

        for bad in ("replay=601", "replay=-1", "replay_max=abc", "since=x:y:z:"):
            async with connect(f"{base}&epoch={epoch}&{bad}", compression=None) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, bad
