"""Must-show: a recording with a viewer drop after 15 minutes, replayed headless in event time,
yields the drop alarm and a host prompt within 30 s of the drop — identically on every run.

The recording is generated here, deterministically (seeded), and replayed two ways:
in process through ``StreamRunner`` with an ``EventClock`` (as headless replay runs it),
and through the CLI, ``livepilot replay FILE --jsonl``, as a subprocess.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from livepilot.clock import EventClock
from livepilot.events import (
    ChatEvent,
    GiftEvent,
    JoinEvent,
    LikeEvent,
    User,
    ViewerCountEvent,
)
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import StreamRunner
from livepilot.settings import Settings
from livepilot.sources.replay import ReplaySource
from livepilot.stages.registry import build_pipeline
from livepilot.wire import WireMessage, encode

REPO = Path(__file__).resolve().parents[3]
START = 1_700_000_000.0
DROP_AT = START + 15 * 60 + 2.5  # the first viewer count after the drop
LENGTH = 20 * 60
STREAM = "drop-demo"

_CHAT = [
    "Hallo zusammen!", "Wie teuer ist das?", "schönes Outfit", "Grüße aus Köln",
    "Gibt es das auch in Blau?", "haha 😂", "Wann ist der nächste Live?", "mega",
    "hi from London", "Welche Größe trägst du?", "❤️❤️", "Top Qualität",
]


def write_recording(path: Path) -> None:
    """20 minutes of a ~200-viewer stream whose audience falls to ~120 at 15:02."""
    rng = random.Random(20240615)
    users = [User(id=f"u{i}", unique_id=f"zuschauer{i}", nickname=f"Z{i}") for i in range(60)]
    lines: list[str] = []
    seq = 0

    def emit(event: WireMessage) -> None:
        lines.append(encode(event))

    def base(t: float) -> dict[str, object]:
        nonlocal seq
        seq += 1
        return {"id": f"{STREAM}-{seq}", "stream": STREAM, "at": t, "received": t}

    for second in range(LENGTH):
        t = START + second + 0.5
        if second % 5 == 2:
            level = 200 if t < DROP_AT else 122
            emit(ViewerCountEvent(**base(t), count=level + rng.randint(-6, 6)))  # type: ignore[arg-type]
        if rng.random() < 0.4:
            user = rng.choice(users)
            emit(ChatEvent(**base(t + 0.1), user=user, text=rng.choice(_CHAT)))  # type: ignore[arg-type]
        if rng.random() < 0.5:
            emit(LikeEvent(**base(t + 0.2), user=rng.choice(users), count=rng.randint(1, 15)))  # type: ignore[arg-type]
        if rng.random() < 0.05:
            emit(JoinEvent(**base(t + 0.3), user=rng.choice(users)))  # type: ignore[arg-type]
        if rng.random() < 0.01:
            emit(GiftEvent(**base(t + 0.4), user=rng.choice(users), gift_id=5655,  # type: ignore[arg-type]
                           gift_name="Rose", diamond_value=1, count=rng.randint(1, 10)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def replay_in_process(path: Path) -> list[str]:
    settings = Settings(rules_dir=REPO / "rules", stages=("engagement",))
    metrics = Metrics()
    ctx = StageContext(settings=settings, metrics=metrics, stream=STREAM)
    out: list[str] = []

    async def publish(messages: Sequence[WireMessage]) -> None:
        out.extend(encode(m) for m in messages)

    runner = StreamRunner(
        STREAM,
        ReplaySource(path, speed=0).events(),
        build_pipeline(settings.stages, ctx),
        publish,
        EventClock(),
        metrics,
    )
    await runner.run()
    return out


def check_drop_output(lines: Sequence[str]) -> None:
    messages = [json.loads(line) for line in lines]
    drops = [m for m in messages if m["type"] == "alarm" and m["kind"] == "viewer_drop"]
    raised = [m for m in drops if m["state"] == "raised"]
    assert raised, "no viewer_drop alarm"
    assert all(m["at"] >= DROP_AT for m in drops), "viewer_drop before the drop"
    first = raised[0]
    assert first["at"] - DROP_AT <= 30, f"alarm {first['at'] - DROP_AT:.1f} s after the drop"
    prompts = [m for m in messages if m["type"] == "prompt" and m["alarm_id"] == first["id"]]
    assert prompts, "no prompt for the viewer_drop alarm"
    assert prompts[0]["at"] - DROP_AT <= 30, "prompt too late"
    assert "Zuschauer −" in prompts[0]["text"]


async def test_viewer_drop_in_event_time_is_prompted_within_30_s_and_reproducible(
    tmp_path: Path,
) -> None:
    path = tmp_path / "viewer-drop.jsonl"
    write_recording(path)
    first = await replay_in_process(path)
    check_drop_output(first)
    second = await replay_in_process(path)
    assert first == second


def test_viewer_drop_through_the_cli_replay(tmp_path: Path) -> None:
    """``livepilot replay FILE --jsonl`` as a subprocess, with the default stage chain."""
    path = tmp_path / "viewer-drop.jsonl"
    write_recording(path)
    # Two runs side by side (most of a run's time is start-up, not work).
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "livepilot", "replay", str(path), "--jsonl"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    runs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=50)
        assert proc.returncode == 0, stderr[-2000:]
        runs.append(stdout.splitlines())
    check_drop_output(runs[0])
    assert runs[0] == runs[1]
