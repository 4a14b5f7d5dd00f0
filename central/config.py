"""The ledger's configuration (`hwms central run --config central.yaml`), validated at start.

Unknown keys and wrong types are errors naming the key path, exit code 2, like the edge's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from hwms_common.config import ConfigError, MqttConnection, read_yaml, validate
from hwms_common.config import Model as _Model

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


def parse(data: Any, source: str = "config") -> CentralConfig:
    return validate(CentralConfig, {} if data is None else data, source)


def load(path: Path) -> CentralConfig:
    return parse(read_yaml(path), str(path))
