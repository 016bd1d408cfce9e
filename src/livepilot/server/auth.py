"""Console tokens and overlay keys.

The console token (``LIVEPILOT_CONSOLE_TOKEN``) opens everything a moderator uses; the
overlay key (``LIVEPILOT_OVERLAY_KEY``) opens only overlay pages and overlay sockets, which
carry no console data. Both are accepted as ``?token=`` / ``?key=`` (OBS browser sources
and WebSockets cannot set headers) or as ``Authorization: Bearer …``. Comparisons are
constant-time. With no token configured, nothing is open: the server refuses to start
without one (``livepilot demo`` makes them up).
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from pydantic import SecretStr
from starlette.requests import HTTPConnection

__all__ = ["Role", "credential", "role_of"]


class Role(StrEnum):
    CONSOLE = "console"
    OVERLAY = "overlay"


def credential(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token") or conn.query_params.get("key")


def _matches(given: str, secret: SecretStr | None) -> bool:
    return secret is not None and secrets.compare_digest(
        given.encode(), secret.get_secret_value().encode()
    )


def role_of(
    conn: HTTPConnection, console: SecretStr | None, overlay: SecretStr | None
) -> Role | None:
    """The role the request's credential grants, or ``None``."""
    given = credential(conn)
    if not given:
        return None
    if _matches(given, console):
        return Role.CONSOLE
    if _matches(given, overlay):
        return Role.OVERLAY
    return None
