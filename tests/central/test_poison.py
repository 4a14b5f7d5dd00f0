"""One bad message never stops anything: the real ingest (validation, dead letters,
isolation of the event that breaks a transaction, conflicts, unknown gateways) on SQLite
and PostgreSQL, a fuzz test with a canary, and a poisoned retained status on a real broker."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from central import alerts, db
from central.ingest import Ingestor
from central.ledger import Ledger
from central.models import DeadLetter
from hwms_common.config import MqttConnection
from rules.events import Batch, Direction, dumps, stamp
from tests.central.test_ingest import publisher, receipt
from tests.central.test_ledger import epcs, ledger, move
from tests.conftest import Mosquitto
from tests.rules.test_events import POISON
from tests.support import until

TOPIC = "hwms/v1/s1/gw1/events/batch_movement"


def ingestor(lg: Ledger, **kw: Any) -> Ingestor:
    """The ingest as the ledger runs it, fed directly (no broker needed for these)."""
    return Ingestor(lg, MqttConnection(port=1), client_id="t", **kw)


def dead_letters(lg: Ledger) -> list[str]:
    with lg.session() as s:
        return [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]


def open_alerts(lg: Ledger) -> set[tuple[str, str]]:
    with lg.session() as s:
        return {(a.kind, a.key) for a in alerts.open_alerts(s)}


def test_poison_in_a_batch_is_dead_lettered_and_the_good_events_applied(db_url: str) -> None:
    lg = ledger(db_url)
    ing = ingestor(lg)
    poison = [(TOPIC, p) for p in POISON.values()]
    good = [(TOPIC, dumps(receipt(i, 2))) for i in range(3)]
    outcomes = ing.handle_many([good[0], *poison, good[1], good[2]])
    assert outcomes == ["applied"] + ["dead_letter"] * len(poison) + ["applied", "applied"]
    assert sum(r["quantity"] for r in lg.stock()) == 6
    reasons = dead_letters(lg)
    assert len(reasons) == len(poison) and all(reasons)
    assert any("nested too deeply" in r for r in reasons)
    assert any("seq" in r for r in reasons)


def test_an_event_the_database_refuses_is_isolated_and_the_rest_applied(db_url: str) -> None:
    """Valid on the wire, refused inside the transaction (here by a trigger, as a column
    limit or a constraint would): only that event is dead-lettered, in a batch or alone."""
    lg = ledger(db_url)
    with lg.engine.begin() as c:
        if lg.engine.dialect.name == "postgresql":
            c.execute(text("create function no_poison() returns trigger language plpgsql as $$"
                           " begin if new.lot = 'POISON' then raise exception 'poisoned lot';"
                           " end if; return new; end $$"))  # fmt: skip
            c.execute(text("create trigger no_poison before insert on batch for each row"
                           " execute function no_poison()"))  # fmt: skip
        else:
            c.execute(text("create trigger no_poison before insert on batch when new.lot ="
                           " 'POISON' begin select raise(abort, 'poisoned lot'); end"))  # fmt: skip
    bad = move(Direction.IN, "corridor", "store", epcs(2, 500), seq=900)
    bad = stamp(dataclasses.replace(bad, batch=Batch(gtin=bad.batch.gtin, lot="POISON")),
                site="s1", gateway="gw1", seq=900)  # fmt: skip
    ing = ingestor(lg)
    messages = [(TOPIC, dumps(receipt(i, 1))) for i in range(4)]
    messages.insert(2, (TOPIC, dumps(bad)))
    assert ing.handle_many(messages) == ["applied", "applied", "dead_letter", "applied", "applied"]
    assert ing.handle(TOPIC, dumps(bad)) == "dead_letter"  # alone, again
    assert ing.handle(TOPIC, dumps(receipt(9, 1))) == "applied"  # and nothing is stuck
    assert sum(r["quantity"] for r in lg.stock()) == 5
    assert all("poisoned lot" in r for r in dead_letters(lg))


def test_an_event_id_reused_with_other_content_is_a_conflict(db_url: str) -> None:
    lg = ledger(db_url)
    ing = ingestor(lg)
    e = receipt(1, 3)
    assert ing.handle(TOPIC, dumps(e)) == "applied"
    assert ing.handle(TOPIC, dumps(dataclasses.replace(e, seq=77))) == "duplicate"  # re-sent
    forged = dataclasses.replace(e, epcs=epcs(3, 700))  # same id, other tags
    assert ing.handle(TOPIC, dumps(forged)) == "dead_letter"
    assert ("conflicting_event", e.event_id) in open_alerts(lg)
    assert dead_letters(lg) == ["event_id was applied before with other content"]
    assert sum(r["quantity"] for r in lg.stock()) == 3


def test_gateways_the_configuration_does_not_list_are_refused_and_alerted(db_url: str) -> None:
    lg = ledger(db_url)
    ing = ingestor(lg, gateways=frozenset({"s1/gw1"}))
    e = receipt(1, 2)
    assert ing.handle(TOPIC, dumps(e)) == "applied"
    stranger = stamp(e, site="s1", gateway="gw-x", seq=1)
    assert ing.handle("hwms/v1/s1/gw-x/events/batch_movement", dumps(stranger)) == "dead_letter"
    assert ("unknown_gateway", "s1/gw-x") in open_alerts(lg)
    with lg.session.begin() as s:  # the configuration now lists it: the alert clears
        alerts.sync_unknown_gateways(s, frozenset({"s1/gw1", "s1/gw-x"}), lg.clock.now())
    assert ("unknown_gateway", "s1/gw-x") not in open_alerts(lg)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_the_real_ingest_and_a_canary_still_goes_through(db_url: str, data: Any) -> None:
    """Generated and mutated payloads at the real ingest; after each, a fresh good event is
    applied (nothing stuck, nothing crashed)."""
    lg = LEDGERS.setdefault(db_url, ledger(db_url))
    ing = ingestor(lg)
    doc = json.loads(dumps(receipt(data.draw(st.integers(0, 10**6)), 1)))
    how = data.draw(st.sampled_from(["field", "body", "bytes", "poison"]))
    if how == "field":
        doc[data.draw(st.sampled_from(sorted(doc)))] = data.draw(_JSON)
        payload = json.dumps(doc).encode()
    elif how == "body":
        doc["body"][data.draw(st.sampled_from(sorted(doc["body"])))] = data.draw(_JSON)
        payload = json.dumps(doc).encode()
    elif how == "bytes":
        raw = bytearray(json.dumps(doc).encode())
        for _ in range(data.draw(st.integers(1, 5))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        payload = bytes(raw)
    else:
        payload = data.draw(st.sampled_from(list(POISON.values())))
    assert ing.handle(TOPIC, payload) in ("applied", "duplicate", "dead_letter")
    canary = receipt(2_000_000 + len(CANARIES), 1)
    CANARIES.append(canary.event_id)
    assert ing.handle(TOPIC, dumps(canary)) == "applied"


LEDGERS: dict[str, Ledger] = {}
CANARIES: list[str] = []


def test_a_poisoned_retained_status_is_stored_once_and_blocks_nothing(
    db_url: str, mosquitto: Mosquitto
) -> None:
    """A deeply nested retained status once killed paho's network thread at every start."""
    db.upgrade(db_url)
    pub = publisher(mosquitto.port)
    nested = b"[" * 30_000 + b"]" * 30_000  # within the size limit: only nesting is wrong
    pub.publish("hwms/v1/s1/gw-bad/status", nested, qos=1, retain=True).wait_for_publish(5)
    try:
        for run in range(2):  # the retained message comes again at the second start
            lg = Ledger(db.engine(db_url))
            ing = Ingestor(
                lg, MqttConnection(host=mosquitto.host, port=mosquitto.port), client_id="ledger-p"
            )
            ing.start()
            try:
                assert ing.connected.wait(10)
                e = receipt(run, 2)
                pub.publish(TOPIC, dumps(e), qos=1).wait_for_publish(5)
                until(lambda: ing.counts["applied"] == 1, timeout=20)  # noqa: B023 (called here)
                assert ing.alive()
            finally:
                ing.stop()
        assert len(dead_letters(lg)) == 1 and "recursion" in dead_letters(lg)[0].lower()
    finally:
        pub.publish("hwms/v1/s1/gw-bad/status", b"", qos=1, retain=True).wait_for_publish(5)
        pub.loop_stop()


def test_a_worker_that_fails_is_reported_not_left_as_a_zombie(db_url: str) -> None:
    lg = ledger(db_url)
    ing = ingestor(lg)

    def broken(_messages: list[tuple[str, bytes]]) -> list[str]:
        raise RuntimeError("a bug")

    ing.handle_many = broken  # type: ignore[method-assign,assignment]
    ing._inbox.put(type("M", (), {"topic": TOPIC, "payload": b"{}", "mid": 1, "qos": 1})())
    ing._worker.start()
    ing._worker.join(timeout=5)
    assert not ing.alive() and isinstance(ing.failure, RuntimeError)


@pytest.fixture(autouse=True)
def _forget_ledgers() -> Any:
    yield
    LEDGERS.clear()
