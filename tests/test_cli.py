"""The ``livepilot`` command as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "livepilot"]


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, check=False, **kwargs
    )  # type: ignore[call-overload]


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "replay", "serve", "simulate"):
        assert command in result.stdout


def test_headless_replay_is_deterministic_and_reports_bad_lines(tmp_path: Path) -> None:
    recording = tmp_path / "stream.jsonl"
    made = run("simulate", "--duration", "300", "--seed", "9", "--out", str(recording))
    assert made.returncode == 0, made.stderr
    lines = recording.read_text(encoding="utf-8").splitlines()
    lines.insert(10, "{this is not json")
    lines.insert(20, json.dumps({"type": "chat", "id": "x", "stream": "demo"}))
    recording.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = run("replay", str(recording), "--jsonl")
    second = run("replay", str(recording), "--jsonl")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert re.search(r"stream\.jsonl:11: ", first.stderr)
    assert re.search(r"stream\.jsonl:21: .*(user|text|at)", first.stderr)
    assert "skipped 2 bad line(s)" in first.stderr

    out = [json.loads(line) for line in first.stdout.splitlines()]
    events = [m for m in out if m["type"] not in ("insight", "alarm", "prompt")]
    assert len(events) == len(lines) - 2
    chats = {m["id"] for m in out if m["type"] == "chat"}
    assert chats == {m["event_id"] for m in out if m["type"] == "insight"}
    # event time: the output reflects the recording's clock, not the machine's
    assert all(m["at"] < 1_767_222_000 + 400 for m in events)


def test_demo_prints_working_urls_and_stops_cleanly_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LIVEPILOT_CONSOLE_TOKEN", None)
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", "0", "--no-browser", "--speed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        console = None
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while console is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"Console:\s+(\S+)", line)
            if match:
                console = match.group(1)
        assert console, "demo printed no console URL"
        base = console.split("/?")[0]
        time.sleep(1.5)
        assert httpx.get(console).status_code == 200
        assert httpx.get(base + "/").status_code == 401
        recent = httpx.get(console.replace("/?", "/api/recent?")).json()
        assert any(m["type"] == "chat" for m in recent)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err  # the shell convention for "stopped by Ctrl-C"
    assert "shutdown: done" in err and "Traceback" not in err
