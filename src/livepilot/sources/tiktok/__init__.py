"""TikTok LIVE as a livepilot source (TikTokLive 7.0.1 underneath).

``TikTokSource`` keeps listening through disconnects; ``CaptureSource`` replays a raw
capture; ``record`` writes a LIVE to JSONL (and a raw capture). TikTokLive itself is
imported lazily, only by :mod:`.client` and :mod:`._lib`, so importing this package is
cheap. See ``docs/tiktok.md``.
"""

from __future__ import annotations

from livepilot.sources.tiktok.capture import CaptureError, CaptureSource, CaptureWriter, is_capture
from livepilot.sources.tiktok.client import Transports
from livepilot.sources.tiktok.errors import (
    TikTokAgeRestricted,
    TikTokBlocked,
    TikTokConnectionLost,
    TikTokNetworkError,
    TikTokRateLimited,
    TikTokSignError,
    TikTokUserNotFound,
    TikTokUserOffline,
)
from livepilot.sources.tiktok.recorder import record, write_jsonl
from livepilot.sources.tiktok.supervisor import TikTokSource, normalize_handle, tiktok_sources

__all__ = [
    "CaptureError",
    "CaptureSource",
    "CaptureWriter",
    "TikTokAgeRestricted",
    "TikTokBlocked",
    "TikTokConnectionLost",
    "TikTokNetworkError",
    "TikTokRateLimited",
    "TikTokSignError",
    "TikTokSource",
    "TikTokUserNotFound",
    "TikTokUserOffline",
    "Transports",
    "is_capture",
    "normalize_handle",
    "record",
    "tiktok_sources",
    "write_jsonl",
]
