"""Alarm rules (``rules/alarms.yaml``): thresholds, clear levels and cool-downs.

The YAML parses into frozen models with ``extra="forbid"``, so a typo in a threshold name
is an error that names the file and the field instead of a silently ignored setting. Each
detector has its own section; anything left out keeps the documented default. A rule
raises at one threshold and clears at another (hysteresis); the
:class:`~livepilot.pipeline.alarm.AlarmLatch` behind each alarm adds ids and the cool-down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from livepilot.yamlfile import load_model_or_default

__all__ = [
    "AlarmRules",
    "DeadAirRule",
    "GiftRule",
    "GreetRule",
    "PromptRules",
    "QuestionsRule",
    "RateDropRule",
    "ShitstormRule",
    "ViewerDropRule",
    "load_alarm_rules",
]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    #: After an alarm clears, the same kind is not raised again for this long.
    cooldown_s: float = Field(default=120.0, ge=0)


class ViewerDropRule(_Rule):
    """Viewer count fell by ``drop`` (fraction) from its peak within ``window_s``."""

    window_s: int = Field(default=180, ge=10, le=3600)
    drop: float = Field(default=0.25, gt=0, lt=1)
    #: Cleared when the drop within the window is below this (hysteresis).
    clear_drop: float = Field(default=0.10, ge=0, lt=1)
    #: Ignore small rooms: the window's peak must be at least this many viewers.
    min_viewers: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _clear_below_raise(self) -> ViewerDropRule:
        if self.clear_drop >= self.drop:
            raise ValueError(f"clear_drop ({self.clear_drop}) must be below drop ({self.drop})")
        return self


class DeadAirRule(_Rule):
    """No chat message for ``after_s`` while at least ``min_viewers`` watch."""

    after_s: float = Field(default=40.0, gt=0)
    min_viewers: int = Field(default=1, ge=0)
    cooldown_s: float = Field(default=30.0, ge=0)


class RateDropRule(_Rule):
    """A per-minute rate fell to ``1 - drop`` of its baseline (EWMA over ``halflife_s``)."""

    window_s: int = Field(default=60, ge=10, le=3600)
    halflife_s: float = Field(default=300.0, gt=0)
    #: How much history the baseline needs before the rule may fire.
    warmup_s: float = Field(default=180.0, ge=0)
    drop: float = Field(default=0.5, gt=0, lt=1)
    clear_drop: float = Field(default=0.25, ge=0, lt=1)
    #: Ignore quiet streams: the baseline must be at least this many per minute.
    min_baseline: float = Field(default=6.0, ge=0)

    @model_validator(mode="after")
    def _clear_below_raise(self) -> RateDropRule:
        if self.clear_drop >= self.drop:
            raise ValueError(f"clear_drop ({self.clear_drop}) must be below drop ({self.drop})")
        return self


class ShitstormRule(_Rule):
    """The share of toxic / negative messages in ``window_s`` surged."""

    window_s: int = Field(default=60, ge=10, le=3600)
    #: Raised when the share is at least this …
    share: float = Field(default=0.30, gt=0, le=1)
    #: … and at least ``surge`` times its own baseline (the stream's usual share).
    surge: float = Field(default=2.0, ge=1)
    halflife_s: float = Field(default=600.0, gt=0)
    clear_share: float = Field(default=0.15, ge=0, le=1)
    min_messages: int = Field(default=10, ge=1)
    min_flagged: int = Field(default=5, ge=1)
    #: Labels that count as flagged (``toxic`` from the filters, ``feedback_negative``
    #: from the intent stage).
    labels: tuple[str, ...] = ("toxic", "feedback_negative")
    cooldown_s: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _clear_below_raise(self) -> ShitstormRule:
        if self.clear_share >= self.share:
            raise ValueError(
                f"clear_share ({self.clear_share}) must be below share ({self.share})"
            )
        return self


class GiftRule(_Rule):
    """Gift moments: a new top gifter or a big gift; plus thanks for smaller streaks."""

    big_gift_diamonds: int = Field(default=1000, ge=1)
    #: A new top gifter is announced once their total reaches this.
    top_gifter_min_diamonds: int = Field(default=100, ge=1)
    #: Gift moments are cleared after this long.
    hold_s: float = Field(default=30.0, gt=0)
    #: Prompt a thank-you for gifts worth at least this (0 = never).
    thank_min_diamonds: int = Field(default=5, ge=0)
    cooldown_s: float = Field(default=0.0, ge=0)


class GreetRule(BaseModel):
    """Every ``every_s`` with at least ``min_new`` new viewers, prompt a greeting.

    Raid accounts are never greeted: a viewer whose message an earlier stage labelled
    ``spam``/``raid`` is dropped from the list, and while a ``raid`` alarm is raised no
    greeting goes out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    every_s: float = Field(default=120.0, gt=0)
    min_new: int = Field(default=5, ge=1)
    #: How many @names the prompt lists.
    names: int = Field(default=5, ge=1, le=20)
    #: Arrivals this recent wait for the next greeting: a raid's accounts post within
    #: seconds of joining, so by then they are recognised.
    settle_s: float = Field(default=30.0, ge=0)
    #: Arrivals during a raid and this many seconds before its alarm are counted but
    #: never named (raid accounts that joined without posting look like any viewer).
    raid_lookback_s: float = Field(default=90.0, ge=0)


class QuestionsRule(BaseModel):
    """Prompt when ``min_count`` questions of one kind came in within ``window_s``.

    Off by default: the ``questions`` stage keeps the real queue (open, answered) and
    prompts the host itself. Turn this on for chains without that stage.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    window_s: float = Field(default=300.0, gt=0)
    min_count: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=300.0, ge=0)


class PromptRules(BaseModel):
    """How often the host may be prompted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: At least this long between two prompts …
    min_gap_s: float = Field(default=15.0, ge=0)
    #: … and at most ``max_per_window`` prompts per ``window_s``.
    max_per_window: int = Field(default=4, ge=1)
    window_s: float = Field(default=120.0, gt=0)
    #: Prompts at this priority or above (0–3) skip the per-window cap (routine thanks
    #: and greetings never hold back a viewer-drop prompt) but keep the gap …
    important_priority: int = Field(default=2, ge=0, le=3)
    #: … and prompts at this priority or above skip the gap as well.
    urgent_priority: int = Field(default=3, ge=0, le=3)
    #: A prompt is shown (and may wait in the queue) this long before it is stale.
    expire_s: float = Field(default=60.0, gt=0)
    #: Waiting prompts beyond this are dropped, lowest priority first.
    max_pending: int = Field(default=10, ge=1)
    #: A dismissed prompt mutes its kind for this long.
    mute_after_dismiss_s: float = Field(default=300.0, ge=0)


class AlarmRules(BaseModel):
    """Everything in ``rules/alarms.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    viewer_drop: ViewerDropRule = ViewerDropRule()
    dead_air: DeadAirRule = DeadAirRule()
    chat_rate_drop: RateDropRule = RateDropRule()
    like_rate_drop: RateDropRule = RateDropRule(min_baseline=60.0)
    shitstorm: ShitstormRule = ShitstormRule()
    gift_moment: GiftRule = GiftRule()
    greet: GreetRule = GreetRule()
    questions: QuestionsRule = QuestionsRule()
    prompts: PromptRules = PromptRules()

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "raid" in data:
            raise ValueError(
                "'raid' moved to the 'raid' section of rules/spam.yaml (one raid detector "
                "for labels and the alarm); delete it here"
            )
        return data


def load_alarm_rules(path: Path) -> AlarmRules:
    """Parse and validate an alarms file; a missing file means all defaults.

    Raises :class:`RulesError` naming the file, the field and the bad value.
    """
    return load_model_or_default(path, AlarmRules, "alarm rules")

