"""The whole rules core of one gateway: observations in, stamped events out.

`feed(observation)` returns the events an observation causes; `tick(now_us)` returns the
events that the passing of time causes (departures, ends of passes, door ajar, sensor
silence, alarm delays). Every event leaves stamped with the gateway's sequence number and a
content-derived `event_id`. No IO, no threads, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rules.batching import BatchAggregator, TagTransition, ZoneRules
from rules.cabinet import CabinetCycle
from rules.coldchain import ColdChainMonitor
from rules.config import ReadPointConfig, RulesConfig
from rules.events import Event, ReaderStatusEvent, stamp
from rules.identity import CommissionRecord, IdentityResolver
from rules.minutes import MinuteSummaries
from rules.observations import (
    HOUR,
    SECOND,
    BadgeEvent,
    CabinetScan,
    DoorEvent,
    Observation,
    ReaderState,
    ReaderStatus,
    TagRead,
    TemperatureSample,
)
from rules.portal import INSIDE, OUTSIDE, PortalTracker
from rules.presence import AreaTracker


@dataclass(slots=True)
class RulesStats:
    """Counters the edge exports as metrics (labels come only from configuration)."""

    reads_total: int = 0
    unmapped_reads_total: int = 0
    unknown_observations_total: int = 0


class GatewayRules:
    def __init__(
        self,
        cfg: RulesConfig,
        commissioning: Mapping[str, CommissionRecord] | None = None,
        *,
        seq: int = 0,
    ) -> None:
        self.cfg = cfg
        self.seq = seq
        self.stats = RulesStats()
        self.resolver = IdentityResolver(commissioning)
        zones = {z.name: z for z in cfg.zones}
        self.areas = AreaTracker(zones)
        self.portals = {p.name: PortalTracker(p) for p in cfg.portals}
        self._antennas: dict[
            tuple[str, int], tuple[ReadPointConfig | None, PortalTracker | None, int]
        ] = {}
        for rp in cfg.read_points:
            for ant in rp.antennas:
                self._antennas[ant] = (rp, None, 0)
        for p in cfg.portals:
            tracker = self.portals[p.name]
            for ant in p.inside:
                self._antennas[ant] = (None, tracker, INSIDE)
            for ant in p.outside:
                self._antennas[ant] = (None, tracker, OUTSIDE)
        settle = max([int(p.pass_gap_s * SECOND) for p in cfg.portals] or [0])
        self.aggregator = BatchAggregator(
            self.resolver,
            ZoneRules(cfg.zone_rules),
            cart_gap_us=int(cfg.cart_gap_s * SECOND),
            settle_us=settle,
            max_tags=cfg.max_pass_tags,
        )
        self.cabinets = {c.name: CabinetCycle(c, self.resolver) for c in cfg.cabinets}
        self.cold = {
            u.sensor: ColdChainMonitor(u.unit, u.sensor, u.profile) for u in cfg.cold_units
        }
        self.minutes = {
            u.sensor: MinuteSummaries(u.unit, u.sensor, u.profile.low_alarm, u.profile.high_alarm)
            for u in cfg.cold_units
        }
        self._last_housekeeping_us = 0

    def snapshot(self) -> dict[str, Any]:
        """Everything a restart must not forget, as JSON-able data."""
        return {
            "version": 1,
            "seq": self.seq,
            "areas": self.areas.export(),
            "cabinets": {
                name: None if cab.inventory is None else sorted(cab.inventory)
                for name, cab in self.cabinets.items()
            },
            "cold": {sensor: mon.export() for sensor, mon in self.cold.items()},
            "minutes": {sensor: m.export() for sensor, m in self.minutes.items()},
        }

    def quiescent(self) -> bool:
        """Nothing in flight that `snapshot` leaves out (open passes, cart groups, cabinet
        cycles, arrivals being confirmed): a snapshot taken now plus the observations after
        it rebuild exactly the state of an uninterrupted run."""
        return (
            all(p.idle() for p in self.portals.values())
            and self.aggregator.idle()
            and all(c.idle() for c in self.cabinets.values())
            and self.areas.idle()
        )

    def restore(self, snap: dict[str, Any]) -> None:
        if snap.get("version") != 1:
            return
        self.seq = max(self.seq, int(snap.get("seq", 0)))
        places = {rp.name: rp for rp in self.cfg.read_points}
        self.areas.restore(snap.get("areas", []), places)
        for name, inventory in snap.get("cabinets", {}).items():
            if name in self.cabinets and inventory is not None:
                self.cabinets[name].inventory = frozenset(inventory)
        for sensor, data in snap.get("cold", {}).items():
            if sensor in self.cold:
                self.cold[sensor].restore(data)
        for sensor, data in snap.get("minutes", {}).items():
            if sensor in self.minutes:
                self.minutes[sensor].restore(data)

    def set_commissioning(self, commissioning: Mapping[str, CommissionRecord]) -> None:
        """Swap in a new commissioning map (from the ledger); applies to batches closed later."""
        self.resolver.commissioning = commissioning

    def feed(self, obs: Observation, now_us: int | None = None) -> list[Event]:
        """Events caused by `obs`; with `now_us`, first those that time caused until then."""
        if now_us is not None:
            return self.tick(now_us) + self.feed(obs)
        if isinstance(obs, TagRead):
            return self._read(obs)
        if isinstance(obs, TemperatureSample):
            mon = self.cold.get(obs.sensor)
            if mon is None:
                self.stats.unknown_observations_total += 1
                return []
            closed = self.minutes[obs.sensor].feed(obs, valid=not mon.fault_reason(obs))
            return self._stamp([*closed, *mon.feed(obs)])
        if isinstance(obs, BadgeEvent | DoorEvent | CabinetScan):
            cab = self.cabinets.get(obs.cabinet)
            if cab is None:
                self.stats.unknown_observations_total += 1
                return []
            return self._stamp(cab.feed(obs))
        if isinstance(obs, ReaderStatus):
            self.areas.reader_status(obs.reader, obs.state == ReaderState.UP, obs.t_us)
            return self._stamp(
                [
                    ReaderStatusEvent(
                        occurred_at_us=obs.t_us,
                        reader=obs.reader,
                        state=obs.state.value,
                        reason=obs.reason,
                    )
                ]
            )
        raise TypeError(f"not an observation: {obs!r}")

    def tick(self, now_us: int) -> list[Event]:
        transitions: list[TagTransition] = []
        for portal in self.portals.values():
            transitions.extend(portal.tick(now_us))
        transitions.extend(self.areas.tick(now_us))
        out: list[Event] = []
        for tr in sorted(transitions, key=lambda t: t.last_seen_us):
            out.extend(self.aggregator.add(tr))
        out.extend(self.aggregator.tick(now_us))
        for cab in self.cabinets.values():
            out.extend(cab.tick(now_us))
        for mon in self.cold.values():
            out.extend(mon.tick(now_us))
        for minutes in self.minutes.values():
            out.extend(minutes.tick(now_us))
        if now_us - self._last_housekeeping_us > HOUR:
            self._last_housekeeping_us = now_us
            self.areas.forget_before(now_us - 24 * HOUR)
            for portal in self.portals.values():
                portal.forget_before(now_us)
        return self._stamp(out)

    def flush(self, now_us: int) -> list[Event]:
        """Everything still pending, as at shutdown or the end of a recorded stream."""
        events = self.tick(now_us)
        return events + self._stamp(self.aggregator.flush())

    def _read(self, read: TagRead) -> list[Event]:
        self.stats.reads_total += 1
        target = self._antennas.get((read.reader, read.antenna))
        if target is None:
            self.stats.unmapped_reads_total += 1
            return []
        rp, portal, side = target
        ident = self.resolver.ident(read.epc_hex)
        if portal is not None:
            transitions = portal.feed(ident, side, read.t_us, read.rssi_dbm)
        else:
            assert rp is not None
            transitions = self.areas.feed(ident, rp, read.reader, read.t_us, read.rssi_dbm)
        if not transitions:
            return []
        out: list[Event] = []
        for tr in transitions:
            out.extend(self.aggregator.add(tr))
        return self._stamp(out)

    def _stamp(self, events: Sequence[Event]) -> list[Event]:
        out: list[Event] = []
        for ev in events:
            self.seq += 1
            out.append(stamp(ev, site=self.cfg.site, gateway=self.cfg.gateway, seq=self.seq))
        return out
