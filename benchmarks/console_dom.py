"""The console page under a busy chat, in headless Chromium against the real server.

    python benchmarks/console_dom.py [--minutes 10] [--rate 100] [--window 60]

A stream sends ``--rate`` chat messages a second (German lines, every 40th one toxic,
every 25th a question, a gift streak now and then) through the full default pipeline to a
console page at 1440×900 whose chat follows the newest (the pointer is off the chat).
First the same page on an idle stream for one window: the baseline of this run.

Per window (``--window`` seconds; the windows are the repetitions) it reports:

- DOM nodes at the end of the window (the chat keeps its newest 150 rows: bounded);
- long tasks (PerformanceObserver ``longtask``: main-thread tasks over 50 ms) and the
  longest;
- input → next frame: a real key press (``j``, the review queue's "next") every 0.5 s,
  from the event's timestamp to the end of the frame that follows it (the next
  ``requestAnimationFrame``, then a task after it), median and p95.

The budget: nodes bounded, no long task, input → frame ≤ 50 ms. Browser, server and
pipeline share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

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

#: Installed before the page's scripts run: long tasks and input → frame latencies.
PROBE = """
window.__bench = {long: [], input: []};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.long.push(e.duration);
}).observe({type: "longtask", buffered: true});
document.addEventListener("keydown", (e) => {
  if (e.key !== "j") return;
  const start = e.timeStamp;
  const done = () => window.__bench.input.push(performance.now() - start);
  requestAnimationFrame(() => setTimeout(done, 0));
}, true);
"""

TAKE = """() => {
  const b = window.__bench, out = {long: b.long, input: b.input,
    nodes: document.getElementsByTagName('*').length,
    rows: document.querySelectorAll('#chat .msg').length};
  b.long = []; b.input = [];
  return out;
}"""


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
    rows: int
    long_tasks: int
    longest_ms: float
    input_p50: float
    input_p95: float
    presses: int


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


async def _measure(rate: float, windows: int, window_s: float) -> list[Window]:
    source = BusyChat(rate)
    out: list[Window] = []
    async with chromium() as browser, running_server([source]) as srv:
        context = await browser.new_context(locale="de-DE", viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await page.add_init_script(PROBE)
        await page.goto(f"{srv.base}/?token={TEST_CONSOLE_TOKEN}")
        await page.wait_for_selector("#conn.up", timeout=15_000)
        await page.mouse.move(5, 5)  # off the chat: it follows the newest
        await asyncio.sleep(2)
        await page.evaluate(TAKE)  # the page's start-up is not part of a window
        for _ in range(windows):
            until = time.monotonic() + window_s
            while time.monotonic() < until:
                await page.keyboard.press("j")
                await asyncio.sleep(0.5)
            got = await page.evaluate(TAKE)
            out.append(Window(
                nodes=got["nodes"], rows=got["rows"], long_tasks=len(got["long"]),
                longest_ms=max(got["long"], default=0.0),
                input_p50=statistics.median(got["input"]) if got["input"] else float("nan"),
                input_p95=_p95(got["input"]), presses=len(got["input"]),
            ))
            w = out[-1]
            print(f"  rate {rate:g}/s window {len(out)}: {w.nodes} nodes, {w.rows} rows, "
                  f"{w.long_tasks} long tasks (max {w.longest_ms:.0f} ms), input→frame "
                  f"p50 {w.input_p50:.1f} ms p95 {w.input_p95:.1f} ms", flush=True)
        await context.close()
    return out


def _row(name: str, windows: list[Window]) -> str:
    def spread(values: list[float], fmt: str) -> str:
        return (f"{format(statistics.median(values), fmt)} "
                f"[{format(min(values), fmt)}–{format(max(values), fmt)}]")
    return (f"| {name} | {len(windows)} | {spread([float(w.nodes) for w in windows], '.0f')} | "
            f"{sum(w.long_tasks for w in windows)} | {max(w.longest_ms for w in windows):.0f} | "
            f"{spread([w.input_p50 for w in windows], '.1f')} | "
            f"{spread([w.input_p95 for w in windows], '.1f')} |")


async def _main(minutes: float, rate: float, window_s: float) -> None:
    windows = max(1, round(minutes * 60 / window_s))
    print(f"baseline: idle stream, 1 window of {window_s:g} s")
    idle = await _measure(0, 1, window_s)
    print(f"load: {rate:g} chat messages/s for {windows} windows of {window_s:g} s")
    busy = await _measure(rate, windows, window_s)
    print()
    print("| stream | windows | DOM nodes median [min–max] | long tasks > 50 ms | longest ms "
          "| input→frame p50 ms median [min–max] | input→frame p95 ms median [min–max] |")
    print("|---|---|---|---|---|---|---|")
    print(_row("idle (baseline)", idle))
    print(_row(f"{rate:g} chat msgs/s", busy))
    nodes = [w.nodes for w in busy]
    bounded = max(nodes) <= 1.2 * statistics.median(nodes)
    worst = max(w.input_p95 for w in busy)
    print()
    print(f"nodes bounded: {'yes' if bounded else 'NO'} (max {max(nodes)}); "
          f"long tasks: {sum(w.long_tasks for w in busy)}; "
          f"input→frame worst window p95 {worst:.1f} ms (budget 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="chat messages a second")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    args = parser.parse_args()
    asyncio.run(_main(args.minutes, args.rate, args.window))


if __name__ == "__main__":
    main()
