"""The container keeps its store on a volume: the data directory is declared as one."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def test_the_data_directory_is_a_volume_the_user_owns() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    env = re.search(r"^ENV LIVEPILOT_DATA_DIR=(\S+)$", text, re.MULTILINE)
    assert env, "the Dockerfile must set LIVEPILOT_DATA_DIR"
    volume = re.search(r"^VOLUME (\[.*\])$", text, re.MULTILINE)
    assert volume and json.loads(volume.group(1)) == [env.group(1)]
    # Created (and owned by the user the server runs as) before the VOLUME line, so a new
    # named volume is writable.
    assert f"install -d -o livepilot -g livepilot {env.group(1)}" in text
    assert text.index("USER livepilot") < text.index("VOLUME")
