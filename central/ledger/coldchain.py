"""The cold-chain record: the edges' per-minute temperature summaries, kept per sensor for
the configured retention. Writes only; the cold-chain screen reads through central.coldchain.

A minute is identified by (sensor, minute), its primary key: one sent again inserts nothing.
So minutes are not claimed in `ingested_event` (hundreds of millions of ids a year, for
nothing the key does not already give); their seqs are acknowledged like every event's."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from central.clock import as_utc
from central.ledger.base import LedgerBase, ts
from central.models import ColdSensor, SensorHour, SensorMinute
from rules.coldchain import KELVIN, MKT_DH_OVER_R
from rules.events import TemperatureMinute

HOUR_US = 3_600_000_000


def _us(at: datetime) -> int:
    aware = as_utc(at)
    return int(aware.timestamp()) * 1_000_000 + aware.microsecond


def _sqlite_min(a: Any, b: Any) -> Any:
    """SQLite's two-argument min() is NULL when either is: the other one then."""
    return func.min(func.coalesce(a, b), func.coalesce(b, a))


def _sqlite_max(a: Any, b: Any) -> Any:
    return func.max(func.coalesce(a, b), func.coalesce(b, a))


class ColdChainRecords(LedgerBase):
    def _record_minutes(self, s: Session, minutes: list[TemperatureMinute]) -> None:
        """Store summaries (a minute sent again inserts nothing) and move each sensor's
        latest minute forward."""
        if not minutes:
            return
        latest: dict[int, TemperatureMinute] = {}
        rows = []
        by_key: dict[tuple[int, int], TemperatureMinute] = {}
        for m in minutes:
            sensor_id = self._sensor(s, m)
            rows.append(
                {"sensor_id": sensor_id, "minute": ts(m.occurred_at_us), "samples": m.samples,
                 "faults": m.faults, "min_c": m.min_c, "mean_c": m.mean_c, "max_c": m.max_c}
            )  # fmt: skip
            by_key[(sensor_id, m.occurred_at_us)] = m
            if sensor_id not in latest or latest[sensor_id].occurred_at_us < m.occurred_at_us:
                latest[sensor_id] = m
        stored = s.execute(
            self._insert(SensorMinute)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["sensor_id", "minute"])
            .returning(SensorMinute.sensor_id, SensorMinute.minute)
        ).all()
        fresh = [(i, by_key[(i, _us(at))]) for i, at in stored]  # the minutes new to the ledger
        self._roll_up(s, fresh)
        for sensor_id, m in sorted(latest.items()):
            at = ts(m.occurred_at_us)
            s.execute(
                update(ColdSensor)
                .where(ColdSensor.id == sensor_id)
                .where((ColdSensor.last_minute.is_(None)) | (ColdSensor.last_minute < at))
                .values(
                    last_minute=at,
                    last_mean_c=m.mean_c,
                    unit=m.unit,
                    gateway=m.gateway,
                    low_c=m.low_c,
                    high_c=m.high_c,
                )
            )

    def _roll_up(self, s: Session, fresh: list[tuple[int, TemperatureMinute]]) -> None:
        """Add minutes stored for the first time to their hours (so a minute sent again is
        never counted twice); one upsert, its keys in order (two ledgers never deadlock)."""
        hours: dict[tuple[int, int], dict[str, Any]] = {}
        for sensor_id, m in fresh:
            start = m.occurred_at_us - m.occurred_at_us % HOUR_US
            h = hours.setdefault((sensor_id, start), {
                "sensor_id": sensor_id, "hour": ts(start), "minutes": 0, "valid": 0,
                "samples": 0, "faults": 0, "min_c": None, "max_c": None, "mean_sum": 0.0,
                "exp_sum": 0.0, "outside": 0})  # fmt: skip
            h["minutes"] += 1
            h["faults"] += m.faults
            if m.mean_c is None or m.min_c is None or m.max_c is None:
                continue
            h["valid"] += 1
            h["samples"] += m.samples
            h["mean_sum"] += m.mean_c * m.samples
            h["exp_sum"] += math.exp(-MKT_DH_OVER_R / (m.mean_c + KELVIN))
            h["min_c"] = m.min_c if h["min_c"] is None else min(h["min_c"], m.min_c)
            h["max_c"] = m.max_c if h["max_c"] is None else max(h["max_c"], m.max_c)
            if (m.high_c is not None and m.max_c > m.high_c) or (
                m.low_c is not None and m.min_c < m.low_c
            ):
                h["outside"] += 1
        if not hours:
            return
        new = self._insert(SensorHour).values([hours[k] for k in sorted(hours)])
        t, x = SensorHour.__table__.c, new.excluded
        low, high = (func.least, func.greatest) if self._pg else (_sqlite_min, _sqlite_max)
        s.execute(
            new.on_conflict_do_update(
                index_elements=["sensor_id", "hour"],
                set_={
                    "minutes": t.minutes + x.minutes,
                    "valid": t.valid + x.valid,
                    "samples": t.samples + x.samples,
                    "faults": t.faults + x.faults,
                    "mean_sum": t.mean_sum + x.mean_sum,
                    "exp_sum": t.exp_sum + x.exp_sum,
                    "outside": t.outside + x.outside,
                    "min_c": low(t.min_c, x.min_c),
                    "max_c": high(t.max_c, x.max_c),
                },
            )
        )

    def _sensor(self, s: Session, m: TemperatureMinute) -> int:
        key = (m.site, m.sensor)
        known = self._sensor_ids.get(key)
        if known is not None:
            return known
        s.execute(
            self._insert(ColdSensor)
            .values(
                site=m.site,
                sensor=m.sensor,
                unit=m.unit,
                gateway=m.gateway,
                low_c=m.low_c,
                high_c=m.high_c,
            )
            .on_conflict_do_nothing(index_elements=["site", "sensor"])
        )
        found = s.scalar(
            select(ColdSensor.id).where(ColdSensor.site == m.site, ColdSensor.sensor == m.sensor)
        )
        assert found is not None
        self._fresh_sensors[key] = found
        return found

    def prune_temperatures(self, before: datetime) -> int:
        """Forget the minutes older than `before`, a day at a time from the oldest (found
        per sensor through the primary key), so that no delete holds a long lock; returns
        how many went."""
        with self.session() as s:
            sensors = list(s.scalars(select(ColdSensor.id)))
            firsts = [s.scalar(select(func.min(SensorMinute.minute))
                               .where(SensorMinute.sensor_id == i)) for i in sensors]  # fmt: skip
        known = [t for t in (as_utc(f) for f in firsts) if t is not None]
        if not known:
            return 0
        gone, upto = 0, min(known)
        while upto < before:
            upto = min(before, upto + timedelta(days=1))
            with self.transaction() as s:
                result = s.execute(delete(SensorMinute).where(SensorMinute.minute < upto))
                gone += result.rowcount  # type: ignore[attr-defined]
                # an hour goes once all its minutes have
                s.execute(delete(SensorHour).where(SensorHour.hour <= upto - timedelta(hours=1)))
        return gone
