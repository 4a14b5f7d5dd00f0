"""The cold-chain record: the edges' per-minute temperature summaries, kept per sensor for
the configured retention. Writes only; the cold-chain screen reads through central.coldchain.

A minute is identified by (sensor, minute), its primary key: one sent again inserts nothing.
So minutes are not claimed in `ingested_event` (hundreds of millions of ids a year, for
nothing the key does not already give); their seqs are acknowledged like every event's."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from central.clock import as_utc
from central.ledger.base import LedgerBase, ts
from central.models import ColdSensor, SensorMinute
from rules.events import TemperatureMinute


class ColdChainRecords(LedgerBase):
    def _record_minutes(self, s: Session, minutes: list[TemperatureMinute]) -> None:
        """Store summaries (a minute sent again inserts nothing) and move each sensor's
        latest minute forward."""
        if not minutes:
            return
        latest: dict[int, TemperatureMinute] = {}
        rows = []
        for m in minutes:
            sensor_id = self._sensor(s, m)
            rows.append(
                {"sensor_id": sensor_id, "minute": ts(m.occurred_at_us), "samples": m.samples,
                 "faults": m.faults, "min_c": m.min_c, "mean_c": m.mean_c, "max_c": m.max_c}
            )  # fmt: skip
            if sensor_id not in latest or latest[sensor_id].occurred_at_us < m.occurred_at_us:
                latest[sensor_id] = m
        s.execute(
            self._insert(SensorMinute)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["sensor_id", "minute"])
        )
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
        return gone
