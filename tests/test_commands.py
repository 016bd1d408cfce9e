"""Command arguments are checked before a command is sent: the reason names the field."""

from __future__ import annotations

import pytest

from livepilot.commands import CommandArgsError, check_args


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("poll_start", {"question": "Farbe?", "options": ["Blau", "Rot"]}),
        ("poll_start", {"question": "Farbe?", "options": ["Blau", "Rot"],
                        "keywords": {"Blau": ["💙"]}}),
        ("poll_start", {"segment": "Produkt"}),
        ("poll_start", {"segment": 2}),
        ("giveaway_start", {"keyword": "#gewinn", "title": "Hoodie"}),
        ("segment_start", {}),
        ("segment_start", {"segment": "3"}),
        ("strike", {}),
        ("strike", {"points": 2.5, "label": "toxic", "kind": "insult", "handle": "anna"}),
        ("answer", {"text": "2–3 Tage"}),
        ("hide", {"anything": "goes"}),  # actions without arguments are not checked
    ],
)
def test_good_arguments_pass(action: str, args: dict[str, object]) -> None:
    check_args(action, args)


@pytest.mark.parametrize(
    ("action", "args", "message"),
    [
        ("poll_start", {"question": "Farbe?", "options": ["Blau"]}, "args.options: .*at least 2"),
        ("poll_start", {"question": "Farbe?", "options": ["Blau", "blau!"]}, "distinct"),
        ("poll_start", {"question": "Farbe?", "options": ["Blau", "!!"]}, "needs a word"),
        ("poll_start", {"question": "", "options": ["A", "B"]}, "args.question"),
        ("poll_start", {"question": "Farbe?", "options": ["A", "B"], "keywords": {"C": ["c"]}},
         "unknown option"),
        ("poll_start", {"question": "q", "options": ["A", "B"], "title": "x"},
         "args.title: unknown argument"),
        ("giveaway_start", {}, "args.keyword: Field required"),
        ("giveaway_start", {"keyword": "   "}, "args.keyword"),
        ("segment_start", {"segment": ["a"]}, "args.segment"),
        ("strike", {"points": -1}, "args.points: .*greater than 0"),
        ("strike", {"points": "viel"}, "args.points"),
    ],
)
def test_bad_arguments_name_the_field(action: str, args: dict[str, object], message: str) -> None:
    with pytest.raises(CommandArgsError, match=f"^{action}: .*{message}"):
        check_args(action, args)
