"""The post-stream report as data: what the HTML, JSON and CSV forms all show.

Times inside a stream are seconds since its start (``*_s``); the stream's own start and
end are ISO 8601 in UTC. Every number is computed from the store alone
(:mod:`livepilot.report.compute`); the definitions are in ``docs/history.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Advice",
    "AlarmItem",
    "DropOff",
    "Engagement",
    "Gap",
    "Gifter",
    "MinuteRow",
    "Moderation",
    "ModeratorStats",
    "Mood",
    "QuestionItem",
    "Questions",
    "Report",
    "SegmentStats",
    "Tech",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MinuteRow(_Frozen):
    """One minute of the stream (minute 0 starts with the first event)."""

    minute: int
    #: Average concurrent viewers over the part of the minute with a known count.
    viewers: float | None
    viewers_max: int | None
    chat: int
    chatters: int
    interactions: int
    likes: int
    gifts: int
    diamonds: int
    shares: int
    follows: int
    joins: int
    new_users: int
    questions: int
    flagged: int
    positive: int
    negative: int
    tech_reports: int
    segment: str | None


class Gifter(_Frozen):
    user: str
    diamonds: int
    gifts: int


class AlarmItem(_Frozen):
    kind: str
    severity: str
    at_s: float
    cleared_s: float | None
    message: str
    #: What the alarm is about, when it says: the tech issue, the segment, the poll's
    #: question or the giveaway's title.
    subject: str | None = None
    #: How a poll or giveaway came out (votes per option, the winner), once it closed.
    result: str | None = None


class DropOff(_Frozen):
    """A fall of the average audience over consecutive minutes."""

    at_s: float
    until_s: float
    before: float
    after: float
    lost: float
    share: float
    segment: str | None


class SegmentStats(_Frozen):
    name: str
    start_s: float
    end_s: float
    avg_viewers: float | None
    viewers_start: float | None
    viewers_end: float | None
    chat: int
    interactions_per_viewer_minute: float | None
    diamonds: int


class Engagement(_Frozen):
    interactions: int
    interactions_per_viewer_minute: float
    chat_per_viewer_minute: float
    likes_per_viewer_minute: float
    #: Distinct viewers who did anything besides watching, over total viewers (0–1).
    interacted_share: float
    interactors: int
    chatters: int
    viewer_minutes: float


class ModeratorStats(_Frozen):
    moderator: str
    answered: int
    dismissed: int
    median_response_s: float | None
    mean_response_s: float | None


class QuestionItem(_Frozen):
    item: str
    label: str
    kind: str | None
    text: str | None
    askers: int
    asked_s: float
    state: str
    response_s: float | None
    by: str | None


class Questions(_Frozen):
    asked: int
    answered: int
    dismissed: int
    unanswered: int
    askers: int
    median_response_s: float | None
    by_moderator: tuple[ModeratorStats, ...]
    top: tuple[QuestionItem, ...]


class Moderation(_Frozen):
    flagged: int
    flagged_share: float
    toxic: int
    spam: int
    hidden: int
    #: Moderator commands by action, and by moderator.
    actions: dict[str, int]
    by_moderator: dict[str, int]


class Gap(_Frozen):
    start_s: float
    end_s: float
    seconds: float
    cause: str


class Tech(_Frozen):
    gaps: tuple[Gap, ...]
    gap_seconds: float
    disconnects: int
    paused: int
    #: Alarms about the stream's technology (tech issues viewers reported, model overload).
    alarms: tuple[AlarmItem, ...]
    reports: int


class Mood(_Frozen):
    positive: int
    negative: int
    toxic: int
    #: (positive − negative − toxic) / chat messages, −1…1.
    index: float
    verdict: Literal["positive", "neutral", "negative"]


class Advice(_Frozen):
    """One of the "three things to change next time", with the numbers behind it."""

    kind: str
    title: str
    detail: str
    numbers: dict[str, float | int | str]


class Report(_Frozen):
    stream: str
    name: str
    creator: str
    platform: str
    run_of_show: str | None
    started_at: str
    ended_at: str | None
    end_reason: str | None
    duration_s: float
    peak_viewers: int
    peak_at_s: float | None
    avg_viewers: float
    total_viewers: int
    #: ``platform`` (the platform's cumulative count) or ``estimate`` (distinct users seen).
    total_viewers_source: Literal["platform", "estimate"]
    avg_watch_time_s: float | None
    engagement: Engagement
    likes: int
    shares: int
    follows: int
    joins: int
    subscribes: int
    gifts: int
    diamonds: int
    top_gifters: tuple[Gifter, ...]
    alarms: tuple[AlarmItem, ...]
    prompts: int
    viewers_per_minute: tuple[float | None, ...]
    #: Average viewers per minute as a share of the peak (0–1).
    retention: tuple[float | None, ...]
    drop_offs: tuple[DropOff, ...]
    segments: tuple[SegmentStats, ...]
    questions: Questions
    moderation: Moderation
    tech: Tech
    mood: Mood
    leads: int
    leads_by_kind: dict[str, int]
    minutes: tuple[MinuteRow, ...]
    advice: tuple[Advice, ...]
    #: Unique counts are lower bounds (the stream had more distinct users than counted).
    users_capped: bool
