"""Every code a stage can say has words in both console catalogues, with exactly its params.

The codes a stage can emit are found two ways: the registry (``livepilot.texts.CODES``,
which ``say`` enforces at run time) and a walk over the source of every stage, the ML
policy and the pipeline core, which reads each ``say(...)`` call's code. A literal code
must be registered; a computed one must be one of the few known shapes below, and every
value it can take is checked too.
"""

from __future__ import annotations

import ast
import json
import re
import string
from importlib import resources
from pathlib import Path

import pytest

from livepilot.insights import Alarm, Insight, Prompt
from livepilot.pipeline.stage import reason_of
from livepilot.stages.audience import questions
from livepilot.stages.audience.intent_rules import load_intent_rules
from livepilot.stages.moderation import raid
from livepilot.stages.show.prompts import TEMPLATES
from livepilot.texts import CODES, Phrase, say, wire_params
from livepilot.wire import decode, encode

SRC = Path(__file__).resolve().parents[1] / "src" / "livepilot"
WALKED = [SRC / "stages", SRC / "ml", SRC / "pipeline"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(lang: str) -> dict[str, str]:
    raw = resources.files("livepilot.server").joinpath("static", "i18n", f"{lang}.json")
    words: dict[str, str] = json.loads(raw.read_text(encoding="utf-8"))
    return words


def _lead_kinds() -> list[str]:
    rules_dir = Path(__file__).resolve().parents[1] / "rules"
    return list(load_intent_rules(rules_dir / "intents.yaml")[0].lead)


#: Computed codes in the source (an f-string's constant head) → every value it can take.
DYNAMIC: dict[str, list[str]] = {
    "prompt.": [f"prompt.{key}" for key in TEMPLATES["de"]],
    "prompt.lead_": [f"prompt.lead_{kind}" for kind in questions._LEAD_PROMPTS["de"]],
    "alarm_text.": ["alarm_text.chat_rate_drop", "alarm_text.like_rate_drop"],
    "promo.": [f"promo.{key}" for key in raid._PROMO_CODES.values()],
}


def said_codes() -> tuple[set[str], list[str]]:
    """Codes written at ``say(…)``/``said(…)`` calls, and calls whose code is unknown."""
    found: set[str] = set()
    unknown: list[str] = []
    for root in WALKED:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("say", "said") and node.args):
                    continue
                code = node.args[0]
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    found.add(code.value)
                elif isinstance(code, ast.JoinedStr) and isinstance(code.values[0], ast.Constant):
                    head = str(code.values[0].value)
                    if head in DYNAMIC:
                        found.update(DYNAMIC[head])
                    else:
                        unknown.append(f"{where}: computed code starting {head!r}")
                else:
                    unknown.append(f"{where}: a code that is not a string")
    return found, unknown


def test_every_code_the_stages_say_is_registered() -> None:
    found, unknown = said_codes()
    assert unknown == []
    assert len(found) > 60  # the walk really found the stages' calls
    assert sorted(found - set(CODES)) == []
    # and nothing registered is dead: each code is said somewhere
    assert sorted(set(CODES) - found) == []


@pytest.mark.parametrize("lang", ["de", "en"])
def test_both_catalogues_have_every_code_with_exactly_its_params(lang: str) -> None:
    words = catalogue(lang)
    missing = sorted(code for code in CODES if code not in words)
    assert missing == [], f"{lang}.json lacks {missing}"
    wrong = []
    for code, names in CODES.items():
        for key in (code, code + "_one"):
            if key in words and set(PLACEHOLDER.findall(words[key])) - {"n"} != set(names) - {
                "n"
            }:
                wrong.append((key, words[key], names))
            if key in words and "n" in names and "{n}" not in words[code]:
                wrong.append((key, words[key], names))
    assert wrong == []


def test_host_prompts_read_the_same_on_the_console_as_on_the_server() -> None:
    """The catalogue's prompt words are the server's own templates, so a German console
    shows a German host's prompt word for word."""
    for lang in ("de", "en"):
        words = catalogue(lang)
        for key, template in TEMPLATES[lang].items():
            assert words[f"prompt.{key}"] == template, (lang, key)
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
            assert set(names) == set(CODES[f"prompt.{key}"]), key
        for kind, template in questions._LEAD_PROMPTS[lang].items():
            assert words[f"prompt.lead_{kind}"] == template, (lang, kind)


def test_every_lead_kind_has_a_name_and_its_own_prompt() -> None:
    for lang in ("de", "en"):
        words = catalogue(lang)
        for kind in _lead_kinds():
            assert f"kind.{kind}" in words, (lang, kind)
            assert kind in questions._LEAD_PROMPTS[lang], (lang, kind)


def test_say_refuses_an_unregistered_code_or_wrong_params() -> None:
    with pytest.raises(KeyError):
        say("reason.no_such_thing", "x")
    with pytest.raises(KeyError):
        say("reason.link", "link to x")  # its param is missing
    with pytest.raises(KeyError):
        say("reason.link", "link to x", target="x", extra=1)


def test_a_phrase_is_its_prose_and_carries_its_code() -> None:
    tail = say("reason.raid_joined", ", 4 joined just before", n=4)
    raid = say("reason.raid", f"raid: 9 accounts posted this within 3 s, 8 of them new to "
               f"the chat{tail}", n=9, s=3, new=8, joined=tail, promotes="")
    assert isinstance(raid, Phrase) and raid.code == "reason.raid"
    assert raid == "raid: 9 accounts posted this within 3 s, 8 of them new to the chat, " \
                   "4 joined just before"
    assert wire_params(raid.params)["joined"] == {
        "code": "reason.raid_joined", "params": {"n": 4}, "text": ", 4 joined just before"
    }


def test_a_coded_reason_alarm_and_prompt_cross_the_wire_intact() -> None:
    hit = say("reason.word_fuzzy", "matched 'hurensohn' after normalising 'h*rensohn' "
              "(fuzzy 92) — insult, high severity", word="hurensohn", seen="h*rensohn",
              score=92, kind="insult", severity="high")
    insight = Insight(event_id="e1", stream="s", reasons=(reason_of("word_filter", hit),))
    back = decode(encode(insight))
    assert isinstance(back, Insight)
    assert back.reasons[0].code == "reason.word_fuzzy"
    assert back.reasons[0].params["score"] == 92 and back.reasons[0].text == hit
    plain = Insight(event_id="e2", stream="s", reasons=(reason_of("x", "free text"),))
    assert "code" not in encode(plain) and "params" not in encode(plain)  # old shape
    alarm = Alarm(id="a", stream="s", kind="raid", source="spam", at=1.0, message="m",
                  code="alarm_text.raid_why_ended")
    prompt = Prompt(id="p", stream="s", source="questions", at=1.0, text="3 …",
                    code="prompt.lead_price", params={"n": 3})
    assert decode(encode(alarm)) == alarm and decode(encode(prompt)) == prompt
