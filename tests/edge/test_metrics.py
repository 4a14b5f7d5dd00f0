"""The edge's Prometheus exposition passes `promtool check metrics` and follows the naming rules."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

from prometheus_client import generate_latest

from edge.metrics import EdgeMetrics
from edge.outbox import NewRow, Outbox
from rules.progress import SeqProgress
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


def test_outbox_gauges_follow_every_write_and_delete(tmp_path: Path) -> None:
    """Depth and unacknowledged rows are what the outbox holds at the moment of the scrape."""
    m = EdgeMetrics()
    outbox = Outbox(tmp_path / "o.db")
    m.watch_outbox(outbox)

    def value(name: str) -> float | None:
        return m.registry.get_sample_value(name)

    assert (value("hwms_outbox_depth"), value("hwms_outbox_unacknowledged")) == (0, 0)
    outbox.append([NewRow(f"e{i}", "batch_movement", "t", b"{}", 1, seq=i + 1) for i in range(41)])
    assert (value("hwms_outbox_depth"), value("hwms_outbox_unacknowledged")) == (41, 0)
    outbox.mark_published([r.id for r in outbox.peek(0, 30)])
    assert (value("hwms_outbox_depth"), value("hwms_outbox_unacknowledged")) == (11, 30)
    outbox.acknowledge(SeqProgress(committed=30))
    assert (value("hwms_outbox_depth"), value("hwms_outbox_unacknowledged")) == (11, 0)
    outbox.close()
    assert math.isnan(value("hwms_outbox_depth") or 0.0)
