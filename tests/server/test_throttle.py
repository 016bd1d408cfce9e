"""The failed-credential throttle: its buckets with a fake clock, and the gate that spends
them per address (per /64 for IPv6)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from livepilot.metrics import Metrics
from livepilot.server.auth import Authenticator
from livepilot.server.gate import Gate, Refused, throttle_key
from livepilot.server.origins import OriginPolicy
from livepilot.server.throttle import FailureThrottle
from livepilot.testing import TEST_CONSOLE_TOKEN, FakeClock, settings_for_tests


def test_a_full_budget_then_one_attempt_per_refill_interval() -> None:
    clock = FakeClock(0.0)
    throttle = FailureThrottle(6, clock=clock.now)  # 6 a minute: one back every 10 s
    for _ in range(6):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10.0
    assert throttle.retry_after("10.0.0.2") == 0  # other addresses are not affected
    clock.advance(4)
    assert throttle.retry_after("10.0.0.1") == pytest.approx(6.0)
    clock.advance(6)
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10.0


def test_a_refilled_bucket_is_forgotten() -> None:
    clock = FakeClock(0.0)
    throttle = FailureThrottle(10, clock=clock.now)
    throttle.failed("a")
    assert throttle.tracked == 1
    clock.advance(6)  # one failure refilled after 6 s
    assert throttle.retry_after("a") == 0
    assert throttle.tracked == 0


def test_memory_is_bounded_by_the_number_of_addresses() -> None:
    clock = FakeClock(0.0)
    throttle = FailureThrottle(1, max_clients=100, clock=clock.now)
    for n in range(10_000):
        throttle.failed(f"10.{n // 256}.{n % 256}.1")
    assert throttle.tracked == 100
    assert throttle.retry_after("10.39.15.1") > 0  # the most recent are remembered
    assert throttle.retry_after("10.0.0.1") == 0  # the oldest forgotten first


def test_zero_turns_it_off() -> None:
    throttle = FailureThrottle(0)
    for _ in range(1_000):
        throttle.failed("a")
    assert not throttle.enabled
    assert throttle.retry_after("a") == 0 and throttle.tracked == 0


def request_from(address: str, token: str) -> Request:
    return Request({
        "type": "http", "method": "GET", "path": "/api/streams", "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())], "client": (address, 4711),
    })


def gate(per_minute: int) -> Gate:
    settings = settings_for_tests()
    auth = Authenticator(settings.console_token, settings.overlay_key)
    return Gate(auth, FailureThrottle(per_minute), OriginPolicy(), Metrics())


def statuses(door: Gate, address: str, token: str, count: int) -> list[int]:
    out = []
    for _ in range(count):
        try:
            door.console(request_from(address, token), "http")
            out.append(200)
        except Refused as exc:
            out.append(exc.status)
    return out


def test_an_ipv6_host_spends_one_budget_for_its_whole_slash_64() -> None:
    door = gate(per_minute=3)
    assert statuses(door, "2001:db8:1:2::1", "wrong-guess-1", 3) == [401] * 3
    assert statuses(door, "2001:db8:1:2::ffff", "wrong-guess-2", 1) == [429]
    assert statuses(door, "2001:db8:1:3::1", TEST_CONSOLE_TOKEN, 1) == [200]  # next /64
    assert throttle_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle_key("::ffff:10.0.0.1") == "::ffff:10.0.0.1"  # IPv4 stays per address
    assert throttle_key("10.0.0.1") == "10.0.0.1"


def test_ipv4_addresses_have_their_own_budgets() -> None:
    door = gate(per_minute=2)
    assert statuses(door, "10.0.0.1", "wrong-guess-1", 4) == [401, 401, 429, 429]
    assert statuses(door, "10.0.0.2", TEST_CONSOLE_TOKEN, 3) == [200] * 3
    assert statuses(door, "10.0.0.1", TEST_CONSOLE_TOKEN, 1) == [429]
