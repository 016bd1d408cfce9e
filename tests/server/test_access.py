"""Who gets in, through the real server: WebSocket origins, the failed-credential
throttle, and the API schema behind the console credential."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from playwright.async_api import Browser
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livepilot.errors import ConfigError
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    TEST_OVERLAY_KEY,
    OpenSource,
    RunningServer,
    running_server,
)
from livepilot.testing import settings_for_tests as make_settings

CONSOLE = f"/ws/console?token={TEST_CONSOLE_TOKEN}"
OVERLAY = f"/ws/overlay/chat?key={TEST_OVERLAY_KEY}"


async def close_code(srv: RunningServer, path: str, origin: str | None) -> tuple[int, str]:
    """How the server closes a socket opened from ``origin`` (0: it stayed open)."""
    async with connect(srv.ws + path, compression=None, origin=origin) as ws:
        try:
            while True:  # read the backlog until the socket is quiet, or closed
                await asyncio.wait_for(ws.recv(), 0.5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
        except TimeoutError:
            return 0, ""


async def test_sockets_take_their_own_origin_and_clients_without_one() -> None:
    async with running_server([OpenSource("demo", [])]) as srv:
        own = srv.base  # http://127.0.0.1:<port>: the pages this server serves
        assert await close_code(srv, CONSOLE, None) == (0, "")
        assert await close_code(srv, CONSOLE, own) == (0, "")
        assert await close_code(srv, OVERLAY, own) == (0, "")
        for foreign in ("https://evil.example", "http://127.0.0.1:1", "http://localhost:1",
                        "null"):
            code, reason = await close_code(srv, CONSOLE, foreign)
            assert code == 1008 and "origin" in reason, foreign
        code, _ = await close_code(srv, OVERLAY, "https://evil.example")
        assert code == 1008
    assert srv.metric("livepilot_access_refused_total", where="websocket", reason="origin") == 5
    # a refused origin never got as far as its token: no failed sign-in was counted
    assert srv.metric("livepilot_auth_failures_total", where="websocket") == 0


async def test_listed_origins_may_open_sockets_too() -> None:
    settings = make_settings(allowed_origins="https://studio.example, https://obs.example:8443")
    async with running_server([OpenSource("demo", [])], settings) as srv:
        assert await close_code(srv, CONSOLE, "https://studio.example") == (0, "")
        assert await close_code(srv, OVERLAY, "https://obs.example:8443") == (0, "")
        assert await close_code(srv, CONSOLE, srv.base) == (0, "")  # its own still works
        assert (await close_code(srv, CONSOLE, "https://obs.example"))[0] == 1008


def test_a_listed_origin_that_is_not_one_stops_the_server_from_starting() -> None:
    from livepilot.bus import create_bus
    from livepilot.metrics import Metrics
    from livepilot.server.app import create_app

    settings = make_settings(allowed_origins="https://studio.example/console")
    with pytest.raises(ConfigError, match=r"LIVEPILOT_ALLOWED_ORIGINS: .*nothing more"):
        create_app(settings, bus=create_bus(settings), metrics=Metrics())


@pytest.mark.timeout(30)
async def test_a_page_of_another_origin_cannot_open_the_console_socket(browser: Browser) -> None:
    async with running_server([OpenSource("demo", [])]) as srv:
        port = srv.base.rsplit(":", 1)[1]
        page = await browser.new_page()
        # the same server under another name is another origin to the browser
        await page.goto(f"http://localhost:{port}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=10_000)  # its own socket opens
        closed = await page.evaluate(
            """url => new Promise(done => {
                 const ws = new WebSocket(url);
                 ws.onclose = e => done([e.code, e.reason]);
               })""",
            f"ws://127.0.0.1:{port}{CONSOLE}",
        )
        await page.close()
    assert closed[0] == 1008 and "origin 'http://localhost:" in closed[1]
    assert srv.metric("livepilot_access_refused_total", where="websocket", reason="origin") == 1


async def test_wrong_tokens_are_throttled_per_address_and_sign_ins_are_not() -> None:
    settings = make_settings(auth_failures_per_minute=5)
    good = {"Authorization": f"Bearer {TEST_CONSOLE_TOKEN}"}
    bad = {"Authorization": "Bearer guess-0000000000"}
    async with running_server([], settings) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            # signing in takes nothing from the budget, however often
            for _ in range(20):
                assert (await http.get("/api/streams", headers=good)).status_code == 200
            # a request without any credential is no guess either
            for _ in range(8):
                assert (await http.get("/api/streams")).status_code == 401
            statuses = [
                (await http.get("/api/streams", headers=bad)).status_code for _ in range(30)
            ]
            # the budget is per address, and while it is spent nothing is checked: the
            # right token is refused too, or the throttle would still answer guesses
            throttled = await http.get("/api/streams", headers=good)
            overlay = await http.get("/overlay/chat", params={"key": TEST_OVERLAY_KEY})
            health = await http.get("/healthz")
        async with connect(srv.ws + CONSOLE, compression=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert statuses == [401] * 5 + [429] * 25
    assert throttled.status_code == 429 and overlay.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 12
    assert "too many failed sign-ins" in throttled.json()["detail"]
    assert health.status_code == 200
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "too many failed sign-ins" in closed.value.rcvd.reason
    assert srv.metric("livepilot_auth_failures_total", where="http") == 13
    assert srv.metric("livepilot_access_refused_total", where="http", reason="throttled") == 27
    assert srv.metric(
        "livepilot_access_refused_total", where="websocket", reason="throttled"
    ) == 1


async def test_wrong_overlay_keys_on_sockets_spend_the_same_budget() -> None:
    settings = make_settings(auth_failures_per_minute=3)
    async with running_server([], settings) as srv:
        codes = []
        for _ in range(5):
            async with connect(f"{srv.ws}/ws/overlay/chat?key=nope", compression=None) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None
            codes.append((closed.value.rcvd.code, "too many" in closed.value.rcvd.reason))
    assert codes == [(1008, False)] * 3 + [(1008, True)] * 2
    assert srv.metric("livepilot_auth_failures_total", where="websocket") == 3


async def test_the_api_schema_is_for_console_users_only() -> None:
    async with running_server([]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            anonymous = await http.get("/openapi.json")
            overlay = await http.get("/openapi.json", params={"key": TEST_OVERLAY_KEY})
            signed_in = await http.get("/openapi.json", params={"token": TEST_CONSOLE_TOKEN})
            docs = await http.get("/docs", params={"token": TEST_CONSOLE_TOKEN})
    assert anonymous.status_code == 401 and overlay.status_code == 401
    assert signed_in.status_code == 200
    schema = signed_in.json()
    assert "/api/commands" in schema["paths"] and "/openapi.json" not in schema["paths"]
    assert "CommandBody" in json.dumps(schema["components"])
    assert docs.status_code == 404
