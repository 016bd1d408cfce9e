"""The report's words in German and English, and how it writes times and numbers."""

from __future__ import annotations

from typing import Literal

__all__ = ["Lang", "clock", "duration", "number", "percent", "say"]

Lang = Literal["de", "en"]

_TEXT: dict[str, dict[str, str]] = {
    "title": {"de": "Stream-Bericht", "en": "Stream report"},
    "started": {"de": "Beginn", "en": "Started"},
    "duration": {"de": "Dauer", "en": "Duration"},
    "platform": {"de": "Plattform", "en": "Platform"},
    "run_of_show": {"de": "Ablaufplan", "en": "Run of show"},
    "ended_by": {"de": "Ende", "en": "Ended"},
    "peak": {"de": "Spitze", "en": "Peak viewers"},
    "avg_viewers": {"de": "Ø Zuschauer gleichzeitig", "en": "Avg. concurrent viewers"},
    "total_viewers": {"de": "Zuschauer gesamt", "en": "Total viewers"},
    "estimate": {"de": "geschätzt: verschiedene Nutzer", "en": "estimate: distinct users"},
    "platform_count": {"de": "laut Plattform", "en": "platform count"},
    "watch_time": {"de": "Ø Zuschauzeit", "en": "Avg. watch time"},
    "engagement": {"de": "Interaktionen je Zuschauerminute",
                   "en": "Interactions per viewer-minute"},
    "interacted": {"de": "Zuschauer mit Interaktion", "en": "Viewers who interacted"},
    "diamonds": {"de": "Diamanten", "en": "Diamonds"},
    "leads": {"de": "Kaufinteresse (Leads)", "en": "Leads"},
    "three_things": {"de": "Drei Dinge fürs nächste Mal", "en": "Three things to change next time"},
    "no_advice": {"de": "Die Daten zeigen diesmal nichts Dringendes.",
                  "en": "Nothing in the data calls for a change this time."},
    "viewers_over_time": {"de": "Zuschauer im Verlauf", "en": "Viewers over time"},
    "viewers_legend": {"de": "Zuschauer (Ø je Minute)", "en": "Viewers (avg per minute)"},
    "segments": {"de": "Segmente", "en": "Segments"},
    "alarm": {"de": "Alarm", "en": "Alarm"},
    "gap": {"de": "Datenlücke", "en": "Data gap"},
    "interactions_per_minute": {"de": "Interaktionen je Minute",
                                "en": "Interactions per minute"},
    "chat": {"de": "Chat", "en": "Chat"},
    "gifts": {"de": "Geschenke", "en": "Gifts"},
    "shares_follows": {"de": "Teilen + Folgen", "en": "Shares + follows"},
    "likes": {"de": "Likes", "en": "Likes"},
    "interactions": {"de": "Interaktionen", "en": "interactions"},
    "chat_rate": {"de": "Chat je Zuschauerminute", "en": "chat per viewer-minute"},
    "per_viewer_minute": {"de": "je Zuschauerminute", "en": "per viewer-minute"},
    "chatters": {"de": "verschiedene Chatter", "en": "distinct chatters"},
    "state_open": {"de": "offen", "en": "open"},
    "state_claimed": {"de": "übernommen", "en": "claimed"},
    "state_answered": {"de": "beantwortet", "en": "answered"},
    "state_dismissed": {"de": "verworfen", "en": "dismissed"},
    "state_expired": {"de": "abgelaufen", "en": "expired"},
    "retention": {"de": "Zuschauer im Verhältnis zur Spitze",
                  "en": "Audience relative to the peak"},
    "drop_offs": {"de": "Abbrüche", "en": "Drop-offs"},
    "no_drop_offs": {"de": "Keine Abbrüche über 10 %.", "en": "No drop-off over 10 %."},
    "at": {"de": "bei", "en": "at"},
    "segment": {"de": "Segment", "en": "Segment"},
    "from_to": {"de": "von → auf", "en": "from → to"},
    "gifts_title": {"de": "Top-Gifter und Diamanten", "en": "Top gifters and diamonds"},
    "user": {"de": "Nutzer", "en": "User"},
    "no_gifts": {"de": "Keine Geschenke.", "en": "No gifts."},
    "diamonds_per_minute": {"de": "Diamanten je Minute", "en": "Diamonds per minute"},
    "questions": {"de": "Fragen", "en": "Questions"},
    "asked": {"de": "gestellt", "en": "asked"},
    "answered": {"de": "beantwortet", "en": "answered"},
    "unanswered": {"de": "offen geblieben", "en": "left open"},
    "dismissed": {"de": "verworfen", "en": "dismissed"},
    "median_response": {"de": "Antwortzeit (Median)", "en": "Response time (median)"},
    "moderator": {"de": "Moderator", "en": "Moderator"},
    "mean": {"de": "Mittel", "en": "mean"},
    "no_moderators": {"de": "Kein Moderator hat Fragen beantwortet.",
                      "en": "No moderator answered questions."},
    "top_questions": {"de": "Häufigste Fragen", "en": "Most asked"},
    "askers": {"de": "Fragende", "en": "Askers"},
    "state": {"de": "Stand", "en": "State"},
    "hidden_text": {"de": "(Text nicht gespeichert)", "en": "(text not kept)"},
    "moderation": {"de": "Moderation", "en": "Moderation"},
    "flagged": {"de": "markiert", "en": "flagged"},
    "toxic": {"de": "beleidigend", "en": "toxic"},
    "spam": {"de": "Spam", "en": "spam"},
    "hidden": {"de": "ausgeblendet", "en": "hidden"},
    "actions": {"de": "Moderator-Aktionen", "en": "Moderator actions"},
    "tech": {"de": "Technik", "en": "Tech problems"},
    "no_tech": {"de": "Keine technischen Probleme erfasst.",
                "en": "No tech problems recorded."},
    "disconnects": {"de": "Verbindungsabbrüche", "en": "Disconnects"},
    "gap_seconds": {"de": "Sekunden ohne Daten", "en": "Seconds without data"},
    "tech_reports": {"de": "Meldungen aus dem Chat", "en": "Reports in chat"},
    "mood": {"de": "Stimmung", "en": "Mood"},
    "mood_positive": {"de": "positiv", "en": "positive"},
    "mood_neutral": {"de": "neutral", "en": "neutral"},
    "mood_negative": {"de": "negativ", "en": "negative"},
    "positive": {"de": "positiv", "en": "positive"},
    "negative": {"de": "negativ", "en": "negative"},
    "alarms": {"de": "Alarme", "en": "Alarms"},
    "no_alarms": {"de": "Keine Alarme.", "en": "No alarms."},
    "polls": {"de": "Umfragen und Gewinnspiele", "en": "Polls and giveaways"},
    "poll": {"de": "Umfrage", "en": "Poll"},
    "giveaway": {"de": "Gewinnspiel", "en": "Giveaway"},
    "poll_subject": {"de": "Frage / Preis", "en": "Question / prize"},
    "poll_result": {"de": "Ergebnis", "en": "Result"},
    "poll_open": {"de": "nicht beendet", "en": "not closed"},
    "time": {"de": "Zeit", "en": "Time"},
    "kind": {"de": "Art", "en": "Kind"},
    "message": {"de": "Meldung", "en": "Message"},
    "minute": {"de": "Minute", "en": "Minute"},
    "definitions": {
        "de": "Interaktionen: Chat, Fragen, Geschenke, Teilen, Folgen, Abos (Likes einzeln "
              "gezählt). Zuschauzeit nach Littles Gesetz: Ø gleichzeitige Zuschauer × Dauer ÷ "
              "Zuschauer gesamt. Alle Zeiten ab Stream-Beginn.",
        "en": "Interactions: chat, questions, gifts, shares, follows, subscriptions (likes "
              "counted apart). Watch time by Little's law: avg concurrent viewers × duration "
              "÷ total viewers. All times from the start of the stream.",
    },
    "capped": {"de": "Sehr viele Nutzer: eindeutige Zählungen sind Untergrenzen.",
               "en": "Very many users: unique counts are lower bounds."},
    "generated": {"de": "Erstellt von livepilot", "en": "Generated by livepilot"},
}


def say(lang: Lang, key: str) -> str:
    return _TEXT[key][lang]


def clock(seconds: float | None) -> str:
    """Stream time as ``m:ss`` or ``h:mm:ss``."""
    if seconds is None:
        return "–"
    total = max(0, round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration(seconds: float | None, lang: Lang) -> str:
    """``1 h 05 min``, ``12 min 30 s``, ``45 s``."""
    if seconds is None:
        return "–"
    total = max(0, round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


def number(value: float | int | None, lang: Lang, digits: int = 0) -> str:
    """Thousands separated the way the reader expects (1.234,5 / 1,234.5)."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if lang == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def percent(share: float | None, lang: Lang, digits: int = 1) -> str:
    if share is None:
        return "–"
    return f"{number(share * 100, lang, digits)} %"
