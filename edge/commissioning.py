"""The edge's copy of the commissioning map: a retained snapshot plus a retained cumulative
delta since that snapshot (see `central.ingest.CommissioningPublisher`), merged in order
whatever order the broker delivers them in. Plain state, no IO: the daemon feeds it the
two topics' payloads and stores what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CommissioningState:
    version: int = 0  # of the map in use (snapshot + delta)
    snapshot_version: int = 0  # of the snapshot it is built on
    records: dict[str, Any] = field(default_factory=dict)  # epc uri -> {gtin, lot, expiry}
    pending_delta: dict[str, Any] | None = None  # a delta for a snapshot not received yet

    def snapshot(self, data: dict[str, Any]) -> bool:
        """A full map replaces the one in use (then a waiting delta applies); True when the
        map changed."""
        _check(data)
        version = int(data["version"])
        if version <= self.snapshot_version:
            return False
        self.snapshot_version = self.version = version
        self.records = dict(data["records"])
        pending, self.pending_delta = self.pending_delta, None
        if pending is not None:
            self.delta(pending)
        return True

    def delta(self, data: dict[str, Any]) -> bool:
        """A cumulative delta since snapshot `base_version` applies to that snapshot only:
        one for an older snapshot is stale, one for a newer snapshot waits for it."""
        _check(data)
        base, version = int(data["base_version"]), int(data["version"])
        if base > self.snapshot_version:
            held = self.pending_delta
            if held is None or (base, version) > (held["base_version"], held["version"]):
                self.pending_delta = data  # keep the newest one waiting, not the last to come
            return False
        if base < self.snapshot_version or version <= self.version:
            return False
        self.records = self.records | data["records"]  # tags are added or re-bound, never removed
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
    if data.get("schema") != 1:
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
