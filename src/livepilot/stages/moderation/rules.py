"""Moderation rule files: YAML in ``rules/``, validated into frozen models.

Three kinds of file, each with its own model:

* word packs (``rules/de.yaml``, ``rules/en.yaml``, ``rules/custom.yaml`` and an optional
  ``rules/streams/<stream>.yaml``): block terms with a category and a severity, allow-list
  terms, regex rules — :class:`WordPack`;
* spam settings (``rules/spam.yaml``) — :class:`SpamRules`;
* the strike ladder (``rules/moderation.yaml``) — :class:`StrikeRules`.

Every loading error is a :class:`~livepilot.errors.RulesError` whose message names the
file, the rule (index and term) and the field, e.g.
``rules/de.yaml: block[3] term 'hure': field 'severity': 'hihg' is not one of low, medium,
high``. The stages hold what they build from these files in a
:class:`~livepilot.pipeline.reload.HotReload`. See ``docs/rules.md`` for the file format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from livepilot.insights import Action
from livepilot.stages.moderation import safe_regex
from livepilot.yamlfile import load_model

__all__ = [
    "DEFAULT_WORD_PACKS",
    "RULES_FILE",
    "BlockRule",
    "Category",
    "MatchMode",
    "RaidRules",
    "RegexRule",
    "RuleSeverity",
    "SpamRules",
    "StrikeRules",
    "StrikeStep",
    "WordPack",
    "load_word_packs",
    "word_pack_paths",
]

#: What error messages call these files: ``rules/spam.yaml: cannot read rules file: …``.
RULES_FILE = "rules file"

#: The word packs a stream uses, in load order, unless settings name others.
DEFAULT_WORD_PACKS = ("de", "en", "custom")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Category(StrEnum):
    INSULT = "insult"
    SLUR = "slur"
    THREAT = "threat"
    SEXUAL = "sexual"
    PROFANITY = "profanity"
    SPAM = "spam"


class RuleSeverity(StrEnum):
    """How bad a match is. ``low`` → review; ``medium`` and ``high`` → hide."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class MatchMode(StrEnum):
    """Where a term may match inside a word.

    ``word``: the whole word only. ``prefix``: the start of a word (``fick`` → ``ficken``).
    ``substring``: anywhere in a word (``hurensohn`` → ``duhurensohn``). ``auto``: substring
    for terms of 6 or more letters, whole word below. Allow-list terms always win over a
    prefix or substring match they cover (``fick`` in ``fickmuehlen``).
    """

    AUTO = "auto"
    WORD = "word"
    PREFIX = "prefix"
    SUBSTRING = "substring"


def _check_term(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("empty term")
    if not re.search(r"\w", value):
        raise ValueError(f"term {value!r} has no letters")
    return value


class BlockRule(_Frozen):
    """One block term (``term``) or a group of terms (``terms``) sharing their settings."""

    term: str | None = None
    terms: tuple[str, ...] = ()
    category: Category
    severity: RuleSeverity = RuleSeverity.HIGH
    match: MatchMode = MatchMode.AUTO
    #: Also match misspellings (rapidfuzz ratio ≥ the pack's ``fuzzy_cutoff``). Default:
    #: on for ``substring`` terms of 7+ letters, off otherwise (short words collide with
    #: ordinary ones: ``Anker``/``wanker``, ``Busen``/``bumsen``).
    fuzzy: bool | None = None
    note: str = ""

    @field_validator("term")
    @classmethod
    def _term(cls, value: str | None) -> str | None:
        return None if value is None else _check_term(value)

    @field_validator("terms")
    @classmethod
    def _terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for index, term in enumerate(value):
            try:
                out.append(_check_term(term))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return tuple(out)

    @model_validator(mode="after")
    def _one_of(self) -> BlockRule:
        if (self.term is None) == (not self.terms):
            raise ValueError("give exactly one of 'term' or 'terms'")
        return self

    @property
    def all_terms(self) -> tuple[str, ...]:
        return (self.term,) if self.term is not None else self.terms


class RegexRule(_Frozen):
    """A regular expression, searched in the normalised message (lower case, umlauts as
    ae/oe/ue, leetspeak undone, one space between words) or in the ``raw`` text."""

    name: str = Field(min_length=1)
    pattern: str = Field(min_length=1)
    category: Category
    severity: RuleSeverity = RuleSeverity.HIGH
    input: Literal["normalised", "raw"] = "normalised"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        # Rule regexes run on RE2 (linear time in the message); check() says what it refuses.
        return safe_regex.check(value)


class WordPack(_Frozen):
    """One word-filter rule pack (one YAML file)."""

    language: str | None = None
    description: str = ""
    #: rapidfuzz ``ratio`` a word must reach to count as a misspelling of a term.
    fuzzy_cutoff: float = Field(default=88.0, ge=70, le=100)
    block: tuple[BlockRule, ...] = ()
    allow: tuple[str, ...] = ()
    regex: tuple[RegexRule, ...] = ()

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_term(v) for v in value)

    @model_validator(mode="after")
    def _no_duplicates(self) -> WordPack:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.block):
            for term in rule.all_terms:
                key = term.casefold()
                if key in seen:
                    raise ValueError(
                        f"block[{index}] term {term!r}: duplicate term, already in "
                        f"block[{seen[key]}]"
                    )
                seen[key] = index
        names: set[str] = set()
        for index, rx in enumerate(self.regex):
            if rx.name in names:
                raise ValueError(f"regex[{index}] name {rx.name!r}: duplicate rule name")
            names.add(rx.name)
        return self


class SpamCheck(_Frozen):
    enabled: bool = True
    action: Action = Action.HIDE


class CapsRules(SpamCheck):
    action: Action = Action.REVIEW
    min_letters: int = Field(default=12, ge=1)
    ratio: float = Field(default=0.8, gt=0, le=1)


class FloodRules(SpamCheck):
    #: The same character (emoji, "!") this many times in a row.
    max_run: int = Field(default=10, ge=2)
    #: Emoji/symbols among the non-space characters of a message of ``min_length`` or more.
    symbol_ratio: float = Field(default=0.7, gt=0, le=1)
    min_length: int = Field(default=16, ge=1)


class RepeatRules(SpamCheck):
    window_s: float = Field(default=120.0, gt=0)
    #: rapidfuzz ratio at which two messages of one user count as the same.
    similarity: float = Field(default=90.0, ge=50, le=100)
    #: This many similar messages in the window (the new one included) is spam.
    count: int = Field(default=3, ge=2)
    min_length: int = Field(default=4, ge=1)


class RaidRules(SpamCheck):
    """Raids and bot waves: near-same texts from many accounts new to the chat.

    Read only from what every platform sends (TikTok gives no account age): whether this
    is an account's first message in the stream, when it joined, the join rate, the text.
    """

    #: Near-same texts within this long are one wave; a raid is over once its waves have
    #: been quiet for this long.
    window_s: float = Field(default=30.0, gt=0, le=600)
    #: Distinct accounts a wave needs …
    min_users: int = Field(default=8, ge=2)
    #: … or this many when its text promotes something (follow @…, free coins, a link, a
    #: phone number, "check my profile").
    min_users_promo: int = Field(default=3, ge=2)
    #: Characters the normalised text needs (emoji, @handles and numbers masked): "hallo",
    #: "❤️❤️" or "first" from a hundred fans is a cheer, never a raid.
    min_length: int = Field(default=8, ge=1)
    #: Words a text that promotes nothing needs ("happy birthday lena" is a cheer).
    min_words: int = Field(default=4, ge=1)
    #: rapidfuzz ratio (0–100) at which two normalised texts count as the same.
    similarity: float = Field(default=85.0, ge=50, le=100)
    #: Share of a wave's accounts that must be new to the chat: their first message in this
    #: stream, or joined at most ``join_lead_s`` before it, or a new account (only where the
    #: platform says so). Viewers answering the host in chorus have mostly chatted before.
    new_share: float = Field(default=0.8, gt=0, le=1)
    #: A wave that promotes nothing also needs arrivals: this share of its accounts joined
    #: at most ``join_lead_s`` before posting (or are new accounts), or a join burst.
    join_share: float = Field(default=0.5, gt=0, le=1)
    join_lead_s: float = Field(default=90.0, gt=0, le=3600)
    #: A join burst: at least ``min_joins`` joins within ``window_s`` and at least
    #: ``join_surge`` times the stream's usual number (an average over the last minutes).
    min_joins: int = Field(default=15, ge=1)
    join_surge: float = Field(default=3.0, ge=1)
    #: Raise one ``raid`` alarm per raid once it has this many accounts (smaller waves are
    #: labelled and hidden, without an alarm) …
    alarm: bool = True
    alarm_users: int = Field(default=10, ge=2)
    #: … and after it clears, stay quiet this long.
    cooldown_s: float = Field(default=0.0, ge=0)
    #: Accounts remembered as having chatted in this stream: the latest ``max_chatters``
    #: always, up to twice as many (a fixed-size filter per generation; at most 1 % of
    #: first-time chatters are taken for returning ones, see docs/engagement.md).
    max_chatters: int = Field(default=200_000, ge=100)


class LinkRules(SpamCheck):
    allow_domains: tuple[str, ...] = ()


class PhoneRules(SpamCheck):
    min_digits: int = Field(default=8, ge=5)


class RateRules(SpamCheck):
    window_s: float = Field(default=10.0, gt=0)
    max_messages: int = Field(default=6, ge=1)


class SpamRules(_Frozen):
    """Spam heuristics (``rules/spam.yaml``); every field has a working default."""

    caps: CapsRules = CapsRules()
    flood: FloodRules = FloodRules()
    repeat: RepeatRules = RepeatRules()
    raid: RaidRules = RaidRules()
    link: LinkRules = LinkRules()
    phone: PhoneRules = PhoneRules()
    rate: RateRules = RateRules()
    #: Per-user state: at most this many users, forgotten after this long without a message.
    max_users: int = Field(default=50_000, ge=10)
    user_idle_s: float = Field(default=900.0, gt=0)
    #: Users with these badges are never flagged as spam (moderators post links).
    exempt_badges: tuple[str, ...] = ("moderator",)


class StrikeStep(_Frozen):
    score: float = Field(gt=0)
    action: Action


class StrikeRules(_Frozen):
    """The strike ladder (``rules/moderation.yaml``)."""

    #: A user's strike score halves after this many minutes without a new hit.
    half_life_minutes: float = Field(default=10.0, gt=0)
    #: Points per hit by label name, or ``label/kind`` for a finer weight.
    points: dict[str, float] = Field(
        default_factory=lambda: {
            "toxic": 1.0,
            "toxic/threat": 2.0,
            "toxic/slur": 2.0,
            "spam": 0.5,
            "spam/link": 1.0,
            "spam/raid": 1.0,
        }
    )
    #: A hit that only asks for review (mild words, caps) counts this fraction.
    review_factor: float = Field(default=0.5, ge=0, le=1)
    ladder: tuple[StrikeStep, ...] = (
        StrikeStep(score=1.0, action=Action.NOTE),
        StrikeStep(score=2.0, action=Action.HIDE),
        StrikeStep(score=3.0, action=Action.TIMEOUT),
        StrikeStep(score=6.0, action=Action.BLOCK),
    )
    #: From this action up, every message of the user is hidden until the score decays.
    hide_from: Action = Action.HIDE
    max_users: int = Field(default=50_000, ge=10)

    @field_validator("points")
    @classmethod
    def _points(cls, value: dict[str, float]) -> dict[str, float]:
        for key, points in value.items():
            if points < 0:
                raise ValueError(f"points for {key!r} must not be negative, got {points}")
        return value

    @model_validator(mode="after")
    def _ladder(self) -> StrikeRules:
        scores = [step.score for step in self.ladder]
        if scores != sorted(scores) or len(set(scores)) != len(scores):
            raise ValueError(f"ladder scores must increase step by step, got {scores}")
        return self


def word_pack_paths(rules_dir: Path, packs: Sequence[str], stream: str) -> list[Path]:
    """The word-pack files for a stream: each named pack, then ``streams/<stream>.yaml``."""
    paths = [rules_dir / f"{name}.yaml" for name in packs]
    paths.append(rules_dir / "streams" / f"{stream}.yaml")
    return paths


def load_word_packs(paths: Sequence[Path]) -> list[tuple[Path, WordPack]]:
    """Every pack that exists, validated; missing files are skipped (they may appear later)."""
    out: list[tuple[Path, WordPack]] = []
    for path in paths:
        if path.exists():
            out.append((path, load_model(path, WordPack, RULES_FILE)))
    return out
