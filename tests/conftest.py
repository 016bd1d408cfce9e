"""Suite-wide pytest configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


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
