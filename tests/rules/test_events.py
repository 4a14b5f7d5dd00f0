"""Event JSON round trips, schema errors, and EPCIS 2.0 output against GS1's own schema."""

from __future__ import annotations

import contextlib
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.epcis import epcis_document, to_epcis_event
from rules.events import (
    AlarmState,
    Batch,
    BatchMovement,
    CabinetAlert,
    CabinetMovement,
    CabinetWitness,
    ColdChainTransition,
    Direction,
    Event,
    EventSchemaError,
    ReaderStatusEvent,
    SensorStatus,
    dumps,
    from_json,
    iso_to_us,
    loads,
    stamp,
    to_json,
    us_to_iso,
)
from tests.conftest import shared_path

T = 1_800_000_000_123_456
BATCH = Batch(gtin="80614141123458", lot="L/1", expiry="2027-01-31", company_prefix_length=7)


def sample_events() -> list[Event]:
    evs: list[Event] = [
        BatchMovement(
            occurred_at_us=T,
            read_point="door",
            direction=Direction.IN,
            from_zone="corridor",
            to_zone="store",
            biz_step="receiving",
            batch=BATCH,
            quantity=2,
            epcs=("urn:epc:id:sgtin:0614141.812345.6789", "urn:epc:id:sgtin:0614141.812345.6790"),
            first_seen_us=T - 2_000_000,
            last_seen_us=T,
            confidence=0.9,
            uncommissioned=False,
        ),
        BatchMovement(
            occurred_at_us=T,
            read_point="door",
            direction=Direction.UNKNOWN,
            from_zone=None,
            to_zone=None,
            biz_step=None,
            batch=Batch(gtin=None, lot=None),
            quantity=1,
            epcs=("urn:epc:raw:96.xE2801160600002084E5E8A31",),
            first_seen_us=T,
            last_seen_us=T,
            confidence=0.0,
            uncommissioned=True,
        ),
        CabinetMovement(
            occurred_at_us=T,
            cabinet="or-3",
            zone="or",
            action="take",
            batch=BATCH,
            quantity=1,
            epcs=("urn:epc:id:sgtin:0614141.812345.6789",),
            user_id="nurse-7",
            case_id="case-42",
            session_id="or-3-1",
            attributed=True,
            uncommissioned=False,
        ),
        CabinetMovement(
            occurred_at_us=T,
            cabinet="or-3",
            zone="or",
            action="return",
            batch=Batch(gtin="80614141123458", lot=None, company_prefix_length=7),
            quantity=1,
            epcs=("urn:epc:id:sgtin:0614141.812345.7000",),
            user_id=None,
            case_id=None,
            session_id=None,
            attributed=False,
            uncommissioned=True,
        ),
        CabinetAlert(occurred_at_us=T, cabinet="or-3", reason="door_ajar", detail="open 60 s"),
        CabinetWitness(
            occurred_at_us=T,
            cabinet="ward-5-cab",
            zone="ward-5",
            user_id="B-NINA",
            of_user_id="B-ANNA",
            session_id="ward-5-cab-1",
            session_started_us=T - 9,
        ),
        ColdChainTransition(
            occurred_at_us=T,
            unit="fridge-1",
            sensor="s1",
            condition="high_alarm",
            from_state=AlarmState.PENDING,
            to_state=AlarmState.ACTIVE,
            value_c=9.1,
            threshold_c=8.0,
            excursion_started_us=T - 900_000_000,
        ),
        SensorStatus(
            occurred_at_us=T, sensor="s1", unit="fridge-1", status="offline", reason="silent"
        ),
        ReaderStatusEvent(occurred_at_us=T, reader="r1", state="down", reason="keepalive timeout"),
    ]
    return [stamp(e, site="site-1", gateway="gw-1", seq=i + 1) for i, e in enumerate(evs)]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: f"{e.kind}-{e.seq}")
def test_json_round_trip(event: Event) -> None:
    assert loads(dumps(event)) == event
    data = to_json(event)
    assert data["schema"] == 1 and data["event_id"] == event.event_id


def test_event_id_depends_on_content_not_seq() -> None:
    e = sample_events()[0]
    again = stamp(e, site="site-1", gateway="gw-1", seq=99)
    assert again.event_id == e.event_id
    other = stamp(e, site="site-1", gateway="gw-2", seq=1)
    assert other.event_id != e.event_id


@given(st.integers(0, 4_102_444_800_000_000))
def test_time_round_trip(t: int) -> None:
    assert iso_to_us(us_to_iso(t)) == t


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema=2), "unknown schema version"),
        (lambda d: d.update(kind="teleport"), "unknown event kind"),
        (lambda d: d["body"].pop("quantity"), "missing body field 'quantity'"),
        (lambda d: d["body"].update(quantity="many"), "invalid batch_movement"),
        (lambda d: d["body"].update(direction="SIDEWAYS"), "invalid batch_movement"),
        (lambda d: d["body"].update(sneaky=1), "unknown body fields"),
        (lambda d: d.update(occurred_at="yesterday"), "bad timestamp"),
        (lambda d: d.pop("event_id"), "missing envelope field"),
    ],
)
def test_invalid_payloads_raise_schema_error(mutate: Any, message: str) -> None:
    data = json.loads(dumps(sample_events()[0]))
    mutate(data)
    with pytest.raises(EventSchemaError, match=message):
        from_json(data)


@given(st.binary(max_size=200))
def test_fuzz_loads_never_crashes(payload: bytes) -> None:
    with contextlib.suppress(EventSchemaError):
        loads(payload)


def _payload(mutate: Any, which: int = 0) -> bytes:
    data = json.loads(dumps(sample_events()[which]))
    mutate(data)
    return json.dumps(data).encode()


# what broke the ledger's ingest (or was accepted although wrong) before the boundary checks
POISON = {
    "deeply nested": b'{"schema": 1, "body": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "expiry not a date": _payload(lambda d: d["body"]["batch"].update(expiry="soon")),
    "expiry 31 February": _payload(lambda d: d["body"]["batch"].update(expiry="2027-02-31")),
    "occurred_at in year 1": _payload(lambda d: d.update(occurred_at="0001-01-01T00:00:00Z")),
    "first_seen in year 9999": _payload(
        lambda d: d["body"].update(first_seen="9999-01-01T00:00:00Z")
    ),
    "seq of 10^30": _payload(lambda d: d.update(seq=10**30)),
    "negative seq": _payload(lambda d: d.update(seq=-1)),
    "gtin longer than its column": _payload(lambda d: d["body"]["batch"].update(gtin="1" * 40)),
    "gtin with a wrong check digit": _payload(
        lambda d: d["body"]["batch"].update(gtin="80614141123459")
    ),
    "lot longer than 20": _payload(lambda d: d["body"]["batch"].update(lot="L" * 21)),
    "event_id not a UUID": _payload(lambda d: d.update(event_id="x" * 100)),
    "negative quantity": _payload(lambda d: d["body"].update(quantity=-2)),
    "quantity without EPCs": _payload(lambda d: d["body"].update(quantity=5, epcs=[])),
    "quantity not counting EPCs": _payload(lambda d: d["body"].update(quantity=3)),
    "SQL as an EPC": _payload(
        lambda d: d["body"].update(epcs=["'; DROP TABLE stock; --", d["body"]["epcs"][1]])
    ),
    "an EPC twice": _payload(lambda d: d["body"].update(epcs=[d["body"]["epcs"][0]] * 2)),
    "NaN confidence": _payload(lambda d: d["body"].update(confidence=float("nan"))),
    "confidence above 1": _payload(lambda d: d["body"].update(confidence=1.5)),
    "site with a topic wildcard": _payload(lambda d: d.update(site="s1/#")),
    "gateway of 65 characters": _payload(lambda d: d.update(gateway="g" * 65)),
    "zone longer than 120": _payload(lambda d: d["body"].update(to_zone="z" * 121)),
    "infinite temperature": _payload(lambda d: d["body"].update(value_c=float("inf")), 4),
    "not JSON UTF-8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("payload", POISON.values(), ids=POISON.keys())
def test_poison_is_refused_at_the_boundary_with_a_reason(payload: bytes) -> None:
    with pytest.raises(EventSchemaError) as err:
        loads(payload)
    assert str(err.value)


def test_every_sample_event_passes_the_boundary() -> None:
    for e in sample_events():
        assert loads(dumps(e)) == e


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.sampled_from(sample_events()), st.data())
def test_fuzz_mutated_events_pass_whole_or_fail_with_a_schema_error(
    event: Event, data: Any
) -> None:
    """Valid events with one field replaced by any JSON value: either still a valid event
    (then it round-trips) or an EventSchemaError, never another exception."""
    doc = to_json(event)
    target = data.draw(
        st.sampled_from(
            ["envelope", "body", "batch"] if "batch" in doc["body"] else ["envelope", "body"]
        )
    )
    holder = (
        doc if target == "envelope" else doc["body"] if target == "body" else doc["body"]["batch"]
    )
    key = data.draw(st.sampled_from(sorted(holder)))
    holder[key] = data.draw(_JSON)
    try:
        parsed = loads(json.dumps(doc).encode())
    except EventSchemaError:
        return
    assert loads(dumps(parsed)) == parsed


# --- EPCIS ----------------------------------------------------------------------------------


@cache
def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(shared_path("epcis", "schema", "epcis-json-schema-2.0.1.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_epcis_document_validates_against_gs1_schema() -> None:
    doc = epcis_document(sample_events(), created_us=T)
    errors = sorted(_validator().iter_errors(doc), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])
    body = doc["epcisBody"]["eventList"]
    assert len(body) == 5  # alerts, sensor and reader status have no EPCIS form
    move = body[0]
    assert move["action"] == "OBSERVE" and move["bizStep"] == "receiving"
    assert move["quantityList"] == [
        {"epcClass": "urn:epc:class:lgtin:0614141.812345.L%2F1", "quantity": 2, "uom": "EA"}
    ]
    assert move["eventTimeZoneOffset"] == "+00:00"
    assert "ilmd" not in move
    take = body[2]
    assert (take["bizStep"], take["disposition"]) == ("dispensing", "dispensed")
    cold = body[4]
    assert cold["sensorElementList"][0]["sensorReport"][0]["exception"] == "ALARM_CONDITION"


def test_the_validator_rejects_what_gs1_rejects() -> None:
    """Guard against a validator that accepts anything (e.g. a missing format checker)."""
    doc = epcis_document(sample_events()[:1], created_us=T)
    event = doc["epcisBody"]["eventList"][0]
    del event["eventTimeZoneOffset"]
    assert list(_validator().iter_errors(doc))
    doc = epcis_document(sample_events()[:1], created_us=T)
    doc["epcisBody"]["eventList"][0]["bizStep"] = "urn:epcglobal:cbv:bizstep:receiving"
    assert list(_validator().iter_errors(doc))


def test_non_epcis_kinds_have_no_epcis_form() -> None:
    reader = sample_events()[-1]
    assert to_epcis_event(reader) is None
