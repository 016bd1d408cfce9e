"""Hostile chat text: per-message cost against message length, beside normal chat.

Every per-message step that reads chat text is timed on its own, on the shipped rules and
the shipped German model: the word filter (``WordMatcher.scan``), the spam heuristics
(``SpamFilter.check``), the intent classifier, language routing and the German model
(``GermanModel.predict``, which normalises and featurises the text). Messages:

* ``normal chat``: a deterministic sample of German/English chat lines (the baseline);
* hostile shapes at several lengths: one long word (``aaaa…``, ``abab…``), separated
  letters (``h.u.r.e.h.u.r.e…``), leetspeak (``h0r3…``), an emoji run, Cyrillic/Greek
  look-alikes mixed with Latin, hyphen and dot chains (``a-a-a-…``, ``a.a.a.…``, which
  the link check once searched in quadratic time), digit runs (``1 1 1 …``) and normal
  words repeated to length.

Each cell is the median over ``REPEAT`` repetitions, each on fresh state (new matcher
memo, new per-user spam state), with the spread (min–max) of the repetitions: for normal
chat the median per message of a 200-message stream (steady state: the word memo is warm,
as on a real stream), for a hostile message the time of that one message (nothing
memoised: the worst case). Analysis
reads at most ``ANALYSED_CHARS`` characters of a message, so the columns flatten above
that length; below it they grow linearly.
Run: ``.venv/bin/python benchmarks/hostile_text.py [--quick]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from livepilot.events import User
from livepilot.metrics import Metrics
from livepilot.ml.german import GermanModel
from livepilot.ml.language import LanguageRouter
from livepilot.ml.text import ANALYSED_CHARS
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.stage import Outbox
from livepilot.settings import Settings
from livepilot.stages.audience.intent_rules import load_intent_rules
from livepilot.stages.moderation.spam import SpamFilter
from livepilot.stages.moderation.spam import build as build_spam
from livepilot.stages.moderation.word_matcher import WordMatcher

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
REPEAT = 7
LENGTHS = (100, 1_000, 2_000, 20_000, 100_000)
NORMAL = (
    "hallo zusammen", "wie teuer ist das kleid?", "love this song ❤️", "grüße aus köln 👋",
    "du bist so lustig 😂😂", "wann kommt der nächste stream", "gg", "where is the link",
    "das outfit ist mega schön", "kannst du mal hallo sagen @anna_93", "nein doch ohhh",
    "ich bringe dich um acht zum bahnhof", "was kostet versand nach österreich?",
    "thanks for the stream, see you tomorrow", "krass wie viele leute heute da sind 🔥",
)
SHAPES: dict[str, str] = {
    "aaaa…": "a",
    "abab…": "ab",
    "h.u.r.e…": "h.u.r.e.",
    "h0r3…": "h0r3",
    "emoji run": "😂",
    "look-alikes": "hurеnsоhn Нure ",  # Cyrillic е, о, Н among Latin letters
    "a-a-a-…": "a-",
    "a.a.a.…": "a.",
    "1 1 1 …": "1 ",
    "normal words": "das ist ein ganz normaler satz ",
}
Step = Callable[[str], object]


def steps() -> dict[str, Callable[[], Step]]:
    """Per step: a factory of a fresh callable (fresh memo and per-user state)."""
    model = GermanModel.load()
    router = LanguageRouter()
    router.load()
    _, classifier = load_intent_rules(RULES / "intents.yaml")
    packs = [RULES / f"{name}.yaml" for name in ("de", "en", "custom")]
    user = User(id="u1", unique_id="viewer", nickname="Viewer")
    outbox = Outbox()

    def word_filter() -> Step:
        return WordMatcher.from_paths(packs).scan

    def spam() -> Step:
        stage: SpamFilter = build_spam(StageContext(Settings(rules_dir=RULES), Metrics(),
                                                    stream="bench"))
        now = iter(range(10**9))
        return lambda text: stage.check(user, text, float(next(now)) * 60, outbox)

    return {
        "word filter": word_filter,
        "spam": spam,
        "intent": lambda: classifier.classify,
        "language": lambda: router.route,
        "german model": lambda: lambda text: model.predict([text]),
    }


def _text(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def measure(make: Callable[[], Step], texts: list[str]) -> list[float]:
    """Per repetition: the median seconds per message of ``texts`` on a fresh step."""
    out = []
    for _ in range(REPEAT):
        step = make()
        times = []
        for text in texts:
            start = time.perf_counter()
            step(text)
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
    return out


def _cell(samples: list[float]) -> str:
    median = statistics.median(samples) * 1e6
    return f"{median:9.1f} ({min(samples) * 1e6:.0f}–{max(samples) * 1e6:.0f})"


def main() -> None:
    quick = "--quick" in sys.argv
    lengths = LENGTHS[:3] if quick else LENGTHS
    table = steps()
    rng = random.Random(7)
    normal = [rng.choice(NORMAL) for _ in range(200)]
    rows: list[tuple[str, int, dict[str, list[float]]]] = [
        ("normal chat", round(statistics.mean(map(len, normal))),
         {name: measure(make, normal) for name, make in table.items()}),
    ]
    for shape, unit in SHAPES.items():
        for length in lengths:
            texts = [_text(unit, length)]
            rows.append((shape, length, {name: measure(make, texts)
                                         for name, make in table.items()}))
    base = sum(statistics.median(s) for s in rows[0][2].values())
    header = f"{'message':14} {'chars':>7} " + " ".join(f"{n + ' µs':>22}" for n in table)
    print(f"per message: median µs (min–max of {REPEAT} repetitions); analysis reads the "
          f"first {ANALYSED_CHARS:,} characters")
    print(header + f" {'total µs':>10} {'× normal':>9}")
    for shape, length, cells in rows:
        total = sum(statistics.median(s) for s in cells.values())
        print(f"{shape:14} {length:7,} " + " ".join(f"{_cell(cells[n]):>22}" for n in table)
              + f" {total * 1e6:10.1f} {total / base:9.1f}")


if __name__ == "__main__":
    main()
