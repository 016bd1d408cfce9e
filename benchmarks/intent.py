"""Intent stage and knowledge base: quality on the labelled chat lines, and speed.

Run: ``.venv/bin/python benchmarks/intent.py [--reps 7] [--previous REV]``

1. Per-label precision/recall of the intent stage on ``tests/data/intent_{de,en}.tsv``,
   split into the lines the shipped patterns were written against and the held-out
   lines written after the patterns were frozen; baseline: the first minimal stage
   (question = "?" or a W-word at the start, lead = a few keywords).
2. Precision/recall/F1 for question, lead and tech_issue on the harder chat of
   ``tests/data/intents_hard_dev.tsv`` (tuned on) and ``intents_hard.tsv`` (test),
   shipped vs. the previous release's classifier and patterns (read from git at
   ``--previous``) vs. the minimal baseline.
3. Intent stage µs per message (median over messages, per repetition), shipped patterns
   vs. the previous release vs. the minimal baseline.
4. Hostile text: µs for one message of each shape at lengths up to 100 KB, shipped vs.
   previous release: flat above the analysed prefix, linear below it.
5. Knowledge-base matching µs per question with 500 entries vs. a plain rapidfuzz
   ``extractOne`` over every example question.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
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
HARD = ("question", "lead", "tech_issue")
#: The release before the hard-chat work: its classifier and patterns are the baseline.
PREVIOUS = "5806b9b"

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


def previous_classifier(rev: str) -> Any | None:
    """The intent classifier of release ``rev`` — its phrase engine, classifier, rules
    model and patterns, loaded from ``git show`` under private module names (None, with a
    note, when git or the revision is not there)."""
    def show(path: str) -> str:
        return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    package = "livepilot.stages.audience."
    names = ("phrases", "intent_classifier", "intent_rules")
    try:
        sources = {name: show(f"src/livepilot/stages/audience/{name}.py") for name in names}
        rules_text = show("rules/intents.yaml")
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"(no previous release {rev} to compare with: {exc})\n")
        return None
    modules: dict[str, types.ModuleType] = {}
    for name in names:  # in import order: each imports only the ones before it
        source = sources[name]
        for done in modules:
            source = source.replace(package + done, f"_previous_{done}")
        module = types.ModuleType(f"_previous_{name}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        exec(compile(source, f"{rev}:{name}.py", "exec"), module.__dict__)
        modules[name] = module
    rules = modules["intent_rules"].IntentRules.model_validate(yaml.safe_load(rules_text))
    return rules.build()


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


def hard_quality(previous: Any | None) -> None:
    _, classifier = load_intent_rules(ROOT / "rules" / "intents.yaml")
    predictors: dict[str, Callable[[str], set[str]]] = {
        "shipped": lambda text: {h.label for h in classifier.classify(text)},
    }
    if previous is not None:
        predictors["previous release"] = lambda text: {h.label for h in previous.classify(text)}
    predictors["minimal baseline"] = baseline
    print("\n## Harder chat: precision / recall / F1 (question, lead, tech_issue)\n")
    for name, role in (("intents_hard_dev.tsv", "development set, tuned on"),
                       ("intents_hard.tsv", "test set, only scored")):
        rows, _ = read(name)
        print(f"### {name} ({role}, n={len(rows)})\n")
        print("| label | " + " | ".join(predictors) + " |")
        print("|" + " --- |" * (len(predictors) + 1))
        results = {k: score(rows, fn) for k, fn in predictors.items()}
        for label in HARD:
            cells = [f1(*results[k].get(label, (0, 0, 0))) for k in predictors]
            print(f"| {label} | " + " | ".join(cells) + " |")
        print()


def f1(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"{p:.2f} / {r:.2f} / **{f:.3f}**"


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


class _PreviousStage(IntentStage):
    """The shipped stage around the previous release's classifier."""

    def __init__(self, previous: Any, watch: TechIssueWatch, metrics: Metrics) -> None:
        super().__init__(previous, watch, metrics)
        self._previous = previous

    @property
    def classifier(self) -> Any:
        return self._previous


def stage_speed(reps: int, previous: Any | None) -> None:
    rules, classifier = load_intent_rules(ROOT / "rules" / "intents.yaml")
    stage = IntentStage(
        classifier, TechIssueWatch(TechAlarmRules(), dict(rules.tech_issue)), Metrics()
    )
    stages: dict[str, Any] = {"intent (shipped patterns)": stage}
    if previous is not None:
        stages["intent (previous release)"] = _PreviousStage(
            previous, TechIssueWatch(TechAlarmRules(), dict(rules.tech_issue)), Metrics()
        )
    clock = FakeClock()
    factory = EventFactory(clock)
    texts = [t for name in ("intent_de.tsv", "intent_en.tsv", "intents_hard_dev.tsv",
                            "intents_hard.tsv") for rows in read(name) for _, t in rows]
    events = [factory.chat(f"user{n % 50}", t) for n, t in enumerate(texts)]

    class Baseline:
        name = "baseline"

        def process(self, event: object, draft: Draft) -> None:
            text = draft.event.text  # type: ignore[union-attr]
            for label in baseline(text):
                draft.label(label, self.name)

    kb = load_faq(ROOT / "rules" / "faq.yaml")
    both = "intent + questions (queue, shop FAQ)"
    stages["minimal baseline"] = Baseline()
    timings: dict[str, list[float]] = {key: [] for key in stages}
    timings[both] = []
    for _ in range(reps):
        for key, s in stages.items():
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


HOSTILE = {"words": "ich hör nix hast du, ", "a,a,…": "a,", "aaaa…": "a",
           "repeated lead": "nen döner gekauft ", "emoji": "😍🔥"}
HOSTILE_LENGTHS = (100, 1_000, 2_000, 20_000, 100_000)


def hostile_speed(reps: int, previous: Any | None) -> None:
    _, classifier = load_intent_rules(ROOT / "rules" / "intents.yaml")
    classifiers: dict[str, Any] = {"shipped": classifier}
    if previous is not None:
        classifiers["previous release"] = previous
    print(f"\n## Hostile text: µs for one message, median (min–max) of {reps} repetitions\n")
    print("| shape | classifier | " + " | ".join(f"{n:,} chars" for n in HOSTILE_LENGTHS) + " |")
    print("|" + " --- |" * (len(HOSTILE_LENGTHS) + 2))
    for shape, unit in HOSTILE.items():
        for key, c in classifiers.items():
            cells = []
            for n in HOSTILE_LENGTHS:
                text = (unit * (n // len(unit) + 1))[:n]
                per = []
                for _ in range(reps):
                    t0 = time.perf_counter_ns()
                    c.classify(text)
                    per.append((time.perf_counter_ns() - t0) / 1000)
                cells.append(_spread(per))
            print(f"| {shape} | {key} | " + " | ".join(cells) + " |")


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
    parser.add_argument("--previous", default=PREVIOUS,
                        help="git revision whose intent classifier is the baseline")
    args = parser.parse_args(argv)
    previous = previous_classifier(args.previous)
    quality()
    hard_quality(previous)
    stage_speed(args.reps, previous)
    hostile_speed(args.reps, previous)
    faq_speed(args.reps)


if __name__ == "__main__":
    main(sys.argv[1:])
