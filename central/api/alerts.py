"""Open alerts and their acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter

from central import alerts
from central.api.deps import Acknowledger, Id, LedgerDep, Reader
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND, AckIn, AlertOut, AlertState

router = APIRouter(tags=["alerts"], responses=ERRORS)


@router.get("/alerts")
def list_alerts(ledger: LedgerDep, _: Reader) -> list[AlertOut]:
    with ledger.session() as s:
        return [AlertOut.model_validate(alerts.as_dict(a)) for a in alerts.open_alerts(s)]


@router.post("/alerts/{alert_id}/ack", responses=NOT_FOUND | CONFLICT | INVALID)
def ack(alert_id: Id, body: AckIn, ledger: LedgerDep, user: Acknowledger) -> AlertState:
    """Someone is on it: who, when, with a comment. The alert stays open until its
    condition clears."""
    with ledger.session.begin() as s:
        a = alerts.acknowledge(s, alert_id, user.user, body.comment, ledger.clock.now())
        return AlertState(id=a.id, state=a.state)
