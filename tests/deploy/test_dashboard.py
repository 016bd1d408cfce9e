"""The operations kit in deploy/ is consistent with the code: the dashboard is valid
Grafana JSON whose every panel has a data source and a query, every metric a panel or an
alert names is one livepilot exports, and the compose file wires what the Prometheus and
Grafana configs expect. (tests/deploy/test_dashboard_prometheus.py runs the queries.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from deploy_dashboard import (
    DEPLOY,
    exported_series,
    load_dashboard,
    metric_names,
    panels,
    queries,
)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_panel_has_a_data_source_a_query_and_a_place() -> None:
    dashboard = load_dashboard()
    shown = list(panels(dashboard))
    assert len(shown) >= 20
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in shown:
        title = panel.get("title")
        assert title, f"panel {panel['id']} has no title"
        assert panel.get("description"), f"{title}: say what the panel means"
        assert panel.get("datasource", {}).get("type") == "prometheus", title
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, title
        targets = panel.get("targets")
        assert targets, f"{title}: no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), f"{title}: duplicate refIds"
        for target in targets:
            assert target.get("expr", "").strip(), f"{title} {target['refId']}: empty expr"
            assert target.get("datasource", {}).get("type") == "prometheus", title


def test_the_panels_cover_what_ops_asked_for() -> None:
    names = {name for q in queries(load_dashboard()) for name in metric_names(q.expr)}
    wanted = {
        "livepilot_stream_state",  # streams and their state
        "livepilot_events_total",  # events/s by type
        "livepilot_pipeline_latency_seconds_bucket",  # chat latency p50/p99
        "livepilot_toxicity_queue_depth",  # model lane depth
        "livepilot_toxicity_shed_total",
        "livepilot_toxicity_not_scored_total",
        "livepilot_alarms_total",
        "livepilot_question_response_seconds_bucket",  # moderators' response times
        "livepilot_hub_clients",  # connected clients
        "livepilot_bus_lag_seconds_bucket",
        "livepilot_bus_errors_total",
        "livepilot_data_gaps_total",
        "livepilot_pipeline_restarts_total",
    }
    assert wanted <= names, f"no panel shows {sorted(wanted - names)}"


def test_every_metric_the_dashboard_names_is_exported() -> None:
    exported = exported_series()
    assert "livepilot_events_total" in exported and "livepilot_events" not in exported
    missing = {
        f"{q.panel} [{q.ref}]: {name}"
        for q in queries(load_dashboard())
        for name in metric_names(q.expr)
        if name not in exported
    }
    assert not missing, "not exported by livepilot.metrics: " + "; ".join(sorted(missing))


def test_histogram_quantiles_aggregate_by_le() -> None:
    """``histogram_quantile`` over buckets that kept other labels apart, or that were summed
    without ``le``, returns nonsense rather than an error: check the shape."""
    for q in queries(load_dashboard()):
        for inner in re.findall(r"histogram_quantile\([0-9.]+,\s*(.*)\)", q.expr):
            assert re.match(r"sum by \((le\b[^)]*)\)", inner), f"{q.panel}: {inner}"


def test_the_stream_variable_is_used_as_a_regex_match() -> None:
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["stream"]["allValue"] == ".*" and variables["stream"]["multi"]
    assert variables["datasource"]["query"] == "prometheus"
    for q in queries(dashboard):
        assert 'stream="$stream"' not in q.expr, f"{q.panel}: use stream=~ (multi-value)"


def test_every_metric_an_alert_names_is_exported() -> None:
    exported = exported_series()
    rules = _yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"][0]["rules"]
    assert rules
    for rule in rules:
        assert rule["annotations"]["summary"], rule["alert"]
        unknown = metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported"


def test_compose_wires_the_services_the_configs_name() -> None:
    compose = _yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"worker", "api", "redis", "postgres", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        if "image" in service and "build" not in service:
            tag = service["image"].rpartition(":")[2]
            assert re.match(r"v?\d+\.\d+", tag), f"{name}: pin the image version ({tag})"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
    for role in ("worker", "api"):
        assert services[role]["build"]["context"] == ".."
        assert (DEPLOY / ".." / services[role]["build"]["dockerfile"]).is_file()
        env = services[role]["environment"]
        assert env["LIVEPILOT_BUS"] == "redis" and "redis:6379" in env["LIVEPILOT_REDIS_URL"]
        assert "@postgres:5432/" in env["LIVEPILOT_DATABASE_URL"]
    assert services["api"]["command"] == ["livepilot", "serve"]
    scrape = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {
        target
        for job in scrape["scrape_configs"]
        if job["job_name"] == "livepilot"
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert targets == {"api:8080"}
    workers = [
        name
        for job in scrape["scrape_configs"]
        if job["job_name"] == "livepilot"
        for config in job["dns_sd_configs"]
        for name in config["names"]
    ]
    assert workers == ["worker"]  # every replica of the scalable worker service
    assert services["worker"]["command"][:3] == ["livepilot", "worker", "--streams"]
    assert "ports" not in services["worker"]  # replicas cannot share a host port
    datasource = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "livepilot.yaml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "livepilot.yaml")
    path = provider["providers"][0]["options"]["path"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == path
