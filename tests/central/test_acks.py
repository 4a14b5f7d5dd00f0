"""The ledger's end-to-end acknowledgement: per gateway, the seqs it has committed,
published retained after each commit; a hole that stays raises an alert."""

from __future__ import annotations

import threading
from datetime import timedelta

import paho.mqtt.client as mqtt

from central import alerts, db
from central.ingest import Ingestor
from central.ledger import Ledger
from hwms_common.config import MqttConnection
from rules.events import dumps
from rules.progress import SeqProgress, loads
from tests.central.test_ingest import publisher, receipt
from tests.conftest import Mosquitto, fixed_clock
from tests.support import client, until

TOPIC = "hwms/v1/s1/gw1/events/batch_movement"


def test_committed_seqs_are_acknowledged_retained_and_holes_alert(
    db_url: str, mosquitto: Mosquitto
) -> None:
    db.upgrade(db_url)
    clock = fixed_clock()
    lg = Ledger(db.engine(db_url), clock=clock)
    ing = Ingestor(
        lg, MqttConnection(host=mosquitto.host, port=mosquitto.port), client_id="ledger-a"
    ).start()
    pub = publisher(mosquitto.port)
    try:
        assert ing.connected.wait(10)
        for i in (0, 1, 3, 4):  # seqs 1, 2, 4, 5: 3 is missing
            pub.publish(TOPIC, dumps(receipt(i, 1)), qos=1).wait_for_publish(5)
        pub.publish(TOPIC, dumps(receipt(1, 1)), qos=1).wait_for_publish(5)  # a duplicate
        until(lambda: sum(ing.counts.values()) == 5)
        edge = _ack_listener(mosquitto.port)  # subscribes later: gets the retained ack
        # the last commit's ack may still be on its way: wait for it, not for any ack
        until(lambda: edge["ack"] == SeqProgress(2, ((4, 5),)), what="the retained ack")
        with lg.session.begin() as s:  # the hole is not old enough yet
            alerts.sync_seq_gaps(s, clock.now() + timedelta(seconds=299), 300)
            assert not alerts.open_alerts(s)
        with lg.session.begin() as s:
            alerts.sync_seq_gaps(s, clock.now() + timedelta(seconds=301), 300)
            [gap] = alerts.open_alerts(s)
            assert (gap.kind, gap.key) == ("seq_gap", "s1/gw1") and "events 3 of" in gap.message
        pub.publish(TOPIC, dumps(receipt(2, 1)), qos=1).wait_for_publish(5)  # seq 3 arrives
        until(lambda: edge["ack"] == SeqProgress(5, ()))
        with lg.session.begin() as s:
            alerts.sync_seq_gaps(s, clock.now() + timedelta(seconds=400), 300)
            assert not alerts.open_alerts(s)
    finally:
        pub.loop_stop()
        ing.stop()


def _ack_listener(port: int) -> dict[str, SeqProgress | None]:
    got: dict[str, SeqProgress | None] = {"ack": None}
    lock = threading.Lock()
    c = client(port, "edge-acks", start=False)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        with lock:
            got["ack"] = loads(bytes(m.payload))

    c.on_message = on_message
    c.on_connect = lambda cl, *_: cl.subscribe("hwms/v1/s1/gw1/ack", qos=1)
    c.subscribe("hwms/v1/s1/gw1/ack", qos=1)  # connected already; on_connect for reconnects
    c.loop_start()
    return got
