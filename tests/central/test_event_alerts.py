"""Alerts from edge events, notification (re-notify, escalation), replenishment orders and
their delivery, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from central import alerts
from central.agv import LogAgvAdapter, confirm_deliveries, dispatch_replenishments
from central.ledger import Ledger, ReceiptLine
from central.models import Alert, Location, StockLimit, TransportOrder
from central.notify import AlertSink, MqttAlertSink, Tier, WebhookSink, notify_due
from rules.events import (
    AlarmState,
    Batch,
    CabinetAlert,
    ColdChainTransition,
    Direction,
    Event,
    ReaderStatusEvent,
    SensorStatus,
    stamp,
)
from rules.topics import ALERTS_PREFIX, alert_topic
from tests.central.conftest import signed
from tests.central.test_ledger import T, epcs, ledger, move
from tests.conftest import TEST_NOW, Mosquitto, days
from tests.support import client

NOW = TEST_NOW


def ev(e: Event, seq: int) -> Event:
    return stamp(e, site="s1", gateway="gw1", seq=seq)


def cold(to: AlarmState, seq: int, condition: str = "high_alarm") -> Event:
    return ev(
        ColdChainTransition(
            occurred_at_us=T + seq, unit="fridge-2", sensor="fridge-2", condition=condition,  # type: ignore[arg-type]
            from_state=AlarmState.PENDING, to_state=to, value_c=9.4, threshold_c=8.0,
            excursion_started_us=T - 20 * 60_000_000, min_c=8.2, max_c=9.6, mkt_c=9.1,
        ),
        seq,
    )  # fmt: skip


def alert_rows(lg: Ledger) -> list[tuple[str, str, str, str]]:
    with lg.session() as s:
        return [
            (a.kind, a.key, a.severity, a.state) for a in s.query(Alert).order_by(Alert.id).all()
        ]


def test_edge_events_raise_and_clear_alerts(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(cold(AlarmState.ACTIVE, 1))
    lg.apply(cold(AlarmState.ACTIVE, 2))  # the same condition again: still one alert
    lg.apply(ev(SensorStatus(occurred_at_us=T + 3, sensor="fridge-1", unit="fridge-1",
                             status="offline", reason="no answer for 180 s"), 3))  # fmt: skip
    lg.apply(ev(ReaderStatusEvent(occurred_at_us=T + 4, reader="portal-1", state="down",
                                  reason="keepalive missed"), 4))  # fmt: skip
    lg.apply(ev(CabinetAlert(occurred_at_us=T + 5, cabinet="or-3", reason="unattributed_change",
                             detail="2 items gone while the gateway was down"), 5))  # fmt: skip
    raised = alert_rows(lg)
    assert [(k, key, sev) for k, key, sev, _ in raised[:3]] == [
        ("coldchain", "s1/fridge-2/high_alarm", "critical"),
        ("sensor", "s1/fridge-1", "critical"),
        ("reader_offline", "s1/gw1/portal-1", "warning"),
    ]
    assert raised[3][0] == "cabinet" and raised[3][2] == "critical"
    with lg.session() as s:
        message = s.query(Alert).filter_by(kind="coldchain").one().message
    assert message == (
        "cold chain high alarm in fridge-2 at s1 at 9.4 °C (limit 8.0 °C); out of range for"
        " 20 min, min 8.2 / max 9.6 °C, MKT 9.1 °C"
    )
    assert all(state == "raised" for *_, state in raised)
    lg.apply(cold(AlarmState.CLEARED, 6))
    lg.apply(ev(SensorStatus(occurred_at_us=T + 7, sensor="fridge-1", unit="fridge-1",
                             status="ok", reason=""), 7))  # fmt: skip
    lg.apply(ev(ReaderStatusEvent(occurred_at_us=T + 8, reader="portal-1", state="up",
                                  reason=""), 8))  # fmt: skip
    assert [state for *_, state in alert_rows(lg)] == ["cleared", "cleared", "cleared", "raised"]


def test_uncommissioned_tags_and_items_in_two_places_raise_alerts(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(move(Direction.IN, "corridor", "store", epcs(3), seq=1))
    unknown = move(Direction.IN, "corridor", "store", epcs(2, 100), seq=2)
    unknown = stamp(
        dataclasses.replace(unknown, uncommissioned=True, event_id="",
                            batch=Batch(gtin="04012345000016", lot=None)),
        site="s1", gateway="gw1", seq=2,
    )  # fmt: skip
    lg.apply(unknown)
    # the items are in the store; a ward door says they left the ward
    lg.apply(move(Direction.OUT, "ward", "corridor", epcs(3), seq=3))
    kinds = [(k, sev) for k, _, sev, _ in alert_rows(lg)]
    assert kinds == [("uncommissioned", "warning"), ("discrepancy", "warning")]


class Recorder:
    """An alert sink that keeps what it was given (and can be told to fail)."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = False

    def send(self, alert: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("down")
        self.sent.append(alert)


def test_notify_once_renotify_escalate_ack_clear(db_url: str) -> None:
    lg = ledger(db_url)
    lg.apply(cold(AlarmState.ACTIVE, 1))
    sink = Recorder()
    tiers = [Tier(600, "charge nurse"), Tier(1800, "pharmacist on call")]

    def run(at: datetime) -> list[tuple[str, int, str]]:
        sink.sent.clear()
        with lg.session.begin() as s:
            notify_due(s, [sink], now=at, renotify_s=300, tiers=tiers)
        return [(a["state"], a["tier"], a["notify"]) for a in sink.sent]

    with lg.session.begin() as s:
        s.query(Alert).update({Alert.raised_at: NOW})
    assert run(NOW) == [("raised", 0, "")]
    assert run(NOW + timedelta(seconds=60)) == []  # nothing new, too early to repeat
    assert run(NOW + timedelta(seconds=301)) == [("raised", 0, "")]  # re-notified
    assert run(NOW + timedelta(seconds=601)) == [("raised", 1, "charge nurse")]  # escalated
    sink.fail = True
    assert run(NOW + timedelta(seconds=1801)) == []  # failed: stays due
    sink.fail = False
    assert run(NOW + timedelta(seconds=1802)) == [("raised", 2, "pharmacist on call")]
    by = signed(lg, "nurse-7", "door closed", role="nurse")  # an excursion's ack is signed
    with lg.session.begin() as s:
        alert_id = alerts.open_alerts(s)[0].id
        alerts.acknowledge(s, alert_id, "nurse-7", "door closed", NOW, by)
    assert run(NOW + timedelta(seconds=1803)) == [("acknowledged", 2, "pharmacist on call")]
    assert run(NOW + timedelta(seconds=9000)) == []  # acknowledged: no more repeats
    lg.apply(cold(AlarmState.CLEARED, 2))
    assert run(NOW + timedelta(seconds=9001)) == [("cleared", 2, "pharmacist on call")]
    assert run(NOW + timedelta(seconds=99999)) == []


def test_alert_published_on_mqtt_and_posted_to_a_webhook(db_url: str, mosquitto: Mosquitto) -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    arrived = threading.Event()
    sub = client(mosquitto.port, start=False)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        got.append((m.topic, json.loads(m.payload)))
        arrived.set()

    sub.on_message = on_message
    sub.subscribe(f"{ALERTS_PREFIX}/#", qos=1)
    sub.loop_start()
    posted: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    http = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    pub = client(mosquitto.port)
    try:
        lg = ledger(db_url)
        lg.apply(cold(AlarmState.ACTIVE, 1))
        with lg.session.begin() as s:
            sinks: list[AlertSink] = [
                MqttAlertSink(pub),
                WebhookSink(f"http://127.0.0.1:{http.server_port}/a"),
            ]
            assert notify_due(s, sinks, now=NOW) == 1
        assert arrived.wait(10)
        topic, body = got[0]
        assert topic == alert_topic("coldchain")
        assert body["key"] == "s1/fridge-2/high_alarm" and body["severity"] == "critical"
        assert posted == [body]
    finally:
        http.shutdown()
        for c in (sub, pub):
            c.loop_stop()
            c.disconnect()


def test_low_stock_orders_one_transport_confirmed_by_the_gate(db_url: str) -> None:
    lg = ledger(db_url)
    lines = [ReceiptLine(epc=e, gtin="04012345000016", lot="L1", expiry=days(403),
                         location="s1/ward-5") for e in epcs(3)]  # fmt: skip
    lg.receive(lines, actor="t", today=days(-327))
    with lg.session.begin() as s:
        ward = s.query(Location).filter_by(code="s1/ward-5").one()
        s.add(StockLimit(location_id=ward.id, gtin="04012345000016", min_quantity=5,
                         max_quantity=12, reorder_quantity=None))  # fmt: skip
        alerts.evaluate(s, days(0), NOW)
    adapter = LogAgvAdapter()
    supply = {"s1/ward-5": "s1/store"}
    for _ in range(2):  # evaluated twice: still one order
        with lg.session.begin() as s:
            dispatch_replenishments(s, adapter, supply, "log", NOW)
    with lg.session() as s:
        orders = [(o.source, o.destination, o.gtin, o.quantity, o.state)
                  for o in s.query(TransportOrder).all()]  # fmt: skip
    assert orders == [("s1/store", "s1/ward-5", "04012345000016", 9, "sent")]
    assert len(adapter.orders) == 1
    # the cart is read coming into the ward: delivered at the next scheduled check
    lg.apply(move(Direction.IN, "corridor", "ward-5", epcs(9, 50), seq=9))
    with lg.session.begin() as s:
        assert confirm_deliveries(s) == 1
    with lg.session.begin() as s:
        assert confirm_deliveries(s) == 0
        assert [o.state for o in s.query(TransportOrder).all()] == ["delivered"]


@pytest.mark.parametrize("state", ["offline", "online"])
def test_gateway_status_alert(db_url: str, state: str) -> None:
    lg = ledger(db_url)
    with lg.session.begin() as s:
        alerts.apply_changes(s, [alerts.gateway_status("s1", "gw1", "offline")], NOW)
        alerts.apply_changes(s, [alerts.gateway_status("s1", "gw1", state)], NOW)
    assert alert_rows(lg) == [
        ("gateway_offline", "s1/gw1", "critical", "raised" if state == "offline" else "cleared")
    ]


def test_central_example_config_is_valid_and_errors_name_the_key(tmp_path: Path) -> None:
    from central.config import ConfigError, load

    root = Path(__file__).resolve().parents[2]
    cfg = load(root / "config" / "central.example.yaml")
    assert cfg.supply["st-elsewhere/or-3"] == "st-elsewhere/central_store"
    assert [t.name for t in cfg.notify.escalation] == ["charge nurse", "pharmacist on call"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("notify: {renotify_s: -1, pager: x}\nagv: {adapter: drone}\n")
    with pytest.raises(ConfigError) as err:
        load(bad)
    text = str(err.value)
    assert "notify.renotify_s" in text and "notify.pager" in text and "agv.adapter" in text


def test_db_upgrade_from_the_config_file_never_prints_a_password(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "central.yaml"
    cfg.write_text(f"db: sqlite:///{tmp_path / 'l.db'}\n")
    out = subprocess.run([sys.executable, "-m", "hwms_cli", "central", "db", "upgrade", "--config",
                          str(cfg)], capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0 and "at the latest schema" in out.stdout, out.stderr
    assert (tmp_path / "l.db").exists()
    from central.db import redacted

    assert redacted("postgresql+psycopg://ledger:s3cret@db/hwms") == (
        "postgresql+psycopg://ledger:***@db/hwms"
    )
    cfg.write_text("db: 5\nbogus: 1\n")
    bad = subprocess.run([sys.executable, "-m", "hwms_cli", "central", "db", "upgrade", "--config",
                          str(cfg)], capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "bogus" in bad.stderr
