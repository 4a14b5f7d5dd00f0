"""The MQTT topic tree between edges and the ledger: built and parsed here only.

    hwms/v1/<site>/<gateway>/events/<kind>          events (QoS 1, from the edge's outbox)
    hwms/v1/<site>/<gateway>/status                 gateway online/offline (retained, Will)
    hwms/v1/<site>/<gateway>/readers/<id>/status    reader state (retained)
    hwms/v1/<site>/<gateway>/cmd/<action>           commands to the edge
    hwms/v1/<site>/<gateway>/ack                    the ledger's committed seqs (retained)
    hwms/v1/<site>/commissioning[/delta]            the commissioning map (retained)
    hwms/v1/central/ledger/status                   the ledger online/offline (retained, Will)
    hwms/v1/central/alerts/<kind>                   alert notifications
    hwms/v1/central/audit/<chain>                   signed audit checkpoints (retained)

A site or gateway is one topic level (`rules.events.NAME`), so a parsed topic is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PREFIX: Final = "hwms/v1"
EVENTS_FILTER: Final = f"{PREFIX}/+/+/events/#"
STATUS_FILTER: Final = f"{PREFIX}/+/+/status"
ALERTS_PREFIX: Final = f"{PREFIX}/central/alerts"
LEDGER_STATUS_TOPIC: Final = f"{PREFIX}/central/ledger/status"
AUDIT_PREFIX: Final = f"{PREFIX}/central/audit"


def gateway_base(site: str, gateway: str) -> str:
    return f"{PREFIX}/{site}/{gateway}"


def event_topic(site: str, gateway: str, kind: str) -> str:
    return f"{gateway_base(site, gateway)}/events/{kind}"


def status_topic(site: str, gateway: str) -> str:
    return f"{gateway_base(site, gateway)}/status"


def reader_status_topic(site: str, gateway: str, reader: str) -> str:
    return f"{gateway_base(site, gateway)}/readers/{reader}/status"


def command_topic(site: str, gateway: str, action: str = "#") -> str:
    return f"{gateway_base(site, gateway)}/cmd/{action}"


def ack_topic(site: str, gateway: str) -> str:
    return f"{gateway_base(site, gateway)}/ack"


def commissioning_topic(site: str) -> str:
    return f"{PREFIX}/{site}/commissioning"


def commissioning_delta_topic(site: str) -> str:
    return f"{commissioning_topic(site)}/delta"


def alert_topic(kind: str) -> str:
    return f"{ALERTS_PREFIX}/{kind}"


def audit_checkpoint_topic(chain: str) -> str:
    """A chain's last signed checkpoint (`rules.audit_chain.Checkpoint`), retained."""
    return f"{AUDIT_PREFIX}/{chain}"


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    """A topic under one gateway: `leaf` is what follows the gateway (`events`, `status`,
    `readers`, `cmd`, `ack`), `rest` the levels after the leaf."""

    site: str
    gateway: str
    leaf: str
    rest: tuple[str, ...] = ()

    @property
    def kind(self) -> str | None:
        """The event kind of an events topic."""
        return self.rest[0] if self.leaf == "events" and len(self.rest) == 1 else None


def parse_gateway_topic(topic: str) -> GatewayTopic | None:
    """`hwms/v1/<site>/<gateway>/<leaf>[/...]`, or None for any other topic (the central
    tree and the commissioning topics included)."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != PREFIX or parts[2] == "central":
        return None
    if parts[4] == "commissioning" or parts[3] == "commissioning":
        return None
    return GatewayTopic(site=parts[2], gateway=parts[3], leaf=parts[4], rest=tuple(parts[5:]))
