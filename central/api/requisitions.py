"""Requisitions: a department's request, its approvals, the store's issue and the
destination's receipt. A refusal of the person is 403, of the requisition's status 409."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from central.api.deps import Id, LedgerDep, Reader
from central.ledger import LineIn, PickIn
from central.schemas import (
    CONFLICT,
    ERRORS,
    INVALID,
    NOT_FOUND,
    CommentIn,
    IssueIn,
    PickListOut,
    RejectIn,
    RequisitionIn,
    RequisitionOut,
    RequisitionSummary,
    WitnessCheckOut,
)

router = APIRouter(prefix="/requisitions", tags=["requisitions"], responses=ERRORS | INVALID)
ACTION = NOT_FOUND | CONFLICT
Status = Annotated[
    str | None, Query(pattern="^(submitted|approved|issued|received|rejected|cancelled)$")
]


@router.post("", status_code=201)
def create(body: RequisitionIn, ledger: LedgerDep, user: Reader) -> RequisitionOut:
    """Request goods for a location in the user's scope (role nurse, head or admin)."""
    out = ledger.new_requisition(
        user, to_location=body.to_location, priority=body.priority, note=body.note,
        lines=[LineIn(gtin=ln.gtin, quantity=ln.quantity) for ln in body.lines],
        transport=body.transport,
    )  # fmt: skip
    return RequisitionOut.model_validate(out)


@router.get("")
def listing(
    ledger: LedgerDep, user: Reader, status: Status = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RequisitionSummary]:  # fmt: skip
    """The requisitions of the user's scope (destination or store), open ones first."""
    found = ledger.requisitions(user, status=status, limit=limit)
    return [RequisitionSummary.model_validate(r) for r in found]


@router.get("/{requisition_id}", responses=NOT_FOUND)
def one(requisition_id: Id, ledger: LedgerDep, user: Reader) -> RequisitionOut:
    return RequisitionOut.model_validate(ledger.requisition(user, requisition_id))


@router.get("/{requisition_id}/pick-list", responses=NOT_FOUND)
def pick_list(requisition_id: Id, ledger: LedgerDep, user: Reader) -> PickListOut:
    """The batches to pick per open line, first expiry first; locked and expired never."""
    return PickListOut.model_validate(ledger.pick_list(user, requisition_id))


@router.post("/{requisition_id}/reject", responses=ACTION)
def reject(requisition_id: Id, body: RejectIn, ledger: LedgerDep, user: Reader) -> RequisitionOut:
    return RequisitionOut.model_validate(
        ledger.reject_requisition(user, requisition_id, body.reason)
    )


@router.post("/{requisition_id}/issue", responses=ACTION)
def issue(
    requisition_id: Id, ledger: LedgerDep, user: Reader, body: IssueIn | None = None
) -> RequisitionOut:
    """Issue from the store: the lots given, or first-expiry-first-out; what is short stays
    a back-order (unless `close`)."""
    body = body or IssueIn()
    picks = None if body.lines is None else [
        PickIn(gtin=p.gtin, lot=p.lot, quantity=p.quantity, epcs=tuple(p.epcs), reason=p.reason)
        for p in body.lines
    ]  # fmt: skip
    witness = None
    if body.witness is not None:
        witness = ledger.log_in_witness(body.witness.user, body.witness.password)
    out = ledger.issue_requisition(
        user, requisition_id, picks, from_location=body.from_location, close=body.close,
        witness=witness,
    )  # fmt: skip
    return RequisitionOut.model_validate(out)


witness_router = APIRouter(prefix="/witness-checks", tags=["requisitions"],
                           responses=ERRORS | INVALID)  # fmt: skip


@witness_router.get("")
def witness_checks(ledger: LedgerDep, user: Reader) -> list[WitnessCheckOut]:
    """Cabinet takes of high-value or controlled products waiting for a second person."""
    return [WitnessCheckOut.model_validate(c) for c in ledger.witness_checks(user)]


@witness_router.post("/{check_id}/confirm", responses=ACTION)
def confirm_witness(check_id: Id, ledger: LedgerDep, user: Reader) -> WitnessCheckOut:
    """The caller is the second person (not the one who took)."""
    return WitnessCheckOut.model_validate(ledger.confirm_witness(user, check_id))


def _comment_route(action: str, summary: str) -> None:
    """`POST /requisitions/{id}/<action>` with an optional comment."""

    def route(
        requisition_id: Id, ledger: LedgerDep, user: Reader, body: CommentIn | None = None
    ) -> RequisitionOut:
        act = getattr(ledger, f"{action}_requisition")
        return RequisitionOut.model_validate(
            act(user, requisition_id, body.comment if body else "")
        )

    router.post(f"/{{requisition_id}}/{action}", responses=ACTION, name=action,
                summary=summary)(route)  # fmt: skip


for _action, _summary in (
    ("approve", "Approve at the next level (its role, in scope, not one's own)"),
    ("cancel", "Cancel (the requester, before the issue)"),
    ("review", "Review an emergency approved at once"),
    ("receive", "Confirm the goods at the destination (a gate or cabinet does it by itself)"),
):
    _comment_route(_action, _summary)
