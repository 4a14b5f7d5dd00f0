"""Reports over a period (default: the last 30 days) or a horizon in days."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from central import reports
from central.api.deps import Days, HospitalReader, LedgerDep, Reader
from central.clock import period
from central.schemas import (
    ERRORS,
    INVALID,
    ConsumptionLine,
    Day,
    Kpis,
    NearExpiry,
    SlowMover,
    TopConsumer,
)

router = APIRouter(prefix="/reports", tags=["reports"], responses=ERRORS | INVALID)


@router.get("/consumption")
def consumption(
    ledger: LedgerDep, user: Reader, start: Day | None = None, end: Day | None = None
) -> list[ConsumptionLine]:
    """Items consumed (cabinet takes minus returns) per department and product, with value;
    a user scoped to departments sees theirs."""
    with ledger.session() as s:
        rows = reports.consumption(s, *period(start, end, ledger.clock.today()))
    if user.departments:
        rows = [r for r in rows if r["department"] in user.departments]
    return [ConsumptionLine.model_validate(r) for r in rows]


@router.get("/top-consumers")
def top_consumers(
    ledger: LedgerDep,
    _: HospitalReader,
    start: Day | None = None,
    end: Day | None = None,
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> list[TopConsumer]:
    with ledger.session() as s:
        rows = reports.top_consumers(s, *period(start, end, ledger.clock.today()), n)
    return [TopConsumer.model_validate(r) for r in rows]


@router.get("/slow-movers")
def slow_movers(ledger: LedgerDep, _: HospitalReader, days: Days = 90) -> list[SlowMover]:
    with ledger.session() as s:
        rows = reports.slow_movers(s, ledger.clock.now(), days)
    return [SlowMover.model_validate(r) for r in rows]


@router.get("/near-expiry")
def near_expiry(ledger: LedgerDep, _: HospitalReader, days: Days = 90) -> NearExpiry:
    with ledger.session() as s:
        return NearExpiry.model_validate(reports.near_expiry_value(s, ledger.clock.today(), days))


@router.get("/kpis")
def kpis(
    ledger: LedgerDep, _: HospitalReader, start: Day | None = None, end: Day | None = None
) -> Kpis:
    today = ledger.clock.today()
    with ledger.session() as s:
        return Kpis.model_validate(reports.kpis(s, *period(start, end, today), today))
