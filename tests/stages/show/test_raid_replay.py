"""Must-show: a raid in a TikTok-shaped recording, replayed through the full pipeline.

The recording is twelve minutes of the simulator's normal chat (seeded; users carry an id, a
handle, a nickname and badges, never ``new_account``), with hype moments where 40 viewers,
half of them newcomers who joined a minute before, write the same cheer ("❤️❤️", "hallo",
"first", birthday wishes, a team chant), and at 9:12 a raid: 30 accounts nobody has seen
join and paste near-identical promotion within 18 s. It goes through the JSONL replay path
(``replay_headless``, what ``livepilot replay FILE --jsonl`` runs) with the default stage
chain, and the same raid as raw TikTok webcast frames through the capture decoding path.

Expected: the ``raid`` alarm within 20 s of the first raid message, exactly once, cleared
after the raid; raid messages labelled ``spam``/``raid`` with the action ``hide``, and
every raid message off the overlays in the end (the wave's first messages, published
before it was recognised, held by the moderation stage once it was); no
ordinary or cheering message labelled; an urgent host prompt; no raid account greeted.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from livepilot.events import ChatEvent, JoinEvent, LiveEvent, User
from livepilot.headless import replay_headless, run_headless
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.simulator import Simulator
from livepilot.sources.tiktok import CaptureSource
from livepilot.sources.tiktok.capture import CaptureWriter
from livepilot.sources.tiktok.testing import Frames, initial_result, push_frame
from livepilot.wire import encode

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[3]
START = 1_767_222_000.0
STREAM = "lena.live"
RAID_AT = 552.0
CHEERS = {
    120.0: "❤️❤️",
    170.0: "hallo",
    220.0: "first",
    270.0: "Alles Gute zum Geburtstag Lena!!! 🎂",
    320.0: "Team Rot ist das beste Team!",
    400.0: "Happy Birthday Lena 🎉🎉",
}
PROMO = ("FOLLOW @coins.drop FOR FREE COINS", "folgt @coins.drop für gratis Coins")
#: Handles of the accounts behind the simulator's spam bursts.
SPAM_BURST = re.compile(r"user\d{8}")


def raid_script(rng: random.Random, at: float) -> list[tuple[float, str, User, str]]:
    """30 never-seen accounts: each joins 1–12 s before pasting its copy within 18 s."""
    template = rng.choice(PROMO)
    out: list[tuple[float, str, User, str]] = []
    for _ in range(30):
        handle = f"user{rng.randrange(10**9, 10**10)}"
        account = User(id=str(7_100_000_000_000_000_000 + rng.randrange(10**17)),
                       unique_id=handle, nickname=handle)
        posted = at + rng.random() * 18
        text = rng.choice((template, template.upper(), template.lower(),
                           template.replace("FREE", "FR33").replace("gratis", "grat1s")))
        text += rng.choice(("", " 🔥🔥", "!!", " 💰💰💰", " 👉👉", " ✅"))
        out.append((posted - rng.uniform(1, 12), "join", account, ""))
        out.append((posted, "chat", account, text))
    return out


async def _simulated(duration: float) -> list[LiveEvent]:
    sim = Simulator(STREAM, seed=7, speed=0, duration=duration, start=START, peak_viewers=200)
    return [event async for event in sim.events()]


def write_recording(path: Path) -> dict[str, Any]:
    """The JSONL recording; returns the ids and handles of the raid and the cheers."""
    events = asyncio.run(_simulated(720))
    rng = random.Random(11)
    chatted = list({e.user.id: e.user for e in events
                    if isinstance(e, ChatEvent) and e.at < START + 100}.values())
    script: list[tuple[float, str, User, str]] = []
    for n, (at, cheer) in enumerate(CHEERS.items()):
        newcomers = [User(id=f"n{n}-{i}", unique_id=f"neu_{n}_{i}", nickname="Neu")
                     for i in range(20)]
        for user in newcomers:
            script.append((at - rng.uniform(10, 60), "join", user, ""))
        for user in rng.sample(chatted, 20) + newcomers:
            script.append((at + rng.random() * 12, "chat", user, cheer))
    raid = raid_script(rng, RAID_AT)
    script += raid
    ids = itertools.count(1)
    added: list[tuple[str, LiveEvent]] = []
    for t, kind, user, text in script:
        base = {"id": f"{kind}-x{next(ids)}", "stream": STREAM, "at": START + t,
                "received": START + t}
        added.append((kind, ChatEvent(**base, user=user, text=text) if kind == "chat"
                      else JoinEvent(**base, user=user)))
    raid_users = {user.id for _, _, user, _ in raid}
    everything = sorted([*events, *(e for _, e in added)], key=lambda e: e.at)
    path.write_text("".join(encode(e) + "\n" for e in everything), encoding="utf-8")
    chats = [e for _, e in added if isinstance(e, ChatEvent)]
    return {
        "raid_ids": {e.id for e in chats if e.user.id in raid_users},
        "raid_handles": {user.unique_id for _, _, user, _ in raid},
        "cheer_ids": {e.id for e in chats if e.user.id not in raid_users},
        "first_raid": START + min(t for t, kind, _, _ in raid if kind == "chat"),
    }


def check(messages: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, int]:
    insights = {m["event_id"]: m for m in messages if m["type"] == "insight"}
    chat = [m for m in messages if m["type"] == "chat"]

    def raid_label(insight: dict[str, Any]) -> bool:
        return any(lb["name"] == "spam" and lb.get("kind") == "raid" for lb in insight["labels"])

    raid_ids = truth["raid_ids"]
    flagged = [insights[i] for i in raid_ids if raid_label(insights[i])]
    assert len(raid_ids) == 30
    assert len(flagged) >= 27, f"only {len(flagged)} of 30 raid messages flagged"
    assert all(m["action"] == "hide" and m["hidden"] for m in flagged)
    held = {m["event_id"] for m in messages if m["type"] == "moderation"
            and m["state"] == "held" and m["reason"] == "part of a raid wave"}
    assert all(m["by"] == "spam" and not m["moderator"] for m in messages
               if m["type"] == "moderation" and m["event_id"] in held)
    early = {i for i in raid_ids if not insights[i]["hidden"]}
    assert early, "every raid message was hidden at once: nothing to hold after the fact"
    assert early <= held, f"raid messages left on the overlays: {early - held}"
    assert held <= raid_ids | {m["id"] for m in chat
                               if SPAM_BURST.fullmatch(m["user"]["unique_id"])}
    # The simulator's own spam bursts (two to four never-seen accounts pasting a link or
    # "check my profile") are small raids and may be labelled; nothing else may.
    ordinary = [m for m in chat if m["id"] not in raid_ids
                and not SPAM_BURST.fullmatch(m["user"]["unique_id"])]
    false = [m["id"] for m in ordinary if raid_label(insights[m["id"]])]
    assert false == [], f"ordinary messages labelled raid: {false}"
    alarms = [m for m in messages if m["type"] == "alarm" and m["kind"] == "raid"]
    raised = [a for a in alarms if a["state"] == "raised"]
    assert len(raised) == 1, alarms
    assert raised[0]["at"] - truth["first_raid"] <= 20, "raid alarm later than 20 s"
    assert raised[0]["data"]["members"] >= 10
    assert [a["id"] for a in alarms if a["state"] == "cleared"] == [raised[0]["id"]]
    prompts = [m for m in messages if m["type"] == "prompt"]
    assert any(p["alarm_id"] == raised[0]["id"] and p["priority"] == 3 for p in prompts)
    greeted = {h for p in prompts if p["text"].startswith("Begrüße")
               for h in re.findall(r"@([\w.]+)", p["text"])}
    assert greeted, "no greeting at all: the check below would prove nothing"
    assert not greeted & truth["raid_handles"], "a raid account was greeted"
    return {"flagged": len(flagged), "held_after": len(early),
            "after_s": round(raised[0]["at"] - truth["first_raid"])}


def test_a_raid_in_a_tiktok_shaped_jsonl_recording(tmp_path: Path) -> None:
    path = tmp_path / "raid.jsonl"
    truth = write_recording(path)
    out = io.StringIO()
    asyncio.run(replay_headless(path, out, Settings(rules_dir=REPO / "rules")))
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not any(m["user"]["new_account"] for m in messages if m.get("user"))
    check(messages, truth)
    cheers = [m for m in messages if m.get("event_id") in truth["cheer_ids"]]
    assert len(cheers) == 40 * len(CHEERS)
    assert not any(lb["name"] == "spam" for m in cheers for lb in m["labels"])


# -- the same through TikTok's own frames ----------------------------------------------


class _Webcast:
    """TikTok webcast messages with explicit times (``Frames`` numbers them for us)."""

    def __init__(self) -> None:
        self.frames = Frames()
        self.p = self.frames.p
        self._ids = itertools.count(7_400_000_000_000_000_001)

    def _common(self, t: float) -> Any:
        return self.p.CommonMessageData(msg_id=next(self._ids), create_time=int(t * 1000))

    def user(self, user: User) -> Any:
        return self.frames.user(user.unique_id, int(user.id) if user.id.isdigit() else None)

    def chat(self, t: float, user: User, text: str) -> Any:
        return self.p.BaseProtoMessage(method="WebcastChatMessage", payload=bytes(
            self.p.WebcastChatMessage(common=self._common(t), user=self.user(user), content=text,
                                      user_identity=self.p.UserIdentity())))

    def join(self, t: float, user: User) -> Any:
        return self.p.BaseProtoMessage(method="WebcastMemberMessage", payload=bytes(
            self.p.WebcastMemberMessage(common=self._common(t), user=self.user(user), action=1)))

    def viewers(self, t: float, count: int) -> Any:
        return self.p.BaseProtoMessage(method="WebcastRoomUserSeqMessage", payload=bytes(
            self.p.WebcastRoomUserSeqMessage(common=self._common(t), total=count,
                                             total_user=count)))


def write_capture(path: Path) -> dict[str, Any]:
    """Four minutes of a 300-viewer room as raw frames, with the raid at 2:00."""
    rng = random.Random(23)
    web = _Webcast()
    regulars = [User(id=str(6_000_000 + i), unique_id=f"zuschauer{i}", nickname=f"Z{i}")
                for i in range(80)]
    timeline: list[tuple[float, Any]] = []
    for second in range(240):
        t = START + second + 0.5
        if second % 5 == 0:
            timeline.append((t, web.viewers(t, 300 + rng.randint(-5, 5))))
        if rng.random() < 0.8:
            user = rng.choice(regulars)
            timeline.append((t + 0.1, web.chat(t + 0.1, user, rng.choice((
                "Hallo zusammen!", "wie teuer ist das?", "haha 😂", "❤️❤️", "mega",
                "Grüße aus Köln", "Welche Größe trägst du?", "@lena.live du bist toll")))))
        if rng.random() < 0.1:
            newcomer = User(id=str(8_000_000 + second), unique_id=f"neu{second}", nickname="N")
            timeline.append((t + 0.2, web.join(t + 0.2, newcomer)))
    raid = raid_script(rng, 120.0)
    for t, kind, user, text in raid:
        at = START + t
        timeline.append((at, web.chat(at, user, text) if kind == "chat" else web.join(at, user)))
    timeline.sort(key=lambda item: item[0])
    with CaptureWriter(path, STREAM) as writer:
        writer.initial(START, initial_result(7_000_000_000_000_000_001, 1),
                       7_000_000_000_000_000_001)
        for t, message in timeline:
            writer.frame(t, push_frame([message]))
    return {
        "raid_handles": {user.unique_id for _, _, user, _ in raid},
        "first_raid": START + min(t for t, kind, _, _ in raid if kind == "chat"),
    }


def _raid_ids(messages: Iterable[dict[str, Any]], handles: set[str]) -> set[str]:
    return {m["id"] for m in messages
            if m["type"] == "chat" and m["user"]["unique_id"] in handles}


def test_the_same_raid_as_raw_tiktok_frames(tmp_path: Path) -> None:
    path = tmp_path / "raid.lpcap"
    truth = write_capture(path)
    out = io.StringIO()
    asyncio.run(run_headless(CaptureSource(path), out, Settings(rules_dir=REPO / "rules"),
                             Metrics()))
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not any(m["user"]["new_account"] for m in messages if m.get("user"))
    truth["raid_ids"] = _raid_ids(messages, truth["raid_handles"])
    check(messages, truth)
