"""The one JSON wire format: WebSocket frames, headless output and recordings.

Each message is one JSON object with a ``type``: an event kind (``chat``, ``gift`` …), or
``insight``, ``alarm``, ``prompt``, ``tally``, ``moderation``. A recording is a JSONL file
of such messages; replay reads the event lines and ignores the rest, so headless output can be
replayed again.
See ``docs/wire-format.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeAlias

from pydantic import Field, TypeAdapter, ValidationError

from livepilot.events import EVENT_TYPES, AnyEvent
from livepilot.insights import Alarm, Insight, ModerationDecision, Prompt, Tally

__all__ = [
    "EVENT_TYPES",
    "LineError",
    "WireMessage",
    "decode",
    "encode",
    "read_jsonl",
]

WireMessage: TypeAlias = Annotated[
    AnyEvent | Insight | Alarm | Prompt | Tally | ModerationDecision,
    Field(discriminator="type"),
]

_adapter: TypeAdapter[WireMessage] = TypeAdapter(WireMessage)


def encode(message: WireMessage) -> str:
    """Serialise a message to its wire JSON (one line, no trailing newline)."""
    return message.model_dump_json()


def decode(data: str | bytes) -> WireMessage:
    """Parse one wire message; raises pydantic's ``ValidationError`` on bad input."""
    return _adapter.validate_json(data)


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of a JSONL file that could not be read, and why."""

    path: str
    line: int
    error: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.error}"


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "line"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def read_jsonl(path: Path) -> Iterator[WireMessage | LineError]:
    """Yield each line's message, or a :class:`LineError` naming the line, in file order.

    Blank lines are skipped. A bad line never stops the reading.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield decode(raw)
            except ValidationError as exc:
                yield LineError(str(path), number, _describe(exc))
