"""What the deploy tests read from deploy/: the dashboard's queries and the metric names
livepilot exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from livepilot.metrics import Metrics
from livepilot.store.metrics import StoreMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "livepilot.json"

#: livepilot's own series in a PromQL expression (not Prometheus's ``up``).
_METRIC = re.compile(r"\blivepilot_[a-z0-9_]+")
#: What Prometheus stores for each kind of family, after the family's name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class Query:
    """One target of one panel."""

    panel: str
    ref: str
    expr: str


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows are only headings), nested rows included."""
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            yield from (p for p in panel.get("panels", []) if p.get("type") != "row")
        else:
            yield panel


def queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(panel["title"], target["refId"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def exported_series() -> set[str]:
    """Every series name livepilot's registries can export (``livepilot_events_total``,
    ``…_bucket``), built from the metric definitions themselves."""
    registry = CollectorRegistry()
    Metrics(registry)
    StoreMetrics(registry)
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES[family.type]
    }


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's variables replaced as Grafana would (``$stream`` with All selected is the
    regex ``.*``), longest name first so ``$__range`` never eats ``$__range_s``."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    return expr
