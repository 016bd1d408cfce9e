"""Suite-wide pytest configuration."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

#: The Redis every Redis-backed test talks to; ``./dev test`` starts one when none answers.
REDIS_URL = os.environ.get("LIVEPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session", autouse=True)
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stream history that tests record (every ``livepilot replay``, every served stream
    that records) goes to a temporary directory, never into the user's data directory."""
    if "LIVEPILOT_DATA_DIR" in os.environ:
        yield
        return
    os.environ["LIVEPILOT_DATA_DIR"] = str(tmp_path_factory.mktemp("livepilot-data"))
    try:
        yield
    finally:
        os.environ.pop("LIVEPILOT_DATA_DIR", None)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the real Redis; its keys (and only its) are
    deleted afterwards. Fails, never skips, when no Redis answers."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.fail(
            f"no Redis answers at {REDIS_URL} ({exc}): run the tests with ./dev test, which "
            "starts one, or set LIVEPILOT_TEST_REDIS_URL"
        )
    name = f"livepilot-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = [k async for k in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
