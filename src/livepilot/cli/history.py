"""Stream history at the terminal: the stored streams, a stream's report, its chat log,
and the plan across streams (``livepilot plan``).

They read the store configured by ``LIVEPILOT_DATA_DIR`` / ``LIVEPILOT_DATABASE_URL``
(``docs/history.md``) and never write to it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from livepilot.cli._app import app

if TYPE_CHECKING:
    from livepilot.store import History

__all__ = ["chatlog", "plan", "report", "streams"]

Format = Literal["html", "json", "csv"]
StreamRef = Annotated[
    str | None,
    typer.Argument(help="A stored stream: its id, its key (name@time) or its name (newest)."),
]
Last = Annotated[bool, typer.Option("--last", help="The most recently recorded stream.")]
Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
]


def _history() -> History:
    from livepilot.store import History, StoreSettings

    try:
        settings = StoreSettings()
    except ValueError as exc:
        raise typer.BadParameter(f"store settings: {exc}") from None
    return History.open(settings)


def _pick(ref: str | None, last: bool) -> tuple[History, dict[str, Any]]:
    if (ref is None) == (not last):
        raise typer.BadParameter("name a stream (id, key or name) or use --last, not both")
    history = _history()
    stream = history.last() if last else history.find(str(ref))
    return history, stream


@app.command("streams")
def streams(
    limit: Annotated[int, typer.Option(help="How many, most recently recorded first.")] = 20,
    name: Annotated[str | None, typer.Option(help="Only streams with this name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List the stored streams, most recently recorded first."""
    from livepilot.report.compute import iso
    from livepilot.report.text import clock
    history = _history()
    rows = history.streams(limit=max(1, limit), name=name)
    if as_json:
        out = [
            {"id": r["id"], "stream": r["key"], "name": r["name"], "creator": r["creator"],
             "platform": r["platform"], "started_at": iso(r["started_at"]),
             "duration_s": round(float((r["ended_at"] or r["last_at"]) - r["started_at"]), 1),
             "ended": r["ended_at"] is not None, "peak_viewers": r["peak_viewers"],
             "diamonds": int(r["diamonds"] or 0), "chat": int(r["chat"] or 0)}
            for r in rows
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no stored streams yet: run a stream, `livepilot demo` or "
                   "`livepilot replay FILE --jsonl`", err=True)
        return
    header = f"{'id':>4}  {'stream':<36} {'platform':<10} {'duration':>9} {'peak':>6} " \
             f"{'diamonds':>9} {'chat':>7}"
    typer.echo(header)
    for r in rows:
        running = "" if r["ended_at"] is not None else " (live)"
        length = clock(float((r["ended_at"] or r["last_at"]) - r["started_at"]))
        typer.echo(
            f"{r['id']:>4}  {str(r['key'])[:36]:<36} {str(r['platform'])[:10]:<10} "
            f"{length:>9} {r['peak_viewers'] or 0:>6} {int(r['diamonds'] or 0):>9} "
            f"{int(r['chat'] or 0):>7}{running}"
        )


@app.command("report")
def report(
    stream: StreamRef = None,
    last: Last = False,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="html (default; prints to PDF), json, or csv "
                     "(the per-minute series). Without it, -o's suffix decides."),
    ] = None,
    out: Out = None,
    lang: Annotated[
        Literal["de", "en"], typer.Option(help="Language of the report's words.")
    ] = "de",
) -> None:
    """The post-stream report of a stored stream."""
    from livepilot.report import build_report, minutes_csv, render_html, report_json

    history, row = _pick(stream, last)
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out is not None else ""
        fmt = suffix if suffix in ("html", "json", "csv") else "html"  # type: ignore[assignment]
    result = build_report(history.load(row), lang)
    if fmt == "json":
        text = report_json(result)
    elif fmt == "csv":
        text = minutes_csv(result)
    else:
        text = render_html(result, lang)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {fmt} report of {row['key']} to {out}", err=True)


@app.command("chatlog")
def chatlog(stream: StreamRef = None, last: Last = False, out: Out = None) -> None:
    """A stored stream's chat log as CSV (users as the lead settings kept them)."""
    from livepilot.report import chat_log_csv

    history, row = _pick(stream, last)
    chunks = chat_log_csv(history.chat_log(row), float(row["started_at"]))
    if out is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        for chunk in chunks:
            handle.write(chunk)
    typer.echo(f"wrote the chat log of {row['key']} to {out}", err=True)


@app.command("plan")
def plan(
    name: Annotated[str | None, typer.Option(help="Only streams with this name.")] = None,
    limit: Annotated[int, typer.Option(help="How many streams, most recent first.")] = 50,
    fmt: Annotated[
        Literal["text", "html", "json"] | None,
        typer.Option("--format", "-f", help="text (default at the terminal), html or json. "
                     "Without it, -o's suffix decides."),
    ] = None,
    out: Out = None,
    tz: Annotated[
        str, typer.Option("--tz", help="Time zone for weekdays and start hours (IANA name).")
    ] = "Europe/Berlin",
    lang: Annotated[
        Literal["de", "en"], typer.Option(help="Language of the plan's words.")
    ] = "de",
) -> None:
    """Compare the stored streams and suggest when and how to stream next."""
    from livepilot.report.plan import PlanError, plan_streams
    from livepilot.report.plan_html import render_plan_html, render_plan_text

    history = _history()
    rows = history.streams(limit=max(1, min(limit, 500)), name=name)
    try:
        result = plan_streams(
            (history.load(row) for row in rows), tz, lang, now=time.time()
        )
    except PlanError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tz") from None
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out is not None else ""
        fmt = "html" if suffix in ("html", "htm") else "json" if suffix == "json" else "text"
    if fmt == "json":
        text = result.model_dump_json(indent=2) + "\n"
    elif fmt == "html":
        text = render_plan_html(result, lang)
    else:
        text = render_plan_text(result, lang)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {fmt} plan over {len(result.streams)} stream(s) to {out}",
                   err=True)
