"""Prometheus metrics of the edge daemon. Labels come only from configured, bounded sets
(reader ids, antenna numbers, sensor ids, unit names, event kinds), never from tag data."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

if TYPE_CHECKING:
    from edge.outbox import Outbox


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.info = Info("hwms_edge", "hwms edge build and identity", registry=r)
        self.reads = Counter(
            "hwms_tag_reads_total", "Tag reads received", ["reader", "antenna"], registry=r
        )
        self.unmapped_reads = Counter(
            "hwms_unmapped_reads_total",
            "Tag reads from antennas that map to no read point",
            registry=r,
        )
        self.non_gs1 = Counter(
            "hwms_non_gs1_epcs_total", "Distinct EPCs that are not GS1 EPCs", registry=r
        )
        self.present_tags = Gauge(
            "hwms_present_tags", "Tags confirmed present in areas", registry=r
        )
        self.events = Counter(
            "hwms_events_total", "Events produced by the rules core", ["kind"], registry=r
        )
        self.outbox_depth = Gauge(
            "hwms_outbox_depth", "Events in the outbox the broker does not have yet", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "hwms_outbox_oldest_age_seconds", "Age of the oldest event in the outbox", registry=r
        )
        self.outbox_dropped = Counter(
            "hwms_outbox_dropped_total",
            "Events dropped by the outbox limits",
            ["class"],
            registry=r,
        )
        self.dead_letters = Counter(
            "hwms_outbox_dead_letters_total", "Events moved to the dead-letter table", registry=r
        )
        self.commands_rejected = Counter(
            "hwms_commands_rejected_total",
            "Commands and commissioning messages refused (bad payload, stale map version)",
            ["reason"],
            registry=r,
        )
        self.events_repeated = Counter(
            "hwms_events_repeated_total",
            "Events the rules emitted again (after a restart) that the outbox already held",
            registry=r,
        )
        self.resent = Counter(
            "hwms_outbox_resent_total",
            "Events sent again because the ledger had not acknowledged them",
            registry=r,
        )
        self.unacknowledged = Gauge(
            "hwms_outbox_unacknowledged",
            "Events the broker has and the ledger has not acknowledged yet",
            registry=r,
        )
        self.unacknowledged_age = Gauge(
            "hwms_outbox_oldest_unacknowledged_age_seconds",
            "Age of the oldest event the ledger has not acknowledged",
            registry=r,
        )
        self.ack_gap = Gauge(
            "hwms_ledger_ack_gap",
            "Sequence numbers committed to the outbox minus those the ledger acknowledged",
            registry=r,
        )
        self.published = Counter(
            "hwms_mqtt_published_total", "Events acknowledged by the broker", registry=r
        )
        self.refused = Counter(
            "hwms_mqtt_refused_total",
            "Publishes refused by the broker (MQTT v5 reason)",
            ["reason"],
            registry=r,
        )
        self.publish_latency = Histogram(
            "hwms_mqtt_publish_latency_seconds",
            "Time from handing an event to MQTT to the broker's acknowledgement",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.mqtt_connected = Gauge(
            "hwms_mqtt_connected", "1 when connected to the broker", registry=r
        )
        self.mqtt_connects = Counter(
            "hwms_mqtt_connects_total", "Successful MQTT connections", registry=r
        )
        self.reader_up = Gauge(
            "hwms_reader_up",
            "1 when the reader is connected and inventorying",
            ["reader"],
            registry=r,
        )
        self.reader_reconnects = Counter(
            "hwms_reader_reconnects_total", "Reader reconnect attempts", ["reader"], registry=r
        )
        self.frame_errors = Counter(
            "hwms_cabinet_frame_errors_total",
            "Cabinet serial frames with a bad CRC",
            ["cabinet"],
            registry=r,
        )
        self.cabinet_scans = Counter(
            "hwms_cabinet_scans_total", "Cabinet inventory scans", ["cabinet", "result"], registry=r
        )
        self.cabinet_up = Gauge(
            "hwms_cabinet_up",
            "1 while the cabinet's reader, door, lock and badge reader answer",
            ["cabinet"],
            registry=r,
        )
        self.cabinet_poll_errors = Counter(
            "hwms_cabinet_poll_errors_total",
            "Cabinet polls that failed (door, lock or badge I/O), by error type",
            ["cabinet", "error"],
            registry=r,
        )
        self.modbus_errors = Counter(
            "hwms_modbus_errors_total",
            "Failed Modbus reads by kind",
            ["sensor", "kind"],
            registry=r,
        )
        self.temperature = Gauge(
            "hwms_sensor_temperature_celsius",
            "Last valid temperature per sensor",
            ["sensor"],
            registry=r,
        )
        self.sample_time = Gauge(
            "hwms_sensor_last_sample_timestamp_seconds",
            "Time of the last valid sample per sensor",
            ["sensor"],
            registry=r,
        )
        self.coldchain_active = Gauge(
            "hwms_coldchain_alarm_active",
            "1 while a cold-chain condition is ACTIVE",
            ["unit", "condition"],
            registry=r,
        )
        self.heartbeat = Gauge(
            "hwms_thread_heartbeat_timestamp_seconds",
            "Last heartbeat of each daemon thread",
            ["thread"],
            registry=r,
        )

    def watch_outbox(self, outbox: Outbox) -> None:
        """Outbox depth and unacknowledged rows, read from the outbox at every scrape: a
        gauge set by housekeeping lagged up to 30 s behind writes and deletes."""

        def live(read: Callable[[], int]) -> Callable[[], float]:
            def value() -> float:
                try:
                    return float(read())
                except sqlite3.ProgrammingError:  # closed at shutdown: no value, no error
                    return math.nan

            return value

        self.outbox_depth.set_function(live(outbox.depth))
        self.unacknowledged.set_function(live(lambda: outbox.unacknowledged()[0]))
