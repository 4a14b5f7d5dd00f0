"""The edge configuration: one YAML file, validated completely before anything starts.

Unknown keys, wrong types and dangling references (a portal naming an unknown reader
antenna, a cold unit naming an unknown sensor) are errors naming the key path and the
reason. Secrets (the MQTT password) come from a file or from systemd's
`$CREDENTIALS_DIRECTORY`, never from the YAML itself, and never reach a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from hwms_common.config import (
    ConfigError,
    MqttConnection,
    TlsConfig,
    read_secret,
    read_yaml,
    validate,
)
from hwms_common.config import Model as _Model
from readers.cabinet_protocol import Protocol
from readers.modbus_profiles import PROFILES
from rules.cabinet import CabinetConfig
from rules.coldchain import PRESETS, ColdChainProfile, preset
from rules.config import (
    MOBILITY_PRESETS,
    ColdUnitConfig,
    PortalConfig,
    ReadPointConfig,
    RulesConfig,
    ZoneConfig,
    ZoneRule,
)

__all__ = [
    "ConfigError",
    "EdgeConfig",
    "MqttConfig",
    "TlsConfig",
    "load",
    "parse",
    "read_secret",
    "read_yaml",
    "validate",
]


class MqttConfig(MqttConnection):
    client_id: str | None = None
    inflight: int = Field(20, ge=1, le=1000)
    ack_timeout_s: float = Field(30.0, gt=0)
    refused: Literal["retry", "dead_letter"] = "retry"  # what to do when the broker refuses
    # an event is forgotten when the ledger has committed it (its ack), or, for a ledger
    # that sends no acks, on the broker's PUBACK
    delete_on: Literal["ledger_ack", "puback"] = "ledger_ack"
    ledger_ack_timeout_s: float = Field(60.0, gt=0)  # then missing events are sent again


class OutboxConfig(_Model):
    path: Path = Path("hwms-outbox.db")
    max_rows: int = Field(2_000_000, ge=1000)
    max_telemetry_age_s: float = Field(7 * 86400, gt=0)
    commit_batch: int = Field(500, ge=1, le=100_000)


class MetricsConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)  # 0 = disabled


class LlrpReaderConfig(_Model):
    id: str
    host: str
    port: int = Field(5084, ge=1, le=65535)
    antennas: list[int] = Field(default_factory=lambda: [1], min_length=1)
    tx_power_dbm: float | None = None
    mode_identifier: int | None = None
    session: int = Field(2, ge=0, le=3)
    impinj_search_mode: int | None = None
    keepalive_s: float = Field(2.0, gt=0, le=3600)
    dead_after_s: float = Field(5.0, gt=0, le=7200)
    max_frame_bytes: int = Field(1 << 20, ge=1 << 16, le=1 << 28)
    hold_reports: bool = True  # the reader keeps reads made while the edge is away

    @model_validator(mode="after")
    def _two_keepalives_before_death(self) -> LlrpReaderConfig:
        if self.dead_after_s < 2 * self.keepalive_s:
            raise ValueError(
                "dead_after_s must be at least twice keepalive_s: one late keepalive is not"
                " a dead reader"
            )
        return self


class CabinetReaderConfig(_Model):
    id: str
    url: str
    protocol: Protocol
    address: int = Field(0, ge=0, le=255)
    shelves: list[int] = Field(default_factory=list)
    zone: str
    badge_serial: str | None = None
    badge_fifo: Path | None = None
    door_gpio_file: Path | None = None
    lock_gpio_file: Path | None = None
    door_mqtt_topic: str | None = None
    lock_mqtt_topic: str | None = None
    scans_after_close: int = Field(2, ge=1, le=10)
    door_ajar_s: float = Field(60.0, gt=0)
    # a second, different badge this soon after the first witnesses that session
    witness_window_s: float = Field(120.0, gt=0)
    poll_interval_s: float = Field(0.2, gt=0)

    @model_validator(mode="after")
    def _one_door_one_badge(self) -> CabinetReaderConfig:
        if (self.door_gpio_file is None) == (self.door_mqtt_topic is None):
            raise ValueError("give exactly one of door_gpio_file, door_mqtt_topic")
        if self.badge_serial is not None and self.badge_fifo is not None:
            raise ValueError("give at most one of badge_serial, badge_fifo")
        return self


class ModbusSensorConfig(_Model):
    id: str
    device_id: int = Field(ge=0, le=247)
    profile: str
    channel: str = "temperature"

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        if v not in PROFILES:
            raise ValueError(f"unknown profile {v!r} (known: {', '.join(sorted(PROFILES))})")
        return v

    @model_validator(mode="after")
    def _known_channel(self) -> ModbusSensorConfig:
        PROFILES[self.profile].channel(self.channel)
        return self


class ModbusBusConfig(_Model):
    id: str
    url: str
    interval_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(0.5, gt=0)
    retries: int = Field(1, ge=0, le=5)
    sensors: list[ModbusSensorConfig] = Field(min_length=1)


class ReadersConfig(_Model):
    llrp: list[LlrpReaderConfig] = Field(default_factory=list)
    cabinets: list[CabinetReaderConfig] = Field(default_factory=list)
    modbus: list[ModbusBusConfig] = Field(default_factory=list)


class ZoneModel(_Model):
    name: str
    absence_timeout_s: float = Field(300.0, gt=0)
    min_reads: int = Field(2, ge=1)
    confirm_window_s: float = Field(2.0, gt=0)
    rssi_floor_dbm: float | None = None
    mobility: Literal["asset_tracking", "shelf"] = "asset_tracking"


class ReadPointModel(_Model):
    name: str
    zone: str
    antennas: list[str] = Field(min_length=1)  # "reader:antenna"


class PortalModel(_Model):
    name: str
    inside: list[str] = Field(min_length=1)
    outside: list[str] = Field(min_length=1)
    inside_zone: str
    outside_zone: str
    min_reads: int = Field(2, ge=1)
    pass_gap_s: float = Field(2.0, gt=0)
    holdoff_s: float = Field(5.0, ge=0)
    min_separation_s: float = Field(0.3, gt=0)
    min_confidence: float = Field(0.5, ge=0, le=1)
    strong_rssi_dbm: float | None = None
    rssi_floor_dbm: float | None = None


class ZoneRuleModel(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_zone: str | None = Field(alias="from")
    to_zone: str | None = Field(alias="to")
    biz_step: str


class ColdUnitModel(_Model):
    unit: str
    sensor: str
    profile: str = "fridge"
    overrides: dict[str, float | None] = Field(default_factory=dict)

    @field_validator("profile")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(
                f"unknown cold-chain profile {v!r} (known: {', '.join(sorted(PRESETS))})"
            )
        return v

    @field_validator("overrides")
    @classmethod
    def _known_fields(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        allowed = set(ColdChainProfile.__dataclass_fields__) - {"name", "sentinels"}
        unknown = sorted(set(v) - allowed)
        if unknown:
            raise ValueError(f"unknown profile settings {unknown}")
        return v


class EdgeConfig(_Model):
    site: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    gateway: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    readers: ReadersConfig = Field(default_factory=ReadersConfig)
    zones: list[ZoneModel] = Field(default_factory=list)
    read_points: list[ReadPointModel] = Field(default_factory=list)
    portals: list[PortalModel] = Field(default_factory=list)
    zone_rules: list[ZoneRuleModel] = Field(default_factory=list)
    cold_units: list[ColdUnitModel] = Field(default_factory=list)
    cart_gap_s: float = Field(3.0, gt=0)
    max_pass_tags: int = Field(5000, ge=1)
    tick_s: float = Field(0.1, gt=0, le=5)
    # at start, time-driven rules wait (at most this long) for every LLRP reader to come up
    # and hand over what it held while the edge was away, so no pass closes half-read
    catch_up_s: float = Field(10.0, ge=0)
    snapshot_interval_s: float = Field(30.0, gt=0)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"hwms-{self.site}-{self.gateway}"

    @model_validator(mode="after")
    def _references(self) -> EdgeConfig:
        problems: list[str] = []
        readers = {r.id: r for r in self.readers.llrp}
        all_ids = [r.id for r in self.readers.llrp] + [c.id for c in self.readers.cabinets]
        all_ids += [b.id for b in self.readers.modbus]
        for dup in sorted({i for i in all_ids if all_ids.count(i) > 1}):
            problems.append(f"readers: id {dup!r} is used twice")
        zones = {z.name for z in self.zones}

        def check_antenna(path: str, ref: str) -> None:
            reader, sep, number = ref.partition(":")
            if not sep or not number.isdigit():
                problems.append(f"{path}: {ref!r} is not 'reader:antenna'")
            elif reader not in readers:
                problems.append(f"{path}: unknown reader {reader!r}")
            elif int(number) not in readers[reader].antennas:
                problems.append(f"{path}: reader {reader!r} has no configured antenna {number}")

        for i, rp in enumerate(self.read_points):
            if rp.zone not in zones:
                problems.append(f"read_points[{i}].zone: unknown zone {rp.zone!r}")
            for j, ref in enumerate(rp.antennas):
                check_antenna(f"read_points[{i}].antennas[{j}]", ref)
        for i, p in enumerate(self.portals):
            for side in ("inside", "outside"):
                for j, ref in enumerate(getattr(p, side)):
                    check_antenna(f"portals[{i}].{side}[{j}]", ref)
        sensors = {s.id for b in self.readers.modbus for s in b.sensors}
        for i, u in enumerate(self.cold_units):
            if u.sensor not in sensors:
                problems.append(f"cold_units[{i}].sensor: unknown Modbus sensor {u.sensor!r}")
        if problems:
            raise ValueError("; ".join(problems))
        try:
            self.rules_config()
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
        return self

    # --- what the rest of the system needs -----------------------------------------------

    def rules_config(self) -> RulesConfig:
        def ant(ref: str) -> tuple[str, int]:
            reader, _, number = ref.partition(":")
            return reader, int(number)

        return RulesConfig(
            site=self.site,
            gateway=self.gateway,
            zones=tuple(
                ZoneConfig(
                    name=z.name,
                    absence_timeout_s=z.absence_timeout_s,
                    min_reads=z.min_reads,
                    confirm_window_s=z.confirm_window_s,
                    rssi_floor_dbm=z.rssi_floor_dbm,
                    mobility=MOBILITY_PRESETS[z.mobility],
                )
                for z in self.zones
            ),
            read_points=tuple(
                ReadPointConfig(
                    name=r.name, zone=r.zone, antennas=tuple(ant(a) for a in r.antennas)
                )
                for r in self.read_points
            ),
            portals=tuple(
                PortalConfig(
                    name=p.name,
                    inside=tuple(ant(a) for a in p.inside),
                    outside=tuple(ant(a) for a in p.outside),
                    inside_zone=p.inside_zone,
                    outside_zone=p.outside_zone,
                    min_reads=p.min_reads,
                    pass_gap_s=p.pass_gap_s,
                    holdoff_s=p.holdoff_s,
                    min_separation_s=p.min_separation_s,
                    min_confidence=p.min_confidence,
                    strong_rssi_dbm=p.strong_rssi_dbm,
                    rssi_floor_dbm=p.rssi_floor_dbm,
                )
                for p in self.portals
            ),
            zone_rules=tuple(
                ZoneRule(from_zone=r.from_zone, to_zone=r.to_zone, biz_step=r.biz_step)
                for r in self.zone_rules
            ),
            cabinets=tuple(
                CabinetConfig(
                    name=c.id,
                    zone=c.zone,
                    scans_after_close=c.scans_after_close,
                    door_ajar_s=c.door_ajar_s,
                    witness_window_s=c.witness_window_s,
                )
                for c in self.readers.cabinets
            ),
            cold_units=tuple(
                ColdUnitConfig(
                    unit=u.unit, sensor=u.sensor, profile=preset(u.profile, **u.overrides)
                )
                for u in self.cold_units
            ),
            cart_gap_s=self.cart_gap_s,
            max_pass_tags=self.max_pass_tags,
        )


def parse(data: Any, source: str = "config") -> EdgeConfig:
    return validate(EdgeConfig, data, source)


def load(path: Path) -> EdgeConfig:
    return parse(read_yaml(path), str(path))
