"""MQTT ingest against a real mosquitto, on SQLite and PostgreSQL: duplicates, poison
messages, and two ledger processes on a shared subscription."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time

import paho.mqtt.client as mqtt

from central import db
from central.ingest import Ingestor
from central.ledger import Ledger
from central.models import DeadLetter
from hwms_common.config import MqttConnection
from rules.events import BatchMovement, Direction, dumps
from tests.central.conftest import signed
from tests.central.test_ledger import epcs, move
from tests.conftest import Mosquitto, days, ledger_process, require_tool
from tests.support import client, until


def publisher(port: int) -> mqtt.Client:
    return client(port, "edge-sim")


def receipt(i: int, k: int) -> BatchMovement:
    """The i-th receipt of k tags: distinct tags, increasing time and sequence."""
    return move(
        Direction.IN,
        "corridor",
        "store",
        epcs(k, start=1 + k * i),
        t=1_800_000_000_000_000 + i,
        seq=i + 1,
    )


def test_duplicates_and_poison_messages(db_url: str, mosquitto: Mosquitto) -> None:
    db.upgrade(db_url)
    lg = Ledger(db.engine(db_url))
    ing = Ingestor(
        lg, MqttConnection(host=mosquitto.host, port=mosquitto.port), client_id="ledger-t"
    ).start()
    pub = publisher(mosquitto.port)
    try:
        assert ing.connected.wait(10)
        e = move(Direction.IN, "corridor", "store", epcs(7))
        topic = "hwms/v1/s1/gw1/events/batch_movement"
        for payload in (dumps(e), dumps(e), b"\x00garbage", json.dumps({"schema": 9}).encode()):
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
        pub.publish(
            "hwms/v1/other-site/gw1/events/batch_movement", dumps(e), qos=1
        ).wait_for_publish(5)
        until(lambda: sum(ing.counts.values()) >= 5)
        assert (
            ing.counts["applied"] == 1
            and ing.counts["duplicate"] == 1
            and ing.counts["dead_letter"] == 3
        )
        assert lg.stock()[0]["quantity"] == 7
        with lg.session() as s:
            reasons = sorted(d.reason for d in s.query(DeadLetter))
        assert any("not JSON" in r for r in reasons)
        assert any("unknown schema version 9" in r for r in reasons)
        assert any("does not match" in r for r in reasons)
    finally:
        pub.loop_stop()
        ing.stop()


def test_gateway_status_messages_raise_alerts_and_never_block_the_stream(
    db_url: str, mosquitto: Mosquitto
) -> None:
    """More status messages than the broker keeps in flight (20), every one acknowledged:
    events behind them still arrive; an offline gateway is one alert, cleared when back."""
    from central import alerts

    db.upgrade(db_url)
    lg = Ledger(db.engine(db_url))
    ing = Ingestor(
        lg, MqttConnection(host=mosquitto.host, port=mosquitto.port), client_id="ledger-s"
    ).start()
    pub = publisher(mosquitto.port)
    try:
        assert ing.connected.wait(10)
        for i in range(30):
            state = "offline" if i % 2 else "online"
            pub.publish(f"hwms/v1/s1/gw-{i % 3}/status", json.dumps({"state": state}), qos=1)
        pub.publish("hwms/v1/s1/gw-9/status", b"not json", qos=1)
        e = move(Direction.IN, "corridor", "store", epcs(4))
        pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(e), qos=1).wait_for_publish(5)
        until(lambda: ing.counts["applied"] == 1, timeout=20)
        with lg.session() as s:
            open_offline = sorted(
                a.key for a in alerts.open_alerts(s) if a.kind == "gateway_offline"
            )
        # the last message of gw-0 (i=27) says offline, of gw-1 (i=28) online, of gw-2 (i=29) offline
        assert open_offline == ["s1/gw-0", "s1/gw-2"]
    finally:
        pub.loop_stop()
        ing.stop()


def test_two_ledger_processes_share_the_load_and_agree(db_url: str, mosquitto: Mosquitto) -> None:
    db.upgrade(db_url)
    procs = [
        ledger_process(f"ledger-{i}", db_url=db_url, mqtt_port=mosquitto.port) for i in range(2)
    ]
    pub = publisher(mosquitto.port)
    try:
        time.sleep(3)  # both subscribed
        n = 60
        for i in range(n):  # 60 receipts of 3 tags each
            e = receipt(i, 3)
            pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(e), qos=1)
        lg = Ledger(db.engine(db_url))
        until(lambda: sum(r["quantity"] for r in lg.stock()) == 3 * n, timeout=60)
        time.sleep(1)
        assert lg.stock() == [
            {
                "location": "s1/store",
                "gtin": "04012345000016",
                "lot": "L1",
                "expiry": "2028-03-31",
                "quantity": 3 * n,
            }
        ]
        with lg.engine.connect() as c:
            from sqlalchemy import text

            assert c.execute(text("select count(*) from ingested_event")).scalar() == n
    finally:
        pub.loop_stop()
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def test_killed_ledger_process_loses_nothing_and_doubles_nothing(
    db_url: str, mosquitto: Mosquitto
) -> None:
    import signal

    db.upgrade(db_url)
    proc = ledger_process("ledger-k", db_url=db_url, mqtt_port=mosquitto.port)
    pub = publisher(mosquitto.port)
    lg = Ledger(db.engine(db_url))
    n = 80
    try:
        time.sleep(3)
        for i in range(n):
            e = receipt(i, 2)
            pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(e), qos=1)
            if i == n // 3:
                proc.send_signal(signal.SIGKILL)  # mid-stream
                proc.wait()
        time.sleep(1)
        proc = ledger_process("ledger-k", db_url=db_url, mqtt_port=mosquitto.port)
        until(lambda: sum(r["quantity"] for r in lg.stock()) >= 2 * n, timeout=60)
        time.sleep(1)
        assert sum(r["quantity"] for r in lg.stock()) == 2 * n
        with lg.engine.connect() as c:
            from sqlalchemy import text

            assert c.execute(text("select count(*) from ingested_event")).scalar() == n
    finally:
        pub.loop_stop()
        proc.terminate()
        proc.wait(timeout=10)


def test_database_restart_during_ingest(mosquitto: Mosquitto) -> None:
    """PostgreSQL restarted mid-stream: unacknowledged messages come again; nothing lost."""
    import os
    import shutil
    import threading

    from tests.conftest import _pg_url

    ctl = shutil.which("pg_ctlcluster")
    if ctl is None or os.geteuid() != 0:
        import pytest

        if os.environ.get("CI") == "true":
            pytest.fail("pg_ctlcluster (as root) is needed to restart PostgreSQL")
        pytest.skip("cannot restart PostgreSQL here")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    urls = _pg_url()
    url = next(urls)
    try:
        db.upgrade(url)
        lg = Ledger(db.engine(url))
        ing = Ingestor(
            lg, MqttConnection(host=mosquitto.host, port=mosquitto.port), client_id="ledger-r"
        ).start()
        assert ing.connected.wait(10)
        pub = publisher(mosquitto.port)
        n = 60

        def produce() -> None:
            for i in range(n):
                e = receipt(i, 1)
                pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(e), qos=1)
                time.sleep(0.05)

        t = threading.Thread(target=produce)
        t.start()
        time.sleep(0.8)
        subprocess.run(
            [ctl, "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            capture_output=True,
        )
        t.join()
        until(lambda: sum(r["quantity"] for r in lg.stock()) >= n, timeout=90)
        assert sum(r["quantity"] for r in lg.stock()) == n
        assert ing.counts["db_errors"] >= 1  # the outage was seen, and survived
        pub.loop_stop()
        ing.stop()
    finally:
        with contextlib.suppress(StopIteration):
            next(urls)  # drops the test schema


def test_commissioning_map_reaches_the_edges(db_url: str, mosquitto: Mosquitto) -> None:
    """Receiving publishes a retained snapshot, then retained cumulative deltas; the edge's
    state built from what a late subscriber gets equals the ledger's full map."""

    from central.ingest import CommissioningPublisher
    from central.ledger import ReceiptLine
    from rules.commissioning import CommissioningMap, CommissioningState

    db.upgrade(db_url)
    lg = Ledger(db.engine(db_url))

    def receive(lot: str, start: int, n: int) -> None:
        lg.receive([ReceiptLine(epc=e, gtin="04012345000016", lot=lot, expiry=days(1619),
                                location="s1/store") for e in epcs(n, start)],
                   actor="t", today=days(-327))  # fmt: skip

    receive("L9", 1, 3)
    pub = publisher(mosquitto.port)
    try:
        cp = CommissioningPublisher(pub, lg, ["s1"], max_delta=2)
        first = cp.publish()
        assert cp.publish() == first and cp.snapshot_version == first  # unchanged: no resend
        receive("L10", 10, 2)  # a small change: a delta on the snapshot
        second = cp.publish()
        assert second > first and cp.snapshot_version == first
        receive("L11", 20, 5)  # the delta would grow past max_delta: a new snapshot
        third = cp.publish()
        assert cp.snapshot_version == third
        receive("L12", 30, 1)
        fourth = cp.publish()
        time.sleep(0.5)
        got: list[tuple[str, bytes]] = []
        sub = client(mosquitto.port, "edge-check", start=False)
        sub.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
        sub.subscribe([("hwms/v1/s1/commissioning", 1), ("hwms/v1/s1/commissioning/delta", 1)])
        sub.loop_start()
        until(lambda: len(got) >= 2, timeout=10)
        sub.loop_stop()
        state = CommissioningState()
        for topic, payload in got:
            data = CommissioningMap.from_json(json.loads(payload))
            (state.delta if topic.endswith("/delta") else state.snapshot)(data)
        full = lg.commissioning_map()
        assert state.version == fourth == full.version
        assert state.records == full.records and len(full.records) == 11
        assert full.records["urn:epc:id:sgtin:4012345.000001.30"] == {
            "gtin": "04012345000016",
            "lot": "L12",
            "expiry": "2031-05-01",
        }
    finally:
        pub.loop_stop()


def test_ledger_metrics_pass_promtool(db_url: str) -> None:

    from prometheus_client import generate_latest

    from central.ingest import _alert_gauges

    db.upgrade(db_url)
    lg = Ledger(db.engine(db_url))
    ing = Ingestor(lg, MqttConnection(port=1), client_id="m")
    assert (
        ing.handle(
            "hwms/v1/s1/gw1/events/batch_movement",
            dumps(move(Direction.IN, "corridor", "store", epcs(2))),
        )
        == "applied"
    )
    ing.metrics.events.labels(outcome="applied").inc()
    lg.lock_batch("04012345000016", "L1", signed=signed(lg, "q"))
    _alert_gauges(ing.metrics, lg)
    text = generate_latest(ing.metrics.registry)
    assert b'hwms_ledger_open_alerts{kind="recall",severity="critical"} 1.0' in text
    promtool = require_tool("promtool")
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
