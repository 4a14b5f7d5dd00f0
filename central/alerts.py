"""Alerts: one model with a lifecycle, deduplicated per condition, and the evaluations that
raise and clear them: scheduled (expiry horizons, low stock / stockout / overstock), on an
action (recall locks) and from the edges' events (cold chain, sensors and readers going
silent, cabinet anomalies, uncommissioned tags, gateways offline).

Lifecycle: raised -> acknowledged (who, when, comment) -> cleared. An acknowledgement never
clears an alert and nothing silences one for good: it clears only when its condition is
gone, and comes back as a new alert if the condition returns. There is at most one open
(raised or acknowledged) alert per (kind, key); a worse level of the same condition updates
its severity and message in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    bindparam,
    column,
    func,
    or_,
    select,
    text,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central.clock import as_utc
from central.errors import Conflict, Forbidden, NotFound
from central.models import (
    OPEN_ALERT,
    Alert,
    Batch,
    EvaluationState,
    GatewayProgress,
    Location,
    Stock,
    StockLimit,
)
from central.vocab import OPEN_STATES, AlertState, Severity

if TYPE_CHECKING:
    from central.signatures import Signed
from rules.events import (
    AlarmState,
    BatchMovement,
    CabinetAlert,
    CabinetMovement,
    ColdChainTransition,
    Event,
    ReaderStatusEvent,
    SensorStatus,
)

OPEN = OPEN_STATES


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    key: str
    severity: str
    message: str


def sync(s: Session, kinds: tuple[str, ...], present: list[Condition], now: datetime) -> None:
    """Make the open alerts of `kinds` match the conditions that hold now."""
    open_alerts = {
        (a.kind, a.key): a
        for a in s.scalars(select(Alert).where(Alert.kind.in_(kinds), Alert.state.in_(OPEN)))
    }
    _reconcile(s, open_alerts, present, now)


def sync_keys(
    s: Session, kinds: tuple[str, ...], keys: set[str], present: list[Condition], now: datetime
) -> None:
    """`sync` for the alerts of `kinds` with one of `keys` only (an incremental pass)."""
    ordered = sorted(keys)
    open_alerts: dict[tuple[str, str], Alert] = {}
    for i in range(0, len(ordered), 10_000):
        q = select(Alert).where(
            Alert.kind.in_(kinds), Alert.key.in_(ordered[i : i + 10_000]), Alert.state.in_(OPEN)
        )
        open_alerts.update(((a.kind, a.key), a) for a in s.scalars(q))
    _reconcile(s, open_alerts, present, now)


def _reconcile(
    s: Session, open_alerts: dict[tuple[str, str], Alert], present: list[Condition], now: datetime
) -> None:
    """Raise what holds and is not open, update what changed, clear what no longer holds."""
    wanted = {(c.kind, c.key): c for c in present}
    raise_many(s, [c for key, c in wanted.items() if key not in open_alerts], now)
    for key, cond in wanted.items():
        alert = open_alerts.get(key)
        if alert is not None:
            _update(alert, cond)
    for key, alert in open_alerts.items():
        if key not in wanted:
            alert.state = AlertState.CLEARED
            alert.cleared_at = now


def _update(alert: Alert, cond: Condition) -> None:
    if (alert.severity, alert.message) != (cond.severity, cond.message):
        if Severity(cond.severity).rank > Severity(alert.severity).rank:
            alert.state = AlertState.RAISED  # worse than what was acknowledged: look again
        alert.severity, alert.message = cond.severity, cond.message


def raise_once(s: Session, c: Condition, now: datetime) -> None:
    """Open a new alert for a condition, unless one is open already: the database's partial
    unique index decides, so two ledgers raising the same alert at once make one."""
    raise_many(s, [c], now)


def raise_many(s: Session, conditions: list[Condition], now: datetime) -> None:
    """`raise_once` for many conditions, a thousand per statement (a first evaluation may
    raise tens of thousands)."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"kind": c.kind, "key": c.key, "severity": c.severity, "state": AlertState.RAISED,
         "message": c.message, "raised_at": now, "notify_count": 0, "tier": 0}
        for c in conditions
    ]  # fmt: skip
    for i in range(0, len(rows), 1000):
        s.execute(
            insert(Alert)
            .values(rows[i : i + 1000])
            .on_conflict_do_nothing(index_elements=["kind", "key"], index_where=text(OPEN_ALERT))
        )


def sync_key(s: Session, kind: str, key: str, present: list[Condition], now: datetime) -> None:
    """`sync` for one (kind, key) only, leaving the other alerts of that kind alone."""
    alert = s.scalars(
        select(Alert).where(Alert.kind == kind, Alert.key == key, Alert.state.in_(OPEN))
    ).one_or_none()
    if present and alert is None:
        raise_once(s, present[0], now)
    elif present and alert is not None:
        _update(alert, present[0])
    elif not present and alert is not None:
        alert.state, alert.cleared_at = AlertState.CLEARED, now


# (kind, key, the condition now or None when it is gone)
Change = tuple[str, str, Condition | None]


def from_event(e: Event) -> list[Change]:
    """What an edge event says about alert conditions. Keys name the site so that two sites'
    fridges or readers of the same name never share an alert."""
    where = f"{e.site}/{e.gateway}"
    if isinstance(e, ColdChainTransition):
        key = f"{e.site}/{e.unit}/{e.condition}"
        if e.to_state != AlarmState.ACTIVE:
            return [("coldchain", key, None)] if e.to_state in _OVER else []
        severity = "warning" if e.condition.endswith("_warn") else "critical"
        value = "" if e.value_c is None else f" at {e.value_c:.1f} °C"
        limit = "" if e.threshold_c is None else f" (limit {e.threshold_c:.1f} °C)"
        msg = f"cold chain {e.condition.replace('_', ' ')} in {e.unit} at {e.site}{value}{limit}"
        if e.excursion_started_us is not None:
            minutes = (e.occurred_at_us - e.excursion_started_us) / 60e6
            msg += f"; out of range for {minutes:.0f} min"
        if e.min_c is not None and e.max_c is not None:
            msg += f", min {e.min_c:.1f} / max {e.max_c:.1f} °C"
        if e.mkt_c is not None:
            msg += f", MKT {e.mkt_c:.1f} °C"
        return [("coldchain", key, Condition("coldchain", key, severity, msg))]
    if isinstance(e, SensorStatus):
        key = f"{e.site}/{e.sensor}"
        if e.status == "ok":
            return [("sensor", key, None)]
        what = "no data from" if e.status == "offline" else "faulty sensor in"
        msg = f"{what} {e.unit} ({e.sensor} at {where}): {e.reason}"
        return [("sensor", key, Condition("sensor", key, "critical", msg))]
    if isinstance(e, ReaderStatusEvent):
        key = f"{where}/{e.reader}"
        if e.state == "up":
            return [("reader_offline", key, None)]
        if e.state == "connecting":
            return []
        msg = f"reader {e.reader} at {where} is down: {e.reason}"
        return [("reader_offline", key, Condition("reader_offline", key, "warning", msg))]
    if isinstance(e, CabinetAlert):
        # each anomaly is its own case to look at (who took what, why the scan failed)
        msg = f"cabinet {e.cabinet} at {e.site}: {e.reason.replace('_', ' ')}: {e.detail}"
        severity = "warning" if e.reason == "door_ajar" else "critical"
        key = f"{e.site}/{e.event_id}"  # the site first: seen within the site's scope
        return [("cabinet", key, Condition("cabinet", key, severity, msg))]
    if isinstance(e, BatchMovement | CabinetMovement) and e.uncommissioned:
        place = e.read_point if isinstance(e, BatchMovement) else e.cabinet
        gtin = e.batch.gtin or "non-GS1"
        key = f"{e.site}/{place}/{gtin}"
        msg = f"{e.quantity} uncommissioned tag(s) of {gtin} seen at {place} ({e.site})"
        return [("uncommissioned", key, Condition("uncommissioned", key, "warning", msg))]
    return []


_OVER = (AlarmState.CLEARED, AlarmState.NORMAL)


def gateway_status(site: str, gateway: str, state: str, reason: str = "") -> Change:
    """The retained status topic of a gateway: `offline` (its Last Will) raises an alert."""
    key = f"{site}/{gateway}"
    if state == "online":
        return ("gateway_offline", key, None)
    msg = f"gateway {gateway} at {site} is {state}" + (f": {reason}" if reason else "")
    return ("gateway_offline", key, Condition("gateway_offline", key, "critical", msg))


def apply_changes(s: Session, changes: list[Change], now: datetime) -> None:
    for kind, key, cond in changes:
        sync_key(s, kind, key, [cond] if cond else [], now)


def sync_unknown_gateways(s: Session, listed: frozenset[str], now: datetime) -> None:
    """An `unknown_gateway` alert clears once the configuration lists that gateway (or
    lists none, when every gateway is accepted)."""
    still = [
        Condition(a.kind, a.key, a.severity, a.message)
        for a in s.scalars(
            select(Alert).where(Alert.kind == "unknown_gateway", Alert.state.in_(OPEN))
        )
        if listed and a.key not in listed
    ]
    sync(s, ("unknown_gateway",), still, now)


def sync_seq_gaps(s: Session, now: datetime, after_s: float) -> None:
    """A gateway whose events past a missing one were committed `after_s` ago or more: the
    missing one was lost or refused (the dead letters say which), or is still coming."""
    still = []
    for p in s.scalars(select(GatewayProgress).where(GatewayProgress.hole_since.is_not(None))):
        since = as_utc(p.hole_since)
        if since is None or (now - since).total_seconds() < after_s:
            continue
        first = p.committed_seq + 1
        next_seen = json.loads(p.above)[0][0]
        key = f"{p.site}/{p.gateway}"
        minutes = (now - since).total_seconds() / 60
        gap = f"{first}" if next_seen == first + 1 else f"{first}..{next_seen - 1}"
        still.append(Condition("seq_gap", key, "warning",
                               f"events {gap} of gateway {p.gateway} at {p.site} missing for"
                               f" {minutes:.0f} min while later ones arrived"))  # fmt: skip
    sync(s, ("seq_gap",), still, now)


SIGNED_KINDS = ("coldchain",)  # an excursion's acknowledgement is signed: the record


def needs_signature(kind: str) -> bool:
    return kind in SIGNED_KINDS


def acknowledge(s: Session, alert_id: int, user: str, comment: str, now: datetime,
                signed: Signed | None = None) -> Alert:  # fmt: skip
    """Someone is on it. A cold-chain excursion is acknowledged with a signature (`signed`:
    the password re-entered; the comment is its reason)."""
    alert = s.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.state == AlertState.CLEARED:
        raise Conflict(f"alert {alert_id} is already cleared")
    if needs_signature(alert.kind):
        if signed is None or signed.who.user != user:
            raise Forbidden(f"acknowledging alert {alert_id} needs your signature: your "
                            "password and a comment")  # fmt: skip
        signed.record(s, action="excursion_ack", subject=f"alert {alert.id} {alert.key}",
                      now=now)  # fmt: skip
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at, alert.ack_comment = user, now, comment
    return alert


EXPIRY_KINDS = ("expired", "expiry")
LEVEL_KINDS = ("stockout", "low_stock", "overstock")
DEFAULT_HORIZONS = (90, 30, 7)
_EXPIRY_ROW = (Batch.id, Batch.gtin, Batch.lot, Batch.expiry, Location.id, Location.code,
               Stock.quantity)  # fmt: skip


def _expiry_select() -> Any:  # a Select of _EXPIRY_ROW
    return (
        select(*_EXPIRY_ROW)
        .join(Stock, Stock.batch_id == Batch.id)
        .join(Location, Location.id == Stock.location_id)
        .where(Stock.quantity > 0, Batch.expiry.is_not(None))
    )


def _expiry_condition(row: Any, today: date, horizons: tuple[int, ...]) -> Condition | None:
    """Expired (critical), or within a horizon: the smallest is critical, up to 30 days a
    warning, beyond that information. The message carries the date, not the days left, so
    it changes only when the condition does."""
    batch_id, gtin, lot, expiry, loc_id, code, qty = row
    days = (expiry - today).days
    key = f"{batch_id}@{loc_id}"
    if days < 0:
        return Condition("expired", key, "critical",
                         f"{qty} x {gtin} lot {lot} at {code} expired on {expiry}")  # fmt: skip
    within = [h for h in sorted(horizons) if days <= h]
    if not within:
        return None
    smallest = min(horizons)
    severity = "critical" if within[0] == smallest else "warning" if within[0] <= 30 else "info"
    what = f"{qty} x {gtin} lot {lot} at {code} expires on {expiry}"
    return Condition("expiry", key, severity, f"{what} (within the {within[0]}-day horizon)")


def expiry_conditions(
    s: Session, today: date, horizons: tuple[int, ...] = DEFAULT_HORIZONS
) -> list[Condition]:
    """Per batch and location with stock: expired (critical), or within a horizon."""
    return [
        c for row in s.execute(_expiry_select()) if (c := _expiry_condition(row, today, horizons))
    ]


def _level_condition(
    loc: int, gtin: str, low: int, high: int, reorder: int | None, qty: int, where: str
) -> Condition | None:
    key = f"{gtin}@{loc}"
    if qty <= 0:
        return Condition("stockout", key, "critical", f"{gtin} is out of stock at {where}")
    if qty < low:
        what = f"{qty} x {gtin} at {where} is below {low}"
        return Condition("low_stock", key, "warning", f"{what}: reorder {reorder or high - qty}")
    if qty > high:
        return Condition("overstock", key, "info", f"{qty} x {gtin} at {where} is above {high}")
    return None


def stock_level_conditions(
    s: Session, pairs: set[tuple[int, str]] | None = None
) -> list[Condition]:
    """Stockout, low stock (with a suggested reorder quantity) and overstock per limit; with
    `pairs`, only the limits of those (location id, GTIN)."""
    if pairs is None:
        return _levels(s, None)
    ordered = sorted(pairs)
    return [c for i in range(0, len(ordered), 5000) for c in _levels(s, ordered[i : i + 5000])]


def _pairs(s: Session, chunk: list[tuple[int, Any]], second: Any) -> Any:
    """A small table of (location id, x) pairs to join on, so the database looks each pair
    up by index (`(a, b) IN (...)` makes PostgreSQL scan): two arrays unnested on
    PostgreSQL (two parameters, one cached plan), a CTE of VALUES on SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        locs = bindparam("locs", [loc for loc, _ in chunk], type_=ARRAY(Integer))
        xs = bindparam("xs", [x for _, x in chunk], type_=ARRAY(second))
        return func.unnest(locs, xs).table_valued("loc", "x").render_derived(name="w")
    return values(column("loc", Integer), column("x", second), name="w").data(chunk).cte("w")


def _levels(s: Session, chunk: list[tuple[int, str]] | None) -> list[Condition]:
    limit_cols = (StockLimit.location_id, StockLimit.gtin, StockLimit.min_quantity,
                  StockLimit.max_quantity, StockLimit.reorder_quantity)  # fmt: skip
    totals_q = select(Stock.location_id, Batch.gtin, func.sum(Stock.quantity)).join(
        Batch, Batch.id == Stock.batch_id
    )
    limits_q = select(*limit_cols)
    codes_q = select(Location.id, Location.code)
    if chunk is not None:
        w = _pairs(s, chunk, String)
        totals_q = totals_q.join(w, (w.c.loc == Stock.location_id) & (w.c.x == Batch.gtin))
        limits_q = limits_q.join(
            w, (w.c.loc == StockLimit.location_id) & (w.c.x == StockLimit.gtin)
        )
        codes_q = codes_q.where(Location.id.in_({loc for loc, _ in chunk}))
    totals = {
        (loc, gtin): int(qty or 0)
        for loc, gtin, qty in s.execute(totals_q.group_by(Stock.location_id, Batch.gtin))
    }
    codes: dict[int, str] = dict(s.execute(codes_q).all())
    out = []
    for loc, gtin, low, high, reorder in s.execute(limits_q):
        where = codes.get(loc, str(loc))
        qty = totals.get((loc, gtin), 0)
        c = _level_condition(loc, gtin, low, high, reorder, qty, where)
        if c is not None:
            out.append(c)
    return out


def evaluate(
    s: Session,
    today: date,
    now: datetime,
    horizons: tuple[int, ...] | None = None,
    *,
    full: bool = False,
) -> None:
    """The scheduled evaluation of expiry and stock levels (also run when stock arrives).

    Incremental: the stock rows written since the last pass (`Stock.changes` ahead of
    `Stock.evaluated`) and the batches whose expiry crossed a horizon since its day; a full
    scan on the first pass, with `full`, or when the horizons changed. `horizons`: None
    keeps those of the last pass (or the defaults)."""
    state = s.get(EvaluationState, "scheduled")
    if horizons is None:
        horizons = _horizons(state.horizons) if state is not None else DEFAULT_HORIZONS
    text_horizons = ",".join(str(h) for h in sorted(set(horizons)))
    # the rows written since the last pass, marked evaluated in the same statement: a write
    # that comes after it waits for this transaction (row lock) and counts up again
    dirty = _take_unevaluated(s, Stock, Stock.batch_id)
    limits = _take_unevaluated(s, StockLimit, StockLimit.gtin)
    if full or state is None or state.horizons != text_horizons or state.last_day > today:
        sync(s, EXPIRY_KINDS, expiry_conditions(s, today, horizons), now)
        sync(s, LEVEL_KINDS, stock_level_conditions(s), now)
    else:
        moved = _evaluate_incrementally(s, {(loc, b) for loc, b in dirty}, state.last_day,
                                        today, horizons, now)  # fmt: skip
        evaluate_levels(s, moved | {(loc, gtin) for loc, gtin in limits}, now)
    if state is None:
        s.add(EvaluationState(name="scheduled", last_day=today, horizons=text_horizons))
    else:
        state.last_day, state.horizons = today, text_horizons


def _take_unevaluated(s: Session, table: Any, second: Any) -> list[Any]:
    """(location id, `second`) of the rows of `table` written since the last pass, marked
    evaluated by the same statement."""
    return list(
        s.execute(
            update(table)
            .where(table.changes != table.evaluated)
            .values(evaluated=table.changes)
            .returning(table.location_id, second)
        )
    )


def _horizons(text_horizons: str) -> tuple[int, ...]:
    return tuple(int(h) for h in text_horizons.split(",") if h) or DEFAULT_HORIZONS


def _evaluate_incrementally(
    s: Session,
    dirty: set[tuple[int, int]],
    last_day: date,
    today: date,
    horizons: tuple[int, ...],
    now: datetime,
) -> set[tuple[int, str]]:
    """The expiry conditions of the dirty stock rows and of the rows whose batch crossed a
    horizon (or expired) after `last_day`; returns the dirty rows' (location id, GTIN), whose
    stock levels are then evaluated."""
    rows: dict[tuple[int, int], Any] = {}
    pairs = sorted(dirty)
    for i in range(0, len(pairs), 5000):
        w = _pairs(s, pairs[i : i + 5000], Integer)
        q = _expiry_select().join(w, (w.c.loc == Stock.location_id) & (w.c.x == Stock.batch_id))
        rows.update(((r[4], r[0]), r) for r in s.execute(q))
    if today > last_day:
        crossed = [Batch.expiry.between(last_day, today - timedelta(days=1))]  # expired
        crossed += [
            Batch.expiry.between(last_day + timedelta(days=h + 1), today + timedelta(days=h))
            for h in horizons
        ]
        for r in s.execute(_expiry_select().where(or_(*crossed))):
            rows[(r[4], r[0])] = r
    keys = {f"{b}@{loc}" for loc, b in dirty} | {f"{b}@{loc}" for loc, b in rows}
    present = [c for r in rows.values() if (c := _expiry_condition(r, today, horizons))]
    sync_keys(s, EXPIRY_KINDS, keys, present, now)
    batch_ids = sorted({b for _, b in dirty})
    gtins: dict[int, str] = {}
    for i in range(0, len(batch_ids), 10_000):
        q = select(Batch.id, Batch.gtin).where(Batch.id.in_(batch_ids[i : i + 10_000]))
        gtins.update(s.execute(q).all())
    return {(loc, gtins[b]) for loc, b in dirty if b in gtins}


def evaluate_levels(s: Session, pairs: set[tuple[int, str]], now: datetime) -> None:
    """The stock-level alerts of these (location id, GTIN): after stock moved or limits
    were imported."""
    keys = {f"{gtin}@{loc}" for loc, gtin in pairs}
    sync_keys(s, LEVEL_KINDS, keys, stock_level_conditions(s, pairs), now)


def open_counts(s: Session) -> dict[tuple[str, str], int]:
    """Open alerts by (kind, severity), counted by the database (for the metrics)."""
    rows = s.execute(
        select(Alert.kind, Alert.severity, func.count())
        .where(Alert.state.in_(OPEN))
        .group_by(Alert.kind, Alert.severity)
    )
    return {(kind, severity): int(n) for kind, severity, n in rows}


def open_alerts(s: Session) -> list[Alert]:
    return list(s.scalars(select(Alert).where(Alert.state.in_(OPEN)).order_by(Alert.id)))


def as_dict(a: Alert) -> dict[str, object]:
    """The JSON form of an alert (API, CLI, MQTT)."""

    def iso(t: datetime | None) -> str | None:
        return None if t is None else as_utc(t).isoformat()

    return {
        "id": a.id,
        "kind": a.kind,
        "key": a.key,
        "severity": a.severity,
        "state": a.state,
        "message": a.message,
        "raised_at": iso(a.raised_at),
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": iso(a.acknowledged_at),
        "ack_comment": a.ack_comment,
        "cleared_at": iso(a.cleared_at),
    }
