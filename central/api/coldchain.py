"""Cold-chain compliance records: a unit's period as JSON, CSV or PDF, and the reports kept
as a reviewer signed them (password re-entered, with a reason)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from central import coldchain, coldchain_report, signatures
from central.accounts import Principal
from central.api.deps import Id, LedgerDep, Reader
from central.errors import Forbidden, NotFound
from central.ledger import Ledger
from central.models import ColdChainReport, ColdSensor
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND, Day, SignedReportIn
from central.vocab import Permission

router = APIRouter(prefix="/coldchain", tags=["cold chain"], responses=ERRORS | INVALID)
Format = Annotated[str, Query(pattern="^(json|csv|pdf)$")]


def _sensor(ledger: Ledger, who: Principal, sensor_id: int) -> ColdSensor:
    with ledger.session() as s:
        if not any(u.id == sensor_id for u in coldchain.units(s, ledger.clock.now(), who)):
            raise NotFound(f"no cold-chain unit {sensor_id} in your scope")
        sensor = s.get(ColdSensor, sensor_id)
        assert sensor is not None
        return sensor


def _answer(report: dict[str, Any], fmt: str) -> Any:
    name = f"coldchain-{report['unit']}-{report['start']}"
    if fmt == "csv":
        return Response(
            coldchain_report.report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "pdf":
        return Response(
            coldchain_report.report_pdf(report),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )
    return report


@router.get("/units/{sensor_id}/report", responses=NOT_FOUND)
def report(
    sensor_id: Id, start: Annotated[Day, Query()], end: Annotated[Day, Query()],
    ledger: LedgerDep, user: Reader, format: Format = "json",
) -> Any:  # fmt: skip
    """The unit's record from `start` to `end` (exclusive), as it is now (not signed)."""
    sensor = _sensor(ledger, user, sensor_id)
    with ledger.session() as s:
        got = coldchain_report.unit_report(s, sensor, start, end)
    return _answer(got | {"signature": None}, format)


@router.post("/units/{sensor_id}/reports", status_code=201, responses=NOT_FOUND | CONFLICT)
def sign(sensor_id: Id, body: SignedReportIn, ledger: LedgerDep, user: Reader) -> dict[str, Any]:
    """Keep the period's record signed by the caller (role quality): the password again
    and a reason. What was signed stays as it was, with its SHA-256."""
    if not user.may(Permission.REVIEW):
        raise Forbidden(f"the {user.role} role may not sign cold-chain records")
    sensor = _sensor(ledger, user, sensor_id)
    now = ledger.clock.now()
    signatures.check_signer(ledger.session.begin, user, body.password, body.reason, now)
    with ledger.session.begin() as s:
        subject = f"{sensor.site}/{sensor.unit} {body.start}..{body.end}"
        sig = signatures.record(s, user, action="coldchain_report", subject=subject,
                                reason=body.reason, now=now)  # fmt: skip
        row = coldchain_report.stored(s, sensor, body.start, body.end, now, sig)
        return coldchain_report.as_dict(s, row)


@router.get("/reports/{report_id}", responses=NOT_FOUND)
def kept(report_id: Id, ledger: LedgerDep, user: Reader, format: Format = "json") -> Any:
    """A kept report as it was signed."""
    with ledger.session() as s:
        row = s.get(ColdChainReport, report_id)
        if row is None:
            raise NotFound(f"no cold-chain report {report_id}")
        _sensor(ledger, user, row.sensor_id)
        got = coldchain_report.as_dict(s, row)
    return _answer(got, format)
