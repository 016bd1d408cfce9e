"""Fixtures the server's browser tests share."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from livepilot.testing import chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, for one test (``LIVEPILOT_TEST_CHROMIUM``)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test writes the screenshots a reviewer looks at: ``$LIVEPILOT_SCREENSHOTS``
    (kept), else the test's tmp dir. Artefacts, never committed."""
    where = Path(os.environ.get("LIVEPILOT_SCREENSHOTS", str(tmp_path)))
    where.mkdir(parents=True, exist_ok=True)
    return where
