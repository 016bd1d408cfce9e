"""The plan across stored streams: comparisons, patterns and suggestions with numbers."""

from __future__ import annotations

from typing import Any

import pytest

from livepilot.report.plan import MIN_STREAMS, PlanError, plan_streams
from livepilot.report.plan_html import render_plan_html, render_plan_text
from livepilot.store import StreamData

Row = dict[str, Any]


def data(stream: Row, minutes: list[Row], questions: list[Row] | None = None) -> StreamData:
    return StreamData(stream=stream, minutes=minutes, segments=[], alarms=[], prompts=[],
                      questions=questions or [], commands=[], gaps=[], states=[], gifters=[])


def test_too_few_streams_say_so_and_suggest_nothing(five_streams: list[Any]) -> None:
    plan = plan_streams([data(*s) for s in five_streams[:2]], "Europe/Berlin", "en")
    assert not plan.enough and plan.needed == MIN_STREAMS - 2
    assert plan.suggestions == () and plan.patterns == ()
    assert [s.format for s in plan.streams] == ["Produkt", "Q&A"]  # still compared
    html = render_plan_html(plan, "en")
    assert 'id="not-enough"' in html and "Not enough streams yet: 2 stored" in html
    assert "Noch nicht genug Streams: 2 gespeichert" in render_plan_text(plan, "de")


def test_streams_side_by_side_in_local_time(five_streams: list[Any]) -> None:
    plan = plan_streams([data(*s) for s in five_streams], "Europe/Berlin", "de")
    first = plan.streams[0]
    assert (first.weekday, first.hour) == (2, 19)  # 18:00 UTC is 19:00 in Berlin in November
    assert first.duration_s == 2400.0 and first.peak_viewers == 100
    assert first.retention_15 == 0.65 and plan.streams[1].retention_15 == 1.0
    assert first.drops_at_s == (900.0,)
    assert first.engagement > plan.streams[1].engagement
    utc = plan_streams([data(*s) for s in five_streams], "UTC", "de")
    assert utc.streams[0].hour == 18


def test_a_drop_seen_in_most_streams_becomes_a_suggestion(five_streams: list[Any]) -> None:
    plan = plan_streams([data(*s) for s in five_streams], "Europe/Berlin", "en")
    assert plan.enough
    drop = next(p for p in plan.patterns if p.kind == "drop")
    assert (drop.at_min, drop.streams, drop.of, drop.median_share) == (15, 4, 5, 0.35)
    tip = next(s for s in plan.suggestions if s.key == "drop_15")
    assert tip.numbers == {"at_min": 15, "streams": 4, "of": 5, "median_share": 0.35}
    assert "In 4 of 5 streams the audience fell in minute 15–20 (median −35 %)" in tip.text
    peak = next(p for p in plan.patterns if p.kind == "peak")
    assert (peak.at_min, peak.streams) == (0, 5)


def test_best_weekday_hour_format_and_cadence(five_streams: list[Any]) -> None:
    plan = plan_streams([data(*s) for s in five_streams], "Europe/Berlin", "de")
    assert [(g.key, g.streams) for g in plan.weekdays] == [("2", 2), ("4", 1), ("0", 2)]
    weekday = next(s for s in plan.suggestions if s.key == "weekday")
    assert weekday.numbers["best"] == "2" and weekday.text.startswith("Mittwoch lief am besten")
    # Against the other days with enough streams (Monday; one Friday is not compared).
    assert weekday.numbers["streams"] == 2 and weekday.numbers["others_streams"] == 2
    hour = next(s for s in plan.suggestions if s.key == "hour")
    assert hour.numbers["best"] == "19" and hour.numbers["streams"] == 3
    fmt = next(s for s in plan.suggestions if s.key == "format")
    assert fmt.numbers == {"best": "Q&A", "retention_15": 0.825, "streams": 2,
                           "worst": "Produkt", "worst_retention_15": 0.65, "worst_streams": 3}
    cadence = plan.cadence
    assert cadence.gaps_days == (4.83, 2.17, 4.83, 11.17) and cadence.median_days == 4.83
    assert cadence.per_week == pytest.approx(4 / (23 / 7), abs=0.01)
    pause = next(s for s in plan.suggestions if s.key == "cadence")
    assert pause.numbers == {"median_days": 4.83, "longest_days": 11.17,
                             "peak_after_pause": 60, "median_peak_otherwise": 100.0}
    assert pause.text.endswith("— im Rhythmus bleiben.")


def test_a_stream_without_an_end_is_left_out(five_streams: list[Any]) -> None:
    streams = [data(*s) for s in five_streams]
    live = data(dict(streams[-1].stream, ended_at=None), streams[-1].minutes)
    plan = plan_streams([*streams[:-1], live], "Europe/Berlin", "de")
    assert len(plan.streams) == 4


def test_hostile_names_are_escaped_and_bad_zones_refused(five_streams: list[Any]) -> None:
    stream, minutes = five_streams[0]
    evil = dict(stream, name="<script>x</script>", run_of_show="<img src=x>")
    html = render_plan_html(plan_streams([data(evil, minutes)]), "de")
    assert "<script>x" not in html and "&lt;script&gt;" in html and "<img" not in html
    with pytest.raises(PlanError, match="unknown time zone 'Mars/Olympus'"):
        plan_streams([data(*five_streams[0])], "Mars/Olympus")
