"""Runs the streams of one process (a composition root).

- :mod:`~livepilot.service.stream_service`: :class:`StreamService`, the streams and their
  ordered shutdown; the server's ``StreamHost`` and ``StateReader``;
- :mod:`~livepilot.service.supervision`: restart with backoff after a crash;
- :mod:`~livepilot.service.sharing`: views shared with processes that do not run a stream;
- :mod:`~livepilot.service.views`: the typed view table (view name → stage and reader);
- :mod:`~livepilot.service.bus_watch`: the ``bus_down`` alarm.
"""

from __future__ import annotations

from livepilot.service.stream_service import StreamService
from livepilot.service.views import KEYED_VIEWS, VIEWS, KeyedStageView, StageView

__all__ = ["KEYED_VIEWS", "VIEWS", "KeyedStageView", "StageView", "StreamService"]
