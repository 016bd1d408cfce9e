""""Three things to change next time", derived from the stream's own numbers.

Each rule looks at one aspect (the biggest drop-off, unanswered questions, dead air, tech
problems, toxicity, overrunning segments, what buyers kept asking, quiet segments) and,
when the data shows a problem, proposes one concrete change with the numbers that led to
it and a weight for how much it cost the stream. The three heaviest are the advice; a
clean stream gets fewer than three rather than filler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from livepilot.report.model import Advice
from livepilot.report.text import Lang, clock, duration, number, percent

if TYPE_CHECKING:
    from livepilot.report.model import Report
    from livepilot.store.history import StreamData

__all__ = ["advise"]

_Candidate = tuple[float, Advice]
_Rule = Callable[["Report", "StreamData", Lang], "_Candidate | None"]

#: A rule's weight must reach this to be advice at all.
_MIN_WEIGHT = 5.0


def advise(report: Report, data: StreamData, lang: Lang) -> tuple[Advice, ...]:
    """Up to three pieces of advice, heaviest first."""
    found = [c for rule in _RULES if (c := rule(report, data, lang)) is not None]
    found = [c for c in found if c[0] >= _MIN_WEIGHT]
    found.sort(key=lambda c: (-c[0], c[1].kind))
    return tuple(advice for _, advice in found[:3])


def _de(lang: Lang) -> bool:
    return lang == "de"


def _drop_off(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    if not report.drop_offs:
        return None
    drop = report.drop_offs[0]
    where = ""
    if drop.segment:
        where = f" (Segment „{drop.segment}“)" if _de(lang) else f' (segment "{drop.segment}")'
    if _de(lang):
        title = "Den Abbruch-Moment entschärfen"
        detail = (
            f"Bei {clock(drop.at_s)}{where} fielen die Zuschauer von "
            f"{number(drop.before, lang)} auf {number(drop.after, lang)} "
            f"(−{percent(drop.share, lang, 0)}). Diesen Teil kürzen oder später bringen und "
            "mit einer Frage an den Chat einleiten."
        )
    else:
        title = "Defuse the moment viewers left"
        detail = (
            f"At {clock(drop.at_s)}{where} viewers "
            f"fell from {number(drop.before, lang)} to {number(drop.after, lang)} "
            f"(−{percent(drop.share, lang, 0)}). Shorten that part or move it later, and "
            "open it with a question to the chat."
        )
    numbers: dict[str, float | int | str] = {
        "at_s": drop.at_s, "before": drop.before, "after": drop.after, "share": drop.share,
    }
    if drop.segment:
        numbers["segment"] = drop.segment
    return drop.share * 100, Advice(kind="drop_off", title=title, detail=detail,
                                    numbers=numbers)


def _questions(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    q = report.questions
    if q.asked < 3:
        return None
    open_share = q.unanswered / q.asked
    slow = q.median_response_s or 0.0
    weight = open_share * 60 + min(40.0, max(0.0, slow - 60) / 6)
    top = next((item for item in q.top if item.state in ("open", "claimed") and item.text),
               None)
    example = ""
    if top is not None and top.text:
        example = f" „{top.text[:80]}“ ({top.askers})" if _de(lang) else (
            f' "{top.text[:80]}" ({top.askers})'
        )
    median = f"; Median {duration(slow, lang)}" if q.median_response_s is not None else ""
    if _de(lang):
        title = "Fragen schneller beantworten"
        detail = (
            f"{q.unanswered} von {q.asked} Fragen blieben offen ({percent(open_share, lang, 0)})"
            f"{median}. Eine Person nur für die Fragen-Queue einteilen und die häufigsten "
            f"Antworten ins FAQ legen{':' if example else ''}{example}."
        )
    else:
        median = median.replace("Median", "median")
        title = "Answer questions faster"
        detail = (
            f"{q.unanswered} of {q.asked} questions were left open "
            f"({percent(open_share, lang, 0)}){median}. Give one moderator the question "
            f"queue only and put the most asked answers in the FAQ"
            f"{':' if example else ''}{example}."
        )
    numbers: dict[str, float | int | str] = {
        "asked": q.asked, "unanswered": q.unanswered, "answered": q.answered,
    }
    if q.median_response_s is not None:
        numbers["median_response_s"] = q.median_response_s
    return weight, Advice(kind="questions", title=title, detail=detail, numbers=numbers)


def _alarms_of(report: Report, kind: str) -> list[tuple[float, float]]:
    return [(a.at_s, (a.cleared_s if a.cleared_s is not None else report.duration_s) - a.at_s)
            for a in report.alarms if a.kind == kind]


def _dead_air(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    spells = _alarms_of(report, "dead_air")
    if not spells:
        return None
    seconds = sum(s for _, s in spells)
    first = clock(spells[0][0])
    if _de(lang):
        title = "Stille im Chat vermeiden"
        detail = (
            f"{len(spells)}× kein Chat (zusammen {duration(seconds, lang)}, zuerst bei "
            f"{first}). Für jedes Segment zwei Fragen an den Chat vorbereiten."
        )
    else:
        title = "Plan for quiet chat"
        detail = (
            f"{len(spells)}× dead air (together {duration(seconds, lang)}, first at {first}). "
            "Prepare two questions for the chat in every segment."
        )
    return 10 * len(spells) + seconds / 10, Advice(
        kind="dead_air", title=title, detail=detail,
        numbers={"count": len(spells), "seconds": round(seconds, 1)},
    )


def _tech(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    tech = report.tech
    if not tech.alarms and not tech.gaps and not tech.disconnects:
        return None
    kinds = sorted({a.subject or a.kind for a in tech.alarms})
    first = min([a.at_s for a in tech.alarms] + [g.start_s for g in tech.gaps])
    if _de(lang):
        gaps = f", {duration(tech.gap_seconds, lang)} ohne Daten" if tech.gap_seconds else ""
        title = "Technik vor dem Start prüfen"
        detail = (
            f"{len(tech.alarms)} Technik-Alarm(e), {tech.reports} Meldungen im Chat"
            f"{gaps} (zuerst bei {clock(first)})"
            f"{': ' + ', '.join(kinds) if kinds else ''}. Ton, Bild und Verbindung vor dem "
            "Live testen und einen Moderator auf Technik-Meldungen achten lassen."
        )
    else:
        gaps = f", {duration(tech.gap_seconds, lang)} without data" if tech.gap_seconds else ""
        title = "Check the tech before going live"
        detail = (
            f"{len(tech.alarms)} tech alarm(s), {tech.reports} reports in chat"
            f"{gaps} (first at {clock(first)})"
            f"{': ' + ', '.join(kinds) if kinds else ''}. Test sound, picture and connection "
            "before the LIVE and have one moderator watch for tech reports."
        )
    weight = 20 * len(tech.alarms) + tech.gap_seconds / 3 + 5 * tech.disconnects
    return weight, Advice(kind="tech", title=title, detail=detail, numbers={
        "alarms": len(tech.alarms), "reports": tech.reports, "gap_seconds": tech.gap_seconds,
    })


def _toxicity(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    m = report.moderation
    storms = _alarms_of(report, "shitstorm") + _alarms_of(report, "raid")
    if m.flagged_share < 0.03 and not storms:
        return None
    when = f" ({'zuerst bei' if _de(lang) else 'first at'} {clock(storms[0][0])})" if storms else ""
    if _de(lang):
        title = "Moderation verstärken"
        detail = (
            f"{percent(m.flagged_share, lang)} des Chats markiert ({m.toxic} beleidigend, "
            f"{m.spam} Spam), {len(storms)} Shitstorm/Raid-Alarm(e){when}. Einen zweiten "
            "Moderator einplanen und die Wortliste um die Begriffe dieses Streams ergänzen."
        )
    else:
        title = "Strengthen moderation"
        detail = (
            f"{percent(m.flagged_share, lang)} of chat flagged ({m.toxic} toxic, {m.spam} "
            f"spam), {len(storms)} shitstorm/raid alarm(s){when}. Plan a second moderator and "
            "add this stream's terms to the word list."
        )
    return m.flagged_share * 300 + 10 * len(storms), Advice(
        kind="moderation", title=title, detail=detail,
        numbers={"flagged_share": m.flagged_share, "storms": len(storms)},
    )


def _overrun(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    overruns = [a for a in report.alarms if a.kind == "segment_overrun"]
    if not overruns:
        return None
    names = ", ".join(dict.fromkeys(a.subject or a.kind for a in overruns[:3]))
    if _de(lang):
        title = "Ablaufplan realistischer planen"
        detail = (f"{len(overruns)} Segment(e) liefen über die geplante Zeit ({names}). "
                  "Mehr Zeit einplanen oder Inhalte streichen.")
    else:
        title = "Plan the run of show more realistically"
        detail = (f"{len(overruns)} segment(s) ran over their planned time ({names}). "
                  "Plan more time or cut content.")
    return 12.0 * len(overruns), Advice(kind="overrun", title=title, detail=detail,
                                        numbers={"overruns": len(overruns)})


def _buyers(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    if report.leads < 10 or not report.leads_by_kind:
        return None
    kind, n = max(report.leads_by_kind.items(), key=lambda kv: (kv[1], kv[0]))
    if _de(lang):
        title = "Kauffragen vorwegnehmen"
        detail = (f"{report.leads} Kauffragen, davon {n} zu „{kind}“. Die Antwort früh "
                  "einblenden oder anpinnen (Preis, Link, Versand).")
    else:
        title = "Answer buying questions up front"
        detail = (f"{report.leads} buying questions, {n} of them about \"{kind}\". Show or "
                  "pin the answer early (price, link, shipping).")
    return min(45.0, report.leads / 8), Advice(kind="leads", title=title, detail=detail,
                                              numbers={"leads": report.leads, "kind": kind,
                                                       "count": n})


def _quiet_segment(report: Report, data: StreamData, lang: Lang) -> _Candidate | None:
    rated = [s for s in report.segments if s.interactions_per_viewer_minute is not None]
    if len(rated) < 2:
        return None
    best = max(rated, key=lambda s: s.interactions_per_viewer_minute or 0.0)
    worst = min(rated, key=lambda s: s.interactions_per_viewer_minute or 0.0)
    low, high = worst.interactions_per_viewer_minute or 0.0, best.interactions_per_viewer_minute
    if not high or low >= 0.5 * high:
        return None
    if _de(lang):
        title = f"Segment „{worst.name}“ interaktiver machen"
        detail = (f"{number(low, lang, 3)} Interaktionen je Zuschauerminute gegenüber "
                  f"{number(high, lang, 3)} in „{best.name}“. Eine Umfrage oder Frage einbauen.")
    else:
        title = f"Make segment \"{worst.name}\" more interactive"
        detail = (f"{number(low, lang, 3)} interactions per viewer-minute against "
                  f"{number(high, lang, 3)} in \"{best.name}\". Add a poll or a question.")
    return 30 * (1 - low / high), Advice(kind="quiet_segment", title=title, detail=detail,
                                         numbers={"segment": worst.name, "rate": low,
                                                  "best": high})


_RULES: tuple[_Rule, ...] = (
    _drop_off, _questions, _dead_air, _tech, _toxicity, _overrun, _buyers, _quiet_segment,
)
