"""What the server may read of the running streams, and how it runs them: the seam
between the HTTP side and the pipelines.

The server never imports a stage, the pipeline or the service that wires them. It is
handed a :class:`StreamHost` (in practice ``livepilot.service.StreamService``, wired by
the CLI or ``livepilot.testing``) and reads through :class:`StateReader` only: stream
names, their status, and named views of the stages' live state as JSON-ready values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, TypeAlias

__all__ = ["JSONValue", "StateReader", "StreamHost", "ViewUnavailable"]

#: A value ``json.dumps`` can write as it is (mappings and sequences read-only, so a
#: ``dict[str, float]`` or a ``list[dict[str, Any]]`` is one too).
JSONValue: TypeAlias = (
    Mapping[str, "JSONValue"] | Sequence["JSONValue"] | str | int | float | bool | None
)


class ViewUnavailable(LookupError):
    """A view cannot be read: no such stream, no such view, or the stage that keeps the
    state is not running. The message says which, in words a console user can act on."""


class StateReader(Protocol):
    """Read-only access to the running streams."""

    def streams(self) -> Collection[str]:
        """The names of the streams this process runs."""
        ...

    def status(self) -> Sequence[Mapping[str, JSONValue]]:
        """One entry per stream: ``stream``, ``state``, ``processed``."""
        ...

    def view(self, stream: str, name: str, now: float) -> JSONValue:
        """A stage's live state by view name (``summary``, ``rates``, ``prompts``,
        ``show``, ``polls``, ``questions``, ``kpi``, ``toxicity``, ``users``).

        Raises :class:`ViewUnavailable`.
        """
        ...

    def keyed_view(self, stream: str, name: str, key: str, now: float) -> JSONValue:
        """One item of a stage's live state (``users/{user_id}``): a key never seen reads
        as a clean state, not an error.

        Raises :class:`ViewUnavailable`.
        """
        ...


class StreamHost(StateReader, Protocol):
    """The streams the app's lifespan runs and stops, and reads from."""

    async def run(self) -> None:
        """Run every stream until its source ends or :meth:`stop` is called."""
        ...

    async def stop(self, deadline: float = 5.0) -> bool:
        """Stop the sources, then let the pipelines drain for up to ``deadline`` s."""
        ...
