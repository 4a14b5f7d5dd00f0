"""Reading the cold-chain record: the monitored units and their state, a sensor's
temperatures over a period (at most `POINTS` buckets, aggregated in the database from the
minutes or, for weeks and more, from their hourly roll-up), its excursions and its daily
min/max/MKT (from the roll-up). Days are UTC days, as the ledger's other periods.

The state of a unit comes from the open alerts the edges' transitions raised (`coldchain`
per condition, `sensor` for faults and silence) and from the age of its last minute."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, cast, func, select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.clock import as_utc
from central.models import Alert, ColdSensor, Location, SensorHour, SensorMinute
from central.vocab import OPEN_STATES
from rules.coldchain import KELVIN, MKT_DH_OVER_R

POINTS = 720  # a chart never needs more buckets than a screen has pixels to spare
STALE = timedelta(minutes=10)  # no minute for this long: the unit's data is missing


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    site: str
    unit: str
    sensor: str
    gateway: str
    low_c: float | None
    high_c: float | None
    last_minute: datetime | None
    last_mean_c: float | None
    state: str  # ok, warning, alarm, fault, offline, no_data
    detail: str  # the open alert's message, if any


_RANK = {"ok": 0, "warning": 1, "no_data": 2, "offline": 3, "fault": 3, "alarm": 4}


def units(s: Session, now: datetime, who: Principal | None = None) -> list[Unit]:
    """Every monitored unit in `who`'s scope (a unit is the location `<site>/<unit>`; its
    department, when master data places it, decides who sees it), worst state first."""
    departments = dict(s.execute(select(Location.code, Location.department)).all())
    sensors = [
        c
        for c in s.scalars(select(ColdSensor))
        if who is None or who.covers(f"{c.site}/{c.unit}", departments.get(f"{c.site}/{c.unit}"))
    ]
    open_alerts = s.execute(
        select(Alert.kind, Alert.key, Alert.severity, Alert.message).where(
            Alert.kind.in_(("coldchain", "sensor")), Alert.state.in_(OPEN_STATES)
        )
    ).all()
    out = []
    for c in sensors:
        state, detail = "ok", ""
        last = as_utc(c.last_minute)
        if last is None or now - last > STALE:
            state = "no_data"
        for kind, key, severity, message in open_alerts:
            mine = (kind == "coldchain" and key.startswith(f"{c.site}/{c.unit}/")) or (
                kind == "sensor" and key == f"{c.site}/{c.sensor}"
            )
            if not mine:
                continue
            found = "alarm" if severity == "critical" else "warning"
            if kind == "sensor":
                found = "offline" if message.startswith("no data") else "fault"
            if _RANK[found] > _RANK[state]:
                state, detail = found, message
        out.append(Unit(c.id, c.site, c.unit, c.sensor, c.gateway, c.low_c, c.high_c, last,
                        c.last_mean_c, state, detail))  # fmt: skip
    return sorted(out, key=lambda u: (-_RANK[u.state], u.site, u.unit))


def _epoch(s: Session, column: Any) -> Any:
    """Seconds since the epoch of a timestamp column, in the database's dialect."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column), Integer)
    return cast(func.strftime("%s", column), Integer)


Point = tuple[datetime, float | None, float | None, float | None]


def series(
    s: Session, sensor_id: int, start: datetime, end: datetime, points: int = POINTS
) -> tuple[int, list[Point]]:
    """(bucket seconds, [(bucket start, min, mean, max)]) over [start, end): single minutes
    for short periods, buckets of whole minutes for days, of whole hours (from the hourly
    roll-up) for weeks and more; the mean weighted by samples."""
    span = (end - start).total_seconds()
    bucket = max(60, math.ceil(span / points / 60) * 60)
    if bucket >= 3600:
        bucket = math.ceil(bucket / 3600) * 3600
        h = SensorHour
        where: tuple[Any, ...] = (h.sensor_id == sensor_id, h.hour >= start, h.hour < end)
        key = _epoch(s, h.hour) // bucket
        low: Any = func.min(h.min_c)
        high: Any = func.max(h.max_c)
        mean: Any = func.sum(h.mean_sum) / func.nullif(func.sum(cast(h.samples, Float)), 0)
    else:
        m = SensorMinute
        where = (m.sensor_id == sensor_id, m.minute >= start, m.minute < end)
        if bucket == 60:
            rows = s.execute(
                select(m.minute, m.min_c, m.mean_c, m.max_c).where(*where).order_by(m.minute)
            ).all()
            return bucket, [(as_utc(t), lo, mean_c, hi) for t, lo, mean_c, hi in rows]
        key = _epoch(s, m.minute) // bucket
        low, high = func.min(m.min_c), func.max(m.max_c)
        mean = func.sum(m.mean_c * m.samples) / func.nullif(func.sum(cast(m.samples, Float)), 0)
    b = key.label("b")
    buckets: Any = s.execute(select(b, low, mean, high).where(*where).group_by(b).order_by(b))
    return bucket, [
        (datetime.fromtimestamp(float(k) * bucket, UTC), lo, None if v is None else round(v, 3), hi)
        for k, lo, v, hi in buckets
    ]


def excursions(
    points: list[tuple[datetime, float | None, float | None, float | None]],
    bucket_s: int,
    low_c: float | None,
    high_c: float | None,
) -> list[tuple[datetime, datetime]]:
    """The stretches of consecutive buckets with a value outside the limits."""
    out: list[tuple[datetime, datetime]] = []
    step = timedelta(seconds=bucket_s)
    for t, lo, _mean, hi in points:
        out_of_range = (high_c is not None and hi is not None and hi > high_c) or (
            low_c is not None and lo is not None and lo < low_c
        )
        if not out_of_range:
            continue
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], t + step)
        else:
            out.append((t, t + step))
    return out


def daily(s: Session, sensor: ColdSensor, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per UTC day, from the hourly roll-up: min, max, MKT (USP <1079>, from the minute
    means, equally weighted), minutes recorded, fault samples and minutes outside the
    alarm limits the unit had at the time."""
    h = SensorHour
    day = (_epoch(s, h.hour) // 86400).label("d")
    rows = s.execute(
        select(day, func.min(h.min_c), func.max(h.max_c), func.sum(h.exp_sum), func.sum(h.valid),
               func.sum(h.minutes), func.sum(h.faults), func.sum(h.outside))
        .where(h.sensor_id == sensor.id, h.hour >= start, h.hour < end)
        .group_by(day)
        .order_by(day)
    ).all()  # fmt: skip
    out = []
    for d, lo, hi, exp_sum, valid, minutes, faults, outside in rows:
        mkt = None
        if valid and exp_sum:
            mkt = round(MKT_DH_OVER_R / -math.log(exp_sum / valid) - KELVIN, 2)
        out.append({"day": datetime.fromtimestamp(int(d) * 86400, UTC).date(), "min_c": lo,
                    "max_c": hi, "mkt_c": mkt, "minutes": int(minutes), "faults": int(faults),
                    "outside_minutes": int(outside)})  # fmt: skip
    return out
