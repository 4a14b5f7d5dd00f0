"""The ledger's configuration (`hwms central run --config central.yaml`), validated at start.

Unknown keys and wrong types are errors naming the key path, exit code 2, like the edge's.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from hwms_common.config import ConfigError, MqttConnection, read_secret, read_yaml, validate
from hwms_common.config import Model as _Model
from rules.requisitions import ApprovalLevel, ApprovalPolicy, Priority

__all__ = ["CentralConfig", "ConfigError", "load", "parse"]


class MqttConfig(MqttConnection):
    client_id: str = "hwms-ledger-1"
    share_group: str = "ledger"  # "" for a plain subscription (one ledger only); v5 only

    @model_validator(mode="before")
    @classmethod
    def _ca_file_means_tls(cls, data: Any) -> Any:
        """`ca_file:` (before `tls:` was shared with the edge) is `tls: {ca_file: ...}`."""
        if isinstance(data, dict) and "ca_file" in data:
            data = dict(data)
            ca_file = data.pop("ca_file")
            if ca_file is not None:
                if "tls" in data:
                    raise ValueError("give tls.ca_file, not both ca_file and tls")
                data["tls"] = {"ca_file": ca_file}
        return data


class TierConfig(_Model):
    after_s: float = Field(gt=0)
    name: str


class NotifyConfig(_Model):
    mqtt: bool = True  # publish on hwms/v1/central/alerts/<kind>
    webhook_url: str | None = None
    renotify_s: float = Field(900.0, gt=0)
    escalation: tuple[TierConfig, ...] = ()


class AgvConfig(_Model):
    adapter: Literal["log", "vda5050"] = "log"
    interface: str = "uagv"
    manufacturer: str = ""
    serial_number: str = ""


class ApprovalLevelConfig(_Model):
    """One level of the approval chain (`rules.requisitions.ApprovalLevel`)."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    role: Literal["head", "quality", "purchasing", "storekeeper", "admin"]
    min_value: Decimal | None = Field(None, ge=0)  # total value of the requisition
    classes: tuple[str, ...] = ()  # high_value, controlled or a product category
    priorities: tuple[Literal["routine", "urgent", "emergency"], ...] = ()


class BookingApprovalConfig(_Model):
    """Returns, losses, scrap and adjustments that move stock only once approved: by a user
    of `role` when the kind is among `kinds` (empty: any), the value is at least
    `min_value` (when given) and the reason holds one of `reasons` (when given)."""

    kinds: tuple[Literal["return", "loss", "scrap", "adjustment"], ...] = ()
    min_value: Decimal | None = Field(None, ge=0)
    reasons: tuple[str, ...] = ()
    role: Literal["head", "quality", "purchasing", "storekeeper", "admin"]

    def applies(self, kind: str, value: Decimal, reason: str) -> bool:
        text = reason.casefold()
        return (
            (not self.kinds or kind in self.kinds)
            and (self.min_value is None or value >= self.min_value)
            and (not self.reasons or any(w.casefold() in text for w in self.reasons))
        )


class RequisitionConfig(_Model):
    # the approval chain, in order; by default the requesting department's head
    approval: tuple[ApprovalLevelConfig, ...] = (ApprovalLevelConfig(name="head", role="head"),)
    emergency_bypass: bool = True  # approved at once, reviewed afterwards
    approval_alert_s: float = Field(3600.0, gt=0)  # waiting longer: an alert (it escalates)
    receipt_alert_s: float = Field(4 * 3600.0, gt=0)  # issued, nothing arrived: flagged
    default_store: str | None = None  # where goods come from when `supply` names no store
    # a second person confirms issues and cabinet takes of these product classes; a take
    # not confirmed within witness_alert_s raises an alert
    two_person_classes: tuple[str, ...] = ("controlled", "high_value")
    witness_alert_s: float = Field(900.0, gt=0)
    # bookings that wait for an approval (the first rule that applies); none by default
    bookings: tuple[BookingApprovalConfig, ...] = ()
    # approving scrap or a loss worth this much or more is signed (password and reason);
    # None: never
    signed_bookings_min_value: Decimal | None = Field(Decimal(0), ge=0)

    @model_validator(mode="after")
    def _names_once(self) -> RequisitionConfig:
        names = [lvl.name for lvl in self.approval]
        if len(set(names)) != len(names):
            raise ValueError("each approval level needs its own name")
        return self

    def policy(self) -> ApprovalPolicy:
        return _policy(self.approval, emergency_bypass=self.emergency_bypass)


class SmtpConfig(_Model):
    """Where purchase orders are e-mailed from (plain SMTP, STARTTLS or implicit TLS)."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    sender: str = Field("purchasing@hospital.invalid", pattern=r"^[^@\s]+@[^@\s]+$")
    username: str | None = None
    password_file: Path | None = None  # a credentials file, never the password itself
    timeout_s: float = Field(15.0, gt=0)


class ToleranceConfig(_Model):
    """A delivered line may differ this much from its order before a person accepts it."""

    quantity_pct: Decimal = Field(Decimal(0), ge=0, le=100)
    price_pct: Decimal = Field(Decimal(0), ge=0, le=100)
    min_shelf_life_days: int = Field(0, ge=0, le=3650)


class PurchasingConfig(_Model):
    # approvals of a purchase order; by default one by purchasing, more by value
    approval: tuple[ApprovalLevelConfig, ...] = (
        ApprovalLevelConfig(name="purchasing", role="purchasing"),
    )
    store: str | None = None  # where deliveries go unless an order names another location
    tolerance: ToleranceConfig = ToleranceConfig()
    smtp: SmtpConfig | None = None  # None: orders are not e-mailed (download them instead)
    buyer: str = "hwms hospital"  # the ordering party's name on a purchase order
    # proposals: a service level per product class (high_value, controlled, a category);
    # the highest of a product's classes applies, `default` to the rest
    service_levels: dict[str, float] = Field(
        default_factory=lambda: {"default": 0.95, "high_value": 0.98, "controlled": 0.99}
    )
    review_days: int = Field(7, ge=1, le=365)  # how often levels are reviewed and ordered
    propose_every_s: float = Field(86400.0, gt=0)  # the ledger proposes this often
    # a ship notice's tags read at the gate book once no new one came for this long
    gate_settle_s: float = Field(120.0, ge=0, le=3600)
    forecast_history_days: int = Field(365, ge=28, le=3650)
    holidays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _sane(self) -> PurchasingConfig:
        names = [lvl.name for lvl in self.approval]
        if len(set(names)) != len(names):
            raise ValueError("each approval level needs its own name")
        if any(not 0.5 <= v < 1 for v in self.service_levels.values()):
            raise ValueError("a service level is at least 0.5 and below 1")
        return self

    def policy(self) -> ApprovalPolicy:
        return _policy(self.approval, emergency_bypass=False)

    def service_level(self, classes: set[str]) -> float:
        levels = [v for k, v in self.service_levels.items() if k in classes]
        return max(levels) if levels else self.service_levels.get("default", 0.95)


def _policy(levels: tuple[ApprovalLevelConfig, ...], *, emergency_bypass: bool) -> ApprovalPolicy:
    return ApprovalPolicy(
        levels=tuple(
            ApprovalLevel(
                name=lvl.name, role=lvl.role, min_value=lvl.min_value,
                classes=frozenset(lvl.classes),
                priorities=frozenset(Priority(p) for p in lvl.priorities),
            )
            for lvl in levels
        ),
        emergency_bypass=emergency_bypass,
    )  # fmt: skip


class FhirSubscription(_Model):
    """A system that wants resources as they happen: each is PUT to `<url>/<type>/<id>`
    (idempotent, so a retry never makes a second copy)."""

    url: str = Field(pattern=r"^https?://\S+$")
    resources: tuple[Literal["SupplyDelivery", "DeviceDispense"], ...] = (
        "SupplyDelivery",
        "DeviceDispense",
    )
    timeout_s: float = Field(10.0, gt=0, le=300)


class FhirConfig(_Model):
    subscriptions: tuple[FhirSubscription, ...] = ()
    max_attempts: int = Field(8, ge=1, le=100)  # then the push waits in the dead letters
    retry_s: float = Field(30.0, gt=0)  # the first retry; each next one waits twice as long


class AuditConfig(_Model):
    """The tamper-evident ledger's checkpoints: signed with an Ed25519 key (PEM, PKCS#8)
    from a file or a systemd credential; without one, no checkpoints are made."""

    signing_key_file: Path | None = None
    signing_key_credential: str | None = None  # a name under $CREDENTIALS_DIRECTORY
    checkpoint_every_s: float = Field(300.0, gt=0)

    def signing_key(self) -> str | None:
        return read_secret(self.signing_key_file, self.signing_key_credential)


class CentralConfig(_Model):
    db: str = "sqlite:///hwms.db"
    mqtt: MqttConfig = MqttConfig()
    sites: tuple[str, ...] = ()  # commissioning map published to these
    # "<site>/<gateway>" allowed to send events; empty: any (a new one is logged)
    gateways: tuple[str, ...] = ()
    metrics_port: int = Field(0, ge=0, le=65535)  # 0: off
    evaluate_every_s: float = Field(60.0, gt=0)  # scheduled alert evaluation
    # a hole in a gateway's sequence numbers (later events arrived) older than this alerts
    seq_gap_alert_s: float = Field(300.0, gt=0)
    notify_every_s: float = Field(5.0, gt=0)
    expiry_horizons_days: tuple[int, ...] = (90, 30, 7)
    notify: NotifyConfig = NotifyConfig()
    agv: AgvConfig = AgvConfig()
    # replenishment: location code -> the warehouse location that supplies it
    supply: dict[str, str] = Field(default_factory=dict)
    # the cold-chain record (per-minute temperature summaries) is kept this long
    temperature_retention_days: int = Field(365, ge=1, le=36500)
    requisitions: RequisitionConfig = RequisitionConfig()
    purchasing: PurchasingConfig = PurchasingConfig()
    fhir: FhirConfig = FhirConfig()
    audit: AuditConfig = AuditConfig()


def parse(data: Any, source: str = "config") -> CentralConfig:
    return validate(CentralConfig, {} if data is None else data, source)


def load(path: Path) -> CentralConfig:
    return parse(read_yaml(path), str(path))
