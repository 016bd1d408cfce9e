"""``livepilot record``: a TikTok LIVE to a JSONL recording (and optionally a raw capture)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from livepilot.clock import Clock
from livepilot.events import LiveEvent
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.tiktok.capture import CaptureWriter
from livepilot.sources.tiktok.client import Transports
from livepilot.sources.tiktok.supervisor import TikTokSource, normalize_handle
from livepilot.wire import encode

__all__ = ["record", "write_jsonl"]

log = logging.getLogger(__name__)


async def write_jsonl(events: AsyncIterator[LiveEvent], path: Path) -> int:
    """Write each event as one wire-format line (flushed per line); the number written.

    The file is the replay format: ``livepilot replay FILE`` reads it back.
    """
    written = 0
    with path.open("w", encoding="utf-8") as out:
        async for event in events:
            out.write(encode(event) + "\n")
            out.flush()
            written += 1
    return written


async def record(
    unique_id: str,
    path: Path,
    raw_path: Path | None = None,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    transports: Transports | None = None,
    follow: bool = False,
) -> int:
    """Record ``unique_id``'s LIVE into ``path`` until it ends; the number of events.

    With ``raw_path`` every WebSocket frame is also kept, exactly as received, in a raw
    capture that ``livepilot replay`` decodes again through TikTokLive.
    """
    handle = normalize_handle(unique_id)
    capture = CaptureWriter(raw_path, handle) if raw_path is not None else None
    source = TikTokSource(
        handle,
        settings,
        clock,
        metrics,
        transports=transports,
        capture=capture,
        follow=follow,
    )
    log.info("recording @%s to %s%s", handle, path, f" (raw: {raw_path})" if raw_path else "")
    return await write_jsonl(source.events(), path)
