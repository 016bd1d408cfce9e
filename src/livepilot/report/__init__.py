"""The post-stream report, read from the store: HTML (self-contained, prints to PDF),
JSON and CSV (:mod:`~livepilot.report.export`), in German or English.

:func:`build_report` computes the numbers (:mod:`~livepilot.report.compute`, defined in
``docs/history.md``) and the "three things to change next time"
(:mod:`~livepilot.report.advice`); :func:`render_html` draws the page with inline SVG
charts (:mod:`~livepilot.report.svg`).
"""

from __future__ import annotations

from livepilot.report.compute import build_report
from livepilot.report.export import chat_log_csv, minutes_csv, report_json
from livepilot.report.html import render_html
from livepilot.report.model import Report
from livepilot.report.text import Lang

__all__ = [
    "Lang",
    "Report",
    "build_report",
    "chat_log_csv",
    "minutes_csv",
    "render_html",
    "report_json",
]
