"""Hot reload: rebuild what a stage made from its rules files when one of them changes.

Every stage that reads a rules file (word packs, spam, strikes, intents, FAQ, alarms,
run-of-show) holds the object it built in a :class:`HotReload` and polls it from
``tick``. A file counts as changed when its modification time or size differs (or it
appeared or disappeared). A broken edit keeps the previous rules, is logged, and raises a
``rules_rejected`` alarm (source: the stage) until a good version loads; a different
error on the next edit replaces the alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from livepilot.errors import RulesError
from livepilot.pipeline.alarm import AlarmLatch, AlarmSink, publish

__all__ = ["HotReload"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A file's ``(st_mtime_ns, st_size)``, or ``None`` when it cannot be stat'ed.
_Stamp = tuple[int, int] | None


def _file_stamps(paths: Sequence[Path]) -> tuple[_Stamp, ...]:
    """One stamp per path, in order: equal stamps mean nothing changed."""
    stamps: list[_Stamp] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_mtime_ns, st.st_size))
    return tuple(stamps)


class HotReload(Generic[T]):
    """Holds the object built from some rule files and rebuilds it when they change.

    ``poll(now, out)`` is cheap (a ``stat`` per file, at most once per ``interval``); when a
    file changed it calls ``build()`` for a complete new object and swaps the reference —
    nothing is mutated in place, so an event being processed sees old or new rules, never a
    mix. If ``build`` raises :class:`RulesError`, the old object stays, the error is logged
    and an alarm (kind ``rules_rejected``) is raised; the next good load clears it.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        build: Callable[[], T],
        *,
        stream: str,
        source: str,
        interval: float = 1.0,
    ) -> None:
        self.paths = tuple(paths)
        self._build = build
        self._source = source
        self._interval = interval
        self._stamp = _file_stamps(self.paths)
        self.current: T = build()
        self._next_check = float("-inf")
        self._alarm = AlarmLatch(stream, "rules_rejected", source, subject=source)
        #: Why the last reload was rejected, while the previous rules are in use.
        self.error: str | None = None

    def poll(self, now: float, out: AlarmSink) -> bool:
        """Reload if a file changed; ``True`` when new rules were swapped in."""
        if now < self._next_check:
            return False
        self._next_check = now + self._interval
        stamp = _file_stamps(self.paths)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return self.reload(now, out)

    def reload(self, now: float, out: AlarmSink) -> bool:
        """Rebuild now; ``True`` when new rules were swapped in."""
        try:
            fresh = self._build()
        except RulesError as exc:
            message = str(exc)
            log.error("%s: rules rejected, keeping the previous rules: %s", self._source, message)
            if message != self.error:
                publish(out, self._alarm.clear(now, "superseded by a newer error"))
                stay = f"rules rejected, previous rules stay: {message}"
                publish(out, self._alarm.raise_(now, stay))
            self.error = message
            return False
        self.current = fresh
        log.info("%s: rules reloaded from %s", self._source, ", ".join(map(str, self.paths)))
        publish(out, self._alarm.clear(now, "rules fixed and reloaded"))
        self.error = None
        return True

