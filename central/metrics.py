"""Prometheus metrics of the ledger."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "hwms_ledger_events_total", "Events received, by outcome", ["outcome"], registry=r
        )  # applied, duplicate, dead_letter, retry
        self.ingest_latency = Histogram(
            "hwms_ledger_ingest_latency_seconds",
            "Time from an event happening at the edge to its commit in the ledger",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=r,
        )
        self.open_alerts = Gauge(
            "hwms_ledger_open_alerts",
            "Open alerts by kind and severity",
            ["kind", "severity"],
            registry=r,
        )
        self.gateway_last_event = Gauge(
            "hwms_ledger_gateway_last_event_timestamp_seconds",
            "Time of the last event received from each gateway",
            ["site", "gateway"],
            registry=r,
        )
        self.gateway_online = Gauge(
            "hwms_ledger_gateway_online",
            "1 while a gateway's retained status says online, 0 when offline",
            ["site", "gateway"],
            registry=r,
        )
        self.committed_seq = Gauge(
            "hwms_ledger_gateway_committed_seq",
            "Highest sequence number of each gateway below which every event is committed",
            ["site", "gateway"],
            registry=r,
        )
        self.notify_failures = Counter(
            "hwms_ledger_notify_failures_total",
            "Alert notifications that failed, by sink",
            ["sink"],
            registry=r,
        )
