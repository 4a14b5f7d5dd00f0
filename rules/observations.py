"""Plain observations that device readers hand to the rules core.

Times are integers in microseconds since the Unix epoch on the gateway's timeline
(readers correct reader clocks before building these). Nothing here does IO.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRead:
    """One inventory report line: tag `epc_hex` seen by `reader`/`antenna` at `t_us`."""

    reader: str
    antenna: int
    epc_hex: str
    t_us: int
    rssi_dbm: float | None = None
    seen_count: int = 1


class ReaderState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderStatus:
    reader: str
    state: ReaderState
    t_us: int
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BadgeEvent:
    """A user authenticated at a cabinet (badge, PIN), optionally for a case/patient."""

    cabinet: str
    user_id: str
    t_us: int
    case_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DoorEvent:
    cabinet: str
    is_open: bool
    t_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CabinetScan:
    """A full inventory scan of a cabinet. `ok=False` means the scan failed (partial/none)."""

    cabinet: str
    epcs: frozenset[str]
    t_us: int
    ok: bool = True
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TemperatureSample:
    """A temperature reading; `value_c` is None when the sensor reported a fault."""

    sensor: str
    t_us: int
    value_c: float | None
    fault: str = ""


Observation = TagRead | ReaderStatus | BadgeEvent | DoorEvent | CabinetScan | TemperatureSample

_TYPES: dict[str, type[Observation]] = {
    cls.__name__: cls
    for cls in (TagRead, ReaderStatus, BadgeEvent, DoorEvent, CabinetScan, TemperatureSample)
}


def to_json(obs: Observation) -> dict[str, Any]:
    """Plain data (the edge's journal of what the rules were fed)."""
    data: dict[str, Any] = {f.name: getattr(obs, f.name) for f in dataclasses.fields(obs)}
    if isinstance(obs, CabinetScan):
        data["epcs"] = sorted(obs.epcs)
    data["type"] = type(obs).__name__
    return data


def from_json(data: dict[str, Any]) -> Observation:
    """`to_json` back; KeyError/TypeError/ValueError when it is not one."""
    fields = dict(data)
    cls = _TYPES[fields.pop("type")]
    if cls is CabinetScan:
        fields["epcs"] = frozenset(fields["epcs"])
    if cls is ReaderStatus:
        fields["state"] = ReaderState(fields["state"])
    return cls(**fields)
