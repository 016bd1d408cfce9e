"""The report's machine-readable forms: JSON, the per-minute series as CSV, and a
stream's chat log as CSV (minimised as it was stored: users as the lead settings say)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from livepilot.report.compute import iso
from livepilot.report.model import MinuteRow, Report

__all__ = ["chat_log_csv", "minutes_csv", "report_json"]

_MINUTE_COLUMNS = tuple(MinuteRow.model_fields)


def report_json(report: Report) -> str:
    """The report as indented JSON, keys in a fixed order (two runs → same bytes)."""
    return json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


def _cell(value: object) -> str:
    # A spreadsheet runs cells starting with these as formulas; chat text is untrusted.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def minutes_csv(report: Report) -> str:
    """One row per minute: ``minute, start_s`` and every per-minute number."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["minute", "start_s", *_MINUTE_COLUMNS[1:]])
    for row in report.minutes:
        values = row.model_dump()
        writer.writerow([row.minute, row.minute * 60,
                         *(_cell(values[c]) for c in _MINUTE_COLUMNS[1:])])
    return out.getvalue()


def chat_log_csv(rows: Iterable[dict[str, Any]], started_at: float) -> Iterator[str]:
    """The chat log as CSV text in chunks (a long stream's log is never held whole)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "at_s", "type", "user", "text", "labels", "hidden", "action"])
    for n, row in enumerate(rows, start=1):
        writer.writerow([
            iso(row["at"]), f"{row['at'] - started_at:.3f}", row["type"], _cell(row["user"]),
            _cell(row["text"]), row["labels"], "1" if row["hidden"] else "0",
            row["action"] or "",
        ])
        if n % 1_000 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
