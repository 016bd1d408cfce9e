"""A real restart mid-stream: the audit log, strikes and question history are still there.

The whole server runs twice on the same store (an SQLite file, and PostgreSQL): the first
run takes chat, a question its moderator answers, a toxic message she hides and strikes;
then it stops like ``Ctrl-C`` stops it. The second run, on the same stream, is read
through the real HTTP API only: ``/api/audit``, the user panel's
``/api/streams/{s}/users/{id}`` and the question queue. Then a later stream of the same
creator recognises the repeat offender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect as ws_connect

from livepilot.bus import create_bus
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.server.app import create_app
from livepilot.service import StreamService
from livepilot.stages.moderation.moderation import ModerationStage
from livepilot.stages.registry import build_pipeline
from livepilot.store import History, StoreSettings
from livepilot.store.database import connect
from livepilot.store.wiring import carry_over, keep_audit, start_recorder
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_HOST_KEY,
    TEST_OVERLAY_KEY,
    ScriptedSource,
    running_server,
    settings_for_tests,
)

pytestmark = pytest.mark.timeout(180)

AUTH = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}


@contextlib.asynccontextmanager
async def serving(store: StoreSettings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app as ``livepilot run`` wires it (recorder, carry-over, kept audit log) on a
    free port, with one live stream ``anna`` the test writes the chat of."""
    settings = settings_for_tests()
    metrics = Metrics()
    bus = create_bus(settings)
    recorder = start_recorder(settings, metrics.registry, store)
    service = StreamService(settings, bus, metrics, recorder=recorder)
    source = ScriptedSource("anna")
    service.add(source)
    app = create_app(settings, bus=bus, metrics=metrics, service=service)
    app.state.recorder = recorder
    app.state.history = History(connect(store))
    keep_audit(app.state.parts.audit, recorder)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start within 5 s"
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as client:
            yield client, source
    finally:
        server.should_exit = True  # the lifespan stops the stream: stored as "stopped"
        await asyncio.wait_for(task, 30)
        sock.close()
        assert await recorder.aclose(deadline=30)
        app.state.history.close()


async def until(read: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 20
    while True:
        value = await read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"never reached: {value!r}"
        await asyncio.sleep(0.05)


async def view(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def command(client: httpx.AsyncClient, action: str, target: str, **args: Any) -> None:
    response = await client.post("/api/commands", json={
        "stream": "anna", "action": action, "target": target, "by": "lena", "args": args})
    assert response.status_code == 202, response.text


def item(items: list[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    return next((i for i in items if i["id"] == item_id), None)


async def first_run(store: StoreSettings) -> None:
    async with serving(store) as (client, source):
        source.chat("kim", "Wann kommt das nächste Video?")
        source.chat("troll", "du hurensohn")
        questions = await until(lambda: view(client, "/api/streams/anna/questions"),
                                lambda items: item(items, "q1") is not None)
        assert (item(questions, "q1") or {})["text"] == "Wann kommt das nächste Video?"
        await command(client, "claim", "q1")
        await command(client, "answer", "q1", text="Am Freitag!")
        await command(client, "hide", "anna-2")
        await command(client, "strike", "id-troll", points=1)
        await until(lambda: view(client, "/api/streams/anna/questions"),
                    lambda items: (item(items, "q1") or {}).get("state") == "answered")
        user = await until(lambda: view(client, "/api/streams/anna/users/id-troll"),
                           lambda u: u["total_hits"] == 2)
        assert user["score"] >= 1.9
        await until(lambda: view(client, "/api/audit"),
                    lambda entries: any(e["applied"] for e in entries))


async def second_run(store: StoreSettings) -> None:
    async with serving(store) as (client, source):
        # The audit log from before the restart, as the console reads it.
        audit = await view(client, "/api/audit")
        sent = [(e["action"], e["target"], e["by"]) for e in audit if not e["applied"]]
        assert sent == [("claim", "q1", "lena"), ("answer", "q1", "lena"),
                        ("hide", "anna-2", "lena"), ("strike", "id-troll", "lena")]
        applied = [e for e in audit if e["applied"]]
        assert [(e["action"], e["target"], e["state"]) for e in applied] == [
            ("hide", "anna-2", "hidden")]
        strike = next(e for e in audit if e["action"] == "strike")
        assert strike["args"] == {"points": 1} and strike["role"] == applied[0]["role"]
        # Strikes: the score goes on decaying from where it stood.
        troll = await view(client, "/api/streams/anna/users/id-troll")
        assert troll["handle"] == "troll" and 1.9 <= troll["score"] <= 2.0
        assert (troll["total_hits"], troll["streams"], troll["repeat"]) == (2, 1, False)
        # The question queue: answered, by whom, after how long; the KPI again.
        questions = await view(client, "/api/streams/anna/questions")
        q1 = item(questions, "q1")
        assert q1 is not None and q1["state"] == "answered"
        assert q1["claimed_by"] == "lena" and q1["closed_by"] == "lena"
        assert q1["response_seconds"] is not None and q1["response_seconds"] >= 0
        kpi = await view(client, "/api/streams/anna/kpi")
        assert kpi["answered"] == 1 and "lena" in kpi["moderators"]
        # Life goes on: new items number on, the offender's hits add up.
        source.chat("mia", "Wo gibt es den Hoodie zu kaufen?")
        source.chat("troll", "du hurensohn")
        await until(lambda: view(client, "/api/streams/anna/questions"),
                    lambda items: item(items, "q2") is not None)
        await until(lambda: view(client, "/api/streams/anna/users/id-troll"),
                    lambda u: u["total_hits"] == 3 and u["streams"] == 1)


def later_stream(store: StoreSettings) -> dict[str, Any]:
    """Two hours later the same creator goes live: the offender is known."""
    settings = settings_for_tests()
    metrics = Metrics()
    recorder = start_recorder(settings, metrics.registry, store)
    try:
        tap = recorder.tap("anna", platform="other")
        pipeline = build_pipeline(settings.stages, StageContext(settings, metrics, "anna"))
        later = time.time() + 7200
        carry_over(recorder, tap, pipeline, now=later)
        assert tap.resume is None  # too long ago: a new stream, not the old one resumed
        stage = pipeline.stage("moderation")
        assert isinstance(stage, ModerationStage)
        return stage.user_state("id-troll", later)
    finally:
        recorder.close()


def test_a_restart_keeps_audit_strikes_and_questions(store_settings: StoreSettings) -> None:
    asyncio.run(first_run(store_settings))
    asyncio.run(second_run(store_settings))
    history = History(connect(store_settings))
    try:
        streams = history.streams()
        assert len(streams) == 1 and streams[0]["end_reason"] == "stopped"  # one, resumed
        data = history.load(streams[0])
        assert [g["cause"] for g in data.gaps] == ["restart"]
        stored = {q["item"]: q for q in data.questions}
        assert stored["q1"]["state"] == "answered" and stored["q1"]["closed_by"] == "lena"
        assert "q2" in stored
    finally:
        history.close()
    offender = later_stream(store_settings)
    assert offender["score"] == 0.0 and offender["repeat"]
    assert (offender["total_hits"], offender["streams"]) == (3, 1)


def test_a_first_event_long_after_the_stop_opens_a_new_stream(tmp_path: Any) -> None:
    from prometheus_client import CollectorRegistry

    from livepilot.leads import LeadPolicy
    from livepilot.store import Recorder
    from livepilot.store.recording import Resumption, stream_key
    from livepilot.testing import EventFactory, FakeClock

    clock = FakeClock()
    start = clock.now() - 600
    stopped = {"key": stream_key("anna", start), "started_at": start, "last_at": clock.now()}
    recorder = Recorder.start(StoreSettings(data_dir=tmp_path), LeadPolicy(), CollectorRegistry())
    try:
        late = recorder.tap("anna", platform="other")
        late.resume = Resumption(stream=dict(stopped))
        clock.advance(3 * 3600)  # the creator went live three hours later
        late.feed([EventFactory(clock, stream="anna").chat("kim", "hi")])
        assert late.keys != [stopped["key"]] and late.resume is None
        late.close()
        soon = recorder.tap("anna", platform="other")
        soon.resume = Resumption(stream=dict(stopped, last_at=clock.now() - 60))
        soon.feed([EventFactory(clock, stream="anna").chat("kim", "wieder da")])
        assert soon.keys == [stopped["key"]]
    finally:
        assert recorder.close()


SHOW = """
segments:
  - name: Intro
    minutes: 30
    goal: {metric: diamonds, target: 1000, label: "1.000 Diamanten für den Start"}
  - name: Produkt
    minutes: 10
"""


async def goal_bar(base_ws: str) -> dict[str, Any] | None:
    """The ``goal`` message a goal overlay (``/overlay/goal`` without ``target``) gets
    when it connects, or ``None`` when no segment goal runs."""
    url = f"{base_ws}/ws/overlay/goal?key={TEST_OVERLAY_KEY}&stream=anna"
    got: list[dict[str, Any]] = []
    async with ws_connect(url, compression=None, open_timeout=10) as ws:
        with contextlib.suppress(TimeoutError):
            while True:  # the hello, then the snapshot
                got.extend(json.loads(await asyncio.wait_for(ws.recv(decode=True), 0.5)))
    return next((m for m in reversed(got) if m.get("type") == "goal"), None)


def gift(source: ScriptedSource, user: str, diamonds: int, *, final: bool = True) -> None:
    source.make.clock.set(max(source.make.clock.now(), time.time()))  # stamped as it is sent
    source.emit(source.make.gift(user, "Lion", diamonds=diamonds, final=final))


async def test_a_restart_mid_segment_keeps_its_timer_and_goal(
    store_settings: StoreSettings, tmp_path: Any
) -> None:
    plan = tmp_path / "show.yaml"
    plan.write_text(SHOW, encoding="utf-8")
    settings = settings_for_tests(run_of_show=plan)
    source = ScriptedSource("anna")
    async with running_server([source], settings, store=store_settings) as srv, \
            httpx.AsyncClient(base_url=srv.base, headers=AUTH, timeout=10) as client:
        source.chat("kim", "hallo")
        gift(source, "ben", 300)  # before the segment: not the goal's
        await until(lambda: view(client, "/api/streams/anna/summary"),
                    lambda s: s["diamonds"] == 300)
        await command(client, "segment_start", "", segment="Intro")
        await until(lambda: view(client, "/api/streams/anna/show"),
                    lambda s: s["current"] is not None)
        gift(source, "cara", 250)
        gift(source, "dora", 120)
        gift(source, "emil", 40, final=False)  # a streak still running: counts at its end
        before = await until(lambda: view(client, "/api/streams/anna/show"),
                             lambda s: s["current"]["goal"]["value"] == 370)
        bar = await until(lambda: goal_bar(srv.ws), lambda g: g is not None and g["value"] == 370)
    # Stopped like Ctrl-C stops it; started again on the same store a moment later.
    source = ScriptedSource("anna")
    async with running_server([source], settings, store=store_settings) as srv, \
            httpx.AsyncClient(base_url=srv.base, headers=AUTH, timeout=10) as client:
        show = await view(client, "/api/streams/anna/show")
        current, was = show["current"], before["current"]
        assert (current["name"], current["index"]) == ("Intro", 0)
        assert abs(current["started_at"] - was["started_at"]) < 0.5  # the same timer
        assert current["elapsed_s"] > was["elapsed_s"]  # that ran on through the restart
        assert current["goal"] == was["goal"] == {
            "metric": "diamonds", "target": 1000, "label": "1.000 Diamanten für den Start",
            "value": 370, "reached": False}
        assert show["next"] == "Produkt"
        host = await client.get("/overlay-show/anna", params={"key": TEST_HOST_KEY})
        assert host.status_code == 200 and host.json()["current"]["name"] == "Intro"
        assert abs(host.json()["current"]["started_at"] - was["started_at"]) < 0.5

        source.chat("kim", "wieder da")
        again = await until(lambda: goal_bar(srv.ws),
                            lambda g: g is not None and g["value"] == 370)
        assert {k: again[k] for k in ("active", "segment", "label", "target", "reached")} == {
            k: bar[k] for k in ("active", "segment", "label", "target", "reached")}
        gift(source, "emil", 700)
        await until(lambda: goal_bar(srv.ws), lambda g: g is not None and g["reached"]
                    and g["value"] == 1070)
        await until(lambda: view(client, "/api/streams/anna/show"),
                    lambda s: s["current"]["goal"] == dict(was["goal"], value=1070,
                                                           reached=True))
        cheers = await until(
            lambda: view(client, "/api/streams/anna/prompts"),
            lambda ps: any(p["text"].startswith("Ziel erreicht") for p in ps))
        assert [p["text"] for p in cheers if p["text"].startswith("Ziel erreicht")] == [
            "Ziel erreicht: 1.070 Diamanten in „Intro“ – bedank dich beim Chat!"]
        await command(client, "segment_next", "")
        await until(lambda: goal_bar(srv.ws), lambda g: g is None)
    history = History(connect(store_settings))
    try:
        (stream,) = history.streams()
        data = history.load(stream)
        assert [g["cause"] for g in data.gaps] == ["restart"]
        # one Intro, running on over the restart, then the next segment
        assert [s["name"] for s in data.segments] == ["Intro", "Produkt"]
        assert data.segments[0]["ended_at"] == data.segments[1]["started_at"]
    finally:
        history.close()
