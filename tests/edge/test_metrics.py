"""The edge's Prometheus exposition passes `promtool check metrics` and follows the naming rules."""

from __future__ import annotations

import re
import subprocess

from prometheus_client import generate_latest

from edge.metrics import EdgeMetrics
from tests.conftest import require_tool


def populated() -> bytes:
    m = EdgeMetrics()
    m.info.info({"version": "test", "site": "s", "gateway": "g"})
    m.reads.labels(reader="portal", antenna="1").inc(5)
    m.unmapped_reads.inc()
    m.non_gs1.inc()
    m.present_tags.set(3)
    m.events.labels(kind="batch_movement").inc()
    m.outbox_depth.set(2)
    m.outbox_oldest_age.set(1.5)
    m.outbox_dropped.labels(**{"class": "telemetry"}).inc()
    m.dead_letters.inc()
    m.published.inc()
    m.refused.labels(reason="Not authorized").inc()
    m.publish_latency.observe(0.01)
    m.mqtt_connected.set(1)
    m.mqtt_connects.inc()
    m.reader_up.labels(reader="portal").set(1)
    m.reader_reconnects.labels(reader="portal").inc()
    m.frame_errors.labels(cabinet="or-1").inc()
    m.cabinet_scans.labels(cabinet="or-1", result="ok").inc()
    m.modbus_errors.labels(sensor="f1", kind="timeout").inc()
    m.temperature.labels(sensor="f1").set(4.2)
    m.sample_time.labels(sensor="f1").set(1.8e9)
    m.coldchain_active.labels(unit="fridge-1", condition="high_alarm").set(0)
    m.heartbeat.labels(thread="rules").set(1.8e9)
    return generate_latest(m.registry)


def test_promtool_check_metrics() -> None:
    promtool = require_tool("promtool")
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=populated(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert proc.stdout.strip() == b"" and proc.stderr.strip() == b""


def test_names_have_prefix_and_units() -> None:
    names = set(re.findall(rb"^# TYPE (\S+) (\S+)", populated(), re.M))
    for name, kind in names:
        assert name.startswith(b"hwms_"), name
        if kind == b"counter":
            assert name.endswith(b"_total"), name
    assert (b"hwms_mqtt_publish_latency_seconds", b"histogram") in names
