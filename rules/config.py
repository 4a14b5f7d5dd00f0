"""Settings of the rules core as plain frozen values (the edge builds them from YAML).

Durations are in seconds here for people; the trackers convert them to microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.cabinet import CabinetConfig
from rules.coldchain import ColdChainProfile

Antenna = tuple[str, int]  # (reader id, antenna port)


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityProfile:
    """EdgeX-style RSSI hysteresis for moving a tag between nearby read points.

    A tag moves to a new read point when the mean RSSI there beats the current one by
    `offset(dt) = min(threshold, slope * dt_ms + (threshold - slope * holdoff_ms))`, where
    `dt` is the time since the tag was last read at its current place.
    """

    slope_db_per_ms: float = -0.008
    threshold_db: float = 6.0
    holdoff_ms: float = 500.0
    buffer_size: int = 20
    min_samples: int = 2

    def offset_db(self, dt_ms: float) -> float:
        return min(
            self.threshold_db,
            self.slope_db_per_ms * dt_ms
            + (self.threshold_db - self.slope_db_per_ms * self.holdoff_ms),
        )


MOBILITY_PRESETS: dict[str, MobilityProfile] = {
    "asset_tracking": MobilityProfile(),
    "shelf": MobilityProfile(slope_db_per_ms=-0.0005, holdoff_ms=60_000.0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneConfig:
    """A named area. Doorways forget tags in seconds, shelves in minutes."""

    name: str
    absence_timeout_s: float = 300.0
    min_reads: int = 2
    confirm_window_s: float = 2.0
    rssi_floor_dbm: float | None = None
    mobility: MobilityProfile = field(default_factory=MobilityProfile)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPointConfig:
    """A named place made of one or more antennas (no movement between them)."""

    name: str
    zone: str
    antennas: tuple[Antenna, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalConfig:
    """A doorway with an inside and an outside antenna group.

    A pass is the run of reads of one tag with no silence longer than `pass_gap_s`.
    Its direction is decided when it ends, from the order in which the two groups first
    and last saw the tag; `min_separation_s` is the time between the groups that earns full
    confidence, below `min_confidence` the pass is reported as UNKNOWN.
    """

    name: str
    inside: tuple[Antenna, ...]
    outside: tuple[Antenna, ...]
    inside_zone: str
    outside_zone: str
    min_reads: int = 2
    pass_gap_s: float = 2.0
    holdoff_s: float = 5.0
    min_separation_s: float = 0.3
    min_confidence: float = 0.5
    strong_rssi_dbm: float | None = None
    rssi_floor_dbm: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneRule:
    """A transition between zones that means a business step. `*` matches any zone and
    `None` means "no zone" (a tag appearing from or disappearing to nowhere)."""

    from_zone: str | None
    to_zone: str | None
    biz_step: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdUnitConfig:
    """A monitored fridge/freezer and the sensor that measures it."""

    unit: str
    sensor: str
    profile: ColdChainProfile


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesConfig:
    site: str
    gateway: str
    zones: tuple[ZoneConfig, ...] = ()
    read_points: tuple[ReadPointConfig, ...] = ()
    portals: tuple[PortalConfig, ...] = ()
    zone_rules: tuple[ZoneRule, ...] = ()
    cabinets: tuple[CabinetConfig, ...] = ()
    cold_units: tuple[ColdUnitConfig, ...] = ()
    cart_gap_s: float = 3.0
    max_pass_tags: int = 5000

    def __post_init__(self) -> None:
        zones = {z.name for z in self.zones}
        seen: dict[Antenna, str] = {}
        for rp in self.read_points:
            if rp.zone not in zones:
                raise ValueError(f"read point {rp.name!r} names unknown zone {rp.zone!r}")
            for ant in rp.antennas:
                if ant in seen:
                    raise ValueError(f"antenna {ant} is used by {seen[ant]!r} and {rp.name!r}")
                seen[ant] = rp.name
        for p in self.portals:
            for ant in (*p.inside, *p.outside):
                if ant in seen:
                    raise ValueError(f"antenna {ant} is used by {seen[ant]!r} and {p.name!r}")
                seen[ant] = p.name
            if not p.inside or not p.outside:
                raise ValueError(f"portal {p.name!r} needs inside and outside antennas")
        sensors = [u.sensor for u in self.cold_units]
        if len(sensors) != len(set(sensors)):
            raise ValueError("a sensor may monitor only one cold unit")

    def zone(self, name: str) -> ZoneConfig:
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)
