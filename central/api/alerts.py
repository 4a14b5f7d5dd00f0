"""Open alerts and their acknowledgement."""

from __future__ import annotations

from fastapi import APIRouter

from central import alerts
from central.accounts import alert_in_scope
from central.api.deps import Acknowledger, Id, LedgerDep, Reader
from central.errors import Forbidden
from central.models import Alert
from central.schemas import CONFLICT, ERRORS, INVALID, NOT_FOUND, AckIn, AlertOut, AlertState

router = APIRouter(tags=["alerts"], responses=ERRORS)


@router.get("/alerts")
def list_alerts(ledger: LedgerDep, user: Reader) -> list[AlertOut]:
    """The open alerts of the user's scope."""
    with ledger.session() as s:
        allowed = user.locations(s)
        places = None if allowed is None else set(allowed)
        return [AlertOut.model_validate(alerts.as_dict(a)) for a in alerts.open_alerts(s)
                if alert_in_scope(user, a.key, places)]  # fmt: skip


@router.post("/alerts/{alert_id}/ack", responses=NOT_FOUND | CONFLICT | INVALID)
def ack(alert_id: Id, body: AckIn, ledger: LedgerDep, user: Acknowledger) -> AlertState:
    """Someone is on it: who, when, with a comment. The alert stays open until its
    condition clears."""
    with ledger.session.begin() as s:
        found = s.get(Alert, alert_id)
        allowed = user.locations(s)
        if found is not None and not alert_in_scope(
            user, found.key, None if allowed is None else set(allowed)
        ):
            raise Forbidden(f"alert {alert_id} is outside your scope")
        a = alerts.acknowledge(s, alert_id, user.user, body.comment, ledger.clock.now())
        return AlertState(id=a.id, state=a.state)
