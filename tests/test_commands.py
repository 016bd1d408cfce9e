"""Commands are checked before they are sent: every action has a schema, and a refusal
names the field."""

from __future__ import annotations

import time

import pytest

from livepilot.commands import ACTIONS, CommandError, check_args, check_command, vote_key
from livepilot.server.auth import ACTION_GROUPS


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
        ("hide", {}),
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
        # actions that take no arguments refuse any
        ("hide", {"anything": "goes"}, "args.anything: unknown argument"),
        ("poll_close", {"force": True}, "args.force: unknown argument"),
        # every string and list is bounded
        ("answer", {"text": "x" * 2_001}, "args.text: .*at most 2000"),
        ("strike", {"handle": "h" * 81}, "args.handle: .*at most 80"),
        ("giveaway_start", {"keyword": "k", "title": "t" * 121}, "args.title: .*at most 120"),
        ("poll_start", {"question": "q" * 501, "options": ["A", "B"]}, "args.question"),
        ("poll_start", {"question": "q", "options": ["o" * 121, "B"]}, r"args.options.0"),
        ("poll_start", {"question": "q", "options": [str(i) + "x" for i in range(10)]},
         "args.options: .*at most 9"),
        ("poll_start", {"question": "q", "options": ["A", "B"], "keywords": {"A": ["a"] * 21}},
         "args.keywords.A: .*at most 20"),
        ("segment_start", {"segment": "s" * 121}, "args.segment"),
    ],
)
def test_bad_arguments_name_the_field(action: str, args: dict[str, object], message: str) -> None:
    with pytest.raises(CommandError, match=f"^{action}: .*{message}"):
        check_args(action, args)


def test_checked_arguments_are_what_the_stage_gets() -> None:
    # numbers in strings become numbers, so the stage reads the points the schema passed
    assert check_args("strike", {"points": "2", "handle": "eve"}) == {"points": 2.0,
                                                                     "handle": "eve"}
    assert check_args("poll_start", {"question": "q", "options": ("A", "B")}) == {
        "question": "q", "options": ["A", "B"]
    }
    assert check_args("segment_start", {"segment": 2}) == {"segment": 2}


@pytest.mark.parametrize(
    ("action", "target", "field", "message"),
    [
        ("send_chat", "", "action", "unknown action; known: ack_prompt, answer, approve"),
        ("frobnicate", "x", "action", "unknown action"),
        ("hide", "", "target", "required: the message"),
        ("strike", "", "target", "required: the user id"),
        ("claim", "", "target", "required: the queue item id"),
        ("ack_prompt", "", "target", "required: the prompt id"),
        ("poll_close", "demo-1", "target", "this action takes no target"),
        ("hide", "x" * 201, "target", "longer than 200 characters"),
    ],
)
def test_commands_need_a_known_action_and_the_target_it_names(
    action: str, target: str, field: str, message: str
) -> None:
    with pytest.raises(CommandError, match=f"^{action}: {field}: {message}") as refused:
        check_command(action, target, {})
    assert refused.value.field == field


def test_targets_that_are_optional_or_absent_pass() -> None:
    assert check_command("segment_start", "Intro", {}) == {}
    assert check_command("segment_next", "", {}) == {}
    assert check_command("hide", "demo-1", {}) == {}


def test_every_action_has_a_schema_and_a_role_group() -> None:
    grouped = {action for actions, _ in ACTION_GROUPS.values() for action in actions}
    assert grouped == set(ACTIONS)


def test_vote_key_strips_edges_and_folds_case() -> None:
    assert vote_key("  „Blau!!“ ") == "blau"
    assert vote_key("#Rot?") == "rot"
    assert vote_key("!!") == ""
    assert vote_key("ja, nein") == "ja, nein"


def test_vote_key_takes_time_linear_in_hostile_chat() -> None:
    # a long run of edge characters followed by a letter: a `run+$` search retries at
    # every position of the run (quadratic); anchored matching reads it once
    hostile = "a" + " " * 200_000 + "b"
    started = time.perf_counter()
    assert vote_key(hostile) == hostile
    assert time.perf_counter() - started < 0.5
