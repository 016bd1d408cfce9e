"""The door in front of every console and overlay route, for HTTP and WebSockets alike.

In order: a WebSocket's ``Origin`` (:mod:`livepilot.server.origins`), then the client
address's failure budget (:mod:`livepilot.server.throttle`), then the credential
(:mod:`livepilot.server.auth`). A refusal is a :class:`Refused` carrying the HTTP status;
the routes answer it as an HTTP error or a WebSocket close (1008). Every refusal is
counted: wrong credentials in ``livepilot_auth_failures_total``, refusals before any
check in ``livepilot_access_refused_total``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from typing import Literal

from starlette.requests import HTTPConnection

from livepilot.metrics import Metrics
from livepilot.server.auth import Access, Authenticator, Principal, credential
from livepilot.server.origins import OriginPolicy
from livepilot.server.throttle import FailureThrottle

__all__ = ["Gate", "Refused", "Where", "client_address", "throttle_key"]

log = logging.getLogger(__name__)

#: The metric label of the side a request came in on.
Where = Literal["http", "websocket"]

_CONSOLE = "console token or moderator token"
_OVERLAY = "overlay key"


class Refused(Exception):
    """A request the gate turned away: ``status`` 401, 403 or 429 and the reason."""

    def __init__(self, status: int, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.status == 401:
            return {"WWW-Authenticate": "Bearer"}
        if self.retry_after is not None:
            return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}
        return {}


def client_address(conn: HTTPConnection) -> str:
    """The peer's address (uvicorn's ``--proxy-headers`` makes it the forwarded one)."""
    return conn.client.host if conn.client is not None else "unknown"


def throttle_key(address: str) -> str:
    """Whose failure budget a request spends: its address, or for IPv6 its /64 — one
    host commonly holds a whole /64 and could otherwise guess from each address in it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class Gate:
    """Decides who gets in; see the module docstring."""

    def __init__(
        self,
        auth: Authenticator,
        throttle: FailureThrottle,
        origins: OriginPolicy,
        metrics: Metrics,
    ) -> None:
        self._auth = auth
        self._throttle = throttle
        self._origins = origins
        self._metrics = metrics

    def console(self, conn: HTTPConnection, where: Where) -> Principal:
        """Who is at the console; :class:`Refused` if nobody it knows."""
        self._not_throttled(conn, where)
        principal = self._auth.principal(conn)
        if principal is None:
            raise self._failed(conn, where, _CONSOLE)
        return principal

    def overlay(self, conn: HTTPConnection, where: Where) -> Access:
        """What the credential opens (an overlay opens with either); :class:`Refused` if
        neither."""
        self._not_throttled(conn, where)
        access = self._auth.access(conn)
        if access is None:
            raise self._failed(conn, where, _OVERLAY)
        return access

    def origin(self, conn: HTTPConnection) -> None:
        """:class:`Refused` (403) for a WebSocket opened by a page of a foreign origin."""
        origin = conn.headers.get("origin")
        if self._origins.allows(origin, conn.headers.get("host")):
            return
        shown = repr((origin or "")[:100])
        self._metrics.access_refused.labels("websocket", "origin").inc()
        log.warning("refused a WebSocket from origin %s (%s)", shown, client_address(conn))
        raise Refused(403, f"origin {shown} may not open this socket (LIVEPILOT_ALLOWED_ORIGINS)")

    def _not_throttled(self, conn: HTTPConnection, where: Where) -> None:
        wait = self._throttle.retry_after(throttle_key(client_address(conn)))
        if wait > 0:
            self._metrics.access_refused.labels(where, "throttled").inc()
            raise Refused(
                429, f"too many failed sign-ins from this address; retry in {math.ceil(wait)} s",
                retry_after=wait,
            )

    def _failed(self, conn: HTTPConnection, where: Where, what: str) -> Refused:
        self._metrics.auth_failures.labels(where).inc()
        address = client_address(conn)
        # Only a credential that was sent and wrong is a guess; a missing one is not.
        if credential(conn):
            key = throttle_key(address)
            self._throttle.failed(key)
            if self._throttle.retry_after(key) > 0:
                log.warning("failed credentials from %s: throttled", key)
        return Refused(401, f"a valid {what} is required (?token=… or Authorization: Bearer …)")
