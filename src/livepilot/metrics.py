"""Prometheus metrics, in a registry the app factory creates (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["STAGE_TIMING_SAMPLE", "Metrics"]

#: Stage timings are taken on one event in this many: timing every stage of every event
#: (two clock reads and a locked histogram update each) cost ~10 % of the pipeline.
STAGE_TIMING_SAMPLE = 16

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_STAGE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025)


class Metrics:
    """Every metric livepilot exports. One instance per app (or per headless run)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "livepilot_events", "Events that entered the pipeline", ["stream", "type"], registry=r
        )
        self.coalesced = Counter(
            "livepilot_coalesced_events",
            "Like/join events merged into another because the ingest queue was full",
            ["stream", "type"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "livepilot_ingest_queue_depth",
            "Events waiting for the pipeline",
            ["stream"],
            registry=r,
        )
        self.labels = Counter(
            "livepilot_labels", "Labels added by stages", ["stage", "label"], registry=r
        )
        self.stage_seconds = Histogram(
            "livepilot_stage_seconds",
            "Time one stage spent on one event (sampled: one event in STAGE_TIMING_SAMPLE)",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.stage_errors = Counter(
            "livepilot_stage_errors", "Exceptions contained in a stage", ["stage"], registry=r
        )
        self.stage_overruns = Counter(
            "livepilot_stage_budget_overruns",
            "Events on which one stage took longer than LIVEPILOT_STAGE_BUDGET_MS",
            ["stage"],
            registry=r,
        )
        self.pipeline_latency = Histogram(
            "livepilot_pipeline_latency_seconds",
            "Event received -> insight published, by event type (chat: the console's latency)",
            ["type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.alarms = Counter(
            "livepilot_alarms", "Alarms raised or cleared", ["stream", "kind", "state"], registry=r
        )
        self.prompts = Counter("livepilot_prompts", "Host prompts", ["stream"], registry=r)
        self.bad_input = Counter(
            "livepilot_bad_input",
            "Inputs rejected with an error (replay lines, frames, bodies)",
            ["where"],
            registry=r,
        )
        self.commands = Counter(
            "livepilot_commands",
            "Moderator commands by outcome: sent, forbidden (role), invalid (arguments), "
            "no_stream, unavailable (the bus is down); actions outside the known table count "
            "as 'other'",
            ["action", "outcome"],
            registry=r,
        )
        self.stream_up = Gauge(
            "livepilot_stream_connected", "1 while the source is connected", ["stream"], registry=r
        )
        self.hub_clients = Gauge(
            "livepilot_hub_clients", "Connected WebSocket clients", ["channel"], registry=r
        )
        self.hub_messages = Counter(
            "livepilot_hub_messages", "Messages queued to clients", ["channel"], registry=r
        )
        self.hub_frames = Counter(
            "livepilot_hub_frames", "WebSocket frames sent (coalesced messages)", ["channel"],
            registry=r,
        )
        self.hub_disconnects = Counter(
            "livepilot_hub_slow_disconnects",
            "Clients disconnected for falling too far behind",
            ["channel"],
            registry=r,
        )
        self.auth_failures = Counter(
            "livepilot_auth_failures", "Rejected requests and sockets", ["where"], registry=r
        )
        self.access_refused = Counter(
            "livepilot_access_refused",
            "Requests and sockets refused before their credential was checked: "
            "reason = origin (a WebSocket opened by a foreign page) or throttled (too many "
            "failed credentials from one address)",
            ["where", "reason"],
            registry=r,
        )
        # tiktok
        self.tiktok_reconnects = Counter(
            "livepilot_tiktok_reconnects",
            "Reconnect attempts after a lost or failed TikTok connection",
            ["stream", "cause"],
            registry=r,
        )
        self.tiktok_unknown = Counter(
            "livepilot_tiktok_unknown_messages",
            "TikTok messages of a type livepilot does not map (counted, not fatal)",
            ["method"],
            registry=r,
        )
        self.tiktok_dedup = Counter(
            "livepilot_tiktok_duplicates",
            "TikTok messages dropped because their message id was already seen",
            ["stream"],
            registry=r,
        )
        self.tiktok_unended_streaks = Counter(
            "livepilot_tiktok_unended_streaks",
            "Gift streaks closed by timeout or stream end because TikTok sent no end",
            ["stream"],
            registry=r,
        )
        self.tiktok_dropped = Counter(
            "livepilot_tiktok_dropped",
            "Likes/joins/viewer counts dropped because the source buffer was full",
            ["stream", "type"],
            registry=r,
        )
        # engagement
        self.engagement_viewers = Gauge(
            "livepilot_engagement_viewers", "Latest viewer count", ["stream"], registry=r
        )
        self.engagement_rate = Gauge(
            "livepilot_engagement_per_minute",
            "Rolling per-minute rates (chat, chatters, likes, diamonds, joins, follows, shares,"
            " viewer_slope)",
            ["stream", "signal"],
            registry=r,
        )
        self.prompts_dropped = Counter(
            "livepilot_prompts_dropped",
            "Host prompts not shown (expired in the queue, queue overflow, muted kind)",
            ["stream", "reason"],
            registry=r,
        )
        # questions
        self.question_response = Histogram(
            "livepilot_question_response_seconds",
            "Question asked -> marked answered, per stream and moderator",
            ["stream", "moderator"],
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.question_queue = Gauge(
            "livepilot_question_queue", "Question queue items by state", ["stream", "state"],
            registry=r,
        )
        self.question_items = Counter(
            "livepilot_question_items",
            "Question queue items closed, by outcome (answered, dismissed, expired, evicted, "
            "withdrawn: its only ask turned out toxic or spam)",
            ["stream", "outcome"],
            registry=r,
        )
        self.tech_issue_reports = Counter(
            "livepilot_tech_issue_reports", "Chat messages reporting a tech issue",
            ["stream", "kind"], registry=r,
        )
        self.faq_reloads = Counter(
            "livepilot_faq_reloads", "Knowledge base (FAQ) loads by result (ok, invalid)",
            ["result"], registry=r,
        )
        # toxicity
        self.toxicity_shed = Counter(
            "livepilot_toxicity_shed",
            "Messages the toxicity model did not score (overload, evicted, full, stale, "
            "unavailable)",
            ["reason"],
            registry=r,
        )
        self.toxicity_queue = Gauge(
            "livepilot_toxicity_queue_depth", "Messages waiting for the toxicity model",
            registry=r,
        )
        self.toxicity_cache = Counter(
            "livepilot_toxicity_cache", "Toxicity score cache lookups (hit, miss)", ["result"],
            registry=r,
        )
        self.toxicity_errors = Counter(
            "livepilot_toxicity_scorer_errors", "Batches a toxicity scorer failed on", ["scorer"],
            registry=r,
        )
        self.toxicity_batch_size = Histogram(
            "livepilot_toxicity_batch_size", "Texts per toxicity model batch", ["scorer"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.toxicity_batch_seconds = Histogram(
            "livepilot_toxicity_batch_seconds", "Time one toxicity model batch took", ["scorer"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.toxicity_not_scored = Counter(
            "livepilot_toxicity_not_scored",
            "Chat messages whose final insight has no model verdict, by the reason it names "
            "(no_letters, rules, too_long, no_language, overload, loading, error, unavailable)",
            ["reason"],
            registry=r,
        )
        self.toxicity_overloaded = Gauge(
            "livepilot_toxicity_overloaded",
            "1 while the toxicity model lane sheds messages (the model_overload alarm is up)",
            ["stream"],
            registry=r,
        )
        self.toxicity_update_latency = Histogram(
            "livepilot_toxicity_update_seconds",
            "Message queued for the model -> late insight update published",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # bus and stream supervision
        self.bus_up = Gauge(
            "livepilot_bus_up",
            "1 while the bus reaches its backend (always 1 for the memory bus)",
            registry=r,
        )
        self.bus_errors = Counter(
            "livepilot_bus_errors",
            "Failed bus operations by op (write, read, command_read, command_send, group)",
            ["op"],
            registry=r,
        )
        self.bus_buffered = Gauge(
            "livepilot_bus_buffered",
            "Messages published in this process and not yet written to the Redis event log",
            registry=r,
        )
        self.bus_written = Counter(
            "livepilot_bus_written",
            "Messages written to the Redis event log by this process",
            registry=r,
        )
        self.bus_dropped = Counter(
            "livepilot_bus_dropped",
            "Messages never written to the Redis event log: the outage buffer was full "
            "(oldest dropped) or shutdown came before Redis did; shown locally all the same",
            ["type"],
            registry=r,
        )
        self.pipeline_restarts = Counter(
            "livepilot_pipeline_restarts",
            "Stream pipelines restarted after they crashed",
            ["stream"],
            registry=r,
        )
        self.pipeline_running = Gauge(
            "livepilot_pipeline_running",
            "1 while the stream's pipeline runs (0: crashed and waiting to restart, or ended)",
            ["stream"],
            registry=r,
        )
        self.worker_fenced = Counter(
            "livepilot_worker_fenced",
            "Streams a worker stopped because it could not keep their lease (reason: "
            "unreachable = no renewal within 60 % of the TTL, taken = another worker holds it)",
            ["stream", "reason"],
            registry=r,
        )
        # operations dashboard (deploy/grafana): what the panels need beyond the above
        self.stream_state = Gauge(
            "livepilot_stream_state",
            "1 for the state the stream's source last reported (starting, connected, "
            "disconnected, offline, paused, live_ended), 0 for the others",
            ["stream", "state"],
            registry=r,
        )
        self.data_gaps = Counter(
            "livepilot_data_gaps",
            "Windows in which a source heard nothing and events may be missing, from any "
            "source (gap events through the pipeline)",
            ["stream", "cause"],
            registry=r,
        )
        self.data_gap_seconds = Counter(
            "livepilot_data_gap_seconds",
            "Total length of the data gaps counted in livepilot_data_gaps",
            ["stream", "cause"],
            registry=r,
        )
        self.bus_lag = Histogram(
            "livepilot_bus_lag_seconds",
            "Redis bus: message written to the event log by another process -> read by this "
            "one (the newest of each read batch)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Series for the failures a dashboard or an alert watches, at 0 before the first
        one: a counter that does not exist yet reads as "no data", not as "none"
        (Prometheus's "avoid missing metrics"). Only closed label sets without a stream."""
        for op in ("write", "read", "decode", "restart", "group", "command_read",
                   "command_send"):
            self.bus_errors.labels(op)
        # Chat and gifts are what livepilot promises never to lose: a drop of either shows.
        for kind in ("chat", "gift"):
            self.bus_dropped.labels(kind)
        for audience in ("console", "overlay"):
            self.hub_disconnects.labels(audience)
