"""The supervisor's policies: backoff, sign budget, rate limits, offline polling, errors."""

from __future__ import annotations

import contextlib
import random
import sys
from pathlib import Path

import httpx
import pytest

from livepilot.events import StreamState
from livepilot.metrics import Metrics
from livepilot.sources.tiktok import (
    TikTokAgeRestricted,
    TikTokBlocked,
    TikTokNetworkError,
    TikTokRateLimited,
    TikTokUserNotFound,
    TikTokUserOffline,
    normalize_handle,
    tiktok_sources,
)
from livepilot.sources.tiktok._lib import lib
from livepilot.sources.tiktok.backoff import Backoff, SignBudget
from livepilot.sources.tiktok.errors import map_error
from livepilot.sources.tiktok.testing import FakeTikTok, Frames, Session, push_frame
from livepilot.testing import FakeClock

sys.path.insert(0, str(Path(__file__).parent))
from tiktok_fixtures import collect, forbid_internet, of, source


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_internet(monkeypatch)


def _ending_session(f: Frames | None = None) -> Session:
    f = f or Frames()
    return Session(frames=[push_frame([f.chat(f.user("anna"), "hi")]), push_frame([f.live_end()])])


# -- backoff and budget (pure) ----------------------------------------------------------


def test_backoff_doubles_with_bounded_jitter_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.2, rng=random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base <= delay <= base * 1.2
    assert len(set(delays)) == len(delays)  # jitter: no lock-step
    backoff.reset()
    assert 1.0 <= backoff.next() <= 1.2


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(0.0, 1.0)


def test_sign_budget_spaces_calls_per_minute_and_per_hour() -> None:
    budget = SignBudget(per_minute=5, per_hour=30)
    for t in range(5):
        assert budget.wait(float(t)) == 0.0
        budget.spend(float(t))
    # sixth call in the same minute waits until the first leaves the 60 s window
    assert budget.wait(5.0) == pytest.approx(55.0)
    assert budget.wait(60.0) == 0.0
    hourly = SignBudget(per_minute=0, per_hour=3)
    for t in (0.0, 100.0, 200.0):
        hourly.spend(t)
    assert hourly.wait(300.0) == pytest.approx(3300.0)
    assert SignBudget(0, 0).wait(0.0) == 0.0


def test_handles_are_normalised_or_rejected() -> None:
    assert normalize_handle("@Creator") == "Creator"
    assert normalize_handle("https://www.tiktok.com/@creator/live") == "creator"
    with pytest.raises(ValueError, match="not a TikTok handle"):
        normalize_handle("@")


# -- error mapping ------------------------------------------------------------------------


def test_library_errors_map_to_actionable_livepilot_errors() -> None:
    tl = lib()
    request = httpx.Request("GET", "https://api.eulerstream.com/webcast/fetch")
    limited = httpx.Response(
        429, headers={"RateLimit-Remaining": "42", "RateLimit-Reset": "1"}, request=request
    )
    rate = map_error(tl.SignatureRateLimitError(None, "retry in %s s", response=limited), "anna")
    assert isinstance(rate, TikTokRateLimited) and rate.retry_after == 42
    assert "LIVEPILOT_TIKTOK_SIGN_API_KEY" in str(rate)
    assert isinstance(map_error(tl.UserOfflineError(), "anna"), TikTokUserOffline)
    not_found = map_error(tl.UserNotFoundError("anna", "x"), "anna")
    assert isinstance(not_found, TikTokUserNotFound) and "@anna" in str(not_found)
    blocked = map_error(tl.WebcastBlockedError("DEVICE_BLOCKED"), "anna")
    assert isinstance(blocked, TikTokBlocked) and "DEVICE_BLOCKED" in str(blocked)
    offline_net = map_error(httpx.ConnectError("no route", request=request), "anna")
    assert isinstance(offline_net, TikTokNetworkError) and "network" in str(offline_net)


# -- policies through the real client and the fake TikTok ---------------------------------


async def test_rate_limit_waits_retry_after_then_connects() -> None:
    clock = FakeClock()
    async with FakeTikTok([_ending_session()], sign_script=[429], retry_after=30) as fake:
        src = source(fake, clock=clock)
        events = await collect(src)
        assert fake.sign_calls == 2
    assert src.history[0][0] == "rate_limited" and src.history[0][1] == pytest.approx(30.0)
    first = of(events, "status")[0]
    assert first.state is StreamState.DISCONNECTED and "retry in 30 s" in first.detail
    assert [e.text for e in of(events, "chat")] == ["hi"]


async def test_rate_limit_without_headers_is_still_a_rate_limit() -> None:
    clock = FakeClock()
    async with FakeTikTok([_ending_session()], sign_script=["429-bare"]) as fake:
        src = source(fake, clock=clock)
        await collect(src)
    # TikTokLive 7.0.1 crashes with TypeError on such a 429; we wait a safe minute
    assert src.history[0] == ("rate_limited", pytest.approx(60.0))


async def test_offline_creator_is_polled_politely_without_spending_sign_calls() -> None:
    clock = FakeClock()
    metrics = Metrics()
    async with FakeTikTok([_ending_session()], offline_checks=2) as fake:
        src = source(fake, clock=clock, metrics=metrics, tiktok_offline_poll_seconds=45.0)
        events = await collect(src)
        assert fake.sign_calls == 1
    assert list(src.history) == [("offline", 45.0), ("offline", 45.0)]
    states = [e.state for e in of(events, "status")]
    assert states == [StreamState.OFFLINE, StreamState.CONNECTED, StreamState.LIVE_ENDED]
    assert not of(events, "gap")  # not live is not a data gap
    assert (
        metrics.registry.get_sample_value(
            "livepilot_tiktok_reconnects_total", {"stream": "tester", "cause": "offline"}
        )
        is None
    )


async def test_unknown_user_stops_with_a_clear_error() -> None:
    async with FakeTikTok(user_not_found=True) as fake:
        src = source(fake)
        seen = []
        with pytest.raises(TikTokUserNotFound, match="@tester was not found"):
            async for event in src.events():
                seen.append(event)
        assert fake.sign_calls == 0
    assert seen and seen[-1].state is StreamState.DISCONNECTED


async def test_blocked_device_backs_off_at_least_a_minute() -> None:
    clock = FakeClock()
    async with FakeTikTok([_ending_session()], ws_rejects=[400]) as fake:
        src = source(fake, clock=clock)
        events = await collect(src)
    cause, delay = src.history[0]
    assert cause == "blocked" and delay >= 60.0
    assert [e.text for e in of(events, "chat")] == ["hi"]


async def test_reconnects_respect_the_sign_budget() -> None:
    f = Frames()
    quick_close = [
        Session(frames=[push_frame([f.chat(f.user("a"), f"m{i}")])], close=1000) for i in range(2)
    ]
    clock = FakeClock()
    signed: list[float] = []  # when (fake clock) the sign server was asked
    async with FakeTikTok([*quick_close, _ending_session(f)]) as fake:
        answer = fake.sign_handler

        def timed(request: httpx.Request) -> httpx.Response:
            signed.append(clock.now())
            return answer(request)

        fake.sign_handler = timed  # type: ignore[method-assign]
        src = source(fake, clock=clock, tiktok_connects_per_minute=2)
        events = await collect(src)
        assert fake.sign_calls == 3
    waits = [w for w in src.history if w[0] == "sign-server budget"]
    assert len(waits) == 1 and 0.0 < waits[0][1] <= 60.0
    # the third sign call happened a full minute after the first. (Not the CONNECTED
    # times: the watchdog's fake ticks may move the clock between signing and connecting.)
    assert len(signed) == 3 and signed[2] - signed[0] >= 60.0
    connected = [e for e in of(events, "status") if e.state is StreamState.CONNECTED]
    assert len(connected) == 3
    assert [e.text for e in of(events, "chat")] == ["m0", "m1", "hi"]
    assert [g.cause for g in of(events, "gap")] == ["closed", "closed"]


async def test_age_restricted_stream_asks_for_a_session() -> None:
    async with FakeTikTok([_ending_session()], age_restricted=True) as fake:
        src = source(fake)
        with pytest.raises(TikTokAgeRestricted, match="LIVEPILOT_TIKTOK_SESSION_ID"):
            await collect(src)
        assert fake.sign_calls == 0


async def test_follow_mode_waits_for_the_next_live() -> None:
    f = Frames()
    anna = f.user("anna")
    first = Session(frames=[push_frame([f.chat(anna, "Stream 1")]), push_frame([f.live_end()])])
    second = Session(frames=[push_frame([f.chat(anna, "Stream 2")]), push_frame([f.live_end()])])
    clock = FakeClock()
    async with FakeTikTok([first, second], offline_at=[2]) as fake:
        src = source(fake, clock=clock, tiktok_offline_poll_seconds=30.0)
        src.follow = True
        events = []
        async with contextlib.aclosing(src.events()) as stream:
            async for event in stream:
                events.append(event)
                if event.type == "status" and event.state is StreamState.LIVE_ENDED:
                    if len(of(events, "chat")) == 2:
                        break
    assert [e.text for e in of(events, "chat")] == ["Stream 1", "Stream 2"]
    assert [e.state for e in of(events, "status")] == [
        StreamState.CONNECTED,
        StreamState.LIVE_ENDED,
        StreamState.OFFLINE,
        StreamState.CONNECTED,
        StreamState.LIVE_ENDED,
    ]
    assert not of(events, "gap")  # between two LIVEs nothing was missed


async def test_sources_of_one_process_can_share_the_sign_budget() -> None:
    shared = SignBudget(per_minute=1, per_hour=0)
    clock = FakeClock()
    async with FakeTikTok([_ending_session()]) as one, FakeTikTok([_ending_session()]) as two:
        a = source(one, clock=clock)
        b = source(two, clock=clock)
        a.budget = b.budget = shared
        await collect(a)
        await collect(b)
    assert [w[0] for w in b.history] == ["sign-server budget"]


def test_several_creators_share_one_budget_and_need_distinct_handles() -> None:
    a, b = tiktok_sources(["@anna", "https://www.tiktok.com/@ben/live"])
    assert (a.stream, b.stream) == ("anna", "ben") and a.budget is b.budget
    with pytest.raises(ValueError, match="@anna"):
        tiktok_sources(["@anna", "anna"])


def test_the_offline_guard_of_these_tests_really_blocks_the_internet() -> None:
    import socket

    with pytest.raises(AssertionError, match="resolve"):
        socket.create_connection(("www.tiktok.com", 443), timeout=1)
    with socket.socket() as sock, pytest.raises(AssertionError, match="reach"):
        sock.connect(("93.184.216.34", 80))


class _NoHooks:
    def on_event(self, event: object) -> None:
        pass

    def on_frame(self, data: bytes) -> None:
        pass

    def on_initial(self, data: bytes, room_id: int) -> None:
        pass

    def on_unknown(self, method: str) -> None:
        pass


async def test_a_sign_server_that_never_answers_times_out() -> None:
    import asyncio

    from livepilot.sources.tiktok.client import TikTokConnection, Transports

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with FakeTikTok() as fake:
        transports = Transports(web=fake.transports.web, sign=httpx.MockTransport(hang))
        connection = TikTokConnection(
            "tester", _NoHooks(), transports=transports, start_timeout=0.2
        )
        try:
            with pytest.raises(TikTokNetworkError, match="within 0 s"):
                await connection.start()
        finally:
            await connection.close()


async def test_misconfiguration_and_reuse_are_refused() -> None:
    from livepilot.errors import ConfigError

    with pytest.raises(ConfigError, match="LIVEPILOT_TIKTOK_BACKOFF_MAX"):
        source(FakeTikTok(), tiktok_backoff_initial=10.0, tiktok_backoff_max=5.0)
    async with FakeTikTok([_ending_session()]) as fake:
        src = source(fake)
        await collect(src)
        with pytest.raises(RuntimeError, match="only once"):
            await collect(src)
