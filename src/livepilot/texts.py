"""Stable codes for the words livepilot writes: reasons, alarm messages, host prompts.

A stage writes prose ("matched 'h*rensohn' (fuzzy 92) — insult, high severity") for logs,
the API and old clients, and next to it a :class:`Phrase`'s ``code`` and ``params``
(``reason.word_fuzzy``, ``{"word": "h*rensohn", "score": 92, …}``). The console looks the
code up in its catalogue (``server/static/i18n/{de,en}.json``: the code *is* the key) and
fills ``{name}`` placeholders with the params, so a German moderator reads German whatever
language the stage wrote in.

:data:`CODES` is the one registry of every code a stage may emit and the params it carries;
:func:`say` refuses anything else, and a test checks that both catalogues have every code
with exactly these placeholders. A param may itself be a :class:`Phrase` (an optional tail
such as "— next: 'Q&A'"), sent as a nested ``{code, params, text}`` object; an absent
optional part is the empty string; a ``{"de": …, "en": …}`` param is a rules text written
in both languages (the console shows its own). Params named ``kind``, ``severity``, ``step``,
``label`` and ``how`` are codes the catalogue also translates (``kind.insult``).

This module imports nothing else of livepilot: the pipeline core and every stage package
may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

__all__ = ["CODES", "Param", "Phrase", "say", "wire_params"]

Param: TypeAlias = "str | int | float | Phrase | Mapping[str, str]"


def _codes(table: dict[str, str]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({code: tuple(names.split()) for code, names in table.items()})


#: code → the names of its params, in the order the prose mentions them.
CODES: Mapping[str, tuple[str, ...]] = _codes({
    # word filter
    "reason.word": "word kind severity",
    "reason.word_normalised": "word seen kind severity",
    "reason.word_fuzzy": "word seen score kind severity",
    "reason.word_masked": "word seen how kind severity",
    "reason.word_regex": "word seen kind severity",
    "reason.word_username": "user hit",
    "reason.more_matches": "n",
    # spam
    "reason.caps": "share n",
    "reason.run": "text n",
    "reason.symbols": "symbols n",
    "reason.same_word": "word n",
    "reason.link": "target",
    "reason.phone": "number",
    "reason.rate": "user n s",
    "reason.repeat": "user n min similarity",
    # raid
    "reason.raid_member": "user n text",
    "reason.raid": "n s new joined promotes",
    "reason.raid_joined": "n",
    "reason.raid_promotes": "what",
    "promo.free": "",
    "promo.follow": "",
    "promo.follow_me": "",
    "promo.profile": "",
    "promo.write_me": "",
    "promo.visit": "",
    "promo.link": "",
    "promo.phone": "",
    "promo.other": "text",
    "promo.and": "a b",
    "alarm_text.raid_raised": "n text s joined promotes",
    "alarm_text.raid_joined": "n",
    "alarm_text.raid_promotes": "what",
    "alarm_text.raid_cleared": "why n messages s",
    "alarm_text.raid_why_quiet": "s",
    "alarm_text.raid_why_ended": "",
    # toxicity model
    "reason.word_filter_hit": "kind",
    "reason.german_model": "score kind",
    "reason.model": "model score kind",
    "alarm_text.overload_raised": "n",
    "alarm_text.overload_cleared": "n",
    # strikes and blocks
    "reason.strike": "user score hits step past",
    "reason.strike_hits": "n",
    "reason.strike_hits_in": "n min",
    "reason.strike_hits_earlier": "",
    "reason.strike_past": "n streams",
    "reason.strike_decay": "user score",
    "reason.blocked": "user by",
    # questions, leads, feedback
    "reason.faq": "entry score",
    "reason.asked": "n text",
    "reason.claimed": "id by",
    "reason.answered": "id by s",
    "reason.dismissed": "id by",
    "reason.question_refused": "action by error",
    "reason.intent": "label phrase",
    "reason.intent_kind": "label kind phrase",
    "reason.lead": "kind phrase",
    "prompt.lead_price": "n",
    "prompt.lead_availability": "n",
    "prompt.lead_shipping": "n",
    "prompt.lead_how_to_order": "n",
    "prompt.lead_link": "n",
    "prompt.lead_discount": "n",
    "prompt.lead_bulk": "n",
    "prompt.lead_collab": "n",
    "prompt.lead_purchase": "n",
    "prompt.lead_product": "n",
    "prompt.lead_other": "n topic",
    "prompt.asked": "n text",
    "prompt.tech": "n what hint",
    "alarm_text.tech_raised": "n what s",
    "alarm_text.tech_cleared": "what",
    # engagement alarms
    "alarm_text.chat_back": "",
    "alarm_text.stream_state": "state",
    "alarm_text.viewer_counts_missing": "",
    "alarm_text.viewers_steady": "n",
    "alarm_text.viewer_drop": "pct span before after",
    "alarm_text.dead_air": "s viewers",
    "alarm_text.rate_back": "now",
    "alarm_text.chat_rate_drop": "now base",
    "alarm_text.like_rate_drop": "now base",
    "alarm_text.negative_down": "pct",
    "alarm_text.shitstorm": "n messages pct",
    # gifts and giveaways
    "alarm_text.gift_moment": "user gift count diamonds top",
    "alarm_text.gift_top": "",
    "alarm_text.gift_next": "",
    "alarm_text.gift_over": "",
    "alarm_text.giveaway_open": "keyword",
    "alarm_text.giveaway_winner": "user",
    "alarm_text.giveaway_replaced": "",
    # host prompts of the show stages (stages/show/prompts.py TEMPLATES, key → prompt.key)
    "prompt.fallback_question": "",
    "prompt.fallback_crisis": "",
    "prompt.dead_air": "seconds question",
    "prompt.viewer_drop_poll": "pct span before after poll",
    "prompt.viewer_drop": "pct span before after question",
    "prompt.chat_rate_drop": "now base question",
    "prompt.like_rate_drop": "now base",
    "prompt.shitstorm": "pct plan",
    "prompt.raid": "members text",
    "prompt.top_gifter": "user diamonds",
    "prompt.big_gift": "user gift diamonds",
    "prompt.thanks_streak": "user gift count",
    "prompt.thanks": "user gift",
    "prompt.thanks_many": "names more",
    "prompt.thanks_more": "count",
    "prompt.greet": "count names",
    "prompt.questions": "count topic",
    "prompt.questions_any": "count",
    "prompt.segment_start": "name minutes points",
    "prompt.segment_ending": "name minutes after",
    "prompt.segment_after": "next",
    "prompt.segment_overrun": "name minutes after",
    "prompt.segment_overrun_after": "next",
    "prompt.cta": "text",
    "prompt.poll_result": "question results",
    "prompt.giveaway_winner": "user entries",
})


class Phrase(str):
    """Prose that also knows its code: a ``str`` (so logs, comparisons and old callers
    see the English text unchanged) with ``code`` and ``params`` attached."""

    code: str
    params: Mapping[str, Param]

    def __new__(cls, text: str, code: str, params: Mapping[str, Param]) -> Phrase:
        said = super().__new__(cls, text)
        said.code = code
        said.params = params
        return said

    @property
    def text(self) -> str:
        return str.__str__(self)

    def __getnewargs__(self) -> tuple[str, str, dict[str, Param]]:  # type: ignore[override]
        return self.text, self.code, dict(self.params)

    def __repr__(self) -> str:
        return f"Phrase({self.text!r}, {self.code!r}, {dict(self.params)!r})"

    def wire(self) -> dict[str, Any]:
        """The nested wire form of a phrase used as a param."""
        return {"code": self.code, "params": wire_params(self.params), "text": self.text}


def say(code: str, text: str, /, **params: Param) -> Phrase:
    """``text`` with its ``code``; raises ``KeyError`` for a code or params not in
    :data:`CODES` (a programming error, caught by the tests of the stage that says it)."""
    names = CODES[code]
    if len(params) != len(names) or any(name not in params for name in names):
        raise KeyError(f"{code} takes params {names}, got {tuple(params)}")
    return Phrase(text, code, params)


def wire_params(params: Mapping[str, Param]) -> dict[str, Any]:
    """Params as JSON values (a nested phrase becomes ``{code, params, text}``)."""
    return {
        k: v.wire() if isinstance(v, Phrase) else dict(v) if isinstance(v, Mapping) else v
        for k, v in params.items()
    }
