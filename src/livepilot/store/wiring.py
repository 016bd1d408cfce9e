"""What the composition roots need to record a stream: a recorder built from the
settings, a tap that knows the stream's platform, creator and run-of-show, and what a
live stream carries over from the store at start (:func:`carry_over`): the stream it
goes on with after a restart, its question queue and run-of-show position, and the
strikes remembered across streams. The server's audit log is kept with :func:`keep_audit`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from livepilot.errors import LivepilotError
from livepilot.leads import LeadPolicy
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.store.recorder import Recorder, StreamTap
from livepilot.store.segments import ShowPlan, ShowPosition
from livepilot.store.settings import StoreSettings

if TYPE_CHECKING:
    from livepilot.stages.show.run_of_show import ShowTracker

__all__ = [
    "carry_over", "keep_audit", "platform_of", "show_plan", "start_recorder", "tap_source",
]

log = logging.getLogger(__name__)

#: Source classes by name → the platform a stored stream came from.
_PLATFORMS = {
    "TikTokSource": "tiktok",
    "CaptureSource": "tiktok",
    "Simulator": "simulator",
    "ReplaySource": "replay",
}


def platform_of(source: Source) -> str:
    return _PLATFORMS.get(type(source).__name__, "other")


def show_plan(path: Path | None) -> ShowPlan | None:
    """The run-of-show's title and segment names; ``None`` without a (valid) plan (the
    engagement stage reports a broken file; the store then names no segments)."""
    if path is None:
        return None
    from livepilot.stages.show.run_of_show import load_run_of_show

    try:
        plan = load_run_of_show(path)
    except LivepilotError as exc:
        log.warning("store: run-of-show not used for segments: %s", exc)
        return None
    return ShowPlan(plan.title or path.stem, tuple(s.name for s in plan.segments))


def start_recorder(
    settings: Settings, registry: CollectorRegistry, store: StoreSettings | None = None
) -> Recorder:
    """A running recorder for these settings (the store's own come from the environment
    unless given); leads and the chat log are minimised as the lead settings say."""
    store = store if store is not None else StoreSettings()
    return Recorder.start(
        store, LeadPolicy.from_settings(settings), registry,
        lead_retention_hours=settings.lead_retention_hours,
    )


def tap_source(recorder: Recorder, source: Source, settings: Settings) -> StreamTap:
    """A tap for ``source``'s stream, named after its platform and creator."""
    creator = getattr(source, "unique_id", None)
    return recorder.tap(
        source.stream,
        platform=platform_of(source),
        creator=creator if isinstance(creator, str) else source.stream,
        plan=show_plan(settings.run_of_show),
    )


class _Stages(Protocol):
    def stage(self, name: str) -> Any: ...


class _Audit(Protocol):
    def keep_with(self, keeper: Any) -> int: ...


def carry_over(
    recorder: Recorder, tap: StreamTap, stages: _Stages, *, now: float | None = None,
    timeout: float = 5.0,
) -> None:
    """Before a live stream runs: go on with the stored stream of the same name the
    process stopped (or died) in the middle of (its question queue too, and its
    run-of-show: the segment running with its timer and goal count), close streams
    dead processes left open too long ago to go on with, and hand the moderation stage
    the platform's remembered strikes and the store as its memory.

    Blocks for one read (up to ``timeout`` s waiting for the store); a store that is down
    is logged and the stream starts without history. Replays never carry anything over
    (they must give the same output on every run).
    """
    from livepilot.store.carryover import (
        StrikeLedger,
        close_abandoned,
        find_resumption,
        load_strikes,
        resume_show,
    )

    now = time.time() if now is None else now
    engine = recorder.writer.engine(timeout)
    if engine is None:
        log.warning("store: not reachable at start-up; %s starts without its history",
                    tap.stream)
    resumption = None if engine is None else find_resumption(
        engine, tap.stream, tap.platform, now)
    position: ShowPosition | None = None
    if engine is not None and resumption is not None:
        resumption, position = resume_show(engine, resumption, _show_plan(stages))
    if engine is not None:
        close_abandoned(engine, now)
    tap.resume = resumption
    strikes = [] if engine is None else load_strikes(engine, tap.platform)
    _recall_strikes(stages, strikes, StrikeLedger(recorder.writer, tap.platform, tap.stream),
                    now, None if resumption is None else float(resumption.stream["started_at"]))
    if resumption is not None:
        _restore_questions(stages, resumption.questions)
    if resumption is not None and position is not None:
        _restore_show(stages, position, now, str(resumption.stream["key"]))


def _show_tracker(stages: _Stages) -> ShowTracker | None:
    """The engagement stage's run-of-show tracker (``None``: no stage or no plan)."""
    from livepilot.stages.show.engagement import EngagementStage

    try:
        stage = stages.stage("engagement")
    except KeyError:
        return None
    return stage.show if isinstance(stage, EngagementStage) else None


def _show_plan(stages: _Stages) -> ShowPlan | None:
    """The run-of-show the stage runs, as the store names its segments."""
    tracker = _show_tracker(stages)
    if tracker is None:
        return None
    plan = tracker.plan
    return ShowPlan(plan.title, tuple(s.name for s in plan.segments))


def _restore_show(stages: _Stages, position: ShowPosition, now: float, key: str) -> None:
    """Put the stage's run-of-show where the stopped process left it (see
    :func:`~livepilot.store.carryover.resume_show`)."""
    tracker = _show_tracker(stages)
    if tracker is None:
        return
    if position.finished_at is not None:
        tracker.resume_finished(position.finished_at)
        log.info("store: %s resumed after its run-of-show finished", key)
        return
    if position.segment is None or position.started_at is None:
        return
    index = tracker.plan.index_of(position.segment)
    if index is None:
        log.warning("store: %s was running segment %r, which the run-of-show no longer "
                    "has; the show waits for the next segment_start", key, position.segment)
        return
    goal = tracker.plan.segments[index].goal
    value = int(position.counted.get(goal.metric, 0)) if goal is not None else 0
    tracker.resume(index, position.started_at, now, goal_value=value)
    log.info("store: %s goes on with segment %r (running %.0f s%s)", key, position.segment,
             max(0.0, now - position.started_at),
             f", goal {value}/{goal.target} {goal.metric}" if goal is not None else "")


def _recall_strikes(
    stages: _Stages, rows: list[dict[str, Any]], ledger: Any, now: float, since: float | None
) -> None:
    from livepilot.stages.moderation.moderation import ModerationStage
    from livepilot.stages.moderation.strike_memory import RememberedUser

    try:
        stage = stages.stage("moderation")
    except KeyError:
        return
    if not isinstance(stage, ModerationStage):
        return
    users = [
        RememberedUser(r["user_id"], r["handle"], float(r["score"]), float(r["at"]),
                       int(r["hits"]), int(r["streams"]), r["blocked_by"])
        for r in rows
    ]
    stage.recall(users, ledger, now, continuing_since=since)


def _restore_questions(stages: _Stages, rows: list[dict[str, Any]]) -> None:
    from livepilot.stages.audience.question_queue import PastItem
    from livepilot.stages.audience.questions import QuestionsStage

    try:
        stage = stages.stage("questions")
    except KeyError:
        return
    if not isinstance(stage, QuestionsStage):
        return
    stage.restore([
        PastItem(str(r["item"]), r["label"], r["kind"], r["text"], float(r["asked_at"]),
                 float(r["last_at"]), int(r["askers"]), r["state"], r["claimed_by"],
                 r["claimed_at"], r["closed_by"], r["closed_at"])
        for r in rows
    ])


def keep_audit(audit: _Audit, recorder: Recorder, timeout: float = 5.0) -> int:
    """Keep the server's audit log in the store: read back what it holds (waiting up to
    ``timeout`` s for the store), then store each new entry. How many came back."""
    from livepilot.store.audit import AuditKeeper

    writer = recorder.writer
    return audit.keep_with(AuditKeeper(writer, lambda: writer.engine(timeout)))
