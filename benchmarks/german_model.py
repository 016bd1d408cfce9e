"""German toxicity model: cost per chat message on one core, batched and alone.

    python benchmarks/german_model.py [--messages 4000] [--repeat 5]

Chat comes from the seeded simulator (German-first chat with English, emotes, insults).
Rows, each median [min–max] over repetitions, pinned to one core:

* baseline: normalisation + tokenisation only (what any text model pays first);
* the model with a cold feature memo (a fresh instance; every word is new to it) and warm
  (the same messages again, as on a live stream where chat vocabulary repeats);
* one message per call (what the stage does inline) and batches of 32 / 256;
* language routing, and the whole ``toxicity`` stage ``process()`` per message, with the
  German model in the lane (the default: it runs off the loop) and inline.

Budget: ≤ 0.2 ms per message batched.

    python benchmarks/german_model.py --cv DATA_DIR [--folds 5] [--jobs 1]

instead cross-validates the training recipe against the plain TF-IDF logistic regression
on identical folds in the same run (GermEval 2018 training split in ``DATA_DIR``, plus the
chat lines, which are folded too) and exits non-zero unless the recipe's macro-F1 beats
the baseline's on the tweets and on the chat lines. The ``with_chat_chosen_mix`` row is
the same fitted regressions with their mix chosen inside each training fold (nested; not
adopted, see the model card).
Needs scikit-learn; takes about 25 CPU-minutes (``--jobs 5``: the folds run at once in
worker processes, same result).

    python benchmarks/german_model.py --dev DATA_DIR

scores the shipped model (with the shipped allow-list, as the stage loads it) on the
development set ``tests/data/dev_de_chat.tsv`` per category, beside the baseline trained
on the same rows (GermEval training split and chat lines) in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from livepilot.events import ChatEvent
from livepilot.metrics import Metrics
from livepilot.ml.german import GermanModel
from livepilot.ml.language import LanguageRouter
from livepilot.ml.text import normalize, tokens
from livepilot.pipeline.context import StageContext
from livepilot.pipeline.stage import Draft
from livepilot.settings import Settings
from livepilot.sources.simulator import Simulator
from livepilot.stages.moderation.toxicity import ToxicityStage, build


async def _chat(count: int) -> list[ChatEvent]:
    out: list[ChatEvent] = []
    async for event in Simulator("bench", seed=7, speed=0, duration=36_000, start=0).events():
        if isinstance(event, ChatEvent):
            out.append(event)
            if len(out) == count:
                break
    return out


def _timed(fn: Callable[[], object], n: int, repeat: int) -> list[float]:
    """µs per message for each repetition."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return runs


def _batches(model: GermanModel, texts: Sequence[str], size: int) -> None:
    for i in range(0, len(texts), size):
        model.scores(texts[i : i + size])


def _process(stage: ToxicityStage, events: Sequence[ChatEvent]) -> None:
    """The stage's ``process()`` per message; the lane's queue is emptied every 32
    messages, as its worker would, so the offers are accepted rather than shed."""
    for i, event in enumerate(events):
        stage.process(event, Draft(event=event, now=0.0))
        if i % 32 == 31 and stage._batcher is not None:
            stage._batcher.take_all()


def _cv(data_dir: Path, folds: int, jobs: int) -> int:
    """Cross-validated macro-F1 of the recipe against the baseline; 1 if it is not above."""
    from livepilot.ml import train_german as tg

    here = Path(tg.__file__).parent
    extra = tg._concat(tg.load_lines(here / "chat_friendly.txt", offensive=False),
                       tg.load_lines(here / "chat_offensive.txt", offensive=True))
    result = tg.cross_validate(tg.load_germeval(data_dir), extra=extra, folds=folds,
                               jobs=jobs)
    print(f"{folds}-fold CV, identical folds; macro-F1 (per-fold spread on the tweets)\n")
    print("| model | tweets macro-F1 [min–max fold] | chat lines macro-F1 | "
          "chat: harmless flagged | chat: offensive caught |")
    print("|---|---|---|---|---|")
    for name in ("baseline", "with_chat", "with_chat_chosen_mix"):
        r, chat, fold = result[name], result[name]["chat"], result["fold_macro_f1"][name]
        print(f"| {name} | {r['macro_f1']:.3f} [{min(fold):.3f}–{max(fold):.3f}] | "
              f"{chat['macro_f1']:.3f} | {1 - chat['other_recall']:.1%} | "
              f"{chat['offense_recall']:.1%} |")
    print("\nwith_chat_chosen_mix: NB-LR weight (short / long texts) chosen per fold:",
          ", ".join(f"{s:.1f}/{lo:.1f}" for s, lo in result["fold_mix"]["with_chat"]))
    ours, base = result["with_chat"], result["baseline"]
    better = ours["macro_f1"] > base["macro_f1"] and \
        ours["chat"]["macro_f1"] > base["chat"]["macro_f1"]
    print("\nrecipe above baseline:", "yes" if better else "NO")
    return 0 if better else 1


def _dev(data_dir: Path) -> None:
    """Share flagged (score ≥ 0.5) per category of the development set: shipped model and
    the baseline trained on the same rows."""
    from collections import defaultdict

    import numpy as np

    from livepilot.ml import train_german as tg
    from livepilot.stages.moderation.rules import load_word_packs

    root = Path(__file__).parents[1]
    rows = [ln.split("\t") for ln in (root / "tests" / "data" / "dev_de_chat.tsv")
            .read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    packs = [p for p in sorted((root / "rules").glob("*.yaml")) if "\nallow:" in p.read_text()]
    allow = {t for _, pack in load_word_packs(packs) for t in pack.allow}
    texts = [text for _, _, text in rows]
    here = Path(tg.__file__).parent
    train = tg._concat(tg.load_germeval(data_dir), tg._concat(
        tg.load_lines(here / "chat_friendly.txt", offensive=False),
        tg.load_lines(here / "chat_offensive.txt", offensive=True)))
    dev = tg.Corpus(texts, np.asarray([int(lab) for lab, _, _ in rows]), ["other"] * len(rows))
    flagged = {"shipped": GermanModel.load(allow=allow).scores(texts) >= 0.5,
               "baseline": tg._baseline_pred(train, dev)}
    print(f"development set: {len(rows)} lines; share flagged (score ≥ 0.5)\n")
    print("| label | category | lines | baseline | shipped |\n|---|---|---|---|---|")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (label, category, _) in enumerate(rows):
        groups[("harmful" if label == "1" else "innocent", category)].append(i)
        groups[("harmful" if label == "1" else "innocent", "all")].append(i)
    for (label, category), idx in sorted(groups.items()):
        cells = " | ".join(f"{flagged[m][idx].mean():.1%}" for m in ("baseline", "shipped"))
        print(f"| {label} | {category} | {len(idx)} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cv", type=Path, metavar="DATA_DIR",
                        help="cross-validate against the baseline instead of timing")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1,
                        help="with --cv: folds run at once in worker processes (same result)")
    parser.add_argument("--dev", type=Path, metavar="DATA_DIR",
                        help="score the development set (baseline trained on DATA_DIR)")
    args = parser.parse_args()
    if args.dev is not None:
        _dev(args.dev)
        return
    if args.cv is not None:
        sys.exit(_cv(args.cv, args.folds, args.jobs))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    events = asyncio.run(_chat(args.messages))
    texts = [e.text for e in events]
    n, r = len(texts), args.repeat
    rows: dict[str, list[float]] = {}

    rows["baseline: normalise + tokenise only"] = _timed(
        lambda: [tokens(normalize(t)) for t in texts], n, r
    )
    for size in (1, 32, 256):
        cold: list[float] = []
        for _ in range(r):
            fresh = GermanModel.load()
            cold += _timed(lambda m=fresh, s=size: _batches(m, texts, s), n, 1)  # type: ignore[misc]
        rows[f"German model, cold memo, batch {size}"] = cold
    model = GermanModel.load()
    _batches(model, texts, 256)
    for size in (1, 32, 256):
        rows[f"German model, warm memo, batch {size}"] = _timed(
            lambda s=size: _batches(model, texts, s), n, r  # type: ignore[misc]
        )
    router = LanguageRouter()
    router.load()
    rows["language routing"] = _timed(lambda: [router.route(t) for t in texts], n, r)
    for inline, name in ((False, "German model in the lane (default): routing + policy + "
                                 "offer"),
                         (True, "German model inline: routing + model + policy")):
        stage = build(StageContext(Settings(toxicity_german_inline=inline), Metrics()))
        rows[f"toxicity stage process(), {name}"] = _timed(
            lambda st=stage: _process(st, events), n, r  # type: ignore[misc]
        )

    scores = model.scores(texts)
    base = statistics.median(rows["baseline: normalise + tokenise only"])
    print(f"{n} simulated chat messages, one core, {r} repetitions; "
          f"{(scores >= 0.5).mean():.1%} scored ≥ 0.5; "
          f"1-minute load average {os.getloadavg()[0]:.1f}\n")
    print("| what | µs/msg median [min–max] | msg/s (1 core) | × baseline |")
    print("|---|---|---|---|")
    for name, runs in rows.items():
        med = statistics.median(runs)
        print(f"| {name} | {med:,.1f} [{min(runs):,.1f}–{max(runs):,.1f}] | "
              f"{1e6 / med:,.0f} | {med / base:.1f} |")


if __name__ == "__main__":
    main()
