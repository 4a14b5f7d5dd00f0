"""The tamper-evident ledger's contract: how a row is encoded, how a chain record is hashed
onto the one before it, what a signed checkpoint says, and the walk that finds the first
record that does not follow. Pure: the ledger writes records with it, `audit verify` and any
outside party check them with it.

A chain is per site ("-" for hospital-wide records such as products and users). Record n of
a chain hashes, with SHA-256, the lines `prev, chain, n, table, key, op, at, content`: the
previous record's hash (64 zeros before the first), the row's table and primary key (a
canonical JSON array), `put` or `delete`, when it was written (UTC ISO 8601) and the row's
canonical JSON. Canonical JSON has sorted keys, no spaces, no nulls and no raw newlines, so
the lines cannot run into each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple

GENESIS: Final = "0" * 64
HOSPITAL: Final = "-"  # the chain of records that belong to no one site
PUT: Final = "put"
DELETE: Final = "delete"


def _datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


_ENCODE: dict[type, Callable[[Any], Any]] = {
    datetime: _datetime,  # naive: UTC
    date: date.isoformat,
    Decimal: _decimal,
    bytes: bytes.hex,
    float: repr,  # exactly as stored; JSON floats would round-trip differently
}
_AS_IS = frozenset({str, int, bool})
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_ESCAPE: Callable[[str], str] = json.encoder.encode_basestring


def _value(value: Any) -> Any:
    """One column's value as canonical JSON sees it."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    encode = _ENCODE.get(kind)
    return value if encode is None else encode(value)


def canonical(row: Mapping[str, Any], excluded: Collection[str] = ()) -> str:
    """A row's content: its columns that are not null (nor `excluded`), by name, canonical
    JSON (sorted keys, no spaces, UTF-8 as is: what `json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` writes of the encoded values)."""
    names = sorted(k for k in row if k not in excluded)
    return encode_values(RowEncoder(names).prefixes, [row[k] for k in names])


class RowEncoder:
    """`canonical` for rows of fixed columns given as value tuples in sorted column order:
    verification encodes every row, and building dicts for JSON would be most of its time."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        self.prefixes = [_ESCAPE(n) + ":" for n in self.names]

    def encode(self, values: Iterable[Any]) -> str:
        return encode_values(self.prefixes, values)


def encode_values(prefixes: Iterable[str], values: Iterable[Any]) -> str:
    out = []
    for prefix, v in zip(prefixes, values, strict=True):
        if v is None:
            continue
        kind = type(v)
        if kind is str:
            out.append(prefix + _ESCAPE(v))
        elif kind is int:
            out.append(prefix + str(v))  # what JSON writes of an int
        else:
            out.append(prefix + _JSON.encode(_value(v)))
    return "{" + ",".join(out) + "}"


def canonical_key(values: Iterable[Any]) -> str:
    """A primary key, canonical JSON: "[12]", '["04012345000016","L1"]'."""
    key = tuple(values)
    if len(key) == 1 and type(key[0]) is int:
        return f"[{key[0]}]"  # the common case, as JSON would write it
    return _JSON.encode([_value(v) for v in key])


def at_text(at: datetime) -> str:
    return str(_value(at))


def record_hash(
    prev: str, chain: str, seq: int, table: str, key: str, op: str, at: str, content: str
) -> str:
    line = "\n".join((prev, chain, str(seq), table, key, op, at, content))
    return hashlib.sha256(line.encode()).hexdigest()


class Record(NamedTuple):
    """A chain record as stored (a tuple: verification makes millions)."""

    chain: str
    seq: int
    table: str
    key: str
    op: str
    at: str
    content: str
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class Break:
    """Where a chain stops following: the first record that does not match."""

    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"chain {self.chain!r} record {self.seq}: {self.problem}"


class ChainWalk:
    """Fed one chain's records in order (from its first, or from a trusted anchor), tells
    whether each follows the one before: its number, its link and its own hash."""

    def __init__(self, chain: str, *, after_seq: int = 0, after_hash: str = GENESIS) -> None:
        self.chain = chain
        self.seq = after_seq
        self.hash = after_hash

    def feed(self, r: Record) -> Break | None:
        chain, seq, table, key, op, at, content, prev, digest = r
        if seq != self.seq + 1:
            what = "missing" if seq > self.seq + 1 else "repeated"
            return Break(self.chain, self.seq + 1, f"{what} (the next record is {seq})")
        if prev != self.hash:
            return Break(self.chain, seq, "does not link to the record before it")
        if op not in (PUT, DELETE):
            return Break(self.chain, seq, f"unknown operation {op[:20]!r}")
        if (
            chain != self.chain
            or record_hash(prev, chain, seq, table, key, op, at, content) != digest
        ):
            return Break(self.chain, seq, f"was changed ({table} {key})")
        self.seq, self.hash = seq, digest
        return None


def checkpoint_payload(chain: str, seq: int, head: str, at: str) -> bytes:
    """The bytes a checkpoint's Ed25519 signature covers: the chain head at a moment."""
    body = {"chain": chain, "seq": seq, "hash": head, "at": at}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head, as stored, published (retained MQTT) and served."""

    chain: str
    seq: int
    hash: str
    at: str
    public_key: str  # Ed25519, 32 bytes hex
    signature: str  # 64 bytes hex

    def payload(self) -> bytes:
        return checkpoint_payload(self.chain, self.seq, self.hash, self.at)

    def dumps(self) -> bytes:
        body = {
            "chain": self.chain,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "public_key": self.public_key,
            "signature": self.signature,
            "alg": "Ed25519",
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, data: bytes | str) -> Checkpoint:
        """Parses a published checkpoint; ValueError when it is not one."""
        try:
            body = json.loads(data)
            cp = cls(
                str(body["chain"]),
                int(body["seq"]),
                str(body["hash"]),
                str(body["at"]),
                str(body["public_key"]),
                str(body["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None
        for name, value, size in (
            ("hash", cp.hash, 64),
            ("public_key", cp.public_key, 64),
            ("signature", cp.signature, 128),
        ):
            if len(value) != size or any(c not in "0123456789abcdef" for c in value):
                raise ValueError(f"not a checkpoint: {name} is not {size} hex digits")
        return cp
