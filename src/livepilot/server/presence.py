"""Who is moderating right now, and which review items each of them handles.

Every console socket holds a :class:`Seat` while it is open. The page says ``hello`` with
the name it acts under (a verified moderator's own name wins over what the page says) and
may ``claim`` or ``release`` an item — "I handle this one" — so two moderators don't work
the same message. Every change is sent to every console as one ``presence`` message:

    {"type": "presence", "moderators": [{"name": "lena", "role": "moderator",
      "verified": true, "connections": 1, "claims": [{"stream": "demo", "target": "demo-2"}]}]}

A moderator with two tabs open is one entry (``connections: 2``, the claims of both).
Presence is live state only: nothing is stored, and a closed socket takes its claims with
it. Frames from the page are validated like commands; a bad one is answered with a
``presence_refused`` message naming what was wrong, and changes nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livepilot.commands import MAX_TARGET_LENGTH
from livepilot.server.auth import Principal

__all__ = ["MAX_CLAIMS", "Presence", "PresenceFrame", "Seat"]

#: Claims one seat holds at most; a new claim beyond it lets go of the oldest.
MAX_CLAIMS = 20
#: A frame longer than this is not a presence frame (the command desk refuses it).
_MAX_FRAME = 2_000
_SHARED_NAME = "console"


class PresenceFrame(BaseModel):
    """What a console page sends about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["presence"]
    op: Literal["hello", "claim", "release"]
    name: str = Field(default="", max_length=80)
    stream: str = Field(default="", max_length=200)
    target: str = Field(default="", max_length=MAX_TARGET_LENGTH)


def _clean_name(text: str) -> str:
    """A display name without control characters or surrounding space."""
    return "".join(ch for ch in text if ch.isprintable()).strip()


class Seat:
    """One console socket's place in :class:`Presence`."""

    def __init__(self, presence: Presence, number: int, principal: Principal,
                 publish: Callable[[str], None]) -> None:
        self._presence = presence
        self.number = number
        self.principal = principal
        self.name = principal.name or _SHARED_NAME
        self.claims: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._publish = publish

    def frame(self, text: str) -> tuple[bool, str | None]:
        """``(handled, reply)``: ``handled`` is false for any frame that is not about
        presence (the caller passes it on to the command desk)."""
        if len(text) > _MAX_FRAME or '"presence"' not in text:
            return False, None
        try:
            data = json.loads(text)
        except ValueError:
            return False, None
        if not isinstance(data, dict) or data.get("type") != "presence":
            return False, None
        try:
            frame = PresenceFrame.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "frame"
            return True, _refusal(f"presence frame: {where}: {first['msg']}")
        refusal = self._apply(frame)
        if refusal is not None:
            return True, _refusal(refusal)
        self._publish(self._presence.wire())
        return True, None

    def _apply(self, frame: PresenceFrame) -> str | None:
        if frame.op == "hello":
            if not self.principal.verified:
                self.name = _clean_name(frame.name) or _SHARED_NAME
            return None
        if not frame.stream or not frame.target:
            return f"presence frame: {frame.op} needs a stream and a target"
        key = (frame.stream, frame.target)
        if frame.op == "release":
            self.claims.pop(key, None)
            return None
        self.claims.pop(key, None)
        self.claims[key] = None
        while len(self.claims) > MAX_CLAIMS:
            del self.claims[next(iter(self.claims))]
        return None

    def leave(self) -> None:
        """The socket closed: the seat and its claims go."""
        if self._presence.remove(self):
            self._publish(self._presence.wire())


def _refusal(message: str) -> str:
    return json.dumps({"type": "presence_refused", "message": message}, ensure_ascii=False)


class Presence:
    """The consoles connected to this server process (see the module docstring)."""

    def __init__(self) -> None:
        self._seats: dict[int, Seat] = {}
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self._seats)

    def seat(self, principal: Principal, publish: Callable[[str], None]) -> Seat:
        """A seat for a console socket that just opened; ``publish`` sends a message to
        every console. The others learn of it at once; the new page once it says hello."""
        seat = Seat(self, next(self._numbers), principal, publish)
        self._seats[seat.number] = seat
        publish(self.wire())
        return seat

    def remove(self, seat: Seat) -> bool:
        return self._seats.pop(seat.number, None) is not None

    def wire(self) -> str:
        """The ``presence`` message: one entry per name, in the order they arrived."""
        first: dict[str, Seat] = {}
        connections: dict[str, int] = {}
        claims: dict[str, dict[tuple[str, str], None]] = {}
        for seat in self._seats.values():
            first.setdefault(seat.name, seat)
            connections[seat.name] = connections.get(seat.name, 0) + 1
            claims.setdefault(seat.name, {}).update(seat.claims)
        moderators = [
            {
                "name": name,
                "role": str(seat.principal.role),
                "verified": seat.principal.verified,
                "connections": connections[name],
                "claims": [{"stream": s, "target": t} for s, t in claims[name]],
            }
            for name, seat in first.items()
        ]
        return json.dumps({"type": "presence", "moderators": moderators}, ensure_ascii=False,
                          separators=(",", ":"))
