"""Who is asking: console tokens, moderator tokens, overlay keys — and what each may do.

Three kinds of credential, accepted as ``?token=`` / ``?key=`` (OBS browser sources and
WebSockets cannot set headers) or as ``Authorization: Bearer …``:

- a **moderator token** (``LIVEPILOT_MODERATORS``) is one person: the console and its API
  open for them, and every action they take is recorded under their name and role
  (``verified``);
- the shared **console token** (``LIVEPILOT_CONSOLE_TOKEN``) opens the console as a
  ``lead`` whose name is whatever the client says (not verified) — how a single-person
  setup and ``livepilot demo`` work;
- the **overlay key** (``LIVEPILOT_OVERLAY_KEY``) opens only the public overlay pages and
  sockets (what goes on stream), which carry no console data;
- the **host key** (``LIVEPILOT_HOST_KEY``) opens the public overlays and the backstage
  ones too (host prompts, the host screen), which are never on stream.

Every credential is compared with every configured secret in constant time, so neither
timing nor the order of the list tells which one nearly matched. :data:`ACTION_GROUPS` is
the one table of which role may run which moderator action.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr
from starlette.requests import HTTPConnection

from livepilot.settings import Moderator, ModeratorRole

__all__ = [
    "ACTION_GROUPS",
    "Access",
    "Authenticator",
    "ModeratorRole",
    "Principal",
    "credential",
    "group_of",
]


class Access(StrEnum):
    """Which pages and sockets a credential opens."""

    CONSOLE = "console"
    HOST = "host"  # backstage overlays (host prompts) and the public ones
    OVERLAY = "overlay"  # public overlays only


#: Moderator actions by group, and the roles that may run each group. The action names are
#: those of ``livepilot.commands.ACTIONS`` (every action has a schema there, and the tests
#: check both tables name the same actions). An action in no group is left to ``lead``: a
#: new action stays closed to the others until it is listed here.
ACTION_GROUPS: dict[str, tuple[frozenset[str], frozenset[ModeratorRole]]] = {
    "chat": (
        frozenset({"hide", "approve", "unhide", "hold", "pin", "unpin"}),
        frozenset({ModeratorRole.LEAD, ModeratorRole.MODERATOR}),
    ),
    "users": (
        frozenset({"strike", "pardon", "timeout", "block", "unblock", "ban", "unban"}),
        frozenset({ModeratorRole.LEAD, ModeratorRole.MODERATOR}),
    ),
    "questions": (
        frozenset({"claim", "answer", "dismiss"}),
        frozenset({ModeratorRole.LEAD, ModeratorRole.MODERATOR}),
    ),
    "prompts": (
        frozenset({"ack_prompt", "dismiss_prompt"}),
        frozenset({ModeratorRole.LEAD, ModeratorRole.MODERATOR}),
    ),
    "show": (
        frozenset({
            "segment_start", "segment_next",
            "poll_start", "poll_close",
            "giveaway_start", "giveaway_draw",
        }),
        frozenset({ModeratorRole.LEAD}),
    ),
}

def group_of(action: str) -> str | None:
    """The group an action belongs to, or ``None`` for an action no table lists."""
    return next((g for g, (actions, _) in ACTION_GROUPS.items() if action in actions), None)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a console request.

    ``name`` is ``None`` for the shared console token: its actions carry the name the
    client declares. ``verified`` is true only for a personal moderator token.
    """

    name: str | None
    role: ModeratorRole
    verified: bool

    def may(self, action: str) -> bool:
        group = group_of(action)
        if group is None:
            return self.role is ModeratorRole.LEAD
        return self.role in ACTION_GROUPS[group][1]

    def groups(self) -> list[str]:
        """The action groups this principal may use, in table order."""
        return [g for g, (_, roles) in ACTION_GROUPS.items() if self.role in roles]

    def actions(self) -> list[str]:
        """The listed actions this principal may run, sorted."""
        return sorted(a for g in self.groups() for a in ACTION_GROUPS[g][0])


_SHARED_LEAD = Principal(name=None, role=ModeratorRole.LEAD, verified=False)


def credential(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token") or conn.query_params.get("key")


def _same(given: bytes, secret: SecretStr | None) -> bool:
    return secret is not None and secrets.compare_digest(
        given, secret.get_secret_value().encode()
    )


class Authenticator:
    """Resolves a request's credential against the configured tokens (built once)."""

    def __init__(
        self,
        console_token: SecretStr | None,
        overlay_key: SecretStr | None,
        moderators: tuple[Moderator, ...] = (),
        host_key: SecretStr | None = None,
    ) -> None:
        self._console = console_token
        self._overlay = overlay_key
        self._host = host_key
        self._team = moderators

    def principal(self, conn: HTTPConnection) -> Principal | None:
        """The console user behind the credential, or ``None`` (no or another credential)."""
        given = credential(conn)
        if not given:
            return None
        raw = given.encode()
        # No early exit: every secret is compared, whichever matches.
        found: Principal | None = _SHARED_LEAD if _same(raw, self._console) else None
        for moderator in self._team:
            if _same(raw, moderator.token):
                found = Principal(moderator.name, moderator.role, verified=True)
        return found

    def access(self, conn: HTTPConnection) -> Access | None:
        """What the credential opens: the console (and with it every overlay), the
        backstage and public overlays, the public overlays only, or nothing."""
        if self.principal(conn) is not None:
            return Access.CONSOLE
        given = credential(conn)
        if not given:
            return None
        raw = given.encode()
        host, public = _same(raw, self._host), _same(raw, self._overlay)
        if host:
            return Access.HOST
        return Access.OVERLAY if public else None
