"""Moderation: precision/recall of the shipped packs, and word filter + spam cost per message.

Part 1 scores ``tests/data/moderation_labelled.tsv`` (our own German and English chat
lines, each a message from a fresh user) with the shipped rule packs: ``toxic`` as decided
by the word filter, ``spam`` by the spam stage. The ``dev`` split was written together
with the packs (they were tuned on it); the ``heldout`` split was written after the packs
were frozen and never tuned on — read that row as the honest estimate.

Part 2 times ``process`` of the word filter and the spam stage on a deterministic chat
stream (Zipf-distributed German/English chat words, 2,000 users; 10 % of messages carry a
never-seen token such as a name or emote run, 3 % an obfuscated insult, 1 % a link) and
``better_profanity.profanity.contains_profanity`` on the same texts in the same run.
Medians per message, with the spread (min–max) of the per-repetition medians.
Run: ``.venv/bin/python benchmarks/moderation.py``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from better_profanity import profanity

from livepilot.events import ChatEvent
from livepilot.metrics import Metrics
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.stage import Draft
from livepilot.settings import Settings
from livepilot.stages.moderation.spam import build as build_spam
from livepilot.stages.moderation.word_filter import build as build_word_filter
from livepilot.testing import EventFactory, FakeClock

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "moderation_labelled.tsv"
MESSAGES = 5_000
REPEAT = 5
#: better-profanity needs ~15 ms per message here: it gets the first messages only.
BETTER_PROFANITY_SAMPLE = 500
USERS = 2_000

WORDS = (
    "hallo hi hey moin servus ja nein doch danke bitte super mega geil krass cool nice lol "
    "haha xd omg wow gg ich du er sie wir ihr das der die und oder aber wie was wo wann warum "
    "ist bin bist sind war kann kannst will willst muss gibt es mal noch schon jetzt heute "
    "morgen stream live video song musik outfit kleid farbe preis kostet kaufen link shop "
    "frage antwort hier da dort gut schlecht schön toll liebe grüße aus berlin köln wien "
    "hamburg münchen zürich love this so much you are the best what is that where how much "
    "price please thanks hello everyone from london great stream amazing beautiful yes no "
    "maybe again more play spiel runde team gewonnen verloren neu alt erste zweite follow "
    "folgen like teilen geschenk rose löwe danke_dir 😂 ❤️ 🔥 👍 🙏 😍 ✨ 💯"
).split()
INSULTS = [
    "du h*r3ns0hn", "h u r e n s o h n", "fick dich", "w1chs3r", "du spast", "kys",
    "b1tch", "bring dich um", "halt die fresse", "du missgeburt",
]
LINKS = ["schau auf www.free-coins.xyz", "gratis auf bit.ly/abc", "coins dot com"]


def chat_stream(seed: int, start: float = 1_700_000_000.0) -> list[ChatEvent]:
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    clock = FakeClock(start)
    events = EventFactory(clock, stream=f"bench{seed}")
    users = [events.user(f"viewer_{i}") for i in range(USERS)]
    out = []
    for n in range(MESSAGES):
        clock.advance(0.05)
        words = rng.choices(WORDS, weights, k=rng.randint(2, 12))
        roll = rng.random()
        if roll < 0.10:
            words.append(f"@{rng.choice(['anna', 'max', 'lea'])}_{rng.randint(1, 10**6)}")
        elif roll < 0.13:
            words.append(rng.choice(INSULTS))
        elif roll < 0.14:
            words.append(rng.choice(LINKS))
        text = " ".join(words)
        out.append(events.chat(users[rng.randrange(USERS)], text if n % 17 else text.upper()))
    return out


def per_message(fn: Callable[[ChatEvent], object], events: list[ChatEvent]) -> list[float]:
    times = []
    clock = time.perf_counter_ns
    for event in events:
        started = clock()
        fn(event)
        times.append((clock() - started) / 1000)
    return times


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} [{min(values):,.1f}–{max(values):,.1f}]"


def speed() -> None:
    # Warm-up stream, then the measured stream 10 minutes later in the same stream: the
    # memo has seen the chat vocabulary, per-user spam state is what a live stream has.
    warmup = chat_stream(seed=1)
    events = chat_stream(seed=2, start=warmup[-1].at + 600)
    sample = events[:BETTER_PROFANITY_SAMPLE]
    settings = Settings(rules_dir=ROOT / "rules")
    profanity.load_censor_words()

    def ours_factory() -> Callable[[ChatEvent], object]:
        ctx = StageContext(settings, Metrics(), stream="bench")
        word_filter, spam = build_word_filter(ctx), build_spam(ctx)

        def run(event: ChatEvent) -> object:
            draft = Draft(event=event, now=event.at)
            word_filter.process(event, draft)
            spam.process(event, draft)
            return draft

        return run

    def baseline(event: ChatEvent) -> object:
        return Draft(event=event, now=event.at)

    def better(event: ChatEvent) -> object:
        return profanity.contains_profanity(event.text)

    cold_name = "word filter + spam, fresh stages (cold memo)"
    warm_name = "word filter + spam, steady state (warm memo)"
    warm_sample = f"word filter + spam, steady state, first {len(sample):,} messages"
    theirs_name = f"better-profanity contains_profanity, first {len(sample):,} messages"
    rows: dict[str, list[float]] = {
        "baseline: empty Draft per message": [], cold_name: [], warm_name: [],
        warm_sample: [], theirs_name: [],
    }
    means: dict[str, list[float]] = {key: [] for key in rows}
    for _ in range(REPEAT):
        cold = ours_factory()
        warm = ours_factory()
        for event in warmup:
            warm(event)
        for name, fn, batch in (
            ("baseline: empty Draft per message", baseline, events),
            (cold_name, cold, events),
            (warm_name, warm, events),
            (theirs_name, better, sample),
        ):
            times = per_message(fn, batch)
            rows[name].append(statistics.median(times))
            means[name].append(statistics.fmean(times))
            if name == warm_name:
                rows[warm_sample].append(statistics.median(times[: len(sample)]))
                means[warm_sample].append(statistics.fmean(times[: len(sample)]))
    print(f"\n### Word filter + spam: µs per chat message ({len(events):,} messages, "
          f"{REPEAT} runs, one core)\n")
    print("| what | median µs/msg [min–max over runs] | mean µs/msg | msg/s at the mean |")
    print("|---|---|---|---|")
    for name, medians in rows.items():
        mean = statistics.median(means[name])
        print(f"| {name} | {spread(medians)} | {mean:,.1f} | {1e6 / mean:,.0f} |")
    ours = statistics.median(rows[warm_sample])
    theirs = statistics.median(rows[theirs_name])
    print(f"\nbetter-profanity ÷ livepilot on the same {len(sample):,} messages (median per "
          f"message): {theirs / ours:,.0f}×")


def quality() -> None:
    settings = Settings(rules_dir=ROOT / "rules")
    ctx = StageContext(settings, Metrics(), stream="quality")
    word_filter, spam = build_word_filter(ctx), build_spam(ctx)
    clock = FakeClock()
    events = EventFactory(clock, stream="quality")
    counts: dict[tuple[str, str, str], list[int]] = {}
    misses: list[str] = []
    for number, line in enumerate(LABELLED.read_text(encoding="utf-8").splitlines()):
        if not line or line.startswith("#"):
            continue
        split, label, language, text = line.split("\t")
        clock.advance(60)  # one fresh user a minute: no per-user or raid state carries over
        event = events.chat(f"user{number}", text)
        draft = Draft(event=event, now=clock.now())
        word_filter.process(event, draft)
        spam.process(event, draft)
        for target in ("toxic", "spam"):
            for group in (split, f"{split}/{language}"):
                tp_fp_fn_tn = counts.setdefault((target, group, ""), [0, 0, 0, 0])
                truth, said = label == target, draft.has(target)
                tp_fp_fn_tn[(0 if said else 2) if truth else (1 if said else 3)] += 1
            if (label == target) != draft.has(target) and split == "heldout":
                misses.append(f"{'missed' if label == target else 'false alarm'} {target}: "
                              f"{text!r}")
    print("\n### Shipped packs on tests/data/moderation_labelled.tsv\n")
    print("| label | split | lines with label | precision | recall | F1 | false alarms |")
    print("|---|---|---|---|---|---|---|")
    for (target, group, _), (tp, fp, fn, tn) in sorted(counts.items()):
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        print(f"| {target} | {group} | {tp + fn} | {precision:.1%} | {recall:.1%} | "
              f"{f1:.3f} | {fp} of {fp + tn} |")
    print("\nHeld-out errors (not tuned on):")
    for miss in misses:
        print(f"- {miss}")


if __name__ == "__main__":
    quality()
    speed()
