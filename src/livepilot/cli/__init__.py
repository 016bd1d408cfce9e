"""The ``livepilot`` command: the composition root for people at a terminal.

``streams`` holds the long-running commands (demo, run, replay, record, serve, simulate);
``tools`` the one-shot ones (score, leads, check, command); ``history`` the stored
streams, their reports and the plan across them (streams, report, chatlog, plan).
"""

from __future__ import annotations

from livepilot.cli import history as _history  # noqa: F401  (registers its commands)
from livepilot.cli import streams as _streams  # noqa: F401  (registers its commands)
from livepilot.cli import tools as _tools  # noqa: F401  (registers its commands)
from livepilot.cli._app import app, main

__all__ = ["app", "main"]
