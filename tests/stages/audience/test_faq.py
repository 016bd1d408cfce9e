from __future__ import annotations

from pathlib import Path

import pytest

from livepilot.errors import RulesError
from livepilot.stages.audience.faq import FaqFile, KnowledgeBase, check_faq, load_faq

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shop() -> KnowledgeBase:
    return load_faq(ROOT / "rules" / "faq.yaml")


@pytest.fixture(scope="module")
def town() -> KnowledgeBase:
    return load_faq(ROOT / "rules" / "faq-behoerde.yaml")


def entry(kb: KnowledgeBase, text: str) -> str | None:
    found = kb.match(text)
    return None if found is None else found.entry


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("wie lange dauert der versand", "versand"),
        ("wie lange dauert der versnad", "versand"),  # typo
        ("Was kostet der Versand?", "versandkosten"),
        ("ist der versand kostenlos?", "versandkosten"),
        ("liefert ihr in die schweiz", "ausland"),
        ("wie kann ich bestellen", "bestellen"),
        ("link?", "link"),
        ("kann man mit paypal zahlen", "zahlung"),
        ("gibts heute nen rabattcode??", "rabattcode"),
        ("fällt der ring klein aus", "groessen"),
        ("kann ich das zurückschicken wenn es nicht passt", "ruecksendung"),
        ("mein paket ist immer noch nicht da", "sendungsstatus"),
        # no entry fits: no suggestion rather than a wrong one
        ("Was kostet das?", None),
        ("was kostet der hoodie", None),
        ("wie alt bist du", None),
        ("hallo", None),
        ("was für musik ist das", None),
    ],
)
def test_shop_questions(shop: KnowledgeBase, question: str, expected: str | None) -> None:
    assert entry(shop, question) == expected


def test_match_carries_answer_confidence_links_and_example(shop: KnowledgeBase) -> None:
    found = shop.match("wie lange dauert der versand??")
    assert found is not None
    assert found.answer.startswith("Wir verschicken innerhalb von 1–2 Werktagen")
    assert found.confidence == 1.0
    assert found.links == ("https://nordlicht-shop.example/versand",)
    assert found.example == "Wie lange dauert der Versand?"
    typo = shop.match("wie lange dauert der versnad")
    assert typo is not None and 0.6 <= typo.confidence < found.confidence


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("wie bekomme ich einen termin", "termin"),
        ("perso beantragen was brauch ich", "personalausweis"),
        ("sperrmüll anmelden", "sperrmuell"),
        ("hund anmelden kosten", "hundesteuer"),
        ("schlagloch in der hauptstraße", "maengelmelder"),
        ("wie ist das wetter", None),
    ],
)
def test_authority_questions(town: KnowledgeBase, question: str, expected: str | None) -> None:
    assert town.tone == "Sie"
    assert entry(town, question) == expected


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
tone: du
entries:
  - id: versand
    questions: ["Wie lange dauert der Versand?"]
    answer: 2–3 Tage mit DHL.
"""


def test_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    write(path, GOOD.replace("    answer: 2–3 Tage mit DHL.\n", ""))
    with pytest.raises(RulesError, match=r"faq\.yaml: entries\[0\] 'versand': "
                       r"field 'answer': Field required"):
        load_faq(path)
    write(path, GOOD + "    anwser: typo\n")
    with pytest.raises(RulesError, match=r"entries\[0\] 'versand': unknown field 'anwser'"):
        load_faq(path)
    write(path, GOOD + "    links: [dhl.de]\n")
    with pytest.raises(
        RulesError, match=r"faq\.yaml: entries\[0\]\.links\[0\] 'dhl\.de': String should match"
    ):
        load_faq(path)
    write(path, GOOD.replace("tone: du", "tone: ihr"))
    with pytest.raises(RulesError, match=r"faq\.yaml: tone: .*got 'ihr'"):
        load_faq(path)
    write(path, GOOD + GOOD.split("entries:\n")[1])
    with pytest.raises(RulesError, match="entry id 'versand' appears twice"):
        load_faq(path)
    write(path, "tone: du\nentries: [")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_faq(path)
    with pytest.raises(RulesError, match="cannot read"):
        load_faq(tmp_path / "missing.yaml")


def test_sie_tone_rejects_du_answers(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.yaml", GOOD.replace("tone: du", "tone: Sie").replace(
        "2–3 Tage mit DHL.", "Dein Paket kommt in 2–3 Tagen."))
    with pytest.raises(RulesError, match=r"entry 'versand': answer says 'Dein' but the tone is"):
        load_faq(path)


def test_many_entries_still_find_the_right_one(shop: KnowledgeBase) -> None:
    extra = [
        e.model_copy(update={"id": f"{e.id}-{n}", "questions": tuple(
            f"{q} {topic}" for q in e.questions)})
        for n, topic in enumerate(["ring", "kette", "hoodie", "tasse", "kerze"] * 7)
        for e in shop.faq.entries
    ]
    big = FaqFile(tone="du", entries=(*shop.faq.entries, *extra)).build()
    assert len(big) > 500
    found = big.match("wie lange dauert der versand der kerze")
    assert found is not None and found.entry.startswith("versand-") and found.entry != "versand"
    assert "kerze" in found.example


def test_check_reports_the_file_and_sample_answers(tmp_path: Path) -> None:
    report = check_faq(ROOT / "rules" / "faq-behoerde.yaml", ["perso beantragen", "wetter?"])
    lines = report.splitlines()
    assert lines[0].endswith("faq-behoerde.yaml: 12 entries, tone Sie, language de, "
                             "min_confidence 0.6")
    assert lines[1].startswith("'perso beantragen' → personalausweis (")
    assert lines[1].endswith("…") and len(lines[1]) < 120
    assert lines[2] == "'wetter?' → no suggestion"
    with pytest.raises(RulesError):
        check_faq(write(tmp_path / "faq.yaml", "tone: du\n"))
