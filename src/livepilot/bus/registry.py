"""The stream registry: streams added through the API, for every worker to claim.

A stream declared here is run by exactly one worker (the lease decides which), and every
API replica lists it once that worker shares its views. Removing it stops it wherever it
runs: each worker drops the streams it holds that are no longer declared at its next
claim tick. The spec is the stream's JSON description (``livepilot.workers.StreamSpec``);
the registry keeps it as it is and never parses it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["StreamRegistry"]


@runtime_checkable
class StreamRegistry(Protocol):
    """Streams declared at run time (Redis bus only: ``{prefix}:declared``).

    Every call raises :class:`~livepilot.errors.BusUnavailable` when the bus is down.
    """

    async def declare(self, stream: str, spec: str) -> bool:
        """Declare ``stream``; false when it is declared already (nothing changes)."""
        ...

    async def undeclare(self, stream: str) -> bool:
        """Remove ``stream``; false when it was not declared."""
        ...

    async def declared(self) -> dict[str, str]:
        """Every declared stream: name → spec JSON."""
        ...
