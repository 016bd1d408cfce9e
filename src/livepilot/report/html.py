"""The report as one self-contained HTML page: inline CSS and SVG, no script, no fetch.

It reads top to bottom the way a live manager debriefs: the headline numbers, the three
things to change, then the audience (viewers with segments, alarms and data gaps; the
curve relative to the peak and where people left), interactions, gifts, questions and
moderators, moderation, mood and tech. It prints to A4 (``Ctrl-P`` → PDF) with sections
kept whole. Every text from the stream (names, questions, messages) is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from livepilot.report.model import AlarmItem, Report
from livepilot.report.svg import Band, Marker, diverging_chart, line_chart, stacked_chart
from livepilot.report.text import Lang, clock, duration, number, percent, say

__all__ = ["render_html"]

_CSS = """
:root { --ink:#1d2330; --muted:#5d6678; --line:#d9dde5; --accent:#2f6fde; --warn:#d9822b;
  --bad:#c9352c; --good:#2e9e5b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 820px; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 10px; }
.meta { color: var(--muted); margin: 0 0 16px; }
section { border-top: 1px solid var(--line); padding: 14px 0 10px; break-inside: avoid; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.tile b { display: block; font-size: 20px; } .tile span { color: var(--muted); font-size: 12px; }
.advice ol { margin: 0; padding-left: 22px; } .advice li { margin: 0 0 8px; }
.advice li b { display: block; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td.n, th.n { text-align: right; }
.note { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; height: auto; display: block; margin: 4px 0; }
svg .grid { stroke: #eef0f4; } svg .axis { stroke: #9aa3b2; }
svg .tick { fill: var(--muted); font-size: 10px; } svg .label { fill: var(--ink); font-size: 11px;
  font-weight: 600; }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .area { fill: var(--accent); fill-opacity: .12; }
svg .seg0 { fill: #f3f6fc; } svg .seg1 { fill: #e6ecf8; }
svg .band-label { fill: #4b5870; font-size: 10px; }
svg .gap { fill: #9aa3b2; fill-opacity: .35; }
svg .alarm line { stroke: var(--bad); stroke-dasharray: 3 2; }
svg .alarm circle { fill: var(--bad); } svg .alarm text { fill: #fff; font-size: 9px;
  font-weight: 700; }
svg .alarm-warn line { stroke: var(--warn); stroke-dasharray: 3 2; }
svg .alarm-warn circle { fill: var(--warn); } svg .alarm-warn text { fill: #fff; font-size: 9px;
  font-weight: 700; }
svg .bar-a { fill: var(--accent); } svg .bar-b { fill: #8e6fd8; } svg .bar-c { fill: #e0a93b; }
svg .good { fill: var(--good); } svg .bad { fill: var(--warn); } svg .worse { fill: var(--bad); }
.legend-list { columns: 2; font-size: 12px; margin: 4px 0 0; padding-left: 18px; }
@page { size: A4; margin: 14mm; }
@media print { body { padding: 0; max-width: none; } section { page-break-inside: avoid; } }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(head: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]]) -> str:
    """``head``: (title, numeric); cells are already escaped."""
    cls = [' class="n"' if numeric else "" for _, numeric in head]
    out = ["<table><thead><tr>"]
    out += [f"<th{c}>{_e(t)}</th>" for (t, _), c in zip(head, cls, strict=True)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cls, strict=True))
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(report: Report, lang: Lang = "de") -> str:
    """The whole page."""
    r = report
    title = f"{say(lang, 'title')}: {r.creator}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(say(lang, "started"))} {_e(r.started_at.replace("T", " "))} · '
        f"{_e(say(lang, 'duration'))} {_e(duration(r.duration_s, lang))} · "
        f"{_e(say(lang, 'platform'))} {_e(r.platform)}"
        + (f" · {_e(say(lang, 'run_of_show'))} „{_e(r.run_of_show)}“" if r.run_of_show else "")
        + f"<br>{_e(r.stream)}</p>",
        _tiles(r, lang),
        _advice(r, lang),
        _audience(r, lang),
        _interactions(r, lang),
        _segments(r, lang),
        _gifts(r, lang),
        _questions(r, lang),
        _polls(r, lang),
        _moderation(r, lang),
        _mood(r, lang),
        _tech(r, lang),
        _alarms(r, lang),
        f'<p class="note">{_e(say(lang, "definitions"))}'
        + (f" {_e(say(lang, 'capped'))}" if r.users_capped else "")
        + f" {_e(say(lang, 'generated'))}.</p>",
    ]
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def _tiles(r: Report, lang: Lang) -> str:
    source = say(lang, "platform_count" if r.total_viewers_source == "platform" else "estimate")
    tiles = [
        (number(r.peak_viewers, lang), say(lang, "peak")
         + (f" ({say(lang, 'at')} {clock(r.peak_at_s)})" if r.peak_at_s is not None else "")),
        (number(r.avg_viewers, lang), say(lang, "avg_viewers")),
        (number(r.total_viewers, lang), f"{say(lang, 'total_viewers')} ({source})"),
        (duration(r.avg_watch_time_s, lang), say(lang, "watch_time")),
        (number(r.engagement.interactions_per_viewer_minute, lang, 3), say(lang, "engagement")),
        (percent(r.engagement.interacted_share, lang), say(lang, "interacted")),
        (number(r.diamonds, lang), say(lang, "diamonds")),
        (number(r.leads, lang), say(lang, "leads")),
    ]
    cells = "".join(f'<div class="tile"><b>{_e(v)}</b><span>{_e(t)}</span></div>'
                    for v, t in tiles)
    return f'<section><div class="tiles">{cells}</div></section>'


def _advice(r: Report, lang: Lang) -> str:
    head = f'<section class="advice"><h2>{_e(say(lang, "three_things"))}</h2>'
    if not r.advice:
        return head + f"<p>{_e(say(lang, 'no_advice'))}</p></section>"
    items = "".join(f"<li><b>{_e(a.title)}</b>{_e(a.detail)}</li>" for a in r.advice)
    return head + f"<ol>{items}</ol></section>"


def _bands(r: Report, lang: Lang) -> list[Band]:
    bands = [Band(s.start_s / 60, s.end_s / 60, s.name, f"seg{i % 2}")
             for i, s in enumerate(r.segments)]
    bands += [Band(g.start_s / 60, max(g.end_s, g.start_s + 20) / 60,
                   f"{say(lang, 'gap')}: {g.cause} ({duration(g.seconds, lang)})", "gap")
              for g in r.tech.gaps]
    return bands


def _marked(r: Report) -> list[AlarmItem]:
    """The alarms worth a mark on the chart: warnings and worse, and tech problems."""
    return [a for a in r.alarms if a.severity != "info" or a.kind in ("tech_issue",)]


def _audience(r: Report, lang: Lang) -> str:
    marked = _marked(r)
    markers = [Marker(a.at_s / 60, str(i), f"{a.kind} {clock(a.at_s)}: {a.message}",
                      "alarm" if a.severity == "critical" else "alarm-warn")
               for i, a in enumerate(marked, start=1)]
    chart = line_chart(list(r.viewers_per_minute), title=say(lang, "viewers_over_time"),
                       label=say(lang, "viewers_legend"), bands=_bands(r, lang),
                       markers=markers)
    key = ""
    if marked:
        key = '<ol class="legend-list">' + "".join(
            f"<li>{_e(clock(a.at_s))} {_e(a.kind)}</li>" for a in marked) + "</ol>"
    retention = line_chart(list(r.retention), title=say(lang, "retention"),
                           label=say(lang, "retention"), bands=_bands(r, lang), percent=True)
    if r.drop_offs:
        drops = _table(
            [(say(lang, "time"), False), (say(lang, "from_to"), True), ("%", True),
             (say(lang, "segment"), False)],
            ([_e(f"{clock(d.at_s)}–{clock(d.until_s)}"),
              _e(f"{number(d.before, lang)} → {number(d.after, lang)}"),
              _e(f"−{percent(d.share, lang, 0)}"), _e(d.segment or "–")] for d in r.drop_offs),
        )
    else:
        drops = f"<p>{_e(say(lang, 'no_drop_offs'))}</p>"
    return (f"<section><h2>{_e(say(lang, 'viewers_over_time'))}</h2>{chart}{key}</section>"
            f"<section><h2>{_e(say(lang, 'drop_offs'))}</h2>{retention}{drops}</section>")


def _interactions(r: Report, lang: Lang) -> str:
    m = r.minutes
    chart = stacked_chart(
        [(say(lang, "chat"), "bar-a", [x.chat for x in m]),
         (say(lang, "gifts"), "bar-c", [x.gifts for x in m]),
         (say(lang, "shares_follows"), "bar-b", [x.shares + x.follows for x in m])],
        title=say(lang, "interactions_per_minute"), label=say(lang, "interactions_per_minute"),
        bands=[b for b in _bands(r, lang) if b.css != "gap"],
    )
    e = r.engagement
    facts = (f"{number(e.interactions, lang)} {say(lang, 'interactions')} · "
             f"{number(e.chat_per_viewer_minute, lang, 3)} {say(lang, 'chat_rate')} · "
             f"{number(r.likes, lang)} {say(lang, 'likes')} "
             f"({number(e.likes_per_viewer_minute, lang, 1)} {say(lang, 'per_viewer_minute')})"
             f" · {number(e.chatters, lang)} {say(lang, 'chatters')}")
    return (f"<section><h2>{_e(say(lang, 'interactions_per_minute'))}</h2>{chart}"
            f'<p class="note">{_e(facts)}</p></section>')


def _segments(r: Report, lang: Lang) -> str:
    if not r.segments:
        return ""
    table = _table(
        [(say(lang, "segment"), False), (say(lang, "time"), False),
         (say(lang, "avg_viewers"), True), (say(lang, "engagement"), True),
         (say(lang, "diamonds"), True)],
        ([_e(s.name), _e(f"{clock(s.start_s)}–{clock(s.end_s)}"),
          _e(number(s.avg_viewers, lang)),
          _e(number(s.interactions_per_viewer_minute, lang, 3)), _e(number(s.diamonds, lang))]
         for s in r.segments),
    )
    return f"<section><h2>{_e(say(lang, 'segments'))}</h2>{table}</section>"


def _gifts(r: Report, lang: Lang) -> str:
    head = f"<section><h2>{_e(say(lang, 'gifts_title'))}</h2>"
    if not r.top_gifters:
        return head + f"<p>{_e(say(lang, 'no_gifts'))}</p></section>"
    table = _table(
        [("#", True), (say(lang, "user"), False), (say(lang, "diamonds"), True),
         (say(lang, "gifts"), True)],
        ([str(i), _e("@" + g.user), _e(number(g.diamonds, lang)), _e(number(g.gifts, lang))]
         for i, g in enumerate(r.top_gifters, start=1)),
    )
    chart = stacked_chart([(say(lang, "diamonds"), "bar-c", [m.diamonds for m in r.minutes])],
                          title=say(lang, "diamonds_per_minute"),
                          label=say(lang, "diamonds_per_minute"))
    total = (f"{number(r.diamonds, lang)} {say(lang, 'diamonds')} · "
             f"{number(r.gifts, lang)} {say(lang, 'gifts')}")
    return head + f'<p class="note">{_e(total)}</p>{table}{chart}</section>'


def _questions(r: Report, lang: Lang) -> str:
    q = r.questions
    facts = (f"{q.asked} {say(lang, 'asked')} · {q.answered} {say(lang, 'answered')} · "
             f"{q.unanswered} {say(lang, 'unanswered')} · {q.dismissed} "
             f"{say(lang, 'dismissed')} · {say(lang, 'median_response')}: "
             f"{duration(q.median_response_s, lang)}")
    if q.by_moderator:
        mods = _table(
            [(say(lang, "moderator"), False), (say(lang, "answered"), True),
             (say(lang, "dismissed"), True), (say(lang, "median_response"), True),
             (say(lang, "mean"), True)],
            ([_e(m.moderator), str(m.answered), str(m.dismissed),
              _e(duration(m.median_response_s, lang)), _e(duration(m.mean_response_s, lang))]
             for m in q.by_moderator),
        )
    else:
        mods = f'<p class="note">{_e(say(lang, "no_moderators"))}</p>'
    top = _table(
        [(say(lang, "top_questions"), False), (say(lang, "askers"), True),
         (say(lang, "state"), False)],
        ([_e(item.text) if item.text else
          _e(f"{say(lang, 'leads')}: {item.kind or ''} {say(lang, 'hidden_text')}"),
          str(item.askers),
          _e(say(lang, f"state_{item.state}") + (
              f" ({item.by}, {duration(item.response_s, lang)})"
              if item.state == "answered" else ""))]
         for item in q.top),
    ) if q.top else ""
    return (f"<section><h2>{_e(say(lang, 'questions'))}</h2><p>{_e(facts)}</p>{mods}{top}"
            "</section>")


def _moderation(r: Report, lang: Lang) -> str:
    m = r.moderation
    facts = (f"{number(m.flagged, lang)} {say(lang, 'flagged')} "
             f"({percent(m.flagged_share, lang)}) · {m.toxic} {say(lang, 'toxic')} · "
             f"{m.spam} {say(lang, 'spam')} · {m.hidden} {say(lang, 'hidden')}")
    actions = ""
    if m.actions:
        actions = (f"<p>{_e(say(lang, 'actions'))}: "
                   + _e(", ".join(f"{k} {v}" for k, v in m.actions.items())) + " · "
                   + _e(", ".join(f"{k} {v}" for k, v in m.by_moderator.items())) + "</p>")
    return f"<section><h2>{_e(say(lang, 'moderation'))}</h2><p>{_e(facts)}</p>{actions}</section>"


def _mood(r: Report, lang: Lang) -> str:
    m = r.minutes
    chart = diverging_chart(
        (say(lang, "positive"), "good", [x.positive for x in m]),
        [(say(lang, "negative"), "bad", [x.negative for x in m]),
         (say(lang, "flagged"), "worse", [x.flagged for x in m])],
        title=say(lang, "mood"), label=say(lang, "mood"),
    )
    verdict = say(lang, f"mood_{r.mood.verdict}")
    facts = (f"{verdict} ({number(r.mood.index, lang, 3)}) · {r.mood.positive} "
             f"{say(lang, 'positive')} · {r.mood.negative} {say(lang, 'negative')} · "
             f"{r.mood.toxic} {say(lang, 'toxic')}")
    return f"<section><h2>{_e(say(lang, 'mood'))}</h2><p>{_e(facts)}</p>{chart}</section>"


def _tech(r: Report, lang: Lang) -> str:
    t = r.tech
    head = f"<section><h2>{_e(say(lang, 'tech'))}</h2>"
    if not (t.gaps or t.alarms or t.disconnects or t.reports or t.paused):
        return head + f"<p>{_e(say(lang, 'no_tech'))}</p></section>"
    facts = (f"{t.disconnects} {say(lang, 'disconnects')} · {number(t.gap_seconds, lang)} "
             f"{say(lang, 'gap_seconds')} · {t.reports} {say(lang, 'tech_reports')}")
    timed = [(g.start_s, [_e(clock(g.start_s)), _e(say(lang, "gap")),
                          _e(f"{g.cause}, {duration(g.seconds, lang)}")]) for g in t.gaps]
    timed += [(a.at_s, [_e(clock(a.at_s)), _e(a.kind), _e(a.message)]) for a in t.alarms]
    timed.sort(key=lambda item: item[0])
    table = _table([(say(lang, "time"), False), (say(lang, "kind"), False),
                    (say(lang, "message"), False)], (row for _, row in timed))
    return head + f"<p>{_e(facts)}</p>{table}</section>"


def _polls(r: Report, lang: Lang) -> str:
    """Each poll and giveaway with how it came out; nothing when the stream had none."""
    held = [a for a in r.alarms if a.kind in ("poll", "giveaway")]
    if not held:
        return ""
    table = _table(
        [(say(lang, "time"), False), (say(lang, "kind"), False),
         (say(lang, "poll_subject"), False), (say(lang, "poll_result"), False)],
        ([_e(clock(a.at_s) + (f"–{clock(a.cleared_s)}" if a.cleared_s is not None else "")),
          _e(say(lang, a.kind)), _e(a.subject or a.message),
          _e(a.result if a.result is not None else say(lang, "poll_open"))] for a in held),
    )
    return f"<section><h2>{_e(say(lang, 'polls'))}</h2>{table}</section>"


def _alarms(r: Report, lang: Lang) -> str:
    head = f"<section><h2>{_e(say(lang, 'alarms'))}</h2>"
    if not r.alarms:
        return head + f"<p>{_e(say(lang, 'no_alarms'))}</p></section>"
    table = _table(
        [(say(lang, "time"), False), (say(lang, "kind"), False), (say(lang, "message"), False)],
        ([_e(clock(a.at_s) + (f"–{clock(a.cleared_s)}" if a.cleared_s is not None else "")),
          _e(a.kind), _e(a.message)] for a in r.alarms),
    )
    return head + table + "</section>"
