"""Open alerts and their acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter

from central import alerts
from central.accounts import alerts_in_scope
from central.api.deps import Acknowledger, Id, LedgerDep, Reader, signature
from central.errors import Forbidden
from central.models import Alert
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND, AckIn, AlertOut, AlertState

router = APIRouter(tags=["alerts"], responses=ERRORS)


@router.get("/alerts")
def list_alerts(ledger: LedgerDep, user: Reader) -> list[AlertOut]:
    """The open alerts of the user's scope."""
    with ledger.session() as s:
        found = alerts_in_scope(s, user, alerts.open_alerts(s))
        return [AlertOut.model_validate(alerts.as_dict(a)) for a in found]


@router.post("/alerts/{alert_id}/ack", responses=NOT_FOUND | CONFLICT | INVALID)
def ack(alert_id: Id, body: AckIn, ledger: LedgerDep, user: Acknowledger) -> AlertState:
    """Someone is on it: who, when, with a comment. The alert stays open until its
    condition clears."""
    signed = signature(ledger, user, body.password, body.comment)  # before: its own transaction
    with ledger.session.begin() as s:
        found = s.get(Alert, alert_id)
        if found is not None and not alerts_in_scope(s, user, [found]):
            raise Forbidden(f"alert {alert_id} is outside your scope")
        a = alerts.acknowledge(s, alert_id, user.user, body.comment, ledger.clock.now(), signed)
        return AlertState(id=a.id, state=a.state)
