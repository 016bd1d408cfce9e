"""Planning from stream history: stored streams side by side, and what they have in common.

Pure functions over the streams' :class:`~livepilot.report.model.Report` s (each computed
from the store alone by :func:`~livepilot.report.build_report`): no database, no clock.
:func:`build_plan` compares the streams (duration, peak, watch time, engagement per
viewer-minute, diamonds, questions), groups them by weekday, start hour and format (the
run-of-show), measures the cadence (days between streams) and finds repeating patterns
(a drop-off at about the same minute in most streams, the peak at about the same time).

Every suggestion carries the numbers behind it; with too few streams there are none, and
the plan says so (``MIN_STREAMS``). The definitions are in ``docs/history.md``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from livepilot.errors import LivepilotError
from livepilot.report.compute import build_report
from livepilot.report.model import Report
from livepilot.store.carryover import RESUME_WITHIN_S
from livepilot.store.history import StreamData

__all__ = [
    "MIN_GROUP",
    "MIN_STREAMS",
    "Cadence",
    "GroupStat",
    "Pattern",
    "Plan",
    "PlanError",
    "StreamLine",
    "Suggestion",
    "build_plan",
    "plan_streams",
]

#: Streams needed before the plan compares or suggests anything.
MIN_STREAMS = 3
#: Streams a weekday, hour or format needs before it is compared with the others.
MIN_GROUP = 2
#: Drop-offs and peaks are matched across streams in windows of this many minutes.
WINDOW_MIN = 5
#: The minutes at which retention (average viewers ÷ peak) is compared.
RETENTION_AT = (15, 30)
#: A format without a run-of-show.
FREE = "-"


class PlanError(LivepilotError):
    """A plan that cannot be made as asked (an unknown time zone)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StreamLine(_Frozen):
    """One stored stream's headline numbers, as compared."""

    stream: str
    name: str
    started_at: str
    #: Local to the plan's time zone: 0 = Monday.
    weekday: int
    hour: int
    #: The run-of-show's title, or ``FREE``.
    format: str
    duration_s: float
    peak_viewers: int
    peak_at_s: float | None
    avg_viewers: float
    avg_watch_time_s: float | None
    #: Interactions (chat, gifts, shares, follows, subscriptions) per viewer-minute.
    engagement: float
    diamonds: int
    questions: int
    answered: int
    median_response_s: float | None
    #: Average viewers in minute 15 and 30, over the peak (``None``: shorter stream).
    retention_15: float | None
    retention_30: float | None
    #: Where the audience fell by 10 % or more (seconds since the start).
    drops_at_s: tuple[float, ...]


class GroupStat(_Frozen):
    """Streams sharing a weekday, a start hour or a format: medians over them."""

    key: str
    streams: int
    engagement: float
    peak_viewers: float
    avg_watch_time_s: float | None
    retention_15: float | None
    retention_30: float | None
    diamonds: float


class Cadence(_Frozen):
    """Days between consecutive stream starts."""

    gaps_days: tuple[float, ...]
    median_days: float | None
    min_days: float | None
    max_days: float | None
    #: Streams per week over the span from the first start to the last.
    per_week: float | None


class Pattern(_Frozen):
    """Something most streams share: a drop-off or the peak at about the same minute."""

    kind: Literal["drop", "peak"]
    #: The window, in minutes since the start: ``[at_min, at_min + WINDOW_MIN)``.
    at_min: int
    streams: int
    of: int
    #: Drops: the median share of the audience lost there.
    median_share: float | None = None


class Suggestion(_Frozen):
    """One thing to try, in words, with the numbers behind it."""

    key: str
    text: str
    numbers: dict[str, float | int | str]


class Plan(_Frozen):
    timezone: str
    streams: tuple[StreamLine, ...]
    #: Whether there are enough streams (``MIN_STREAMS``) to compare them at all.
    enough: bool
    needed: int
    weekdays: tuple[GroupStat, ...]
    hours: tuple[GroupStat, ...]
    formats: tuple[GroupStat, ...]
    cadence: Cadence
    patterns: tuple[Pattern, ...]
    suggestions: tuple[Suggestion, ...]


def _r(value: float, digits: int = 2) -> float:
    return round(value + 0.0, digits)


def _median(values: Sequence[float | None], digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return _r(statistics.median(known), digits) if known else None


def zone(name: str) -> ZoneInfo:
    """The named IANA time zone; :class:`PlanError` naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PlanError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC"
        ) from None


def _line(report: Report, tz: ZoneInfo) -> StreamLine:
    local = datetime.fromisoformat(report.started_at.replace("Z", "+00:00")).astimezone(tz)

    def retention(minute: int) -> float | None:
        if minute >= len(report.retention) or report.duration_s < (minute + 1) * 60:
            return None
        return report.retention[minute]

    q = report.questions
    return StreamLine(
        stream=report.stream, name=report.name, started_at=report.started_at,
        weekday=local.weekday(), hour=local.hour, format=report.run_of_show or FREE,
        duration_s=report.duration_s, peak_viewers=report.peak_viewers,
        peak_at_s=report.peak_at_s, avg_viewers=report.avg_viewers,
        avg_watch_time_s=report.avg_watch_time_s,
        engagement=report.engagement.interactions_per_viewer_minute,
        diamonds=report.diamonds, questions=q.asked, answered=q.answered,
        median_response_s=q.median_response_s,
        retention_15=retention(RETENTION_AT[0]), retention_30=retention(RETENTION_AT[1]),
        drops_at_s=tuple(sorted(d.at_s for d in report.drop_offs)),
    )


def _groups(lines: Sequence[StreamLine], key: Callable[[StreamLine], str]) -> tuple[GroupStat, ...]:
    """Medians per group, the most engaging first (ties: more streams first)."""
    by: dict[str, list[StreamLine]] = defaultdict(list)
    for line in lines:
        by[key(line)].append(line)
    out = [
        GroupStat(
            key=name, streams=len(group),
            engagement=_median([g.engagement for g in group], 4) or 0.0,
            peak_viewers=_median([float(g.peak_viewers) for g in group], 1) or 0.0,
            avg_watch_time_s=_median([g.avg_watch_time_s for g in group], 1),
            retention_15=_median([g.retention_15 for g in group], 4),
            retention_30=_median([g.retention_30 for g in group], 4),
            diamonds=_median([float(g.diamonds) for g in group], 1) or 0.0,
        )
        for name, group in by.items()
    ]
    out.sort(key=lambda g: (-g.engagement, -g.streams, g.key))
    return tuple(out)


def _cadence(lines: Sequence[StreamLine]) -> Cadence:
    starts = sorted(datetime.fromisoformat(s.started_at.replace("Z", "+00:00")).timestamp()
                    for s in lines)
    gaps = tuple(_r((b - a) / 86400.0, 2) for a, b in pairwise(starts))
    span = (starts[-1] - starts[0]) / (7 * 86400.0) if len(starts) > 1 else 0.0
    return Cadence(
        gaps_days=gaps, median_days=_median(gaps), min_days=min(gaps, default=None),
        max_days=max(gaps, default=None),
        per_week=_r((len(starts) - 1) / span, 2) if span > 0 else None,
    )


def _most(count: int, of: int) -> bool:
    """More than half, and at least ``MIN_GROUP``."""
    return count >= MIN_GROUP and 2 * count > of


def _patterns(lines: Sequence[StreamLine], reports: Sequence[Report]) -> tuple[Pattern, ...]:
    of = len(lines)
    out: list[Pattern] = []
    drops: dict[int, list[float]] = defaultdict(list)
    for report in reports:
        seen: dict[int, float] = {}
        for drop in report.drop_offs:
            window = int(drop.at_s // 60) // WINDOW_MIN * WINDOW_MIN
            seen[window] = max(seen.get(window, 0.0), drop.share)
        for window, share in seen.items():
            drops[window].append(share)
    for window, shares in sorted(drops.items()):
        if _most(len(shares), of):
            out.append(Pattern(kind="drop", at_min=window, streams=len(shares), of=of,
                               median_share=_median(shares, 4)))
    peaks: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.peak_at_s is not None:
            peaks[int(line.peak_at_s // 60) // WINDOW_MIN * WINDOW_MIN] += 1
    if peaks:
        window, count = max(peaks.items(), key=lambda kv: (kv[1], -kv[0]))
        if _most(count, of):
            out.append(Pattern(kind="peak", at_min=window, streams=count, of=of))
    return tuple(out)


_DAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def day_name(lang: str, weekday: int) -> str:
    return _DAYS["de" if lang == "de" else "en"][weekday]


def _best(
    groups: Sequence[GroupStat], key: str, label: Callable[[str], str], lang: str
) -> Suggestion | None:
    """The most engaging group against the rest, when two groups have enough streams."""
    fit = [g for g in groups if g.streams >= MIN_GROUP]
    if len(fit) < 2 or fit[0].engagement <= fit[1].engagement:
        return None
    best, rest = fit[0], fit[1:]
    others = _median([g.engagement for g in rest], 4) or 0.0
    numbers: dict[str, float | int | str] = {
        "best": best.key, "engagement": best.engagement, "streams": best.streams,
        "others_engagement": others, "others_streams": sum(g.streams for g in rest),
    }
    name = label(best.key)
    if lang == "de":
        text = (f"{name} lief am besten: {best.engagement:.2f} Interaktionen je "
                f"Zuschauerminute (Median aus {best.streams} Streams) gegenüber {others:.2f} "
                f"sonst. Den nächsten Stream dorthin legen.")
    else:
        text = (f"{name} worked best: {best.engagement:.2f} interactions per viewer-minute "
                f"(median of {best.streams} streams) against {others:.2f} otherwise. Put the "
                f"next stream there.")
    return Suggestion(key=key, text=text, numbers=numbers)


def _format_suggestion(formats: Sequence[GroupStat], lang: str) -> Suggestion | None:
    fit = [g for g in formats if g.streams >= MIN_GROUP and g.retention_15 is not None]
    if len(fit) < 2:
        return None
    fit.sort(key=lambda g: -(g.retention_15 or 0.0))
    best, worst = fit[0], fit[-1]
    if (best.retention_15 or 0.0) - (worst.retention_15 or 0.0) < 0.05:
        return None
    numbers: dict[str, float | int | str] = {
        "best": best.key, "retention_15": best.retention_15 or 0.0, "streams": best.streams,
        "worst": worst.key, "worst_retention_15": worst.retention_15 or 0.0,
        "worst_streams": worst.streams,
    }
    b, w = _pct(best.retention_15), _pct(worst.retention_15)
    if lang == "de":
        text = (f"Format „{best.key}“ hält das Publikum besser: in Minute 15 noch {b} der "
                f"Spitze (Median, {best.streams} Streams) gegenüber {w} bei „{worst.key}“ "
                f"({worst.streams} Streams).")
    else:
        text = (f"Format “{best.key}” holds its audience better: {b} of the peak at minute "
                f"15 (median, {best.streams} streams) against {w} for “{worst.key}” "
                f"({worst.streams} streams).")
    return Suggestion(key="format", text=text, numbers=numbers)


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f} %"


def _cadence_suggestion(
    lines: Sequence[StreamLine], cadence: Cadence, lang: str
) -> Suggestion | None:
    """After the longest pause, was the peak lower than usual?"""
    median = cadence.median_days
    if median is None or cadence.max_days is None or len(cadence.gaps_days) < 2:
        return None
    if cadence.max_days < 1.5 * median:
        return None
    ordered = sorted(lines, key=lambda s: s.started_at)
    after = ordered[cadence.gaps_days.index(cadence.max_days) + 1]
    usual = _median([float(s.peak_viewers) for s in ordered if s is not after], 1) or 0.0
    if usual <= 0 or abs(after.peak_viewers - usual) < 0.1 * usual:
        return None  # the pause made no difference worth a word
    numbers: dict[str, float | int | str] = {
        "median_days": median, "longest_days": cadence.max_days,
        "peak_after_pause": after.peak_viewers, "median_peak_otherwise": usual,
    }
    lower = after.peak_viewers < usual
    if lang == "de":
        text = (f"Gestreamt wird im Median alle {median:.1f} Tage. Nach der längsten Pause "
                f"({cadence.max_days:.1f} Tage) lag die Spitze bei {after.peak_viewers} "
                f"gegenüber {usual:.0f} sonst"
                + (" — im Rhythmus bleiben." if lower else " — Pausen schaden nicht."))
    else:
        text = (f"Streams come every {median:.1f} days (median). After the longest pause "
                f"({cadence.max_days:.1f} days) the peak was {after.peak_viewers} against "
                f"{usual:.0f} otherwise"
                + (" — keep the rhythm." if lower else " — pauses do no harm."))
    return Suggestion(key="cadence", text=text, numbers=numbers)


def _pattern_suggestion(pattern: Pattern, lang: str) -> Suggestion:
    numbers: dict[str, float | int | str] = {
        "at_min": pattern.at_min, "streams": pattern.streams, "of": pattern.of,
    }
    span = f"{pattern.at_min}–{pattern.at_min + WINDOW_MIN}"
    if pattern.kind == "drop":
        share = pattern.median_share or 0.0
        numbers["median_share"] = share
        hook = max(0, pattern.at_min - 2)
        if lang == "de":
            text = (f"In {pattern.streams} von {pattern.of} Streams brach das Publikum in "
                    f"Minute {span} ein (Median −{share * 100:.0f} %). Kurz davor (Minute "
                    f"{hook}) etwas Neues bringen: Frage an den Chat, Umfrage, Gewinnspiel.")
        else:
            text = (f"In {pattern.streams} of {pattern.of} streams the audience fell in "
                    f"minute {span} (median −{share * 100:.0f} %). Bring something new just "
                    f"before (minute {hook}): a question to the chat, a poll, a giveaway.")
        return Suggestion(key=f"drop_{pattern.at_min}", text=text, numbers=numbers)
    if lang == "de":
        text = (f"Die Spitze kam in {pattern.streams} von {pattern.of} Streams in Minute "
                f"{span}: das Wichtigste (Angebot, Gewinnspiel) dorthin legen.")
    else:
        text = (f"The peak came in minute {span} in {pattern.streams} of {pattern.of} "
                f"streams: put the main thing (offer, giveaway) there.")
    return Suggestion(key="peak", text=text, numbers=numbers)


def build_plan(
    reports: Sequence[Report], timezone: str = "Europe/Berlin", lang: str = "de"
) -> Plan:
    """The plan over these streams' reports (any order). Raises :class:`PlanError` for
    an unknown ``timezone``."""
    tz = zone(timezone)
    ordered = sorted(reports, key=lambda r: r.started_at)
    lines = tuple(_line(r, tz) for r in ordered)
    enough = len(lines) >= MIN_STREAMS
    weekdays = _groups(lines, lambda s: str(s.weekday))
    hours = _groups(lines, lambda s: f"{s.hour:02d}")
    formats = _groups(lines, lambda s: s.format)
    cadence = _cadence(lines) if lines else Cadence(
        gaps_days=(), median_days=None, min_days=None, max_days=None, per_week=None)
    patterns = _patterns(lines, ordered) if enough else ()
    suggestions: list[Suggestion] = []
    if enough:
        candidates = [
            *(_pattern_suggestion(p, lang) for p in patterns),
            _best(weekdays, "weekday", lambda k: day_name(lang, int(k)), lang),
            _best(hours, "hour", lambda k: (f"Start um {k} Uhr" if lang == "de"
                                            else f"Starting at {k}:00"), lang),
            _format_suggestion(formats, lang),
            _cadence_suggestion(lines, cadence, lang),
        ]
        suggestions = [s for s in candidates if s is not None]
    return Plan(
        timezone=timezone, streams=lines, enough=enough,
        needed=max(0, MIN_STREAMS - len(lines)), weekdays=weekdays, hours=hours,
        formats=formats, cadence=cadence, patterns=patterns, suggestions=tuple(suggestions),
    )


def plan_streams(
    streams: Iterable[StreamData], timezone: str = "Europe/Berlin", lang: str = "de",
    *, now: float | None = None,
) -> Plan:
    """The plan over stored streams that are over. A stream with no end is still live and
    left out, unless ``now`` is given and its last event is older than a restart could
    go on with it (``RESUME_WITHIN_S``): then its process died and nobody resumed it, and
    it counts as over at its last event."""
    language: Literal["de", "en"] = "de" if lang == "de" else "en"

    def over(data: StreamData) -> bool:
        if data.stream["ended_at"] is not None:
            return True
        return now is not None and float(data.stream["last_at"]) < now - RESUME_WITHIN_S

    reports = [build_report(data, language) for data in streams if over(data)]
    return build_plan(reports, timezone, lang)


def retention_label(share: float | None) -> str:
    """A retention share as people read it (``62 %``)."""
    return _pct(share)


def minutes(seconds: float | None) -> str:
    """Seconds as whole minutes (``–`` when unknown)."""
    return "–" if seconds is None or math.isnan(seconds) else f"{seconds / 60:.0f} min"
