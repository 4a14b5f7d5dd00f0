"""Cold-chain compliance records: a unit's period as JSON, CSV or PDF, and the reports kept
as a reviewer signed them (password re-entered, with a reason)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from central import coldchain_report as reports
from central.api.deps import Id, LedgerDep, Reader
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND, Day, SignedReportIn, SignIn

router = APIRouter(prefix="/coldchain", tags=["cold chain"], responses=ERRORS | INVALID)
Format = Annotated[str, Query(pattern="^(json|csv|pdf)$")]


def _answer(report: dict[str, Any], fmt: str) -> Any:
    if fmt == "json":
        return report
    body, media, disposition = reports.download(report, fmt)
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/units/{sensor_id}/report", responses=NOT_FOUND)
def report(
    sensor_id: Id, start: Annotated[Day, Query()], end: Annotated[Day, Query()],
    ledger: LedgerDep, user: Reader, format: Format = "json",
) -> Any:  # fmt: skip
    """The unit's record from `start` to `end` (exclusive), as it is now (not signed)."""
    sensor = reports.scoped_sensor(ledger, user, sensor_id)
    with ledger.session() as s:
        got = reports.unit_report(s, sensor, start, end)
    return _answer(got | {"signature": None}, format)


@router.post("/units/{sensor_id}/reports", status_code=201, responses=NOT_FOUND | CONFLICT)
def sign(sensor_id: Id, body: SignedReportIn, ledger: LedgerDep, user: Reader) -> dict[str, Any]:
    """Keep the period's record signed by the caller (role quality): the password again
    and a reason. What was signed stays as it was, with its SHA-256."""
    return reports.sign_report(ledger, user, sensor_id, body.start, body.end,
                               password=body.password, reason=body.reason)  # fmt: skip


@router.get("/reports/{report_id}", responses=NOT_FOUND)
def kept(report_id: Id, ledger: LedgerDep, user: Reader, format: Format = "json") -> Any:
    """A kept report as it was signed."""
    return _answer(reports.kept_report(ledger, user, report_id), format)


@router.post("/reports/{report_id}/sign", responses=NOT_FOUND | CONFLICT)
def sign_kept(report_id: Id, body: SignIn, ledger: LedgerDep, user: Reader) -> dict[str, Any]:
    """Sign a kept report not signed yet (the ledger keeps every unit's last month)."""
    return reports.sign_kept(ledger, user, report_id, password=body.password, reason=body.reason)
