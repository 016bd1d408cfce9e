"""Long-running commands: a stream (or several) through the pipeline to the server.

They log state changes (connected, disconnected, shutdown steps), never one line per
message.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
import uvicorn
from prometheus_client import CollectorRegistry

from livepilot.bus import create_bus
from livepilot.cli._app import Host, Port, Verbose, app, configure_logging, load_settings
from livepilot.metrics import Metrics
from livepilot.settings import Settings
from livepilot.sources.base import Source

if TYPE_CHECKING:
    from fastapi import FastAPI

    from livepilot.bus import Bus
    from livepilot.service import StreamService
    from livepilot.store import History, Recorder, StoreSettings

__all__ = ["demo_settings", "serve_streams"]

log = logging.getLogger("livepilot")

#: Builds the sources once the metrics registry exists (sources count into it).
SourceFactory = Callable[[Metrics], list[Source]]
#: Wires more into the service before the server starts (``livepilot worker``'s leases).
Setup = Callable[["StreamService", "Bus", Metrics], object]


def _store_settings() -> StoreSettings:
    from livepilot.store import StoreSettings

    try:
        return StoreSettings()
    except ValueError as exc:
        raise typer.BadParameter(f"store settings: {exc}") from None


def start_recorder(settings: Settings, registry: CollectorRegistry) -> Recorder | None:
    """The stream-history recorder, unless ``LIVEPILOT_STORE=false``."""
    from livepilot.store.wiring import start_recorder as start

    store = _store_settings()
    return start(settings, registry, store) if store.store else None


def open_history() -> History | None:
    """Read access to stream history for the server's reports (connects on first use)."""
    from livepilot.store import History
    from livepilot.store.database import connect

    store = _store_settings()
    return History(connect(store)) if store.store else None


def stop_recorder(recorder: Recorder | None) -> str:
    """Write what the recorder holds; a note for the summary line."""
    if recorder is None:
        return ""
    keys = recorder.stored
    complete = recorder.close(deadline=15.0)
    if not keys:
        return ""
    where = ", ".join(keys)
    return f"; stored as {where}" if complete else f"; stored INCOMPLETELY as {where} (see log)"


def serve_streams(
    settings: Settings,
    sources: SourceFactory,
    *,
    open_browser: bool,
    event_time: bool = False,
    record: bool = True,
    setup: Setup | None = None,
) -> None:
    """Run the server with the sources until Ctrl-C; print the URLs first. Each stream is
    recorded as stream history (unless ``record`` is off or ``LIVEPILOT_STORE=false``);
    ``event_time`` runs the streams on the events' own clock (replays)."""
    from livepilot.server.app import create_app
    from livepilot.service import StreamService
    from livepilot.stream_control import stream_desk

    settings = settings.ensure_tokens()
    metrics = Metrics()
    bus = create_bus(settings, metrics)
    recorder = start_recorder(settings, metrics.registry) if record else None
    service = StreamService(settings, bus, metrics, recorder=recorder)
    for source in sources(metrics):
        service.add(source, event_time=event_time)
    if setup is not None:
        setup(service, bus, metrics)
    application = create_app(settings, bus=bus, metrics=metrics, service=service)
    # POST/DELETE /api/streams: the registry on the Redis bus, this process otherwise.
    application.state.stream_desk = stream_desk(
        service, bus, settings, metrics, application.state.parts.audit
    )
    application.state.recorder = recorder
    application.state.history = open_history()
    if recorder is not None:  # the audit log outlives the process
        from livepilot.store.wiring import keep_audit

        keep_audit(application.state.parts.audit, recorder)
    try:
        _serve(application, settings, open_browser)
    finally:
        note = stop_recorder(recorder)
        if note:
            log.info("stream history%s", note.replace(";", ":", 1))


def _serve(application: FastAPI, settings: Settings, open_browser: bool) -> None:
    """Listen, print the URLs, serve until a signal."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
            "pick another with --port"
        ) from exc
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{shown}:{port}"
    assert settings.console_token is not None and settings.overlay_key is not None
    token = settings.console_token.get_secret_value()
    key = settings.overlay_key.get_secret_value()
    host_key = settings.host_key.get_secret_value() if settings.host_key else token
    typer.echo(
        f"\nlivepilot is running.\n"
        f"  Console:  {base}/?token={token}\n"
        f"  Overlays: {base}/overlays?token={token}  (every overlay with its settings)\n"
        f"            {base}/overlay/chat?key={key}  (public: alerts, stats, poll, "
        "leaderboard, goal, all)\n"
        f"  Host:     {base}/overlay/host?key={host_key}  (backstage: never put it on stream)\n"
        f"  Metrics:  {base}/metrics\n"
        f"  Reports:  {base}/reports/last?token={token}  (stream history)\n"
        f"  Plan:     {base}/plan?token={token}  (all stored streams compared)\n"
        f"Press Ctrl-C to stop.\n"
    )
    config = uvicorn.Config(
        application,
        log_level="warning",
        ws_per_message_deflate=False,  # per-message compression caps fan-out; see hub.py
        lifespan="on",
    )
    server = _Server(config)
    # Everything built so far (modules, rule tables, models) lives as long as the process:
    # take it out of the cyclic collector's scans, whose full passes otherwise pause the
    # loop for tens of milliseconds and show up as latency on every client.
    gc.collect()
    gc.freeze()
    if open_browser:
        webbrowser.open(f"{base}/?token={token}")
    asyncio.run(server.serve(sockets=[sock]))
    if server.stopped_by == signal.SIGINT:
        # uvicorn shuts down gracefully on Ctrl-C and returns; whether it re-raises the signal
        # afterwards differs between its releases. Say "stopped by Ctrl-C" (exit 130) ourselves.
        raise KeyboardInterrupt


class _Server(uvicorn.Server):
    """uvicorn's server, remembering which signal stopped it."""

    stopped_by: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopped_by = sig
        super().handle_exit(sig, frame)


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: the example run-of-show unless another one is configured, so a
    newcomer sees segments, cues and the console's show controls at work."""
    example = settings.rules_dir / "run-of-show.yaml"
    if settings.run_of_show is not None or not example.is_file():
        return settings
    log.info("demo: run-of-show %s (set LIVEPILOT_RUN_OF_SHOW to use your own)", example)
    return settings.model_copy(update={"run_of_show": example})


def _demo_tokens(settings: Settings) -> Settings:
    """The demo's tokens from the data directory, so OBS sources survive a restart."""
    from livepilot.cli._tokens import keep_demo_tokens
    from livepilot.store import StoreSettings

    return keep_demo_tokens(settings, StoreSettings().data_dir)


@app.command()
def demo(
    port: Port = None,
    host: Host = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Don't open a browser.")] = False,
    seed: Annotated[int, typer.Option(help="Simulator seed: same seed, same stream.")] = 1,
    speed: Annotated[float, typer.Option(help="Simulator speed factor (2 = twice as busy).")] = 1.0,
    verbose: Verbose = False,
) -> None:
    """Run the co-pilot on a built-in simulated stream and serve the console."""
    from livepilot.sources.simulator import Simulator

    configure_logging(verbose)
    if speed <= 0:
        raise typer.BadParameter("--speed must be > 0")
    settings = demo_settings(load_settings(port=port, host=host))
    settings = _demo_tokens(settings)
    serve_streams(
        settings,
        lambda _: [Simulator("demo", seed=seed, speed=speed, raids=True)],
        open_browser=not no_browser,
    )


@app.command()
def replay(
    file: Annotated[
        Path, typer.Argument(help="A JSONL recording in the wire format, or a raw TikTok capture.")
    ],
    speed: Annotated[
        float, typer.Option(help="1 = real time, N = N× faster, 0 = as fast as possible.")
    ] = 1.0,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help="No server: write every result to stdout as JSONL, "
            "in event time, as fast as possible.",
        ),
    ] = False,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Don't keep this replay in the stream history.")
    ] = False,
    port: Port = None,
    host: Host = None,
    no_browser: Annotated[bool, typer.Option("--no-browser")] = False,
    verbose: Verbose = False,
) -> None:
    """Replay a recording through the full pipeline (to the console, or headless).

    A raw capture (``livepilot record --raw``) is decoded through the same TikTokLive path
    as a live connection, so a stream's bug can be reproduced exactly, offline.
    """
    from livepilot.headless import replay_headless, run_headless
    from livepilot.sources.replay import ReplaySource
    from livepilot.sources.tiktok import CaptureSource, is_capture

    if not file.is_file():
        raise typer.BadParameter(f"{file} does not exist or is not a file", param_hint="FILE")
    if speed < 0:
        raise typer.BadParameter("--speed must be >= 0")
    capture = is_capture(file)
    if jsonl:
        configure_logging(verbose, logging.WARNING)
        settings = load_settings()
        recorder = None if no_store else start_recorder(settings, CollectorRegistry())
        try:
            if capture:
                metrics = Metrics()
                source = CaptureSource(file, metrics=metrics)
                result = asyncio.run(
                    run_headless(source, sys.stdout, settings, metrics, recorder=recorder)
                )
            else:
                result = asyncio.run(
                    replay_headless(file, sys.stdout, settings, recorder=recorder)
                )
        finally:
            stored = stop_recorder(recorder)
        typer.echo(
            f"replayed {result.events} events, wrote {result.written} messages"
            + (f", skipped {result.bad_lines} bad line(s)" if result.bad_lines else "")
            + stored,
            err=True,
        )
        return
    configure_logging(verbose)

    def sources(metrics: Metrics) -> list[Source]:
        if capture:
            return [CaptureSource(file, metrics=metrics, speed=speed)]
        bad = metrics.bad_input.labels("replay")

        def on_error(line: object) -> None:
            bad.inc()
            log.warning("skipped %s", line)

        return [ReplaySource(file, speed=speed, on_error=on_error)]

    # A replay runs on its events' clock: its alarms and stored numbers are the ones the
    # stream had, at any speed.
    serve_streams(load_settings(port=port, host=host), sources, open_browser=not no_browser,
                  event_time=True, record=not no_store)


@app.command()
def run(
    creators: Annotated[
        list[str], typer.Argument(help="TikTok creators' @handles, one stream each.")
    ],
    follow: Annotated[
        bool, typer.Option(help="After a LIVE ends, wait for the next one instead of stopping.")
    ] = False,
    port: Port = None,
    host: Host = None,
    no_browser: Annotated[bool, typer.Option("--no-browser")] = False,
    verbose: Verbose = False,
) -> None:
    """Listen to TikTok LIVE streams and serve the console (reconnects on its own)."""
    from livepilot.clock import SystemClock
    from livepilot.sources.tiktok import tiktok_sources

    configure_logging(verbose)
    settings = load_settings(port=port, host=host)

    def sources(metrics: Metrics) -> list[Source]:
        try:
            return list(
                tiktok_sources(list(creators), settings, SystemClock(), metrics, follow=follow)
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="CREATORS") from exc

    serve_streams(settings, sources, open_browser=not no_browser)


@app.command()
def record(
    creator: Annotated[str, typer.Argument(help="The creator's @handle.")],
    file: Annotated[Path, typer.Argument(help="Where to write the JSONL recording.")],
    raw: Annotated[
        Path | None,
        typer.Option(help="Also keep the raw webcast frames here, exactly as received."),
    ] = None,
    follow: Annotated[bool, typer.Option(help="Keep recording across LIVEs.")] = False,
    verbose: Verbose = False,
) -> None:
    """Record a TikTok LIVE in the replay format until it ends."""
    from livepilot.sources.tiktok import record as record_stream

    configure_logging(verbose)
    settings = load_settings()
    count = asyncio.run(record_stream(creator, file, raw, settings, follow=follow))
    typer.echo(f"recorded {count} events to {file}" + (f" (raw: {raw})" if raw else ""), err=True)


@app.command()
def simulate(
    duration: Annotated[float, typer.Option(help="Simulated seconds of stream.")] = 600.0,
    seed: Annotated[int, typer.Option(help="Same seed, same stream.")] = 1,
    start: Annotated[float, typer.Option(help="Unix time of the first event.")] = 1_767_222_000.0,
    stream: Annotated[str, typer.Option(help="Stream id written into the events.")] = "demo",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    raids: Annotated[
        bool, typer.Option("--raids", help="A TikTok-shaped raid once every 15 minutes.")
    ] = False,
) -> None:
    """Write a simulated stream as a JSONL recording (for replay, tests and benchmarks)."""
    from livepilot.sources.simulator import Simulator
    from livepilot.wire import encode

    async def write(handle: TextIO) -> int:
        count = 0
        sim = Simulator(stream, seed=seed, speed=0, duration=duration, start=start, raids=raids)
        async for event in sim.events():
            handle.write(encode(event) + "\n")
            count += 1
        return count

    if out is None:
        count = asyncio.run(write(sys.stdout))
    else:
        with out.open("w", encoding="utf-8") as handle:
            count = asyncio.run(write(handle))
    typer.echo(f"wrote {count} events ({duration:.0f} s of stream)", err=True)


@app.command()
def serve(
    port: Port = None,
    host: Host = None,
    verbose: Verbose = False,
) -> None:
    """Serve the console, API and overlays with no built-in source.

    With LIVEPILOT_BUS=redis this is an API replica: it lists and serves every stream that
    other processes run (views they share, commands over the bus). Needs
    LIVEPILOT_CONSOLE_TOKEN and LIVEPILOT_OVERLAY_KEY to be set.
    """
    configure_logging(verbose)
    settings = load_settings(port=port, host=host)
    if settings.console_token is None or settings.overlay_key is None:
        raise typer.BadParameter("set LIVEPILOT_CONSOLE_TOKEN and LIVEPILOT_OVERLAY_KEY")
    serve_streams(settings, lambda _: [], open_browser=False)


@app.command()
def worker(
    streams: Annotated[
        Path | None,
        typer.Option("--streams", help="YAML file of the streams the workers share "
                     "(optional: streams added through POST /api/streams are run too).",
                     exists=True, dir_okay=False),
    ] = None,
    port: Port = None,
    host: Host = None,
    verbose: Verbose = False,
) -> None:
    """Run the streams this worker holds a lease for (LIVEPILOT_BUS=redis): those of the
    streams file and those added through the API (POST /api/streams on any server).

    Start as many workers as you like (with the same file, if any): each stream runs in
    exactly one of them, and when a worker dies another takes its streams over within
    about 11 s (LIVEPILOT_LEASE_TTL_S + 1 s), recording the gap. A worker that cannot
    renew a lease for 60 % of the TTL stops that stream (fencing). It also serves the
    console for every stream, like an API replica.
    """
    from livepilot.workers import attach_worker, load_streams

    configure_logging(verbose)
    settings = load_settings(port=port, host=host)
    if settings.bus != "redis":
        raise typer.BadParameter("livepilot worker needs LIVEPILOT_BUS=redis")
    declared = load_streams(streams) if streams is not None else None
    serve_streams(
        settings,
        lambda _: [],
        open_browser=False,
        setup=lambda service, bus, metrics: attach_worker(
            service, bus, settings, metrics, declared
        ),
    )
