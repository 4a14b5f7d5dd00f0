"""The tamper-evident ledger from outside: the last signed checkpoint of each chain, for a
party that keeps its own copy and later checks the ledger against it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from central import audit_checkpoints
from central.api.deps import LedgerDep, Reader
from central.schemas import ERRORS, INVALID, CheckpointOut

CHAIN = r"^(-|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$"  # a site, or "-" (rules.audit_chain)
router = APIRouter(prefix="/audit", tags=["audit"], responses=ERRORS | INVALID)


@router.get("/checkpoints")
def checkpoints(
    ledger: LedgerDep,
    _user: Reader,
    chain: Annotated[str | None, Query(pattern=CHAIN)] = None,
) -> list[CheckpointOut]:
    """The last checkpoint of every chain (a site, or "-" for hospital-wide records), or of
    one chain."""
    with ledger.session() as s:
        found = audit_checkpoints.latest(s, chain)
    return [CheckpointOut.model_validate(asdict(c)) for c in found]
