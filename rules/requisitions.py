"""A requisition's life, without the database: its statuses, which action each status
allows, and the approval levels its content needs under rules that come from configuration.

Who may act (role, scope, not one's own requisition) is the ledger's decision; whether the
requisition's status allows the action is decided here, so the two refusals stay apart
(HTTP 403 and 409)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"  # waiting for its approvals
    APPROVED = "approved"  # every required level approved (or an emergency's bypass)
    ISSUED = "issued"  # goods left the store; in transit until the destination has them
    RECEIVED = "received"  # everything issued arrived (a back-order may still be open)
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN = (Status.SUBMITTED, Status.APPROVED, Status.ISSUED)


class Action(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    ISSUE = "issue"
    RECEIVE = "receive"
    REVIEW = "review"  # an emergency's after-the-fact approval


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class StatusRefused(Exception):  # noqa: N818 (read as "refused by the status")
    """The action is not allowed in the requisition's status (whoever asks)."""


def after(
    status: Status, action: Action, *, levels_left: int = 0, back_order: bool = False,
    in_transit: bool = False, needs_review: bool = False,
) -> Status:  # fmt: skip
    """The status after `action`: `levels_left` approvals still needed before this one,
    whether a back-order is open, whether issued goods are still in transit, whether an
    emergency waits for its review. Raises StatusRefused."""
    if action == Action.APPROVE and status == Status.SUBMITTED:
        return Status.APPROVED if levels_left <= 1 else Status.SUBMITTED
    if action == Action.REJECT and status == Status.SUBMITTED:
        return Status.REJECTED
    if action == Action.CANCEL and status in (Status.SUBMITTED, Status.APPROVED):
        return Status.CANCELLED
    if action == Action.ISSUE and back_order and status in (Status.APPROVED, Status.ISSUED,
                                                             Status.RECEIVED):  # fmt: skip
        return Status.ISSUED
    if action == Action.RECEIVE and status == Status.ISSUED and in_transit:
        return Status.RECEIVED
    if action == Action.REVIEW and needs_review and status in (Status.APPROVED, Status.ISSUED,
                                                                Status.RECEIVED):  # fmt: skip
        return status
    raise StatusRefused(f"a {status} requisition cannot be {_DONE[action]}")


_DONE = {
    Action.SUBMIT: "submitted", Action.APPROVE: "approved", Action.REJECT: "rejected",
    Action.CANCEL: "cancelled", Action.ISSUE: "issued", Action.RECEIVE: "received",
    Action.REVIEW: "reviewed",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ApprovalLevel:
    """One approval a requisition may need: by a user of `role` whose scope covers the
    requesting department. With no condition it is always needed; otherwise when any of
    its conditions holds (total value at least `min_value`, a product of one of `classes`
    (high_value, controlled or a category), one of `priorities`)."""

    name: str
    role: str
    min_value: Decimal | None = None
    classes: frozenset[str] = frozenset()
    priorities: frozenset[Priority] = frozenset()

    def applies(self, value: Decimal, classes: Iterable[str], priority: Priority) -> bool:
        if self.min_value is None and not self.classes and not self.priorities:
            return True
        return (
            (self.min_value is not None and value >= self.min_value)
            or bool(self.classes & set(classes))
            or priority in self.priorities
        )


DEPARTMENT_HEAD = ApprovalLevel(name="head", role="head")


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The approval chain: its levels in order. `emergency_bypass`: an emergency is
    approved at once and reviewed afterwards by the levels it skipped."""

    levels: tuple[ApprovalLevel, ...] = (DEPARTMENT_HEAD,)
    emergency_bypass: bool = True

    def required(
        self, value: Decimal, classes: Iterable[str], priority: Priority
    ) -> tuple[ApprovalLevel, ...]:
        """The levels a requisition of this value, product classes and priority needs."""
        wanted = set(classes)
        return tuple(lvl for lvl in self.levels if lvl.applies(value, wanted, priority))

    def bypassed(self, priority: Priority) -> bool:
        return self.emergency_bypass and priority == Priority.EMERGENCY

    def level(self, name: str) -> ApprovalLevel | None:
        return next((lvl for lvl in self.levels if lvl.name == name), None)
