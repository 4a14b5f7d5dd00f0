"""Several ledgers on one PostgreSQL (the documented way to scale out): alerts and transport
orders exist once whatever the ledgers do at the same time, scheduled work runs once per
cluster, and no event is stuck behind a race."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, text

from central import db
from central.cluster import Leadership
from central.ledger import Ledger
from central.models import Alert, Location, StockLimit, TransportOrder
from rules.events import ReaderStatusEvent, dumps, stamp
from rules.topics import ALERTS_PREFIX
from tests.central.test_ingest import publisher, receipt
from tests.conftest import Mosquitto, _pg_url, ledger_process
from tests.support import client, until

T0 = 1_800_000_000_000_000


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_url()


def ledgers(config: Path, n: int = 2) -> list[subprocess.Popen[bytes]]:
    """n ledger processes started together from one configuration, each its own client id."""
    return [ledger_process(f"ledger-{i}", config=config) for i in range(n)]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=20)


def write_config(tmp_path: Path, url: str, port: int, **extra: object) -> Path:
    cfg = {"db": url, "mqtt": {"port": port}, "evaluate_every_s": 1, "notify_every_s": 0.5,
           "notify": {"mqtt": False}, **extra}  # fmt: skip
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def count(lg: Ledger, query: object) -> int:
    with lg.session() as s:
        return int(s.scalar(query) or 0)  # type: ignore[call-overload]


def test_two_ledgers_raising_the_same_alerts_from_concurrent_events(
    pg_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """400 events on a shared subscription, half of them raising one of 10 reader alerts
    again and again: all applied, each alert open once (it used to be duplicated, after
    which both ledgers retried forever)."""
    db.upgrade(pg_url)
    procs = ledgers(write_config(tmp_path, pg_url, mosquitto.port))
    pub = publisher(mosquitto.port)
    lg = Ledger(db.engine(pg_url))
    try:
        time.sleep(3)  # both subscribed
        for i in range(200):
            down = ReaderStatusEvent(occurred_at_us=T0 + i, reader=f"r{i % 10}", state="down",
                                     reason=f"timeout {i}")  # fmt: skip
            e = stamp(down, site="s1", gateway="gw1", seq=1000 + i)
            pub.publish("hwms/v1/s1/gw1/events/reader_status", dumps(e), qos=1)
            pub.publish("hwms/v1/s1/gw1/events/batch_movement", dumps(receipt(i, 1)), qos=1)
        until(lambda: count(lg, text("select count(*) from ingested_event")) == 400, timeout=90)
        with lg.session() as s:
            keys = s.scalars(
                select(Alert.key).where(Alert.kind == "reader_offline", Alert.state != "cleared")
            ).all()
        assert sorted(keys) == sorted(f"s1/gw1/r{i}" for i in range(10))
        assert sum(r["quantity"] for r in lg.stock()) == 200
    finally:
        pub.loop_stop()
        stop(procs)
        lg.engine.dispose()


def test_two_ledgers_started_together_order_notify_and_publish_once(
    pg_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """200 stockouts at supplied wards: 200 alerts, 200 transport orders and 200 alert
    notifications, not 400; one commissioning snapshot, not one per ledger."""
    db.upgrade(pg_url)
    lg = Ledger(db.engine(pg_url))
    with lg.session.begin() as s:
        s.add(Location(code="s1/store", name="store", kind="warehouse"))
        wards = [Location(code=f"s1/ward-{i}", name=f"ward {i}", kind="ward") for i in range(200)]
        s.add_all(wards)
        s.flush()
        s.add_all(StockLimit(location_id=w.id, gtin="04012345000016", min_quantity=5,
                             max_quantity=20) for w in wards)  # fmt: skip
    supply = {f"s1/ward-{i}": "s1/store" for i in range(200)}
    heard: Counter[str] = Counter()
    watcher = client(mosquitto.port, "watcher", start=False)
    watcher.on_message = lambda _c, _u, m: heard.update([m.topic.split("/")[3]])
    watcher.subscribe([(f"{ALERTS_PREFIX}/#", 1), ("hwms/v1/s1/commissioning", 1)])
    watcher.loop_start()
    time.sleep(0.5)
    config = write_config(tmp_path, pg_url, mosquitto.port, supply=supply, sites=["s1"],
                          notify={"mqtt": True, "renotify_s": 3600})  # fmt: skip
    procs = ledgers(config)
    try:
        until(lambda: count(lg, select(func.count()).select_from(TransportOrder)) >= 200, 90)
        until(lambda: heard["alerts"] >= 200, 30)
        time.sleep(4)  # several evaluation and notification passes of both ledgers later
        assert count(lg, select(func.count()).select_from(TransportOrder)) == 200
        open_stockouts = select(func.count()).where(
            Alert.kind == "stockout", Alert.state != "cleared"
        )
        assert count(lg, open_stockouts) == 200
        assert heard["alerts"] == 200
        assert heard["commissioning"] == 1
    finally:
        watcher.loop_stop()
        stop(procs)
        lg.engine.dispose()


def test_leadership_moves_to_another_ledger_when_the_leader_goes(pg_url: str) -> None:
    db.upgrade(pg_url)
    first, second = Leadership(db.engine(pg_url)), Leadership(db.engine(pg_url))
    assert first.held() and first.held()
    assert not second.held()
    first.release()  # the leader's connection closes (as when its process dies)
    assert second.held() and not first.held()
    second.release()
