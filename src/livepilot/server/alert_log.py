"""The recent alerts, numbered, for an alert overlay that was away.

Alerts (a gift streak's end, a follow, a share) are moments, not state: an overlay that
was disconnected when one went out (an OBS scene switch, a reload, a network blip) would
never show it. So every alert the overlays get carries the stream's ``seq`` — the number
the console's backlog gives the same message — and :class:`AlertLog` keeps the newest
:data:`ALERT_MEMORY` of them with the hub's time they went out. A returning overlay names
the last ``seq`` it showed and gets what came after, bounded by age and count
(:meth:`AlertLog.missed`).
"""

from __future__ import annotations

from collections import deque

from livepilot.server.backlog import with_seq

__all__ = ["ALERT_KINDS", "ALERT_MEMORY", "AlertLog"]

#: Overlay message types that are alerts.
ALERT_KINDS = frozenset({"gift", "follow", "share"})
#: Alerts remembered per stream (a replay asks for at most this many).
ALERT_MEMORY = 200


class AlertLog:
    """One stream's newest alerts as ``(seq, hub time, type, json)``, oldest first."""

    __slots__ = ("_alerts",)

    def __init__(self, size: int = ALERT_MEMORY) -> None:
        self._alerts: deque[tuple[int, float, str, str]] = deque(maxlen=size)

    def number(self, out: list[tuple[str, str]], seq: int, now: float, *, shown: bool) -> None:
        """Give the alert at the end of ``out`` (just projected) its ``seq``; remember it
        if an alert overlay shows it (``shown``: a gift streak's partial steps are never
        shown, so never replayed). Nothing if ``out`` does not end with an alert."""
        if not out or out[-1][0] not in ALERT_KINDS:
            return
        kind, raw = out[-1]
        raw = with_seq(seq, raw)
        out[-1] = (kind, raw)
        if shown:
            self._alerts.append((seq, now, kind, raw))

    def missed(self, since: int, now: float, window: float, limit: int,
               kinds: frozenset[str] = ALERT_KINDS) -> list[str]:
        """The alerts of ``kinds`` after ``seq`` ``since`` that went out at most ``window``
        seconds before ``now``, the newest ``limit`` of them, oldest first."""
        if limit <= 0 or window <= 0:
            return []
        missed: list[str] = []
        for seq, at, kind, raw in reversed(self._alerts):
            if seq <= since or now - at > window or len(missed) >= limit:
                break
            if kind in kinds:
                missed.append(raw)
        missed.reverse()
        return missed
