"""The console page under a busy chat, in headless Chromium against the real server.

    python benchmarks/console_dom.py [--minutes 10] [--rate 100] [--window 60]
        [--compare DIR] [--trace 10] [--throttle 4]

A stream sends ``--rate`` chat messages a second (German lines, every 40th one toxic,
every 25th a question, a gift streak now and then) through the full default pipeline to a
console page at 1440×900 whose chat follows the newest (the pointer is off the chat).
First the same page on an idle stream for one window: the baseline of this run.

``--compare DIR`` runs the same load first against the console's scripts, styles and words
in ``DIR`` (a copy of ``src/livepilot/server/static`` from before a change, served to the
browser in place of the server's own; the page itself is the server's), then against the
current ones: before and after from the same machine state, side by side.

Per window (``--window`` seconds; the windows are the repetitions) and for the whole run:

- DOM nodes (elements) at the start, the most seen (sampled every second), at the end —
  the chat keeps its newest rows, so the count must stay bounded;
- long tasks (PerformanceObserver ``longtask``: main-thread tasks over 50 ms): how many,
  the longest;
- input → next frame: a real key press (``j``, the review queue's "next") every 0.5 s,
  from the event's timestamp to the end of the frame that follows it (the next
  ``requestAnimationFrame``, then a task after it): p50, p95, p99, max;
- the renderer's main-thread time a second (Chrome's own counters, Performance.getMetrics):
  script, style, layout and all tasks — what the page costs, less noisy than latencies on a
  shared machine;
- the JS heap at the start and end, and the 1-minute load average of the machine.

``--throttle RATE`` slows the page's renderer ``RATE`` times (Chrome's CPU throttling,
``Emulation.setCPUThrottlingRate``): a slow or contended machine, reproducibly, whatever
else the machine runs — the fair test of the long-task budget.

``--trace SECONDS`` records a Chrome trace of the busy page at the end (of each page with
``--compare``) and lists where the renderer's main thread spent its time, which functions
forced a synchronous layout, where each layout started (its layout roots: ``#document``
means the whole page was laid out; a column or a contained box means only that part), and
the top invalidation sources: which element, why, and which of the page's functions wrote
it (Chrome's ``devtools.timeline.invalidationTracking`` category).

The budget: nodes bounded, no long task, input → frame ≤ 50 ms. Browser, server and
pipeline share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livepilot.events import LiveEvent
from livepilot.testing import (
    TEST_CONSOLE_TOKEN,
    EventFactory,
    FakeClock,
    chromium,
    running_server,
)

LINES = [
    "Hallo zusammen, schöner Stream heute!", "Grüße aus Köln", "mega Outfit heute",
    "Servus aus München", "haha", "bin neu hier", "Liebe Grüße aus Wien", "wie geht's euch?",
    "Moin aus Hamburg", "das sieht richtig gut aus", "weiter so!", "ich feier das",
]
TOXIC = "du hurensohn"
QUESTION = "Wie teuer ist das Set?"

#: Installed before the page's scripts run: long tasks, input → frame latencies, and the
#: element count once a second.
PROBE = """
window.__bench = {long: [], input: [], maxNodes: 0};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.long.push(e.duration);
}).observe({type: "longtask", buffered: true});
document.addEventListener("keydown", (e) => {
  if (e.key !== "j") return;
  const start = e.timeStamp;
  const done = () => window.__bench.input.push(performance.now() - start);
  requestAnimationFrame(() => setTimeout(done, 0));
}, true);
setInterval(() => {
  const n = document.getElementsByTagName("*").length;
  if (n > window.__bench.maxNodes) window.__bench.maxNodes = n;
}, 1000);
"""

TAKE = """() => {
  const b = window.__bench, out = {long: b.long, input: b.input, maxNodes: b.maxNodes,
    nodes: document.getElementsByTagName('*').length,
    rows: document.querySelectorAll('#chat .msg').length};
  b.long = []; b.input = []; b.maxNodes = 0;
  return out;
}"""

#: Chrome's cumulative main-thread counters (seconds), reported per second of a window.
COSTS = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "TaskDuration")


class BusyChat:
    """``rate`` chat messages a second, paced in 20 ms steps; ``rate`` 0 is an idle stream."""

    def __init__(self, rate: float) -> None:
        self.stream = "bench"
        self.rate = rate
        self._make = EventFactory(FakeClock(time.time()), stream=self.stream)
        self._n = 0

    def _next(self) -> list[LiveEvent]:
        self._n += 1
        n, make = self._n, self._make
        user = f"viewer{n % 700}"
        if n % 40 == 0:
            return [make.chat(user, TOXIC)]
        if n % 25 == 0:
            return [make.chat(user, QUESTION)]
        out: list[LiveEvent] = [make.chat(user, f"{LINES[n % len(LINES)]} {n}")]
        if n % 300 == 0:
            streak = f"s{n}"
            out += [make.gift(f"fan{n}", "Rose", 1, c, streak=streak, final=c == 5)
                    for c in (1, 3, 5)]
        return out

    async def events(self) -> AsyncIterator[LiveEvent]:
        if self.rate <= 0:
            await asyncio.Event().wait()
        start, sent = time.monotonic(), 0
        while True:
            due = int((time.monotonic() - start) * self.rate)
            while sent < due:
                sent += 1
                for event in self._next():
                    yield event
            await asyncio.sleep(0.02)


@dataclass
class Window:
    nodes: int
    max_nodes: int
    rows: int
    long: list[float]
    input: list[float]
    costs: dict[str, float]   # ms of main-thread time a second, per COSTS name
    load: float


@dataclass
class Run:
    name: str
    window_s: float
    start_nodes: int = 0
    heap_start_mb: float = 0.0
    heap_end_mb: float = 0.0
    windows: list[Window] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _metrics(cdp: Any) -> dict[str, float]:
    got = await cdp.send("Performance.getMetrics")
    return {m["name"]: m["value"] for m in got["metrics"]}


def _serve_from(folder: Path) -> Any:
    """A Playwright route handler: the console's assets from ``folder``."""
    async def handler(route: Any) -> None:
        path = route.request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        file = folder / path.removeprefix("console-assets/")
        if not file.is_file():
            await route.continue_()
            return
        kind = {".js": "text/javascript", ".css": "text/css", ".json": "application/json",
                ".html": "text/html"}.get(file.suffix, "application/octet-stream")
        await route.fulfill(body=file.read_bytes(), content_type=kind + "; charset=utf-8")
    return handler


async def _measure(
    name: str, rate: float, windows: int, window_s: float, assets: Path | None, trace_s: float,
    trace_out: Path | None = None, throttle: float = 1.0,
) -> Run:
    source = BusyChat(rate)
    run = Run(name, window_s)
    async with chromium() as browser, running_server([source]) as srv:
        context = await browser.new_context(locale="de-DE", viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        if assets is not None:
            # Scripts, styles and words only: a page itself served by a route would count as
            # a public site, and Chromium blocks its socket to the local server.
            await page.route(f"{srv.base}/console-assets/**", _serve_from(assets))
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        if throttle > 1:
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        await page.add_init_script(PROBE)
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=15_000)
        await page.mouse.move(5, 5)  # off the chat: it follows the newest
        await asyncio.sleep(2)
        start = await page.evaluate(TAKE)  # the page's start-up is not part of a window
        run.start_nodes = start["nodes"]
        before = await _metrics(cdp)
        run.heap_start_mb = before["JSHeapUsedSize"] / 2**20
        for _ in range(windows):
            began = time.monotonic()
            until = began + window_s
            while time.monotonic() < until:
                await page.keyboard.press("j")
                await asyncio.sleep(0.5)
            got = await page.evaluate(TAKE)
            after = await _metrics(cdp)
            spent = time.monotonic() - began
            costs = {k: 1000 * (after[k] - before[k]) / spent for k in COSTS}
            before = after
            w = Window(nodes=got["nodes"], max_nodes=max(got["maxNodes"], got["nodes"]),
                       rows=got["rows"], long=got["long"], input=got["input"], costs=costs,
                       load=os.getloadavg()[0])
            run.windows.append(w)
            print(f"  {name} window {len(run.windows)}: {w.nodes} nodes (max {w.max_nodes}), "
                  f"{w.rows} rows, {len(w.long)} long tasks (max {max(w.long, default=0):.0f} ms), "
                  f"input→frame p50 {statistics.median(w.input) if w.input else float('nan'):.1f} "
                  f"p95 {_pct(w.input, 0.95):.1f} ms, main thread "
                  f"{costs['TaskDuration']:.0f} ms/s (script {costs['ScriptDuration']:.0f}, "
                  f"style {costs['RecalcStyleDuration']:.0f}, "
                  f"layout {costs['LayoutDuration']:.0f}), "
                  f"load {w.load:.2f}", flush=True)
        run.heap_end_mb = (await _metrics(cdp))["JSHeapUsedSize"] / 2**20
        if trace_s > 0:
            await _trace(cdp, trace_s, trace_out)
        await context.close()
    return run


INVALIDATION_EVENTS = ("LayoutInvalidationTracking", "StyleRecalcInvalidationTracking",
                       "ScheduleStyleInvalidationTracking", "StyleInvalidatorInvalidationTracking")


def _frame_of(stack: list[dict[str, Any]] | None) -> str:
    """The page's own function at the top of a trace stack: ``name (file:line)``."""
    for top in stack or []:
        if top.get("url"):
            return (f"{top.get('functionName') or '?'} "
                    f"({Path(top['url']).name}:{int(top.get('lineNumber', -1)) + 1})")
    return "no script (style, parser, timer)"


async def _describe(cdp: Any, node_ids: set[int]) -> dict[int, str]:
    """``tag#id.class`` for the trace's backend node ids (the page still shows them)."""
    names: dict[int, str] = {}
    for nid in node_ids:
        try:
            node = (await cdp.send("DOM.describeNode", {"backendNodeId": nid}))["node"]
        except Exception:  # a node the page has dropped since
            continue
        attrs = node.get("attributes", [])
        got = dict(zip(attrs[::2], attrs[1::2], strict=False))
        name = node.get("localName") or node.get("nodeName", "?")
        if got.get("id"):
            name += "#" + got["id"]
        if got.get("class"):
            name += "." + ".".join(got["class"].split())
        names[nid] = name
    return names


async def _trace(cdp: Any, seconds: float, out: Path | None) -> None:
    """Record ``seconds`` of a Chrome trace; print the main thread's biggest costs, the
    functions that forced a synchronous layout or style recalculation, where each layout
    started (its layout roots: the document, or a contained box) and what invalidated
    layout and style (node, reason, the page's function that wrote it)."""
    events: list[dict[str, Any]] = []
    done = asyncio.Event()
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda _e: done.set())
    await cdp.send("Tracing.start", {
        "categories": "devtools.timeline,disabled-by-default-devtools.timeline,"
                      "disabled-by-default-devtools.timeline.stack,"
                      "disabled-by-default-devtools.timeline.invalidationTracking,v8.execute",
        "transferMode": "ReportEvents"})
    await asyncio.sleep(seconds)
    await cdp.send("Tracing.end")
    await asyncio.wait_for(done.wait(), 60)
    if out is not None:
        await asyncio.to_thread(out.write_text, json.dumps({"traceEvents": events}))
        print(f"trace written to {out} (open it in Chrome's Performance panel)")
    mains = [(e["pid"], e["tid"]) for e in events
             if e.get("ph") == "M" and e.get("args", {}).get("name") == "CrRendererMain"]
    busy = Counter((e["pid"], e["tid"]) for e in events if (e["pid"], e["tid"]) in mains)
    if not busy:
        print("trace: no renderer main thread found")
        return
    main = busy.most_common(1)[0][0]
    total: Counter[str] = Counter()
    forced: Counter[str] = Counter()
    roots: Counter[int] = Counter()        # layout root node -> layouts that started there
    root_dirty: dict[int, list[int]] = {}  # layout root node -> dirty objects per layout
    layouts = 0
    invalid: Counter[tuple[str, str, str, str]] = Counter()  # (event, node, reason, function)
    for e in events:
        if (e["pid"], e["tid"]) != main:
            continue
        args = e.get("args", {})
        if e["name"] in INVALIDATION_EVENTS:
            d = args.get("data", {})
            reason = d.get("reason") or d.get("changedClass") or d.get("changedId") \
                or d.get("changedAttribute") or d.get("changedPseudo") or "?"
            if d.get("changedClass"):
                reason = "class ." + d["changedClass"]
            elif d.get("changedAttribute"):
                reason = "attribute " + d["changedAttribute"]
            invalid[(e["name"].removesuffix("InvalidationTracking"),
                     str(d.get("nodeName") or "?"), str(reason),
                     _frame_of(d.get("stackTrace")))] += 1
            continue
        if e.get("ph") != "X":
            continue
        name = e["name"]
        if name == "FunctionCall":
            data = args.get("data", {})
            name = f"FunctionCall {data.get('functionName') or '?'} " \
                   f"({Path(data.get('url', '')).name}:{data.get('lineNumber', '?')})"
        total[name] += e.get("dur", 0) / 1000
        stack = args.get("beginData", {}).get("stackTrace")
        if e["name"] in ("Layout", "UpdateLayoutTree") and stack:
            forced[f"{e['name']} forced by {_frame_of(stack)}"] += 1
        if e["name"] == "Layout":
            layouts += 1
            dirty = int(args.get("beginData", {}).get("dirtyObjects", 0))
            end = args.get("endData", {})
            found = [int(r.get("nodeId", 0)) for r in end.get("layoutRoots", [])] \
                or [int(end.get("rootNode", 0))]
            for nid in found:
                roots[nid] += 1
                root_dirty.setdefault(nid, []).append(dirty)
    names = await _describe(cdp, set(roots))
    print(f"\ntrace: {seconds:g} s of the renderer main thread, inclusive ms by event")
    for name, ms in total.most_common(25):
        print(f"  {ms:9.1f} ms  {name}")
    print("forced (synchronous) layout / style, by the function that asked:")
    for name, n in forced.most_common(10) or [("none", 0)]:
        print(f"  {n:5d}×  {name}")
    print(f"layout roots ({layouts} layouts; a root of #document lays out from the top):")
    for nid, n in roots.most_common(12):
        dirty = sorted(root_dirty[nid])
        print(f"  {n:5d}×  {names.get(nid, f'node {nid} (gone)')}  (dirty objects of those "
              f"layouts: median {statistics.median(dirty):.0f}, max {dirty[-1]})")
    print("invalidations by kind, element, reason and the page's function that caused them:")
    for (kind, node, reason, fn), n in invalid.most_common(30) or [(("none", "", "", ""), 0)]:
        print(f"  {n:6d}×  {kind:<16} {node[:44]:<44} {reason[:28]:<28} {fn}")


def _summary(run: Run) -> str:
    ws = run.windows
    long = [d for w in ws for d in w.long]
    inputs = [d for w in ws for d in w.input]
    secs = len(ws) * run.window_s

    def cost(k: str) -> str:
        values = [w.costs[k] for w in ws]
        return (f"{statistics.median(values):.0f} [{min(values):.0f}–{max(values):.0f}]"
                if values else "–")
    loads = [w.load for w in ws]
    return (f"| {run.name} | {len(ws)} | {run.start_nodes}/{max(w.max_nodes for w in ws)}/"
            f"{ws[-1].nodes} | {len(long)} ({len(long) / secs:.2f}/s) | "
            f"{max(long, default=0):.0f} | {_pct(inputs, 0.5):.1f} / {_pct(inputs, 0.95):.1f} / "
            f"{_pct(inputs, 0.99):.1f} / {max(inputs, default=float('nan')):.1f} | "
            f"{cost('TaskDuration')} | {cost('ScriptDuration')} | {cost('RecalcStyleDuration')} | "
            f"{cost('LayoutDuration')} | {run.heap_start_mb:.1f} → {run.heap_end_mb:.1f} | "
            f"{statistics.median(loads):.2f} [{min(loads):.2f}–{max(loads):.2f}] |")


async def _main(args: argparse.Namespace) -> None:
    windows = max(1, round(args.minutes * 60 / args.window))
    runs: list[Run] = []
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    if not args.no_idle:
        print(f"baseline: idle stream, 1 window of {args.window:g} s")
        runs.append(await _measure("idle (baseline)", 0, 1, args.window, None, 0,
                                   throttle=args.throttle))
    label = f"{args.rate:g} msgs/s" + (f", CPU ÷{args.throttle:g}" if args.throttle > 1 else "")
    if args.compare:
        print(f"reference: {args.compare}, {label} for {windows} windows of {args.window:g} s")
        runs.append(await _measure(f"{label}, {args.compare.name}", args.rate, windows,
                                   args.window, args.compare, args.trace, throttle=args.throttle))
    print(f"load: {label} for {windows} windows of {args.window:g} s")
    runs.append(await _measure(f"{label}, current", args.rate, windows, args.window, None,
                               args.trace, args.trace_out, args.throttle))
    print()
    print("| page | windows | DOM nodes start/max/end | long tasks > 50 ms | longest ms "
          "| input→frame p50/p95/p99/max ms | main thread ms/s median [min–max] | script | "
          "style | layout | JS heap MB | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(_summary(run))
    # Bounded: the second half of the run holds no more nodes than the first (the chat
    # grows to CHAT_ROWS + CHAT_SLACK rows and is cut back, so compare maxima, not ends).
    busy = runs[-1].windows
    half = max(1, len(busy) // 2)
    first, second = (max(w.max_nodes for w in part) for part in (busy[:half], busy[half:] or busy))
    bounded = second <= 1.1 * first
    print(f"\nnodes bounded: {'yes' if bounded else 'NO'} (most in the first half {first}, "
          f"in the second {second}); budget: no long task, input→frame ≤ 50 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages a second")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--compare", type=Path, default=None,
                        help="a folder with the console page and assets to measure first")
    parser.add_argument("--trace", type=float, default=0.0,
                        help="seconds of a Chrome trace of the busy page at the end")
    parser.add_argument("--trace-out", type=Path, default=None,
                        help="write the trace's events to this JSON file")
    parser.add_argument("--throttle", type=float, default=1.0,
                        help="slow the page's CPU this many times (Chrome's CPU throttling)")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle baseline")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
