"""``livepilot replay --jsonl`` records; ``streams``, ``report`` and ``chatlog`` read it back."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "livepilot"]


def run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVEPILOT_DATA_DIR": str(data)}
    env.pop("LIVEPILOT_DATABASE_URL", None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def test_a_replay_is_stored_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    recording = tmp_path / "stream.jsonl"
    assert run("simulate", "--duration", "240", "--seed", "5", "-o", str(recording),
               data=data).returncode == 0

    assert run("replay", str(recording), "--jsonl", "--no-store", data=data).returncode == 0
    empty = run("streams", data=data)
    assert empty.returncode == 0 and "no stored streams yet" in empty.stderr

    replayed = run("replay", str(recording), "--jsonl", data=data)
    assert replayed.returncode == 0, replayed.stderr
    assert "stored as demo@2025-12-31T23:00:00Z" in replayed.stderr
    assert (data / "livepilot.db").is_file()

    listed = json.loads(run("streams", "--json", data=data).stdout)
    assert [(s["stream"], s["platform"], s["ended"]) for s in listed] == [
        ("demo@2025-12-31T23:00:00Z", "replay", True)]
    table = run("streams", data=data).stdout
    assert "demo@2025-12-31T23:00:00Z" in table and "4:0" in table

    report = json.loads(run("report", "--last", "--format", "json", data=data).stdout)
    assert report["stream"] == "demo@2025-12-31T23:00:00Z"
    assert 235 <= report["duration_s"] <= 245 and len(report["viewers_per_minute"]) == 5

    page = tmp_path / "report.html"
    made = run("report", "demo", "-o", str(page), "--lang", "en", data=data)
    assert made.returncode == 0, made.stderr
    assert "Three things to change next time" in page.read_text(encoding="utf-8")

    minutes = list(csv.DictReader(io.StringIO(run("report", "1", "-f", "csv", data=data).stdout)))
    assert [row["minute"] for row in minutes] == ["0", "1", "2", "3", "4"]

    log = tmp_path / "chat.csv"
    assert run("chatlog", "--last", "-o", str(log), data=data).returncode == 0
    rows = list(csv.DictReader(io.StringIO(log.read_text(encoding="utf-8"))))
    assert len(rows) == sum(int(row["chat"]) for row in minutes)
    # Users as the lead settings say (default: keyed pseudonyms), never the @handle.
    assert all(row["user"].startswith("u-") for row in rows)

    both = run("report", "demo", "--last", data=data)
    assert both.returncode == 2 and "not both" in both.stderr
    missing = run("report", "nobody", data=data)
    assert missing.returncode == 2 and "no stored stream 'nobody'" in missing.stderr
