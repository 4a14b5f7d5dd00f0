"""The commissioning map between the ledger and the edges (EPC -> GTIN, lot, expiry): the
wire payload, a retained snapshot or a retained cumulative delta since a snapshot
(`CommissioningMap`), and the edge's copy (`CommissioningState`), merged in order whatever
order the broker delivers them in. Plain data and state, no IO."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class CommissioningMap:
    """A snapshot (`base_version` None) or a cumulative delta since snapshot `base_version`;
    records map an EPC URI to {gtin, lot, expiry[, company_prefix_length]}."""

    version: int
    records: Mapping[str, Mapping[str, Any]]
    base_version: int | None = None

    @property
    def is_delta(self) -> bool:
        return self.base_version is not None

    def to_json(self) -> dict[str, Any]:
        records = {k: dict(v) for k, v in self.records.items()}
        out: dict[str, Any] = {"schema": SCHEMA, "version": self.version, "records": records}
        if self.base_version is not None:
            out["base_version"] = self.base_version
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Any) -> CommissioningMap:
        """Checked whole before any of it is used: a bad record must not leave a map
        half-updated (ValueError names what is wrong)."""
        _check(data)
        base = data.get("base_version")
        return cls(version=int(data["version"]), records=dict(data["records"]),
                   base_version=None if base is None else int(base))  # fmt: skip


@dataclass
class CommissioningState:
    version: int = 0  # of the map in use (snapshot + delta)
    snapshot_version: int = 0  # of the snapshot it is built on
    records: dict[str, Any] = field(default_factory=dict)  # epc uri -> {gtin, lot, expiry}
    pending_delta: CommissioningMap | None = None  # a delta for a snapshot not received yet

    def snapshot(self, data: CommissioningMap) -> bool:
        """A full map replaces the one in use (then a waiting delta applies); True when the
        map changed."""
        if data.is_delta:
            raise ValueError("a delta where a snapshot was expected")
        version = data.version
        if version <= self.snapshot_version:
            return False
        self.snapshot_version = self.version = version
        self.records = dict(data.records)
        pending, self.pending_delta = self.pending_delta, None
        if pending is not None:
            self.delta(pending)
        return True

    def delta(self, data: CommissioningMap) -> bool:
        """A cumulative delta since snapshot `base_version` applies to that snapshot only:
        one for an older snapshot is stale, one for a newer snapshot waits for it."""
        if data.base_version is None:
            raise ValueError("a snapshot where a delta was expected")
        base, version = data.base_version, data.version
        if base > self.snapshot_version:
            held = self.pending_delta
            if held is None or (base, version) > (held.base_version or 0, held.version):
                self.pending_delta = data  # keep the newest one waiting, not the last to come
            return False
        if base < self.snapshot_version or version <= self.version:
            return False
        self.records = self.records | dict(data.records)  # added or re-bound, never removed
        self.version = version
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "snapshot_version": self.snapshot_version,
            "records": self.records,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommissioningState:
        version = int(data.get("version", 0))
        return cls(
            version=version,
            snapshot_version=int(data.get("snapshot_version", version)),
            records=dict(data.get("records", {})),
        )


_RECORD_KEYS = frozenset({"gtin", "lot", "expiry", "company_prefix_length"})


def _check(data: Any) -> None:
    """The whole message is checked before any of it is used: a bad record must not leave
    the map half-updated."""
    if not isinstance(data, dict):
        raise ValueError("commissioning message must be a JSON object")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"unknown commissioning schema {data.get('schema')!r}")
    for key in ("version", "base_version") if "base_version" in data else ("version",):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
            raise ValueError(f"commissioning {key} must be an integer")
    records = data.get("records")
    if not isinstance(records, dict):
        raise ValueError("commissioning records must be a mapping")
    for uri, r in records.items():
        if (
            not isinstance(r, dict)
            or not set(r) <= _RECORD_KEYS
            or not isinstance(r.get("gtin"), str)
        ):
            raise ValueError(f"commissioning record of {str(uri)[:80]!r} is malformed")
        for key in ("lot", "expiry"):
            if r.get(key) is not None and not isinstance(r[key], str):
                raise ValueError(f"commissioning record of {str(uri)[:80]!r}: {key} not text")
