"""From stored rows to the report's numbers; the definitions live in ``docs/history.md``.

Pure functions over :class:`~livepilot.store.history.StreamData`: no database, no clock.
Numbers are rounded here, once, so every form of the report (and two runs over the same
recording) shows the same digits.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from livepilot.report.advice import advise
from livepilot.report.model import (
    AlarmItem,
    DropOff,
    Engagement,
    Gap,
    Gifter,
    MinuteRow,
    Moderation,
    ModeratorStats,
    Mood,
    QuestionItem,
    Questions,
    Report,
    SegmentStats,
    Tech,
)
from livepilot.store.history import StreamData

__all__ = ["TECH_ALARMS", "build_report", "iso"]

Row = dict[str, Any]

#: Alarm kinds about the stream's technology rather than its audience.
TECH_ALARMS = frozenset({"tech_issue", "model_overload"})
#: A drop-off: the average audience fell by at least this share from one minute to a
#: later one, minute after minute, and by at least ``_DROP_MIN_VIEWERS``.
_DROP_SHARE = 0.10
_DROP_MIN_VIEWERS = 5.0


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _r(value: float, digits: int = 2) -> float:
    return round(value + 0.0, digits)


def build_report(data: StreamData, lang: Literal["de", "en"] = "en") -> Report:
    """The report of one stored stream."""
    s = data.stream
    start = float(s["started_at"])
    end = float(s["ended_at"] if s["ended_at"] is not None else s["last_at"])
    duration = max(0.0, end - start)
    minutes = data.minutes
    viewer_seconds = sum(float(m["viewer_seconds"]) for m in minutes)
    covered = sum(float(m["covered_s"]) for m in minutes)
    avg_viewers = viewer_seconds / covered if covered > 0 else 0.0
    viewer_minutes = viewer_seconds / 60.0

    def total(column: str) -> int:
        return sum(int(m[column]) for m in minutes)

    peak = int(s["peak_viewers"] or 0)
    unique_users = total("new_users")
    if s["viewers_total"]:
        total_viewers, source = max(int(s["viewers_total"]), peak), "platform"
    else:
        total_viewers, source = max(unique_users, peak), "estimate"
    # Little's law: average concurrent audience = arrival rate × average stay.
    watch = (
        min(duration, avg_viewers * duration / total_viewers)
        if total_viewers > 0 and duration > 0 and covered > 0 else None
    )

    chat = total("chat")
    interactions = chat + total("gifts") + total("shares") + total("follows") + total(
        "subscribes"
    )

    def per_viewer_minute(n: int) -> float:
        return _r(n / viewer_minutes, 4) if viewer_minutes > 0 else 0.0

    interactors = total("new_interactors")
    engagement = Engagement(
        interactions=interactions,
        interactions_per_viewer_minute=per_viewer_minute(interactions),
        chat_per_viewer_minute=per_viewer_minute(chat),
        likes_per_viewer_minute=per_viewer_minute(total("likes")),
        interacted_share=_r(min(1.0, interactors / total_viewers), 4) if total_viewers else 0.0,
        interactors=interactors,
        chatters=total("new_chatters"),
        viewer_minutes=_r(viewer_minutes, 1),
    )

    series = _series(minutes, duration)
    per_minute = tuple(row.viewers for row in series)
    retention = tuple(
        _r(v / peak, 4) if v is not None and peak > 0 else None for v in per_minute
    )
    segments = _segments(data.segments, series, end, start)
    alarms = tuple(_alarm(a, start) for a in data.alarms)
    questions = _questions(data.questions, start)
    moderation = _moderation(data.commands, chat, total)
    tech = _tech(data, start, alarms, total("tech_reports"))
    mood = _mood(total("positive"), total("negative"), total("toxic"), chat)
    drops = _drop_offs(series, data.segments, start)

    report = Report(
        stream=str(s["key"]),
        name=str(s["name"]),
        creator=str(s["creator"]),
        platform=str(s["platform"]),
        run_of_show=s["run_of_show"],
        started_at=iso(start) or "",
        ended_at=iso(s["ended_at"]),
        end_reason=s["end_reason"],
        duration_s=_r(duration, 1),
        peak_viewers=peak,
        peak_at_s=_r(float(s["peak_at"]) - start, 1) if s["peak_at"] is not None else None,
        avg_viewers=_r(avg_viewers, 1),
        total_viewers=total_viewers,
        total_viewers_source=source,
        avg_watch_time_s=_r(watch, 1) if watch is not None else None,
        engagement=engagement,
        likes=total("likes"),
        shares=total("shares"),
        follows=total("follows"),
        joins=total("joins"),
        subscribes=total("subscribes"),
        gifts=total("gifts"),
        diamonds=total("diamonds"),
        top_gifters=tuple(
            Gifter(user=str(g["handle"]), diamonds=int(g["diamonds"]), gifts=int(g["gifts"]))
            for g in data.gifters[:10]
        ),
        alarms=alarms,
        prompts=len(data.prompts),
        viewers_per_minute=per_minute,
        retention=retention,
        drop_offs=drops,
        segments=segments,
        questions=questions,
        moderation=moderation,
        tech=tech,
        mood=mood,
        leads=sum(data.leads.values()),
        leads_by_kind=dict(sorted(data.leads.items())),
        minutes=series,
        advice=(),
        users_capped=bool(s["users_capped"]),
    )
    return report.model_copy(update={"advice": advise(report, data, lang)})


def _series(minutes: Sequence[Row], duration: float) -> tuple[MinuteRow, ...]:
    """One row per minute from 0 to the end; minutes nothing happened in are zeros."""
    by_index = {int(m["minute"]): m for m in minutes}
    last = max([int(duration // 60), *by_index]) if by_index or duration else -1
    rows = []
    for index in range(last + 1):
        m = by_index.get(index)
        if m is None:
            rows.append(MinuteRow(minute=index, viewers=None, viewers_max=None, chat=0,
                                  chatters=0, interactions=0, likes=0, gifts=0, diamonds=0,
                                  shares=0, follows=0, joins=0, new_users=0, questions=0,
                                  flagged=0, positive=0, negative=0, tech_reports=0,
                                  segment=None))
            continue
        covered = float(m["covered_s"])
        rows.append(MinuteRow(
            minute=index,
            viewers=_r(float(m["viewer_seconds"]) / covered, 1) if covered > 0 else None,
            viewers_max=m["viewers_max"],
            chat=int(m["chat"]), chatters=int(m["chatters"]),
            interactions=int(m["chat"]) + int(m["gifts"]) + int(m["shares"])
            + int(m["follows"]) + int(m["subscribes"]),
            likes=int(m["likes"]), gifts=int(m["gifts"]), diamonds=int(m["diamonds"]),
            shares=int(m["shares"]), follows=int(m["follows"]), joins=int(m["joins"]),
            new_users=int(m["new_users"]), questions=int(m["questions"]),
            flagged=int(m["flagged"]), positive=int(m["positive"]),
            negative=int(m["negative"]), tech_reports=int(m["tech_reports"]),
            segment=m["segment"],
        ))
    return tuple(rows)


def segment_at(segments: Sequence[Row], t: float) -> str | None:
    """The segment running at stream time ``t`` (absolute), if any."""
    for seg in segments:
        ended = seg["ended_at"]
        if seg["started_at"] <= t and (ended is None or t < ended):
            return str(seg["name"])
    return None


def _segments(
    rows: Sequence[Row], series: Sequence[MinuteRow], end: float, start: float
) -> tuple[SegmentStats, ...]:
    out = []
    for seg in rows:
        s0 = float(seg["started_at"]) - start
        s1 = float(seg["ended_at"] if seg["ended_at"] is not None else end) - start
        inside = [m for m in series if s0 <= m.minute * 60 < s1] or [
            m for m in series if m.minute == int(s0 // 60)
        ]
        viewers = [m.viewers for m in inside if m.viewers is not None]
        vm = sum(viewers) * 1.0  # one minute each
        chat = sum(m.chat for m in inside)
        out.append(SegmentStats(
            name=str(seg["name"]), start_s=_r(s0, 1), end_s=_r(s1, 1),
            avg_viewers=_r(statistics.fmean(viewers), 1) if viewers else None,
            viewers_start=viewers[0] if viewers else None,
            viewers_end=viewers[-1] if viewers else None,
            chat=chat,
            interactions_per_viewer_minute=(
                _r(sum(m.interactions for m in inside) / vm, 4) if vm > 0 else None
            ),
            diamonds=sum(m.diamonds for m in inside),
        ))
    return tuple(out)


def _alarm(row: Row, start: float) -> AlarmItem:
    cleared = row["cleared_at"]
    try:
        data = json.loads(row["data"] or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    subject = (data.get("issue") or data.get("segment") or data.get("question")
               or data.get("title") or data.get("keyword"))
    result = data.get("result") if row["kind"] in ("poll", "giveaway") else None
    return AlarmItem(
        kind=str(row["kind"]), severity=str(row["severity"]),
        at_s=_r(float(row["raised_at"]) - start, 1),
        cleared_s=_r(float(cleared) - start, 1) if cleared is not None else None,
        message=str(row["message"]),
        subject=str(subject) if subject else None,
        result=str(result) if result else None,
    )


def _questions(rows: Sequence[Row], start: float) -> Questions:
    # An item a late toxic verdict took back out was never a question to answer.
    asked = [q for q in rows if q["label"] in ("question", "lead") and q["state"] != "withdrawn"]
    answered = [q for q in asked if q["state"] == "answered"]
    times = [float(q["response_s"]) for q in answered if q["response_s"] is not None]
    per: dict[str, list[float]] = {}
    dismissed: Counter[str] = Counter()
    for q in asked:
        if q["state"] == "answered" and q["closed_by"]:
            per.setdefault(str(q["closed_by"]), []).append(float(q["response_s"] or 0.0))
        elif q["state"] == "dismissed" and q["closed_by"]:
            dismissed[str(q["closed_by"])] += 1
    moderators = sorted(set(per) | set(dismissed))
    by_moderator = tuple(
        ModeratorStats(
            moderator=name, answered=len(per.get(name, [])), dismissed=dismissed[name],
            median_response_s=_r(statistics.median(per[name]), 1) if per.get(name) else None,
            mean_response_s=_r(statistics.fmean(per[name]), 1) if per.get(name) else None,
        )
        for name in moderators
    )
    top = sorted(asked, key=lambda q: (-int(q["askers"]), float(q["asked_at"]), q["item"]))[:10]
    return Questions(
        asked=len(asked),
        answered=len(answered),
        dismissed=sum(1 for q in asked if q["state"] == "dismissed"),
        unanswered=sum(1 for q in asked if q["state"] in ("open", "claimed")),
        askers=sum(int(q["askers"]) for q in asked),
        median_response_s=_r(statistics.median(times), 1) if times else None,
        by_moderator=by_moderator,
        top=tuple(
            QuestionItem(
                item=str(q["item"]), label=str(q["label"]), kind=q["kind"], text=q["text"],
                askers=int(q["askers"]), asked_s=_r(float(q["asked_at"]) - start, 1),
                state=str(q["state"]),
                response_s=_r(float(q["response_s"]), 1) if q["response_s"] is not None
                else None,
                by=q["closed_by"] or q["claimed_by"],
            )
            for q in top
        ),
    )


def _moderation(commands: Sequence[Row], chat: int, total: Any) -> Moderation:
    flagged = int(total("flagged"))
    return Moderation(
        flagged=flagged,
        flagged_share=_r(flagged / chat, 4) if chat else 0.0,
        toxic=int(total("toxic")),
        spam=int(total("spam")),
        hidden=int(total("hidden")),
        actions=dict(sorted(Counter(str(c["action"]) for c in commands).items())),
        by_moderator=dict(sorted(Counter(str(c["by"]) for c in commands).items())),
    )


def _tech(data: StreamData, start: float, alarms: Sequence[AlarmItem], reports: int) -> Tech:
    gaps = tuple(
        Gap(start_s=_r(float(g["start"]) - start, 1), end_s=_r(float(g["end"]) - start, 1),
            seconds=_r(max(0.0, float(g["end"]) - float(g["start"])), 1), cause=str(g["cause"]))
        for g in data.gaps
    )
    states = Counter(str(row["state"]) for row in data.states)
    return Tech(
        gaps=gaps,
        gap_seconds=_r(sum(g.seconds for g in gaps), 1),
        disconnects=states["disconnected"],
        paused=states["paused"],
        alarms=tuple(a for a in alarms if a.kind in TECH_ALARMS),
        reports=reports,
    )


def _mood(positive: int, negative: int, toxic: int, chat: int) -> Mood:
    index = (positive - negative - toxic) / chat if chat else 0.0
    verdict: Literal["positive", "neutral", "negative"] = (
        "positive" if index > 0.02 else "negative" if index < -0.02 else "neutral"
    )
    return Mood(positive=positive, negative=negative, toxic=toxic, index=_r(index, 4),
                verdict=verdict)


def _drop_offs(
    series: Sequence[MinuteRow], segments: Sequence[Row], start: float
) -> tuple[DropOff, ...]:
    """Runs of minutes in which the average audience kept falling, biggest first."""
    points = [(m.minute, m.viewers) for m in series if m.viewers is not None]
    drops: list[DropOff] = []
    i = 0
    while i < len(points) - 1:
        j = i
        while j + 1 < len(points) and points[j + 1][1] < points[j][1]:
            j += 1
        if j > i:
            before, after = float(points[i][1] or 0.0), float(points[j][1] or 0.0)
            lost = before - after
            if before > 0 and lost / before >= _DROP_SHARE and lost >= _DROP_MIN_VIEWERS:
                # The fall starts at the end of minute i (its average was the high point).
                at = (points[i][0] + 1) * 60.0
                drops.append(DropOff(
                    at_s=_r(at, 1), until_s=_r((points[j][0] + 1) * 60.0, 1),
                    before=_r(before, 1), after=_r(after, 1), lost=_r(lost, 1),
                    share=_r(lost / before, 4), segment=segment_at(segments, start + at),
                ))
        i = max(j, i + 1)
    drops.sort(key=lambda d: (-d.lost, d.at_s))
    return tuple(drops[:5])
