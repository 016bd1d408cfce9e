"""The intent stage on harder chat: dialect, typos, no "?", Denglisch, purchase statements,
size/fit and product questions, short tech reports, and look-alikes that are not intents.

``tests/data/intents_hard.tsv`` is the test set (scored, never tuned on);
``intents_hard_dev.tsv`` the development set the rules were tuned on. How both were
written: their headers and docs/questions.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from livepilot.errors import RulesError
from livepilot.events import QuestionEvent
from livepilot.insights import Insight
from livepilot.metrics import Metrics
from livepilot.pipeline.runner import Pipeline
from livepilot.stages.audience.intent import IntentStage
from livepilot.stages.audience.intent_classifier import IntentClassifier
from livepilot.stages.audience.intent_rules import (
    IntentRules,
    TechAlarmRules,
    load_intent_rules,
)
from livepilot.stages.audience.phrases import clause_starts, parse_phrase
from livepilot.stages.audience.question_queue import QuestionQueue
from livepilot.stages.audience.questions import QuestionsStage
from livepilot.stages.audience.tech_alarm import TechIssueWatch
from livepilot.testing import EventFactory, FakeClock

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules" / "intents.yaml"
DATA = ROOT / "tests" / "data"
LABELS = ("question", "lead", "tech_issue")

Rows = list[tuple[frozenset[str], str]]


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return load_intent_rules(RULES)[1]


def read(name: str) -> Rows:
    rows: Rows = []
    for number, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        truth, sep, text = line.partition("\t")
        assert sep, f"{name}:{number}: no tab between labels and text"
        gold = frozenset() if truth == "-" else frozenset(truth.split(","))
        assert gold <= set(LABELS), f"{name}:{number}: unknown label in {truth!r}"
        rows.append((gold, text))
    return rows


def labels(classifier: IntentClassifier, text: str) -> set[str]:
    return {hit.label for hit in classifier.classify(text)} & set(LABELS)


def f1_per_label(classifier: IntentClassifier, rows: Rows) -> dict[str, float]:
    scores = {}
    for label in LABELS:
        tp = fp = fn = 0
        for gold, text in rows:
            got = label in labels(classifier, text)
            want = label in gold
            tp += got and want
            fp += got and not want
            fn += want and not got
        scores[label] = 2 * tp / (2 * tp + fp + fn)
    return scores


def test_the_sets_are_large_disjoint_and_cover_every_label() -> None:
    test, dev = read("intents_hard.tsv"), read("intents_hard_dev.tsv")
    assert len(test) >= 350 and len(dev) >= 350
    assert {t for _, t in test}.isdisjoint(t for _, t in dev)
    tuned_before = {
        line.split("\t", 1)[1]
        for name in ("intent_de.tsv", "intent_en.tsv")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
        if "\t" in line and not line.startswith("#")
    }
    assert {t for _, t in test}.isdisjoint(tuned_before)
    for label in LABELS:
        assert sum(label in gold for gold, _ in test) >= 50, label
    assert sum(not gold for gold, _ in test) >= 80  # look-alikes


@pytest.mark.parametrize("name", ["intents_hard.tsv", "intents_hard_dev.tsv"])
def test_f1_per_intent_on_hard_chat(classifier: IntentClassifier, name: str) -> None:
    scores = f1_per_label(classifier, read(name))
    assert all(f1 >= 0.95 for f1 in scores.values()), scores


# -- the misses that started this: each kind once more, by name ---------------------------


@pytest.mark.parametrize(
    "text",
    [
        "is it vegan", "ist das wasserdicht", "is it waterproof", "can i pre-order",
        "kann man das vorbestellen", "do you do gift wrap", "gibts geschenkverpackung",
        "do you have bundles", "gibts ein bundle mit der kette", "ist das echtes silber",
    ],
)
def test_yes_no_product_questions_are_questions_and_leads(
    classifier: IntentClassifier, text: str
) -> None:
    assert labels(classifier, text) == {"question", "lead"}


@pytest.mark.parametrize(
    "text",
    [
        "welche größe bei 1,70", "wie fällt der aus", "fällt die hose groß aus",
        "does it run small", "what size should i get", "is it true to size",
        "ich trag sonst S passt das", "wie lang ist das kleid",
    ],
)
def test_size_and_fit_questions_are_leads(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == {"question", "lead"}


@pytest.mark.parametrize(
    "text",
    [
        "ich nehm zwei", "take my money", "hab grad bestellt", "gekauft!!", "just ordered",
        "i nimm zwoa", "hob grad bstellt", "muss ich haben", "in den warenkorb gepackt",
    ],
)
def test_purchase_statements_are_leads(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == {"lead"}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("hoasd des, du bist scho 30", {"question"}),
        ("gits das au in blau", {"question", "lead"}),
        ("wo kriag i des", {"question", "lead"}),
        ("wos kost des", {"question", "lead"}),
        ("chasch mir dr link schicke", {"question", "lead"}),
        ("hend ihr das no uf lager", {"question", "lead"}),
        ("jitt et dat och in rut", {"question", "lead"}),
        ("häs du ne hund", {"question"}),
        ("ich hätte gern zwei, wie geht das", {"question", "lead"}),
    ],
)
def test_dialect_and_clause_questions(
    classifier: IntentClassifier, text: str, want: set[str]
) -> None:
    assert labels(classifier, text) == want


@pytest.mark.parametrize(
    "text",
    ["kann nix hören", "kamera ist aus", "alles schwarz", "hängt", "ghöre nüt", "hör di ned",
     "zu leise", "kein bild"],
)
def test_short_tech_reports(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == {"tech_issue"}


@pytest.mark.parametrize(
    "text",
    ["hört ihr sie auch nicht", "ist der ton weg", "wieso ist die kamera aus",
     "laggt es bei euch auch", "can anyone else hear her", "hört ma di?"],
)
def test_questions_that_are_also_tech_reports(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == {"question", "tech_issue"}


@pytest.mark.parametrize(
    "text",
    [
        "der preis ist heiß", "the price is right haha", "hab mir grad nen döner gekauft",
        "just ordered pizza lol", "i just bought a new phone", "wer kennt's?", "wer kennts",
        "who else?", "wie geil ist das?", "how cute is that", "na und?", "oder?",
        "ton ist wieder da", "hab ton aus weil baby schläft", "mein hund ist so laut",
        "ich hab jetzt auch nen shop",
    ],
)
def test_look_alikes_are_not_intents(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "Ich habe Lauch gekauft", "hab heute Milch und Eier geholt",
        "ich hab Gemüse beim Aldi gekauft", "grad eingekauft, Kartoffeln gekauft",
        "hab das im Supermarkt gekauft", "just bought veggies", "war einkaufen, brot gekauft",
    ],
)
def test_the_weekly_shop_is_no_purchase_lead(classifier: IntentClassifier, text: str) -> None:
    assert "lead" not in labels(classifier, text)


@pytest.mark.parametrize(
    "text", ["hab grad bestellt", "hab zwei gekauft", "ich habe die kette gekauft",
             "just bought it from the link"],
)
def test_buying_what_is_on_sale_stays_a_purchase_lead(
    classifier: IntentClassifier, text: str
) -> None:
    assert "lead" in labels(classifier, text)


@pytest.mark.parametrize(
    "text", ["isst du vegan?", "how tall are you", "wie lang bist du noch live"]
)
def test_questions_about_the_host_are_not_leads(classifier: IntentClassifier, text: str) -> None:
    assert labels(classifier, text) == {"question"}


def test_product_facts_count_only_in_questions(classifier: IntentClassifier) -> None:
    assert labels(classifier, "das ist vegan 😍") == set()
    assert labels(classifier, "ist das vegan") == {"question", "lead"}
    hit = next(h for h in classifier.classify("vegan", asked=True) if h.label == "lead")
    assert hit.kind == "product"


def test_product_facts_are_no_synonyms_for_the_queue(classifier: IntentClassifier) -> None:
    assert classifier.lead_group("gold") is None
    assert classifier.lead_group("vegan") is None
    assert classifier.lead_group("sizing") == classifier.lead_group("size") is not None
    queue = QuestionQueue("test", kind_group=classifier.lead_group)
    assert queue.topic("lead", "was kostet der ring in gold") != queue.topic(
        "lead", "was kostet der ring in silber"
    )


# -- the rule syntax behind it -------------------------------------------------------------


def small(**extra: Any) -> IntentClassifier:
    data: dict[str, Any] = {
        "question": {"starts": ["*st du", "wie"], "anywhere": ["oder $"],
                     "rhetorical": ["wer kennts $"], "interjections": ["oder", "hae"]},
        "lead": {"product": ["vegan"], "how_to_order": ["gekauft", "will ich $"]},
        "ask_only": ["product"],
        "not_lead": ["nen .. gekauft"],
    }
    data.update(extra)
    return IntentRules.model_validate(data).build()


def test_end_anchor_suffix_slot_rhetorical_veto_and_ask_only() -> None:
    c = small()
    assert labels(c, "will ich") == {"lead"}
    assert labels(c, "will ich wissen") == set()
    assert labels(c, "zeigst du das") == {"question"}
    assert labels(c, "st du") == set()  # a suffix wants letters of its own before it
    assert labels(c, "das passt oder") == {"question"}
    assert labels(c, "oder?") == set()  # a reaction alone, even with the end tag
    assert labels(c, "wer kennts?") == set()
    assert labels(c, "wer kennts noch") == set()  # not rhetorical, but not a start either
    assert labels(c, "wer kennts noch?") == {"question"}  # "$": only the bare opener
    assert labels(c, "hab nen döner gekauft") == set()
    assert labels(c, "hab gekauft") == {"lead"}
    assert labels(c, "hab nen döner gekauft, und den hoodie gekauft") == {"lead"}
    assert labels(c, "vegan") == set()
    assert labels(c, "wie vegan") == {"question", "lead"}


@pytest.mark.parametrize(
    ("phrase", "error"),
    [("$", "'\\$' must follow a word"), ("ton .. $", "'\\$' must follow a word"),
     ("ton $ weg", "'\\$' \\(end of message\\) must come last"), ("*ton*", "before or after")],
)
def test_bad_anchor_and_star_phrases_say_what_is_wrong(phrase: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_phrase(phrase)


def test_an_unquoted_suffix_phrase_gets_the_fix_in_words(tmp_path: Path) -> None:
    bad = tmp_path / "intents.yaml"
    bad.write_text("question:\n  starts:\n    - *st du\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml:3: .*put the phrase in quotes"):
        load_intent_rules(bad)
    bad.write_text("question:\n  starts:\n    - '*st du'\n", encoding="utf-8")
    assert labels(load_intent_rules(bad)[1], "hast du zeit") == {"question"}


def test_ask_only_must_name_a_lead_kind(tmp_path: Path) -> None:
    bad = tmp_path / "intents.yaml"
    bad.write_text("question: {}\nlead: {price: [preis]}\nask_only: [prodcut]\n",
                   encoding="utf-8")
    with pytest.raises(RulesError, match=r"intents\.yaml: ask_only: 'prodcut' is not a lead"):
        load_intent_rules(bad)


def test_clauses_open_after_punctuation_and_line_breaks() -> None:
    assert clause_starts("ok, wie geht das") == [0, 1]
    assert clause_starts("1,70 welche größe") == [0, 1]
    assert clause_starts("a\nb!c d,, ,e") == [0, 1, 2, 4]
    assert clause_starts(",,,") == []
    assert clause_starts("a," * 10_000, limit=3) == [0, 1, 2]
    assert clause_starts("") == []


# -- several intents on one message, downstream -------------------------------------------


def _pipeline() -> tuple[Pipeline, EventFactory, FakeClock]:
    rules, c = load_intent_rules(RULES)
    clock = FakeClock()
    watch = TechIssueWatch(TechAlarmRules(), dict(rules.tech_issue))
    queue = QuestionQueue("test", kind_group=c.lead_group)
    questions = QuestionsStage("test", queue)
    return Pipeline([IntentStage(c, watch), questions], Metrics()), EventFactory(clock), clock


def _insight(out: list[Any]) -> Insight:
    return next(m for m in out if isinstance(m, Insight))


def test_an_insight_carries_several_intents_and_the_queue_files_them_once() -> None:
    pipe, events, clock = _pipeline()
    lead = _insight(pipe.handle(events.chat("anna", "is it vegan"), clock.now()))
    assert [(lb.name, lb.kind) for lb in lead.labels if lb.source == "intent"] == [
        ("question", None), ("lead", "product")
    ]
    # one queue item, filed under the lead (the more specific of the two)
    assert [lb.name for lb in lead.labels if lb.source == "questions"] == ["queued"]
    both = _insight(pipe.handle(events.chat("ben", "hört ihr sie auch nicht"), clock.now()))
    assert {lb.name for lb in both.labels if lb.source == "intent"} == {"question",
                                                                       "tech_issue"}
    # a tech report goes to the tech alarm, not the host's question queue
    assert not both.has("queued")
    native = QuestionEvent(
        id="q1", stream="test", at=clock.now(), received=clock.now(),
        user=events.user("cem"), text="wasserdicht",
    )
    asked = _insight(pipe.handle(native, clock.now()))
    assert [(lb.name, lb.kind) for lb in asked.labels if lb.source == "intent"] == [
        ("question", "qna"), ("lead", "product")
    ]


# -- hostile text ---------------------------------------------------------------------------


def _best(c: IntentClassifier, text: str, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        c.classify(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "unit",
    ["hast du, ", "wie, ", "nen döner gekauft ", "hör nix $ ", "wer kennts? ", "a,", "*st ",
     "bestellt bestellt "],
)
def test_new_rule_shapes_stay_linear_and_bounded(classifier: IntentClassifier,
                                                 unit: str) -> None:
    def text(n: int) -> str:
        return (unit * (n // len(unit) + 1))[:n]

    # best of seven: the machine is shared, and only the fastest run measures the code;
    # the slack is far below what a quadratic step would cost at these lengths
    small_t, large_t = _best(classifier, text(200)), _best(classifier, text(2_000))
    huge_t = _best(classifier, text(100_000))
    # below the analysed prefix linear; above it flat (the prefix is all that is read)
    assert large_t < 40 * small_t + 5e-3, (small_t, large_t)
    assert huge_t < 8 * large_t + 5e-3, (large_t, huge_t)
    assert huge_t < 0.25
