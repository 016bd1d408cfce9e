"""What the composition roots need to record a stream: a recorder built from the
settings, and a tap that knows the stream's platform, creator and run-of-show."""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry

from livepilot.errors import LivepilotError
from livepilot.leads import LeadPolicy
from livepilot.settings import Settings
from livepilot.sources.base import Source
from livepilot.store.recorder import Recorder, StreamTap
from livepilot.store.segments import ShowPlan
from livepilot.store.settings import StoreSettings

__all__ = ["platform_of", "show_plan", "start_recorder", "tap_source"]

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
