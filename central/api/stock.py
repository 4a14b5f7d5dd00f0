"""Where things are: stock per location and batch, a batch's trace and recall lock, an
item's history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from central import accounts, signatures
from central.accounts import Principal
from central.api.deps import GtinPath, LedgerDep, Locker, LotPath, Reader
from central.errors import NotFound
from central.ledger import Ledger
from central.schemas import (
    ERRORS,
    INVALID,
    LOT_PATTERN,
    NOT_FOUND,
    BatchLock,
    EpcHistory,
    SignIn,
    StockLine,
    Trace,
)

router = APIRouter(tags=["stock"], responses=ERRORS | INVALID)


@router.get("/stock")
def stock(
    ledger: LedgerDep,
    user: Reader,
    location: Annotated[str | None, Query(max_length=200)] = None,
    gtin: Annotated[str | None, Query(pattern=r"^[0-9]{1,14}$")] = None,
    lot: Annotated[str | None, Query(pattern=LOT_PATTERN)] = None,
) -> list[StockLine]:
    """Stock per location and batch; a location covers the locations below it. A scoped
    user sees the locations of their sites and departments."""
    rows = ledger.stock(location, gtin, lot)
    with ledger.session() as s:
        outside = set(accounts.outside_scope(s, user, [r["location"] for r in rows]))
    return [StockLine(**row) for row in rows if row["location"] not in outside]


@router.get("/batches/{gtin}/{lot}/trace", responses=NOT_FOUND)
def trace(gtin: GtinPath, lot: LotPath, ledger: LedgerDep, _: Reader) -> Trace:
    """Where every unit of a batch is and every movement it made (the recall trace)."""
    result = ledger.trace(gtin.zfill(14), lot)
    if not result["found"]:
        raise NotFound(f"no batch {gtin} lot {lot}")
    return Trace.model_validate(result)


def _lock(ledger: Ledger, gtin: str, lot: str, user: Principal, body: SignIn,
          locked: bool) -> BatchLock:  # fmt: skip
    signed = signatures.sign(ledger.session.begin, user, body.password, body.reason,
                             ledger.clock.now())  # fmt: skip
    ledger.lock_batch(gtin.zfill(14), lot, signed=signed, locked=locked)
    return BatchLock(gtin=gtin.zfill(14), lot=lot, locked=locked)


@router.post("/batches/{gtin}/{lot}/lock", responses=NOT_FOUND)
def lock(gtin: GtinPath, lot: LotPath, body: SignIn, ledger: LedgerDep,
         user: Locker) -> BatchLock:  # fmt: skip
    """Recall lock, signed (the password again and a reason): any later movement of the
    batch raises an alert."""
    return _lock(ledger, gtin, lot, user, body, True)


@router.post("/batches/{gtin}/{lot}/unlock", responses=NOT_FOUND)
def unlock(gtin: GtinPath, lot: LotPath, body: SignIn, ledger: LedgerDep,
           user: Locker) -> BatchLock:  # fmt: skip
    """Lift a recall lock, signed like the lock."""
    return _lock(ledger, gtin, lot, user, body, False)


@router.get("/epcs/{epc}", responses=NOT_FOUND)
def epc_history(
    epc: Annotated[str, Path(max_length=300)], ledger: LedgerDep, _: Reader
) -> EpcHistory:
    """One item's story: its batch, where it is, every movement of it."""
    result = ledger.epc_history(epc)
    if not result["found"]:
        raise NotFound("no such EPC in the ledger")
    return EpcHistory.model_validate(result)
