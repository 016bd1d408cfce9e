"""The plan (:mod:`livepilot.report.plan`) as a page and as terminal text.

The page is self-contained like the report (inline CSS, no script, no CDN) and is served
at ``/plan`` behind the console token; ``livepilot plan`` prints the text or writes the
page. Every text that came from a stream (names, run-of-show titles) is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from livepilot.report.html import _CSS, _table
from livepilot.report.plan import (
    FREE,
    GroupStat,
    Plan,
    StreamLine,
    day_name,
    minutes,
    retention_label,
    zone,
)
from livepilot.report.text import Lang, clock

__all__ = ["render_plan_html", "render_plan_text"]

_WORDS: dict[str, dict[str, str]] = {
    "title": {"de": "Planung aus der Stream-Historie", "en": "Planning from stream history"},
    "meta": {"de": "{n} gespeicherte Streams · Zeitzone {tz}",
             "en": "{n} stored streams · time zone {tz}"},
    "not_enough": {
        "de": "Noch nicht genug Streams: {n} gespeichert, Vergleiche und Vorschläge ab {min}. "
              "Die Zahlen unten gelten nur für diese Streams.",
        "en": "Not enough streams yet: {n} stored, comparisons and suggestions need {min}. "
              "The numbers below are only these streams' own.",
    },
    "suggestions": {"de": "Vorschläge", "en": "Suggestions"},
    "no_suggestions": {"de": "Die Streams zeigen noch kein klares Muster.",
                       "en": "The streams show no clear pattern yet."},
    "side_by_side": {"de": "Streams im Vergleich", "en": "Streams side by side"},
    "start": {"de": "Beginn", "en": "Start"},
    "stream": {"de": "Stream", "en": "Stream"},
    "format": {"de": "Format", "en": "Format"},
    "duration": {"de": "Dauer", "en": "Duration"},
    "peak": {"de": "Spitze", "en": "Peak"},
    "watch": {"de": "Ø Zuschauzeit", "en": "Avg. watch"},
    "engagement": {"de": "Interaktionen je Zuschauerminute",
                   "en": "Interactions per viewer-minute"},
    "eng_short": {"de": "Interakt./Zuschauermin.", "en": "Interact./viewer-min"},
    "diamonds": {"de": "Diamanten", "en": "Diamonds"},
    "questions": {"de": "Fragen (beantw.)", "en": "Questions (answered)"},
    "ret15": {"de": "Min. 15 / Spitze", "en": "Min 15 / peak"},
    "ret30": {"de": "Min. 30 / Spitze", "en": "Min 30 / peak"},
    "streams": {"de": "Streams", "en": "Streams"},
    "by_weekday": {"de": "Nach Wochentag", "en": "By weekday"},
    "by_hour": {"de": "Nach Startzeit", "en": "By start hour"},
    "by_format": {"de": "Nach Format (Ablaufplan)", "en": "By format (run of show)"},
    "free": {"de": "ohne Ablaufplan", "en": "no run of show"},
    "cadence": {"de": "Rhythmus", "en": "Cadence"},
    "cadence_line": {
        "de": "Abstand zwischen Streams: Median {med} Tage (kürzester {min}, längster {max}); "
              "{week} Streams pro Woche.",
        "en": "Days between streams: median {med} (shortest {min}, longest {max}); "
              "{week} streams a week.",
    },
    "one_stream": {"de": "Ein Stream: noch kein Rhythmus.", "en": "One stream: no cadence yet."},
    "patterns": {"de": "Wiederkehrende Muster", "en": "Repeating patterns"},
    "drop": {"de": "Einbruch in Minute {span}: {n} von {of} Streams, Median −{share}",
             "en": "Drop in minute {span}: {n} of {of} streams, median −{share}"},
    "peak_at": {"de": "Spitze in Minute {span}: {n} von {of} Streams",
                "en": "Peak in minute {span}: {n} of {of} streams"},
    "no_patterns": {"de": "Kein Muster in mehr als der Hälfte der Streams.",
                    "en": "No pattern in more than half of the streams."},
    "group_note": {
        "de": "Mediane je Gruppe; verglichen werden Gruppen mit mindestens 2 Streams.",
        "en": "Medians per group; groups with at least 2 streams are compared.",
    },
    "numbers": {"de": "Zahlen", "en": "Numbers"},
}

_PLAN_CSS = """
body { max-width: 1040px; }
.warn { border: 1px solid var(--warn); background: #fff7ee; border-radius: 6px;
  padding: 10px 12px; margin: 8px 0 4px; }
.bar { display: inline-block; height: 8px; background: var(--accent); border-radius: 2px;
  margin-right: 6px; vertical-align: middle; }
.suggest li { margin: 0 0 10px; } .suggest .note { display: block; }
#streams td:first-child { white-space: nowrap; }
"""


def _w(lang: Lang, key: str, **values: object) -> str:
    return _WORDS[key][lang].format(**values)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _local(line: StreamLine, plan: Plan) -> str:
    at = datetime.fromisoformat(line.started_at.replace("Z", "+00:00"))
    return at.astimezone(zone(plan.timezone)).strftime("%Y-%m-%d %H:%M")


def _format(name: str, lang: Lang) -> str:
    return _w(lang, "free") if name == FREE else name


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render_plan_html(plan: Plan, lang: Lang = "de") -> str:
    """The plan as one self-contained HTML page."""
    parts = [
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(_w(lang, 'title'))}</title><style>{_CSS}{_PLAN_CSS}</style></head><body>",
        f"<h1>{_e(_w(lang, 'title'))}</h1>",
        f'<p class="meta">{_e(_w(lang, "meta", n=len(plan.streams), tz=plan.timezone))}</p>',
    ]
    if not plan.enough:
        parts.append(f'<p class="warn" id="not-enough">{_e(_w(lang, "not_enough", n=len(plan.streams), min=len(plan.streams) + plan.needed))}</p>')  # noqa: E501
    else:
        parts.append(_suggestions(plan, lang))
    parts.append(_streams(plan, lang))
    if plan.enough:
        parts.append(_patterns(plan, lang))
        parts.append(_group_section(
            "by_weekday", plan.weekdays, lang, lambda k: day_name(lang, int(k))))
        parts.append(_group_section("by_hour", plan.hours, lang, lambda k: f"{k}:00"))
        parts.append(_group_section("by_format", plan.formats, lang,
                                    lambda k: _format(k, lang)))
    parts.append(_cadence(plan, lang))
    parts.append("</body></html>")
    return "".join(parts)


def _suggestions(plan: Plan, lang: Lang) -> str:
    if not plan.suggestions:
        body = f"<p>{_e(_w(lang, 'no_suggestions'))}</p>"
    else:
        items = []
        for s in plan.suggestions:
            numbers = ", ".join(f"{k} = {v}" for k, v in s.numbers.items())
            items.append(f'<li data-key="{_e(s.key)}">{_e(s.text)}'
                         f'<span class="note">{_e(_w(lang, "numbers"))}: {_e(numbers)}</span></li>')
        body = f"<ol>{''.join(items)}</ol>"
    return f'<section class="suggest" id="suggestions"><h2>{_e(_w(lang, "suggestions"))}</h2>{body}</section>'  # noqa: E501


def _streams(plan: Plan, lang: Lang) -> str:
    top = max((s.engagement for s in plan.streams), default=0.0) or 1.0
    rows = []
    for s in reversed(plan.streams):  # newest first
        width = max(2, round(60 * s.engagement / top))
        rows.append((
            _e(_local(s, plan)), _e(s.name), _e(_format(s.format, lang)),
            _e(clock(s.duration_s)), str(s.peak_viewers), _e(clock(s.avg_watch_time_s)),
            f'<span class="bar" style="width:{width}px"></span>{s.engagement:.2f}',
            str(s.diamonds), f"{s.questions} ({s.answered})",
            _e(retention_label(s.retention_15)),
        ))
    head = [(_w(lang, "start"), False), (_w(lang, "stream"), False), (_w(lang, "format"), False),
            (_w(lang, "duration"), True), (_w(lang, "peak"), True), (_w(lang, "watch"), True),
            (_w(lang, "eng_short"), False), (_w(lang, "diamonds"), True),
            (_w(lang, "questions"), True), (_w(lang, "ret15"), True)]
    return (f'<section id="streams"><h2>{_e(_w(lang, "side_by_side"))}</h2>'
            f"{_table(head, rows)}</section>")


def _group_section(
    key: str, groups: Sequence[GroupStat], lang: Lang, name: Callable[[str], str]
) -> str:
    rows = [
        (_e(name(g.key)), str(g.streams), f"{g.engagement:.2f}", f"{g.peak_viewers:.0f}",
         _e(clock(g.avg_watch_time_s)), _e(retention_label(g.retention_15)),
         _e(retention_label(g.retention_30)), f"{g.diamonds:.0f}")
        for g in groups
    ]
    head = [("", False), (_w(lang, "streams"), True), (_w(lang, "eng_short"), True),
            (_w(lang, "peak"), True), (_w(lang, "watch"), True), (_w(lang, "ret15"), True),
            (_w(lang, "ret30"), True), (_w(lang, "diamonds"), True)]
    return (f'<section id="{key}"><h2>{_e(_w(lang, key))}</h2>{_table(head, rows)}'
            f'<p class="note">{_e(_w(lang, "group_note"))}</p></section>')


def _cadence_line(plan: Plan, lang: Lang) -> str:
    c = plan.cadence
    if c.median_days is None:
        return _w(lang, "one_stream")
    return _w(lang, "cadence_line", med=_number(c.median_days, 1), min=_number(c.min_days, 1),
              max=_number(c.max_days, 1), week=_number(c.per_week, 1))


def _cadence(plan: Plan, lang: Lang) -> str:
    return (f'<section id="cadence"><h2>{_e(_w(lang, "cadence"))}</h2>'
            f"<p>{_e(_cadence_line(plan, lang))}</p></section>")


def _pattern_lines(plan: Plan, lang: Lang) -> list[str]:
    out = []
    for p in plan.patterns:
        span = f"{p.at_min}–{p.at_min + 5}"
        if p.kind == "drop":
            out.append(_w(lang, "drop", span=span, n=p.streams, of=p.of,
                          share=retention_label(p.median_share)))
        else:
            out.append(_w(lang, "peak_at", span=span, n=p.streams, of=p.of))
    return out


def _patterns(plan: Plan, lang: Lang) -> str:
    lines = _pattern_lines(plan, lang)
    body = ("<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>") if lines \
        else f"<p>{_e(_w(lang, 'no_patterns'))}</p>"
    return f'<section id="patterns"><h2>{_e(_w(lang, "patterns"))}</h2>{body}</section>'


def render_plan_text(plan: Plan, lang: Lang = "de") -> str:
    """The plan for a terminal: the streams as a table, then suggestions and patterns."""
    out = [_w(lang, "title"), _w(lang, "meta", n=len(plan.streams), tz=plan.timezone), ""]
    if not plan.enough:
        out += [_w(lang, "not_enough", n=len(plan.streams),
                   min=len(plan.streams) + plan.needed), ""]
    out.append(f"{'start':<16}  {'stream':<18} {'format':<16} {'duration':>8} {'peak':>6} "
               f"{'watch':>7} {'eng/vm':>7} {'diamonds':>8} {'q(ans)':>7} {'m15':>5}")
    for s in reversed(plan.streams):
        out.append(
            f"{_local(s, plan):<16}  {s.name[:18]:<18} {_format(s.format, lang)[:16]:<16} "
            f"{clock(s.duration_s):>8} {s.peak_viewers:>6} {minutes(s.avg_watch_time_s):>7} "
            f"{s.engagement:>7.2f} {s.diamonds:>8} {f'{s.questions}({s.answered})':>7} "
            f"{retention_label(s.retention_15):>5}"
        )
    out += ["", _cadence_line(plan, lang)]
    if plan.enough:
        out += ["", _w(lang, "patterns") + ":"]
        out += [f"  - {line}" for line in _pattern_lines(plan, lang)] or [
            "  " + _w(lang, "no_patterns")]
        out += ["", _w(lang, "suggestions") + ":"]
        if not plan.suggestions:
            out.append("  " + _w(lang, "no_suggestions"))
        for n, tip in enumerate(plan.suggestions, 1):
            numbers = ", ".join(f"{k}={v}" for k, v in tip.numbers.items())
            out += [f"  {n}. {tip.text}", f"     ({numbers})"]
    return "\n".join(out) + "\n"
