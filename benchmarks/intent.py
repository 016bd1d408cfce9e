"""Intent stage and knowledge base: quality on the labelled chat lines, and speed.

Run: ``.venv/bin/python benchmarks/intent.py [--reps 7]``

1. Per-label precision/recall of the intent stage on ``tests/data/intent_{de,en}.tsv``,
   split into the lines the shipped patterns were written against and the held-out
   lines written after the patterns were frozen; baseline: the first minimal stage
   (question = "?" or a W-word at the start, lead = a few keywords).
2. Intent stage µs per message (median over messages, per repetition), shipped patterns
   vs. that baseline.
3. Knowledge-base matching µs per question with 500 entries vs. a plain rapidfuzz
   ``extractOne`` over every example question.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rapidfuzz import fuzz, process

from livepilot.metrics import Metrics
from livepilot.pipeline.stage import Draft
from livepilot.stages.audience.faq import FaqFile, content_tokens, load_faq
from livepilot.stages.audience.intent import IntentStage
from livepilot.stages.audience.intent_rules import TechAlarmRules, load_intent_rules
from livepilot.stages.audience.question_queue import QuestionQueue
from livepilot.stages.audience.questions import QuestionsStage
from livepilot.stages.audience.tech_alarm import TechIssueWatch
from livepilot.testing import EventFactory, FakeClock

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LABELS = ("question", "lead", "tech_issue", "feedback_positive", "feedback_negative")

# The minimal stage livepilot started with, kept here as the baseline.
_BASE_QUESTION = re.compile(
    r"\?\s*$|^(?:wie|was|wo|wann|warum|wieso|weshalb|welche[rsmn]?|wer|kann|kannst|gibt|hast|"
    r"habt|ist|sind|how|what|where|when|why|which|who|can|do|does|is|are)\b",
    re.I,
)
_BASE_LEAD = re.compile(
    r"\b(?:preis|kostet|kosten|price|how much|link|bestellen|order|shipping)\b", re.I
)


def baseline(text: str) -> set[str]:
    out = set()
    if _BASE_QUESTION.search(text.strip()):
        out.add("question")
    if _BASE_LEAD.search(text):
        out.add("lead")
    return out


def read(name: str) -> tuple[list[tuple[set[str], str]], list[tuple[set[str], str]]]:
    """(lines the patterns were written against, held-out lines)."""
    dev: list[tuple[set[str], str]] = []
    held: list[tuple[set[str], str]] = []
    target = dev
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("# holdout"):
            target = held
        if not line.strip() or line.startswith("#"):
            continue
        truth, text = line.split("\t", 1)
        target.append((set() if truth == "-" else set(truth.split(",")), text))
    return dev, held


def names(labels: set[str], kinds: bool) -> set[str]:
    return labels if kinds else {label.split(":")[0] for label in labels}


def score(
    rows: list[tuple[set[str], str]], predict: Callable[[str], set[str]], kinds: bool = False
) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, Counter[str]] = {}
    for truth, text in rows:
        want, got = names(truth, kinds), names(predict(text), kinds)
        for label in want | got:
            c = counts.setdefault(label, Counter())
            c["tp"] += label in want and label in got
            c["fp"] += label in got and label not in want
            c["fn"] += label in want and label not in got
    return {k: (c["tp"], c["fp"], c["fn"]) for k, c in counts.items()}


def pr(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return f"{p:.2f} / {r:.2f}"


def quality() -> None:
    _, classifier = load_intent_rules(ROOT / "rules" / "intents.yaml")

    def shipped(text: str) -> set[str]:
        return {
            h.label if h.kind is None or h.label not in ("lead", "tech_issue")
            else f"{h.label}:{h.kind}"
            for h in classifier.classify(text)
        }

    sets = {}
    for lang in ("de", "en"):
        dev, held = read(f"intent_{lang}.tsv")
        sets[f"{lang} written-against"] = dev
        sets[f"{lang} held-out"] = held
    print("## Intent labels: precision / recall (shipped patterns vs. minimal baseline)\n")
    header = "| label | " + " | ".join(f"{k} (n={len(v)})" for k, v in sets.items()) + " |"
    print(header)
    print("|" + " --- |" * (len(sets) + 1))
    results = {k: score(v, shipped) for k, v in sets.items()}
    base = {k: score(v, baseline) for k, v in sets.items()}
    for label in LABELS:
        cells = []
        for k in sets:
            ours = pr(*results[k].get(label, (0, 0, 0)))
            if label in ("question", "lead"):
                ours += f" (base {pr(*base[k].get(label, (0, 0, 0)))})"
            cells.append(ours)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n## Kinds (lead, tech_issue): precision / recall, all lines of both languages\n")
    every_dev = sets["de written-against"] + sets["en written-against"]
    every_held = sets["de held-out"] + sets["en held-out"]
    dev_k, held_k = score(every_dev, shipped, kinds=True), score(every_held, shipped, kinds=True)
    print("| kind | written-against | held-out |")
    print("| --- | --- | --- |")
    for kind in sorted(k for k in dev_k | held_k if ":" in k):
        none = (0, 0, 0)
        print(f"| {kind} | {pr(*dev_k.get(kind, none))} | {pr(*held_k.get(kind, none))} |")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def stage_speed(reps: int) -> None:
    rules, classifier = load_intent_rules(ROOT / "rules" / "intents.yaml")
    stage = IntentStage(
        classifier, TechIssueWatch(TechAlarmRules(), dict(rules.tech_issue)), Metrics()
    )
    clock = FakeClock()
    factory = EventFactory(clock)
    texts = [t for name in ("intent_de.tsv", "intent_en.tsv") for rows in read(name)
             for _, t in rows]
    events = [factory.chat(f"user{n % 50}", t) for n, t in enumerate(texts)]

    class Baseline:
        name = "baseline"

        def process(self, event: object, draft: Draft) -> None:
            text = draft.event.text  # type: ignore[union-attr]
            for label in baseline(text):
                draft.label(label, self.name)

    kb = load_faq(ROOT / "rules" / "faq.yaml")
    both = "intent + questions (queue, shop FAQ)"
    timings: dict[str, list[float]] = {
        "intent (shipped patterns)": [], "minimal baseline": [], both: []
    }
    for _ in range(reps):
        for key, s in (("intent (shipped patterns)", stage), ("minimal baseline", Baseline())):
            per: list[float] = []
            for event in events:
                draft = Draft(event=event, now=clock.now())
                t0 = time.perf_counter_ns()
                s.process(event, draft)
                per.append((time.perf_counter_ns() - t0) / 1000)
            timings[key].append(statistics.median(per))
        queue = QuestionQueue("bench", kind_group=classifier.lead_group)
        questions = QuestionsStage("bench", queue, faq=kb)
        per = []
        for event in events:
            draft = Draft(event=event, now=clock.now())
            t0 = time.perf_counter_ns()
            stage.process(event, draft)
            questions.process(event, draft)
            per.append((time.perf_counter_ns() - t0) / 1000)
        timings[both].append(statistics.median(per))
    print(f"\n## Intent stage: µs per message ({len(events)} chat lines, {reps} repetitions)\n")
    print("| stage | median µs/msg (min–max over repetitions) |")
    print("| --- | --- |")
    for key, values in timings.items():
        print(f"| {key} | {_spread(values)} |")


def faq_speed(reps: int) -> None:
    shop = load_faq(ROOT / "rules" / "faq.yaml").faq
    rng = random.Random(7)
    words = (
        "ring kette armband ohrring hoodie shirt jacke tasche muetze schal socken kerze tasse "
        "poster buch creme serum parfum duft farbe material stoff baumwolle leder silber gold "
        "edelstahl gravur geschenk verpackung karte aktion sale kollektion winter sommer herbst "
        "limitiert vorbestellung nachproduktion uhr brille guertel rucksack"
    ).split()
    entries = []
    for n in range(500):
        base = shop.entries[n % len(shop.entries)]
        topic = rng.sample(words, 2)
        entries.append(base.model_copy(update={
            "id": f"{base.id}-{n}",
            "questions": tuple(f"{q} {topic[0]} {topic[1]}" for q in base.questions),
            "keywords": (*base.keywords, *topic),
        }))
    kb = FaqFile(tone="du", entries=tuple(entries)).build()
    questions = [t for name in ("intent_de.tsv", "intent_en.tsv") for rows in read(name)
                 for truth, t in rows if any(x.startswith(("question", "lead")) for x in truth)]
    examples = [(" ".join(content_tokens(q)), e.id) for e in entries for q in e.questions]
    choices = [text for text, _ in examples]

    def naive(text: str) -> object:
        return process.extractOne(
            " ".join(content_tokens(text)), choices, scorer=fuzz.token_set_ratio,
            score_cutoff=60, processor=None,
        )

    timings: dict[str, list[float]] = {"knowledge base (index + overlap)": [],
                                       "rapidfuzz extractOne over all examples": []}
    for _ in range(reps):
        for key, fn in (("knowledge base (index + overlap)", kb.match),
                        ("rapidfuzz extractOne over all examples", naive)):
            per = []
            for q in questions:
                t0 = time.perf_counter_ns()
                fn(q)
                per.append((time.perf_counter_ns() - t0) / 1000)
            timings[key].append(statistics.median(per))
    print(f"\n## FAQ matching: µs per question ({len(kb)} entries, {len(choices)} example "
          f"questions, {len(questions)} questions, {reps} repetitions)\n")
    print("| matcher | median µs/question (min–max over repetitions) |")
    print("| --- | --- |")
    for key, values in timings.items():
        print(f"| {key} | {_spread(values)} |")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    quality()
    stage_speed(args.reps)
    faq_speed(args.reps)


if __name__ == "__main__":
    main(sys.argv[1:])
