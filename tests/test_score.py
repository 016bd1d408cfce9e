"""``livepilot score``: one JSON object per input line, in order, last insight version."""

from __future__ import annotations

import asyncio
import io
import json
import random
from pathlib import Path

from livepilot.events import ChatEvent, LiveEvent
from livepilot.insights import Insight, Label, Reason
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.runner import Pipeline
from livepilot.pipeline.stage import Draft, LateSink, Outbox
from livepilot.score import ascore_lines, run_score, score_command, score_lines
from livepilot.settings import Settings
from livepilot.stages.registry import build_pipeline

RULES = Path(__file__).resolve().parents[1] / "rules"
KEYS = ["text", "labels", "toxicity", "reasons", "action", "not_scored"]


def settings(*stages: str) -> Settings:
    return Settings(rules_dir=RULES, stages=stages or ("word_filter", "spam", "moderation"))


def test_run_score_writes_one_json_object_per_line_in_order() -> None:
    infile = io.StringIO("\ufeffhallo zusammen\ndu h*r3ns0hn\r\n\nBESUCHT WWW.EXAMPLE.COM\n")
    outfile = io.StringIO()
    assert run_score(infile, outfile, settings()) == 4
    rows = [json.loads(line) for line in outfile.getvalue().splitlines()]
    assert [list(row) for row in rows] == [KEYS] * 4
    assert [row["text"] for row in rows] == [
        "hallo zusammen", "du h*r3ns0hn", "", "BESUCHT WWW.EXAMPLE.COM"
    ]
    assert rows[0] == {"text": "hallo zusammen", "labels": [], "toxicity": None, "reasons": [],
                       "action": None, "not_scored": None}
    assert rows[1]["labels"] == ["toxic"] and rows[1]["action"] == "hide"
    assert rows[1]["reasons"][0] == (
        "matched 'hurensohn' after normalising 'h*r3ns0hn' (masked) — insult, high severity"
    )
    assert rows[1]["reasons"][1] == "@line2: strike score 1.0 (1 hit) → note for the moderators"
    assert rows[2]["labels"] == []
    assert rows[3]["labels"] == ["spam"] and rows[3]["action"] == "hide"
    assert set(rows[3]["reasons"]) >= {"link to 'example.com'"}


def test_every_line_is_a_fresh_user() -> None:
    # (A promotion pasted by three fresh users would be a raid, as it would be live.)
    lines = ["du idiot"] * 4 + ["Wie heißt das Lied von eben"] * 3
    pipeline = build_pipeline(("word_filter", "spam", "moderation"),
                              StageContext(settings(), Metrics(), stream="score"))
    rows = list(score_lines(lines, pipeline))
    # no strike builds up and no one repeats themselves
    assert [row["action"] for row in rows[:4]] == ["review"] * 4
    assert all(row["labels"] == [] for row in rows[4:])


def test_progress_goes_to_stderr(tmp_path: Path) -> None:
    source = tmp_path / "chat.txt"
    source.write_text("".join(f"Nachricht {i}\n" for i in range(300)), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with source.open(encoding="utf-8") as infile:
        assert run_score(infile, out, settings(), progress=True, err=err) == 300
    assert len(out.getvalue().splitlines()) == 300
    assert err.getvalue().endswith("\n") and "scored 300 lines (100%)" in err.getvalue()


class SlowModel:
    """A background stage like the ML model: marks insights pending, publishes version 1."""

    name = "slowmodel"

    def __init__(self) -> None:
        self._waiting: list[Insight] = []
        self._idle = asyncio.Event()

    def process(self, event: LiveEvent, draft: Draft) -> None:
        if isinstance(event, ChatEvent):
            draft.pending.append(self.name)
            self._waiting.append(draft.freeze())
            self._idle.clear()

    def tick(self, now: float, out: Outbox) -> None:
        pass

    async def drain(self) -> None:
        await self._idle.wait()

    async def run(self, late: LateSink) -> None:
        while True:
            await asyncio.sleep(0.001)
            while self._waiting:
                first = self._waiting.pop(0)
                text_score = 0.9 if "idiot" in str(first.reasons) or first.labels else 0.1
                await late([first.model_copy(update={
                    "version": 1,
                    "pending": (),
                    "scores": {"toxicity": text_score},
                    "labels": (*first.labels, Label(name="toxic", source=self.name))
                    if text_score > 0.5 else first.labels,
                    "reasons": (*first.reasons, Reason(source=self.name, text="model says"))
                })])
            self._idle.set()


def model_pipeline() -> Pipeline:
    ctx = StageContext(settings(), Metrics(), stream="score")
    word_filter = build_pipeline(("word_filter",), ctx).stages[0]
    return Pipeline([word_filter, SlowModel()], ctx.metrics)


def test_late_updates_replace_the_first_verdict() -> None:
    lines = [f"hallo {i}" for i in range(300)] + ["du idiot"]
    rows = list(score_lines(lines, model_pipeline()))
    assert len(rows) == 301 and [row["text"] for row in rows] == lines
    assert rows[0]["toxicity"] == 0.1 and rows[0]["labels"] == []
    assert rows[-1]["toxicity"] == 0.9 and rows[-1]["labels"] == ["toxic"]
    assert rows[-1]["reasons"] == ["matched 'idiot' — insult, low severity", "model says"]


async def test_async_scoring_inside_a_running_loop() -> None:
    rows = [row async for row in ascore_lines(["du idiot", "nett hier"], model_pipeline())]
    assert [row["toxicity"] for row in rows] == [0.9, 0.1]


def test_score_command_reads_a_file_or_stdin(tmp_path: Path) -> None:
    source = tmp_path / "chat.txt"
    source.write_bytes("\ufeffSchwanzflosse\nF1CK D1CH\n".encode())
    out, err = io.StringIO(), io.StringIO()
    assert score_command(str(source), settings(), stdout=out, stderr=err) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["text"] for row in rows] == ["Schwanzflosse", "F1CK D1CH"]
    assert rows[0]["labels"] == [] and rows[1]["labels"] == ["toxic"]
    assert err.getvalue() == ""  # no progress bar when stderr is not a terminal
    piped = io.StringIO()
    assert score_command("-", settings(), stdin=io.StringIO("hallo\n"), stdout=piped,
                         stderr=err) == 1
    assert json.loads(piped.getvalue())["text"] == "hallo"


INSULTS = Path(__file__).resolve().parent / "data" / "german_insults_no_blockwords.txt"


async def realistic_lines(count: int) -> list[str]:
    """Chat as the seeded simulator writes it (German first, English, emotes, insults,
    raids), the test set's insults, and mixtures of both with their case changed, so that
    many lines sit near the model's thresholds and many repeat with variations."""
    from livepilot.sources.simulator import Simulator

    chat: list[str] = []
    async for event in Simulator("t", seed=3, speed=0, duration=360_000, start=0).events():
        if isinstance(event, ChatEvent):
            chat.append(event.text)
            if len(chat) == count // 2:
                break
    insults = [ln for ln in INSULTS.read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.startswith("#")]
    rng = random.Random(11)
    lines = [*chat, *insults]
    while len(lines) < count:
        text = " ".join(rng.choice(rng.choice((chat, insults))) for _ in range(rng.randint(1, 3)))
        lines.append(rng.choice((text, text.upper(), text.lower(), text.title())))
    return lines[:count]


def test_score_is_the_same_every_run_lane_or_inline() -> None:
    """2,000 lines: the lane with batches of 32 and of 5 (a different batch composition
    for every text) and the German model inline give byte-identical output, and every line
    has a model verdict or says why not."""
    lines = asyncio.run(realistic_lines(2_000))
    outputs = []
    for update in ({}, {"toxicity_batch_size": 5}, {"toxicity_german_inline": True}):
        out = io.StringIO()
        config = Settings(**update)
        assert run_score(io.StringIO("\n".join(lines) + "\n"), out, config) == len(lines)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] == outputs[2]
    rows = [json.loads(row) for row in outputs[0].splitlines()]
    assert [row["text"] for row in rows] == lines
    scored = [row for row in rows if row["not_scored"] is None]
    assert len(scored) > 0.8 * len(rows)
    assert all(row["toxicity"] is not None for row in rows)
    assert {row["not_scored"] for row in rows} <= {None, "no_letters", "rules", "no_language"}
    flagged = sum("toxic" in row["labels"] for row in rows)
    assert 0.1 * len(rows) < flagged < 0.9 * len(rows)
