"""One-shot commands: score a chat log, export leads, check rules, send a moderator command,
fetch and list models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from livepilot.cli._app import app, load_settings
from livepilot.errors import ConfigError, LivepilotError

__all__: list[str] = []


@app.command()
def score(
    file: Annotated[
        str | None, typer.Argument(help="One message per line (UTF-8); '-' or none reads stdin.")
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on stderr [default: on a tty]."
        ),
    ] = None,
) -> None:
    """Judge each line as a chat message from a fresh viewer; one JSON object per line.

    Output fields: text, labels, toxicity (0–1 or null), reasons, action. Use it to test a
    rule pack against an exported chat log.
    """
    from livepilot.score import score_command

    settings = load_settings()
    try:
        score_command(file, settings, progress=progress)
    except ConfigError as exc:
        typer.echo(f"livepilot score: {exc}", err=True)
        raise typer.Exit(1) from exc
    except FileNotFoundError as exc:
        raise typer.BadParameter(f"{file}: no such file", param_hint="FILE") from exc


@app.command()
def leads(
    file: Annotated[Path, typer.Argument(help="Output of `livepilot replay FILE --jsonl`.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")] = None,
) -> None:
    """Export the leads (buying signals) of a stream, minimised as the settings say.

    LIVEPILOT_LEAD_USER (handle | pseudonym | none), LIVEPILOT_LEAD_MESSAGE (keep the text),
    LIVEPILOT_LEAD_RETENTION_HOURS decide what leaves the machine.
    """
    from livepilot.leads import LeadPolicy, export_leads, read_leads

    if fmt not in ("csv", "json"):
        raise typer.BadParameter("use csv or json", param_hint="--format")
    if not file.is_file():
        raise typer.BadParameter(f"{file} does not exist or is not a file", param_hint="FILE")
    chosen: Literal["csv", "json"] = "json" if fmt == "json" else "csv"
    text = export_leads(
        read_leads(file), LeadPolicy.from_settings(load_settings()), time.time(), chosen
    )
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@app.command()
def check(
    questions: Annotated[
        list[str] | None,
        typer.Argument(help="Sample questions to try against each FAQ file."),
    ] = None,
) -> None:
    """Validate every rules file the way the co-pilot would load it; try FAQ questions.

    Word packs, spam, strikes, intents, alarms, run-of-show and FAQ files.
    """
    from livepilot.metrics import Metrics
    from livepilot.pipeline.context import StageContext
    from livepilot.stages.audience.faq import check_faq
    from livepilot.stages.check import check_rules_dir
    from livepilot.stages.registry import build_pipeline

    settings = load_settings()
    problems = list(check_rules_dir(settings.rules_dir))
    try:
        build_pipeline(settings.stages, StageContext(settings=settings, metrics=Metrics()))
    except LivepilotError as exc:
        problems.append(str(exc))
    for path in sorted(settings.rules_dir.glob("faq*.yaml")):
        try:
            typer.echo(check_faq(path, questions or ()))
        except LivepilotError as exc:
            problems.append(str(exc))
    for problem in dict.fromkeys(problems):
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{settings.rules_dir}: all rules files are valid")


def _parse_args(pairs: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: use key=value", param_hint="--arg")
        items = [v.strip() for v in value.split(",")] if "," in value else None
        args[key] = items if items is not None else value
    return args


@app.command()
def command(
    stream: Annotated[str, typer.Argument(help="The stream id (e.g. the creator's handle).")],
    action: Annotated[
        str,
        typer.Argument(
            help="segment_start, segment_next, poll_start, poll_close, giveaway_start, "
            "giveaway_draw, ack_prompt, dismiss_prompt, claim, answer, dismiss, hide, approve, "
            "strike, pardon, block, unblock …"
        ),
    ],
    target: Annotated[str, typer.Option(help="Event, prompt, queue item or user id.")] = "",
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="key=value (a,b,c for a list); repeatable.")
    ] = None,
    by: Annotated[str, typer.Option(help="Who does it (for the audit log).")] = "cli",
    url: Annotated[str, typer.Option(help="The running server.")] = "http://127.0.0.1:8080",
) -> None:
    """Send a moderator or host action to a running livepilot (needs LIVEPILOT_CONSOLE_TOKEN).

    Example: livepilot command demo poll_start --arg "question=Welche Farbe?" --arg options=Rot,Blau
    """
    import httpx

    settings = load_settings()
    if settings.console_token is None:
        raise typer.BadParameter("set LIVEPILOT_CONSOLE_TOKEN to the server's console token")
    body = {
        "stream": stream,
        "action": action,
        "target": target,
        "by": by,
        "args": _parse_args(arg or []),
    }
    headers = {"Authorization": f"Bearer {settings.console_token.get_secret_value()}"}
    try:
        response = httpx.post(f"{url}/api/commands", json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        typer.echo(f"livepilot command: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code != 202:
        typer.echo(f"livepilot command: {response.status_code} {response.text}", err=True)
        raise typer.Exit(1)
    typer.echo(response.json()["id"])


models_app = typer.Typer(
    help="Detoxify models: fetch them once (`models pull`), see what is cached (`models list`).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str,
        typer.Argument(help="multilingual (the default), original or unbiased."),
    ] = "multilingual",
    release_base: Annotated[
        str | None,
        typer.Option(help="A mirror of the detoxify release files (same layout)."),
    ] = None,
    hub_base: Annotated[
        str | None,
        typer.Option(help="A mirror of the Hugging Face hub (same layout)."),
    ] = None,
) -> None:
    """Download a Detoxify checkpoint and its tokenizer files into LIVEPILOT_MODELS_DIR.

    Checks every file's SHA-256 and resumes an interrupted download. Then set
    LIVEPILOT_DETOXIFY=NAME to run it; nothing is downloaded at run time.
    """
    from livepilot.ml.pull import CATALOG, HUB_BASE, RELEASE_BASE, default_models_dir, pull_model

    spec = CATALOG.get(name)
    if spec is None:
        raise typer.BadParameter(f"{name!r}: use one of {', '.join(CATALOG)}", param_hint="NAME")
    models_dir = load_settings().models_dir or default_models_dir()
    typer.echo(f"pulling Detoxify {name} ({spec.about}) into {models_dir}", err=True)
    shown: dict[str, int] = {}

    def progress(file: str, done: int, total: int | None) -> None:
        step = done >> 26  # a line every 64 MiB
        if shown.get(file) != step:
            shown[file] = step
            of = f" of {total / 1e6:.0f} MB" if total else ""
            typer.echo(f"  {file}: {done / 1e6:.0f} MB{of}", err=True)

    try:
        pulled = pull_model(spec, models_dir, release_base=release_base or RELEASE_BASE,
                            hub_base=hub_base or HUB_BASE, progress=progress)
    except LivepilotError as exc:
        typer.echo(f"livepilot models pull: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{name}: {pulled.size / 1e6:.0f} MB in {pulled.checkpoint.parent}")
    typer.echo(f"run it with LIVEPILOT_DETOXIFY={name}")


@models_app.command("list")
def models_list() -> None:
    """Show the models in LIVEPILOT_MODELS_DIR: name, state, size, how it was checked."""
    from livepilot.ml.pull import cached_models, default_models_dir

    models_dir = load_settings().models_dir or default_models_dir()
    rows = cached_models(models_dir)
    if not rows:
        typer.echo(f"no models in {models_dir}: run `livepilot models pull`")
        return
    for row in rows:
        extra = f"  pulled {row['pulled_at']}, checked: {row['verified']}" \
            if row["state"] == "ready" else ""
        typer.echo(f"{row['name']:<13} {row['state']:<10} {row['size'] / 1e6:8.1f} MB  "
                   f"{row['path']}{extra}")
