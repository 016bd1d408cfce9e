"""The server's routes, one router per audience: probes (ops), the console API, pages
(console, overlays and their assets), the WebSockets, and stream history (reports). Each
module's ``router`` holds only route declarations; what they serve from comes per request
from ``ServerParts``."""

from __future__ import annotations

from fastapi import APIRouter

from livepilot.server.routes import api, pages, probes, reports, sockets

__all__ = ["ROUTERS"]

#: Every router, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (
    probes.router, api.router, pages.router, sockets.router, reports.router
)
