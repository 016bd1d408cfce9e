"""The ``bus_down`` alarm: raised on every stream's console while the bus is down,
cleared when it is back.

Published on the bus itself: a bus that is down still fans out in this process, and logs
the alarm once it is back.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Collection

from livepilot.bus.base import Bus
from livepilot.clock import SystemClock
from livepilot.insights import Severity
from livepilot.pipeline.alarm import AlarmLatch

__all__ = ["watch_bus"]


async def watch_bus(bus: Bus, streams: Callable[[], Collection[str]], every: float = 0.5) -> None:
    """Check the bus's health every ``every`` s until cancelled; alarm on each change."""
    latches: dict[str, AlarmLatch] = {}
    where = f"{socket.gethostname()}-{os.getpid()}"
    was_up = True
    while True:
        await asyncio.sleep(every)
        health = bus.health()
        if health.up == was_up:
            continue
        was_up = health.up
        now = SystemClock().now()
        alarms = []
        for name in streams() or ["*"]:
            latch = latches.get(name)
            if latch is None:
                latch = latches[name] = AlarmLatch(
                    name, "bus_down", "bus", subject=where, severity=Severity.CRITICAL
                )
            if health.up:
                alarm = latch.clear(now, "The bus is back: messages reach every console "
                                         "and the event log again.")
            else:
                alarm = latch.raise_(
                    now,
                    f"The bus is down ({health.problem}). The streams go on here; other "
                    "servers' consoles and moderator commands wait until it is back.",
                    {"process": where, "buffered": health.buffered},
                )
            if alarm is not None:
                alarms.append(alarm)
        if alarms:
            await bus.publish(alarms)
