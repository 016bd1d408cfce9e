"""Which web pages may open livepilot's WebSockets.

A browser sends the page's ``Origin`` with every WebSocket handshake and lets any page
connect anywhere; a socket that carries a token in its URL would otherwise be open to
whatever page learned it. The rule:

- no ``Origin`` header: allowed — not a browser (OBS plugins, the CLI, scripts);
- the same origin as the server: allowed — the ``Origin``'s host and port are those of
  the ``Host`` the client connected to (the console and overlay pages livepilot serves);
- an origin listed in ``LIVEPILOT_ALLOWED_ORIGINS``: allowed (``*`` allows any);
- anything else, ``Origin: null`` included: refused.

Behind a reverse proxy that rewrites ``Host``, list the public origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["OriginPolicy", "normalize_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a default port; ``ValueError`` for
    anything that is not one (a path, a query, no host, a bad port)."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{origin!r} is not an origin like https://live.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{origin!r}: an origin is scheme://host[:port], nothing more")
    port = parts.port  # raises ValueError for a port out of range
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _host_port(netloc: str, default_port: int) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host, default_port if port is None else port


class OriginPolicy:
    """Decides whether a WebSocket handshake's ``Origin`` may connect."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        listed = tuple(allowed)
        self._any = "*" in listed
        self._allowed = frozenset(normalize_origin(o) for o in listed if o != "*")

    def allows(self, origin: str | None, host: str | None) -> bool:
        """Whether a handshake with this ``Origin`` and ``Host`` header may connect."""
        if origin is None or self._any:
            return True
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            return False  # "null" (file://, sandboxed frames) and garbage
        if normalized in self._allowed:
            return True
        if host is None:
            return False
        parts = urlsplit(normalized)
        default = _DEFAULT_PORTS[parts.scheme]
        same = _host_port(parts.netloc, default)
        return same is not None and same == _host_port(host.lower(), default)
