"""The Typer app and what every command shares: settings, logging, errors."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from livepilot.errors import LivepilotError
from livepilot.settings import Settings

__all__ = ["Host", "Port", "Verbose", "app", "configure_logging", "load_settings", "main"]

app = typer.Typer(
    name="livepilot",
    help="A self-hosted co-pilot for live streams: judges every chat message in milliseconds "
    "and tells moderators, the host, OBS and Grafana what needs them now.\n\n"
    "Settings come from LIVEPILOT_* environment variables (see the README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Port = Annotated[
    int | None,
    typer.Option("--port", "-p", help="HTTP port (0 = any free port) [default: 8080]."),
]
Host = Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line options on top."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "LIVEPILOT_" + ".".join(str(p) for p in first["loc"]).upper()
        raise typer.BadParameter(f"{field}: {first['msg']}") from exc
    update = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=update) if update else settings


def configure_logging(verbose: bool, level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def main() -> None:
    try:
        app()
    except LivepilotError as exc:
        typer.echo(f"livepilot: {exc}", err=True)
        raise SystemExit(2) from exc
    except KeyboardInterrupt:
        raise SystemExit(130) from None
