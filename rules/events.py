"""The events that leave the edge, their versioned JSON form and their EPCIS 2.0 form.

Every event carries an envelope (`site`, `gateway`, `seq`, `event_id`). `event_id` is a
UUIDv5 of the event's content, so replaying the same observations yields the same ids and
the ledger can drop duplicates. JSON times are RFC 3339 strings with microseconds; inside
Python they are integer microseconds since the epoch (fields ending in `_us`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

from rules.epc import check_epc_uri, gs1_check_digit

SCHEMA_VERSION: Final = 1
_EVENT_NAMESPACE: Final = uuid.UUID("6f1c7d0e-5a43-4f5e-9b8e-2f3a8e0d9c11")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ENVELOPE: Final = ("site", "gateway", "seq", "event_id")

# Bounds of what the wire may carry: the ledger's columns and what a real edge can send.
MAX_EVENT_BYTES: Final = 8 * 1024 * 1024  # a 5000-tag pass of SGTIN-198 URIs is ~0.5 MB
MAX_EPCS: Final = 100_000
MAX_SEQ: Final = 2**63 - 1  # BIGINT
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a site or gateway: one topic level
_MIN_US: Final = 946_684_800_000_000  # 2000-01-01: no RFID event of hwms is older
_MAX_US: Final = 7_258_118_400_000_000  # 2200-01-01
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TEXT_LIMITS: Final = {"detail": 2000, "reason": 400, "biz_step": 80, "lot": 20}
_TEXT_DEFAULT: Final = 120  # zones, read points, cabinets, users, cases: "<site>/<zone>" <= 200
_TEMPERATURE: Final = (-273.15, 1000.0)


class EventSchemaError(ValueError):
    """A JSON payload is not a valid hwms event of a known schema version."""


class Direction(StrEnum):
    IN = "IN"
    OUT = "OUT"
    UNKNOWN = "UNKNOWN"


class AlarmState(StrEnum):
    NORMAL = "NORMAL"
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    CLEARED = "CLEARED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """What every event carries besides its content: origin, order and identity."""

    occurred_at_us: int
    site: str = ""
    gateway: str = ""
    seq: int = 0
    event_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """What a group of tags is: GTIN and lot (None when unknown), expiry as ISO date."""

    gtin: str | None
    lot: str | None
    expiry: str | None = None
    company_prefix_length: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchMovement(Envelope):
    """One batch moved through a portal or between zones: a cart pass yields one per batch."""

    kind: ClassVar[str] = "batch_movement"
    read_point: str
    direction: Direction
    from_zone: str | None
    to_zone: str | None
    biz_step: str | None
    batch: Batch
    quantity: int
    epcs: tuple[str, ...]
    first_seen_us: int
    last_seen_us: int
    confidence: float
    uncommissioned: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CabinetMovement(Envelope):
    """Items of one batch taken from or returned to a smart cabinet in one door cycle."""

    kind: ClassVar[str] = "cabinet_movement"
    cabinet: str
    zone: str
    action: Literal["take", "return"]
    batch: Batch
    quantity: int
    epcs: tuple[str, ...]
    user_id: str | None
    case_id: str | None
    session_id: str | None
    attributed: bool
    uncommissioned: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CabinetAlert(Envelope):
    """Something about a cabinet cycle that needs a person: door ajar, failed scan, suspects."""

    kind: ClassVar[str] = "cabinet_alert"
    cabinet: str
    reason: Literal["door_ajar", "scan_failed", "suspect_missing", "unattributed_change"]
    detail: str
    epcs: tuple[str, ...] = ()
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CabinetWitness(Envelope):
    """A second person badged at a cabinet soon after another person's badge: they witness
    what that session takes (the two-person check of controlled and high-value products)."""

    kind: ClassVar[str] = "cabinet_witness"
    cabinet: str
    zone: str
    user_id: str  # the second person's badge or user id
    of_user_id: str  # the first person's
    session_id: str
    session_started_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdChainTransition(Envelope):
    """A cold-chain condition of a unit changed state (e.g. high alarm PENDING -> ACTIVE)."""

    kind: ClassVar[str] = "coldchain_transition"
    unit: str
    sensor: str
    condition: Literal["high_alarm", "low_alarm", "high_warn", "low_warn", "freeze", "cumulative"]
    from_state: AlarmState
    to_state: AlarmState
    value_c: float | None
    threshold_c: float | None
    excursion_started_us: int | None
    # over the excursion so far (from its first out-of-range sample): what pharmacy needs to
    # judge the stock; None for `cumulative` and before any sample
    min_c: float | None = None
    max_c: float | None = None
    mkt_c: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorStatus(Envelope):
    """A temperature sensor became ok, faulty (error, sentinel, impossible value) or silent."""

    kind: ClassVar[str] = "sensor_status"
    sensor: str
    unit: str
    status: Literal["ok", "fault", "offline"]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemperatureMinute(Envelope):
    """One sensor's minute (`occurred_at` is the minute's start): the compact record the
    ledger keeps for a year, enough to chart a unit and to compute its daily min/max/MKT.
    It carries the profile's alarm limits so that the record explains itself. `min_c`,
    `mean_c` and `max_c` are None when every sample of the minute was a fault."""

    kind: ClassVar[str] = "temperature_minute"
    unit: str
    sensor: str
    samples: int
    faults: int
    min_c: float | None
    mean_c: float | None
    max_c: float | None
    low_c: float | None
    high_c: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderStatusEvent(Envelope):
    kind: ClassVar[str] = "reader_status"
    reader: str
    state: Literal["connecting", "up", "down"]
    reason: str


Event = (
    BatchMovement
    | CabinetMovement
    | CabinetAlert
    | CabinetWitness
    | ColdChainTransition
    | SensorStatus
    | TemperatureMinute
    | ReaderStatusEvent
)
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.kind: cls
    for cls in (
        BatchMovement,
        CabinetMovement,
        CabinetAlert,
        CabinetWitness,
        ColdChainTransition,
        SensorStatus,
        TemperatureMinute,
        ReaderStatusEvent,
    )
}


# --- time ----------------------------------------------------------------------------------


def us_to_iso(t_us: int) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2026-11-24T05:00:00.000000Z."""
    return (_EPOCH + timedelta(microseconds=t_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_to_us(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise EventSchemaError(f"bad timestamp {text!r}") from exc
    if dt.tzinfo is None:
        raise EventSchemaError(f"timestamp {text!r} has no time zone")
    return (dt - _EPOCH) // timedelta(microseconds=1)


# --- identity and JSON ---------------------------------------------------------------------


def _body(event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        if f.name in _ENVELOPE or f.name == "occurred_at_us":
            continue
        value = getattr(event, f.name)
        if f.name.endswith("_us"):
            body[f.name[:-3]] = None if value is None else us_to_iso(value)
        elif isinstance(value, Batch):
            body[f.name] = dataclasses.asdict(value)
        elif isinstance(value, tuple):
            body[f.name] = list(value)
        else:
            body[f.name] = value
    return body


def content_id(event: Event) -> str:
    """Stable id from what the event says (not from seq): same inputs, same id."""
    canonical = json.dumps(
        [event.kind, event.site, event.gateway, event.occurred_at_us, _body(event)],
        sort_keys=True,
        separators=(",", ":"),
    )
    return str(uuid.uuid5(_EVENT_NAMESPACE, canonical))


E = TypeVar("E", bound=Event)  # stamp keeps the event's own type


def stamp(event: E, *, site: str, gateway: str, seq: int) -> E:
    """Fill the envelope: where the event comes from, its sequence number and its id."""
    event = dataclasses.replace(event, site=site, gateway=gateway, seq=seq, event_id="")
    return dataclasses.replace(event, event_id=content_id(event))


def to_json(event: Event) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "kind": event.kind,
        "event_id": event.event_id,
        "site": event.site,
        "gateway": event.gateway,
        "seq": event.seq,
        "occurred_at": us_to_iso(event.occurred_at_us),
        "body": _body(event),
    }


def dumps(event: Event) -> bytes:
    return json.dumps(to_json(event), separators=(",", ":"), sort_keys=True).encode()


_ADAPTERS: Final[dict[str, TypeAdapter[Any]]] = {}


def _adapter(cls: type[Event]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls.kind)
    if adapter is None:
        adapter = _ADAPTERS[cls.kind] = TypeAdapter(cls)
    return adapter


def from_json(data: Any) -> Event:
    """Parse and validate a JSON event (as produced by `to_json`); raise EventSchemaError."""
    if not isinstance(data, dict):
        raise EventSchemaError("event must be a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise EventSchemaError(f"unknown schema version {data.get('schema')!r}")
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventSchemaError(f"unknown event kind {data.get('kind')!r}")
    body = data.get("body")
    if not isinstance(body, dict):
        raise EventSchemaError("event body must be a JSON object")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in _ENVELOPE:
            if f.name not in data:
                raise EventSchemaError(f"missing envelope field {f.name!r}")
            fields[f.name] = data[f.name]
        elif f.name == "occurred_at_us":
            fields[f.name] = iso_to_us(data.get("occurred_at"))  # type: ignore[arg-type]
        elif f.name.endswith("_us"):
            key = f.name[:-3]
            if key not in body:
                raise EventSchemaError(f"missing body field {key!r}")
            fields[f.name] = None if body[key] is None else iso_to_us(body[key])
        else:
            if f.name not in body and f.default is dataclasses.MISSING:
                raise EventSchemaError(f"missing body field {f.name!r}")
            if f.name in body:
                fields[f.name] = body[f.name]
    extra = set(body) - {
        f.name[:-3] if f.name.endswith("_us") else f.name for f in dataclasses.fields(cls)
    }
    if extra:
        raise EventSchemaError(f"unknown body fields {sorted(extra)}")
    try:
        event: Event = _adapter(cls).validate_python(fields)
    except ValidationError as exc:
        raise EventSchemaError(f"invalid {cls.kind}: {exc.errors(include_url=False)}") from exc
    return event


def loads(payload: bytes) -> Event:
    """Parse, validate and bound-check one event from the wire; EventSchemaError says why not."""
    if len(payload) > MAX_EVENT_BYTES:
        raise EventSchemaError(f"payload of {len(payload)} bytes is over {MAX_EVENT_BYTES}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventSchemaError(f"payload is not JSON: {exc}") from exc
    except RecursionError:
        raise EventSchemaError("payload is nested too deeply") from None
    event = from_json(data)
    check(event)
    return event


def check(event: Event) -> None:
    """What typing alone cannot say: values in range and sized to the ledger's columns,
    EPCs that are EPC URIs, quantities that count the EPCs. Raises EventSchemaError naming
    the field, so one bad event is dead-lettered at the boundary instead of failing (or
    retrying forever) inside a database transaction."""
    if not NAME.fullmatch(event.site) or not NAME.fullmatch(event.gateway):
        raise EventSchemaError(f"site/gateway {event.site[:80]!r}/{event.gateway[:80]!r} "
                               "must be 1-64 letters, digits, '.', '_' or '-'")  # fmt: skip
    if not 0 <= event.seq <= MAX_SEQ:
        raise EventSchemaError(f"seq {event.seq} is out of range")
    if not _UUID.fullmatch(event.event_id):
        raise EventSchemaError(f"event_id {event.event_id[:80]!r} is not a UUID")
    for f in dataclasses.fields(event):
        if f.name in _ENVELOPE:
            continue
        _check_value(f.name, getattr(event, f.name))
    if isinstance(event, BatchMovement | CabinetMovement):
        if not event.epcs:
            raise EventSchemaError(f"{event.kind} without EPCs")
        if event.quantity != len(event.epcs):
            raise EventSchemaError(
                f"quantity {event.quantity} does not count the {len(event.epcs)} EPCs"
            )
    if isinstance(event, BatchMovement) and not 0.0 <= event.confidence <= 1.0:
        raise EventSchemaError(f"confidence {event.confidence} is not within 0..1")
    if isinstance(event, TemperatureMinute):
        _check_minute(event)


def _check_value(name: str, value: object) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and name.endswith("_us"):
        if not _MIN_US <= value < _MAX_US:
            raise EventSchemaError(f"{name[:-3] or 'occurred_at'} is not between 2000 and 2200")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventSchemaError(f"{name} is not a finite number")
        if name.endswith("_c") and not _TEMPERATURE[0] < value <= _TEMPERATURE[1]:
            raise EventSchemaError(f"{name} {value} °C is not a temperature")
    elif isinstance(value, str):
        limit = _TEXT_LIMITS.get(name, _TEXT_DEFAULT)
        if len(value) > limit:
            raise EventSchemaError(f"{name} is longer than {limit} characters")
    elif isinstance(value, Batch):
        _check_batch(value)
    elif isinstance(value, tuple):
        if len(value) > MAX_EPCS:
            raise EventSchemaError(f"{name} has more than {MAX_EPCS} entries")
        if len(set(value)) != len(value):
            raise EventSchemaError(f"{name} lists an EPC twice")
        for epc in value:
            problem = check_epc_uri(epc)
            if problem:
                raise EventSchemaError(f"{name}: {problem}")


MAX_SAMPLES_PER_MINUTE: Final = 6000  # 100 Hz: far above any fridge probe


def _check_minute(m: TemperatureMinute) -> None:
    if m.occurred_at_us % 60_000_000:
        raise EventSchemaError("a temperature minute must start on a whole minute")
    if not (0 <= m.samples <= MAX_SAMPLES_PER_MINUTE and 0 <= m.faults <= MAX_SAMPLES_PER_MINUTE):
        raise EventSchemaError(f"samples {m.samples} / faults {m.faults} out of range")
    if m.samples + m.faults == 0:
        raise EventSchemaError("a temperature minute without any sample")
    values = (m.min_c, m.mean_c, m.max_c)
    if m.samples == 0:
        if values != (None, None, None):
            raise EventSchemaError("a minute of faults only has no temperatures")
    elif m.min_c is None or m.mean_c is None or m.max_c is None:
        raise EventSchemaError("min_c, mean_c and max_c are needed when samples > 0")
    elif not m.min_c <= m.mean_c <= m.max_c:
        raise EventSchemaError(f"min {m.min_c} <= mean {m.mean_c} <= max {m.max_c} fails")


def _check_batch(b: Batch) -> None:
    if b.gtin is not None and not (
        len(b.gtin) == 14 and b.gtin.isdigit() and gs1_check_digit(b.gtin[:13]) == b.gtin[13]
    ):
        raise EventSchemaError(f"batch gtin {b.gtin[:80]!r} is not a GTIN-14")
    if b.lot is not None and len(b.lot) > _TEXT_LIMITS["lot"]:
        raise EventSchemaError(f"batch lot is longer than {_TEXT_LIMITS['lot']} characters")
    if b.expiry is not None:
        try:
            day = datetime.strptime(b.expiry, "%Y-%m-%d")
        except ValueError:
            raise EventSchemaError(f"batch expiry {b.expiry[:40]!r} is not a date") from None
        if not 2000 <= day.year < 2200:
            raise EventSchemaError(f"batch expiry {b.expiry} is not between 2000 and 2200")
    if b.company_prefix_length is not None and not 6 <= b.company_prefix_length <= 12:
        raise EventSchemaError(f"company_prefix_length {b.company_prefix_length} is not 6..12")
