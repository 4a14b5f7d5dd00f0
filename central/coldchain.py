"""Reading the cold-chain record: the monitored units and their state, a sensor's
temperatures over a period (at most `POINTS` buckets, aggregated in the database), its
excursions and its daily min/max/MKT. Days are UTC days, as the ledger's other periods.

The state of a unit comes from the open alerts the edges' transitions raised (`coldchain`
per condition, `sensor` for faults and silence) and from the age of its last minute."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, cast, func, literal, select
from sqlalchemy.orm import Session

from central.accounts import Principal
from central.clock import as_utc
from central.models import Alert, ColdSensor, Location, SensorMinute
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


def _epoch(s: Session) -> Any:
    """Seconds since the epoch of a minute, in the database's dialect."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", SensorMinute.minute), Integer)
    return cast(func.strftime("%s", SensorMinute.minute), Integer)


def series(
    s: Session, sensor_id: int, start: datetime, end: datetime, points: int = POINTS
) -> tuple[int, list[tuple[datetime, float | None, float | None, float | None]]]:
    """(bucket seconds, [(bucket start, min, mean, max)]) over [start, end): single minutes
    for short periods, else buckets of whole minutes, the mean weighted by samples."""
    span = (end - start).total_seconds()
    bucket = max(60, math.ceil(span / points / 60) * 60)
    where = (
        SensorMinute.sensor_id == sensor_id,
        SensorMinute.minute >= start,
        SensorMinute.minute < end,
    )
    if bucket == 60:
        rows = s.execute(
            select(SensorMinute.minute, SensorMinute.min_c, SensorMinute.mean_c, SensorMinute.max_c)
            .where(*where)
            .order_by(SensorMinute.minute)
        ).all()
        return bucket, [(as_utc(t), lo, mean, hi) for t, lo, mean, hi in rows]
    b = (_epoch(s) // bucket).label("b")
    weighted = func.sum(SensorMinute.mean_c * SensorMinute.samples) / func.nullif(
        func.sum(cast(SensorMinute.samples, Float)), 0
    )
    buckets: Any = s.execute(
        select(b, func.min(SensorMinute.min_c), weighted, func.max(SensorMinute.max_c))
        .where(*where)
        .group_by(b)
        .order_by(b)
    ).all()
    return bucket, [
        (datetime.fromtimestamp(float(k) * bucket, UTC), lo, None if m is None else round(m, 3), hi)
        for k, lo, m, hi in buckets
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
    """Per UTC day: min, max, MKT (USP <1079>, from the minute means, equally weighted),
    minutes recorded, fault samples and minutes outside the limits."""
    day = (_epoch(s) // 86400).label("d")
    m = SensorMinute
    outside: Any = literal(False)
    if sensor.high_c is not None:
        outside = outside | (m.max_c > sensor.high_c)
    if sensor.low_c is not None:
        outside = outside | (m.min_c < sensor.low_c)
    rows = s.execute(
        select(
            day,
            func.min(m.min_c),
            func.max(m.max_c),
            func.sum(func.exp(literal(-MKT_DH_OVER_R) / (m.mean_c + KELVIN))),
            func.count(m.mean_c),
            func.count(),
            func.sum(m.faults),
            func.sum(cast(outside, Integer)),
        )
        .where(m.sensor_id == sensor.id, m.minute >= start, m.minute < end)
        .group_by(day)
        .order_by(day)
    ).all()
    out = []
    for d, lo, hi, exp_sum, valid, minutes, faults, outside_n in rows:
        mkt = None
        if valid and exp_sum:
            mkt = round(MKT_DH_OVER_R / -math.log(exp_sum / valid) - KELVIN, 2)
        out.append({"day": datetime.fromtimestamp(int(d) * 86400, UTC).date(), "min_c": lo,
                    "max_c": hi, "mkt_c": mkt, "minutes": minutes, "faults": int(faults or 0),
                    "outside_minutes": int(outside_n or 0)})  # fmt: skip
    return out
