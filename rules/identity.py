"""Who a tag is: decoded identity (cached per EPC) and its batch from commissioning.

A tag whose EPC bank is not a GS1 EPC keeps its raw URI (`urn:epc:raw:...`) as its identity,
so it is tracked and reported like any other tag, flagged `non_gs1`, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from rules.epc import EpcError, decode, gs1_check_digit, raw_uri
from rules.events import Batch


@dataclass(frozen=True, slots=True, kw_only=True)
class CommissionRecord:
    """What commissioning (receiving, tagging station) bound to an EPC."""

    gtin: str
    lot: str | None
    expiry: str | None = None  # ISO date
    company_prefix_length: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TagIdent:
    uri: str
    gtin: str | None
    company_prefix_length: int | None
    non_gs1: bool
    error: str = ""


class IdentityResolver:
    """Decode-once cache from EPC hex to identity, plus the commissioning lookup."""

    def __init__(
        self, commissioning: Mapping[str, CommissionRecord] | None = None, cache_size: int = 8192
    ) -> None:
        self.commissioning: Mapping[str, CommissionRecord] = commissioning or {}
        self._cache: dict[str, TagIdent] = {}
        self._cache_size = cache_size
        self.non_gs1_total = 0

    def ident(self, epc_hex: str) -> TagIdent:
        found = self._cache.get(epc_hex)
        if found is not None:
            return found
        try:
            e = decode(epc_hex)
            found = TagIdent(
                uri=e.uri,
                gtin=e.gtin,
                company_prefix_length=len(e.company_prefix) if e.gtin else None,
                non_gs1=False,
            )
        except EpcError as exc:
            self.non_gs1_total += 1
            found = TagIdent(
                uri=raw_uri(epc_hex),
                gtin=None,
                company_prefix_length=None,
                non_gs1=True,
                error=str(exc),
            )
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[epc_hex] = found
        return found

    def batch_of_uri(self, uri: str) -> tuple[Batch, bool]:
        return self.batch(ident_from_uri(uri))

    def batch(self, ident: TagIdent) -> tuple[Batch, bool]:
        """The tag's batch and whether it is uncommissioned (lot unknown)."""
        rec = self.commissioning.get(ident.uri)
        if rec is None:
            return Batch(
                gtin=ident.gtin, lot=None, company_prefix_length=ident.company_prefix_length
            ), True
        return (
            Batch(
                gtin=ident.gtin or rec.gtin,
                lot=rec.lot,
                expiry=rec.expiry,
                company_prefix_length=ident.company_prefix_length or rec.company_prefix_length,
            ),
            rec.lot is None,
        )


def ident_from_uri(uri: str) -> TagIdent:
    """Identity from a pure-identity URI (what persisted state keeps), GTIN for SGTINs."""
    if uri.startswith("urn:epc:id:sgtin:"):
        parts = uri[len("urn:epc:id:sgtin:") :].split(".")
        if (
            len(parts) == 3
            and parts[0].isdigit()
            and parts[1].isdigit()
            and len(parts[0] + parts[1]) == 13
        ):
            cp, item = parts[0], parts[1]
            body = item[0] + cp + item[1:]
            return TagIdent(
                uri=uri,
                gtin=body + gs1_check_digit(body),
                company_prefix_length=len(cp),
                non_gs1=False,
            )
    return TagIdent(
        uri=uri, gtin=None, company_prefix_length=None, non_gs1=uri.startswith("urn:epc:raw:")
    )


T = TypeVar("T")


def group_by_batch(
    items: Iterable[T], batch_of: Callable[[T], tuple[Batch, bool]]
) -> list[tuple[Batch, bool, list[T]]]:
    """Items grouped by (batch, uncommissioned), ordered by GTIN and lot: one movement each."""
    groups: dict[tuple[Batch, bool], list[T]] = defaultdict(list)
    for item in items:
        groups[batch_of(item)].append(item)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0].gtin or "", kv[0][0].lot or ""))
    return [(batch, uncommissioned, members) for (batch, uncommissioned), members in ordered]
