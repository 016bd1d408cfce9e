"""Which origins may open the WebSockets, decided from the handshake's headers."""

from __future__ import annotations

import pytest

from livepilot.server.origins import OriginPolicy, normalize_origin


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "127.0.0.1:8080", True),  # not a browser
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
        ("HTTP://LIVE.Example.com", "live.example.com", True),
        ("https://live.example.com", "live.example.com", True),  # 443 on both sides
        ("https://live.example.com:443", "live.example.com", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
        ("http://localhost:8080", "127.0.0.1:8080", False),
        ("https://evil.example", "live.example.com", False),
        ("http://live.example.com.evil.example", "live.example.com", False),
        ("null", "127.0.0.1:8080", False),
        ("file://", "127.0.0.1:8080", False),
        ("http://127.0.0.1:8080", None, False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
    ],
)
def test_same_origin_by_default(origin: str | None, host: str | None, allowed: bool) -> None:
    assert OriginPolicy().allows(origin, host) is allowed


def test_listed_origins_and_any() -> None:
    policy = OriginPolicy(["https://studio.example", "http://obs.local:8000/"])
    assert policy.allows("https://studio.example", "live.example.com")
    assert policy.allows("http://OBS.local:8000", "live.example.com")
    assert not policy.allows("http://studio.example", "live.example.com")
    assert OriginPolicy(["*"]).allows("https://anything.example", "live.example.com")


@pytest.mark.parametrize(
    "origin", ["studio.example", "ftp://studio.example", "https://studio.example/console",
               "https://studio.example?x=1", "https://user@studio.example", "https://"],
)
def test_a_listed_origin_must_be_one(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        normalize_origin(origin)
