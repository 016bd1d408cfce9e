"""The goal bar's segment goal, as the overlays see it.

The run-of-show stage raises the ``goal`` alarm when a segment with a goal starts (its data:
``metric``, ``target``, ``label``, ``segment``, ``value`` counted so far) and clears it when
the segment ends. :class:`GoalBar` follows that alarm on the bus and counts the segment's
likes, diamonds or follows from then on, the way the stage counts them (each like event's
count, a gift streak's diamonds once at its end, one per follow), so the server — any API
replica — can hand a goal overlay that connects mid-segment the same bar the others show.
"""

from __future__ import annotations

import json

from livepilot.insights import Alarm, AlarmState

__all__ = ["GOAL_ALARM", "GoalBar"]

#: The run-of-show alarm that carries the running segment's goal.
GOAL_ALARM = "goal"
_METRICS = frozenset({"likes", "diamonds", "follows"})


class GoalBar:
    """One stream's running segment goal (none between goal segments)."""

    __slots__ = ("_id", "_label", "_metric", "_segment", "_stream", "_target", "value")

    def __init__(self, stream: str) -> None:
        self._stream = stream
        self._id: str | None = None  # the raised goal alarm's id; None: no goal running
        self._metric = ""
        self._target = 0
        self._label = ""
        self._segment = ""
        self.value = 0

    @property
    def state(self) -> tuple[str | None, int]:
        """What a ``goal`` message shows (compare before and after a batch)."""
        return (self._id, self.value)

    @property
    def active(self) -> bool:
        return self._id is not None

    def on_alarm(self, alarm: Alarm) -> None:
        """Follow the ``goal`` alarm: a goal segment started, or the one shown ended."""
        if alarm.state is AlarmState.CLEARED:
            if alarm.id == self._id:
                self._id = None
            return
        data = alarm.data
        metric, target, value = data.get("metric"), data.get("target"), data.get("value", 0)
        if metric not in _METRICS or not isinstance(target, int) or target <= 0:
            return  # not a goal this server can count (a newer stage's, say)
        self._id = alarm.id
        self._metric = str(metric)
        self._target = target
        self._label = str(data.get("label", ""))
        self._segment = str(data.get("segment", ""))
        self.value = value if isinstance(value, int) and value >= 0 else 0

    def add(self, metric: str, amount: int) -> None:
        """Count ``amount`` likes (a like event's count), diamonds (a streak's, at its
        end) or follows towards the running goal, if it counts ``metric``."""
        if self._id is not None and metric == self._metric:
            self.value += amount

    def json(self) -> str:
        """The ``goal`` overlay message: the bar, or ``active: false`` when none runs."""
        if self._id is None:
            return json.dumps({"type": "goal", "stream": self._stream, "active": False})
        return json.dumps(
            {"type": "goal", "stream": self._stream, "active": True, "metric": self._metric,
             "target": self._target, "label": self._label, "segment": self._segment,
             "value": self.value, "reached": self.value >= self._target},
            ensure_ascii=False,
        )
