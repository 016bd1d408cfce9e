"""Charts as inline SVG, drawn on the server: no script, no CDN, prints as vectors.

Each function returns one ``<svg>`` element as a string. The x axis is stream time in
minutes; every text that came from a stream (segment names, alarm kinds) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from livepilot.report.text import clock

__all__ = ["Band", "Marker", "bar_chart", "diverging_chart", "line_chart", "stacked_chart"]

_W, _H = 760, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 26, 30


@dataclass(frozen=True, slots=True)
class Band:
    """A stretch of stream time (minutes) drawn behind the data: a segment or a gap."""

    start: float
    end: float
    label: str
    css: str


@dataclass(frozen=True, slots=True)
class Marker:
    """A moment (minutes) marked with a line and a short tag: an alarm."""

    at: float
    tag: str
    title: str
    css: str


def _nice(top: float) -> tuple[float, float]:
    """An axis maximum ≥ ``top`` and a tick step, both round numbers."""
    if top <= 0:
        return 1.0, 1.0
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(top / step), step


def _fmt(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:g}"


class _Frame:
    def __init__(self, minutes: int, top: float, height: int = _H, percent: bool = False) -> None:
        self.minutes = max(1, minutes)
        self.top, self.step = (1.0, 0.25) if percent else _nice(top)
        self.height = height
        self.percent = percent
        self.x0, self.x1 = _LEFT, _W - _RIGHT
        self.y0, self.y1 = height - _BOTTOM, _TOP

    def x(self, minute: float) -> float:
        return self.x0 + (self.x1 - self.x0) * min(max(minute, 0.0), self.minutes) / self.minutes

    def y(self, value: float) -> float:
        return self.y0 - (self.y0 - self.y1) * min(max(value, 0.0), self.top) / self.top

    def axes(self, label: str) -> list[str]:
        out = []
        ticks = round(self.top / self.step)
        for i in range(ticks + 1):
            value = i * self.step
            y = self.y(value)
            text = f"{value * 100:.0f} %" if self.percent else _fmt(value)
            out.append(f'<line class="grid" x1="{self.x0}" x2="{self.x1}" y1="{y:.1f}" '
                       f'y2="{y:.1f}"/>')
            out.append(f'<text class="tick" x="{self.x0 - 6}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{text}</text>')
        every = next(n for n in (1, 2, 5, 10, 15, 30, 60, 120, 240) if self.minutes / n <= 12)
        for minute in range(0, self.minutes + 1, every):
            x = self.x(minute)
            out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{self.y0}" '
                       f'y2="{self.y0 + 4}"/>')
            out.append(f'<text class="tick" x="{x:.1f}" y="{self.y0 + 16}" '
                       f'text-anchor="middle">{clock(minute * 60)}</text>')
        out.append(f'<line class="axis" x1="{self.x0}" x2="{self.x1}" y1="{self.y0}" '
                   f'y2="{self.y0}"/>')
        out.append(f'<text class="label" x="{self.x0}" y="{self.y1 - 10}">{escape(label)}</text>')
        return out


def _svg(height: int, title: str, parts: Sequence[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            + "".join(parts) + "</svg>")


def _bands(frame: _Frame, bands: Sequence[Band]) -> list[str]:
    out = []
    for band in bands:
        x0, x1 = frame.x(band.start), frame.x(band.end)
        out.append(f'<rect class="{band.css}" x="{x0:.1f}" y="{frame.y1}" '
                   f'width="{max(1.0, x1 - x0):.1f}" height="{frame.y0 - frame.y1}">'
                   f'<title>{escape(band.label)}</title></rect>')
        if band.css.startswith("seg") and x1 - x0 > 28:
            label = band.label if len(band.label) * 6 < x1 - x0 else band.label[:max(
                1, int((x1 - x0) / 6) - 1)] + "…"
            out.append(f'<text class="band-label" x="{x0 + 3:.1f}" y="{frame.y1 + 11}">'
                       f'{escape(label)}</text>')
    return out


def _markers(frame: _Frame, markers: Sequence[Marker]) -> list[str]:
    out = []
    for marker in markers:
        x = frame.x(marker.at)
        out.append(f'<g class="{marker.css}"><title>{escape(marker.title)}</title>'
                   f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y1}" y2="{frame.y0}"/>'
                   f'<circle cx="{x:.1f}" cy="{frame.y1 - 2}" r="7"/>'
                   f'<text x="{x:.1f}" y="{frame.y1 + 1.5}" text-anchor="middle">'
                   f'{escape(marker.tag)}</text></g>')
    return out


def line_chart(
    values: Sequence[float | None],
    *,
    title: str,
    label: str,
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    percent: bool = False,
) -> str:
    """Values per minute as a line over an area, with bands behind and markers on top.
    Minutes without a value break the line."""
    known = [v for v in values if v is not None]
    frame = _Frame(len(values), max(known, default=0.0), percent=percent)
    parts = [*_bands(frame, bands), *frame.axes(label)]
    run: list[tuple[float, float]] = []
    runs = []
    for minute, value in enumerate(values):
        if value is None:
            if run:
                runs.append(run)
            run = []
            continue
        run.append((frame.x(minute + 0.5), frame.y(value)))
    if run:
        runs.append(run)
    for points in runs:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        area = (f"{points[0][0]:.1f},{frame.y0} {line} {points[-1][0]:.1f},{frame.y0}")
        parts.append(f'<polygon class="area" points="{area}"/>')
        parts.append(f'<polyline class="line" points="{line}"/>')
    parts.extend(_markers(frame, markers))
    return _svg(frame.height, title, parts)


def stacked_chart(
    layers: Sequence[tuple[str, str, Sequence[int]]], *, title: str, label: str,
    bands: Sequence[Band] = (),
) -> str:
    """Bars per minute stacked from ``layers`` (name, css class, values), with a legend."""
    minutes = max((len(v) for _, _, v in layers), default=0)
    totals = [sum(v[i] for _, _, v in layers if i < len(v)) for i in range(minutes)]
    frame = _Frame(minutes, max(totals, default=0))
    parts = [*_bands(frame, bands), *frame.axes(label)]
    width = max(1.0, (frame.x1 - frame.x0) / max(1, minutes) - 1)
    for i in range(minutes):
        base = 0.0
        for _, css, values in layers:
            value = values[i] if i < len(values) else 0
            if value <= 0:
                continue
            y_top, y_base = frame.y(base + value), frame.y(base)
            parts.append(f'<rect class="{css}" x="{frame.x(i) + 0.5:.1f}" y="{y_top:.1f}" '
                         f'width="{width:.1f}" height="{max(0.5, y_base - y_top):.1f}"/>')
            base += value
    parts.extend(_legend(frame, [(name, css) for name, css, _ in layers]))
    return _svg(frame.height, title, parts)


def bar_chart(values: Sequence[int], *, title: str, label: str, css: str = "bar-b") -> str:
    return stacked_chart([(label, css, values)], title=title, label=label)


def diverging_chart(
    up: tuple[str, str, Sequence[int]], down: Sequence[tuple[str, str, Sequence[int]]],
    *, title: str, label: str,
) -> str:
    """Per minute: ``up`` above a middle line, the ``down`` layers stacked below it."""
    minutes = len(up[2])
    below = [sum(v[i] for _, _, v in down) for i in range(minutes)]
    peak = max([*up[2], *below, 1])
    height = 200
    frame = _Frame(minutes, peak, height=height)
    mid = (frame.y0 + frame.y1) / 2
    scale = (mid - frame.y1) / _nice(peak)[0]
    width = max(1.0, (frame.x1 - frame.x0) / max(1, minutes) - 1)
    parts = [f'<text class="label" x="{frame.x0}" y="{frame.y1 - 10}">{escape(label)}</text>',
             f'<line class="axis" x1="{frame.x0}" x2="{frame.x1}" y1="{mid:.1f}" '
             f'y2="{mid:.1f}"/>']
    for i in range(minutes):
        x = frame.x(i) + 0.5
        if up[2][i] > 0:
            h = up[2][i] * scale
            parts.append(f'<rect class="{up[1]}" x="{x:.1f}" y="{mid - h:.1f}" '
                         f'width="{width:.1f}" height="{h:.1f}"/>')
        base = mid
        for _, css, values in down:
            if values[i] > 0:
                h = values[i] * scale
                parts.append(f'<rect class="{css}" x="{x:.1f}" y="{base:.1f}" '
                             f'width="{width:.1f}" height="{h:.1f}"/>')
                base += h
    every = next(n for n in (1, 2, 5, 10, 15, 30, 60, 120, 240) if max(1, minutes) / n <= 12)
    for minute in range(0, minutes + 1, every):
        parts.append(f'<text class="tick" x="{frame.x(minute):.1f}" y="{frame.y0 + 16}" '
                     f'text-anchor="middle">{clock(minute * 60)}</text>')
    parts.extend(_legend(frame, [(up[0], up[1]), *((n, c) for n, c, _ in down)]))
    return _svg(height, title, parts)


def _legend(frame: _Frame, items: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    x = frame.x1
    for name, css in reversed(items):
        x -= 6 * len(name) + 22
        out.append(f'<rect class="{css}" x="{x:.1f}" y="{frame.y1 - 19}" width="10" '
                   f'height="10"/><text class="tick" x="{x + 14:.1f}" y="{frame.y1 - 10}">'
                   f'{escape(name)}</text>')
    return out
