"""A requisition's statuses as a state machine (hypothesis), the transition table, and the
approval levels that configured rules ask for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rules.requisitions import (
    DEPARTMENT_HEAD,
    Action,
    ApprovalLevel,
    ApprovalPolicy,
    Priority,
    Status,
    StatusRefused,
    after,
)

S, A = Status, Action
ALLOWED = [  # (status, action, facts) -> status
    (S.SUBMITTED, A.APPROVE, {"levels_left": 1}, S.APPROVED),
    (S.SUBMITTED, A.APPROVE, {"levels_left": 2}, S.SUBMITTED),
    (S.SUBMITTED, A.REJECT, {}, S.REJECTED),
    (S.SUBMITTED, A.CANCEL, {}, S.CANCELLED),
    (S.APPROVED, A.CANCEL, {}, S.CANCELLED),
    (S.APPROVED, A.ISSUE, {"back_order": True}, S.ISSUED),
    (S.ISSUED, A.ISSUE, {"back_order": True}, S.ISSUED),
    (S.RECEIVED, A.ISSUE, {"back_order": True}, S.ISSUED),
    (S.ISSUED, A.RECEIVE, {"in_transit": True}, S.RECEIVED),
    (S.APPROVED, A.REVIEW, {"needs_review": True}, S.APPROVED),
    (S.ISSUED, A.REVIEW, {"needs_review": True}, S.ISSUED),
    (S.RECEIVED, A.REVIEW, {"needs_review": True}, S.RECEIVED),
]


@pytest.mark.parametrize(("status", "action", "facts", "then"), ALLOWED)
def test_allowed_transitions(status: Status, action: Action, facts: dict[str, object],
                             then: Status) -> None:  # fmt: skip
    assert after(status, action, **facts) == then  # type: ignore[arg-type]


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_everything_else_is_refused_by_the_status(status: Status, action: Action) -> None:
    facts = {"levels_left": 1, "back_order": True, "in_transit": True, "needs_review": True}
    if any(s == status and a == action for s, a, _f, _t in ALLOWED):
        return
    with pytest.raises(StatusRefused, match=f"a {status} requisition cannot be"):
        after(status, action, **facts)  # type: ignore[arg-type]


def test_issue_needs_a_back_order_and_receipt_goods_in_transit() -> None:
    with pytest.raises(StatusRefused):
        after(S.APPROVED, A.ISSUE, back_order=False)
    with pytest.raises(StatusRefused):
        after(S.ISSUED, A.RECEIVE, in_transit=False)
    with pytest.raises(StatusRefused):
        after(S.APPROVED, A.REVIEW, needs_review=False)


def test_levels_apply_by_value_class_or_priority() -> None:
    pharmacy = ApprovalLevel("pharmacy", "quality", classes=frozenset({"controlled"}))
    finance = ApprovalLevel("finance", "purchasing", min_value=Decimal("1000"))
    urgent = ApprovalLevel("duty", "head", priorities=frozenset({Priority.URGENT}))
    policy = ApprovalPolicy((DEPARTMENT_HEAD, pharmacy, finance, urgent))

    def names(value: str, classes: set[str], priority: Priority) -> list[str]:
        return [lvl.name for lvl in policy.required(Decimal(value), classes, priority)]

    assert names("10", set(), Priority.ROUTINE) == ["head"]
    assert names("10", {"controlled"}, Priority.ROUTINE) == ["head", "pharmacy"]
    assert names("1000", set(), Priority.ROUTINE) == ["head", "finance"]
    assert names("999.99", {"high_value"}, Priority.URGENT) == ["head", "duty"]
    assert policy.bypassed(Priority.EMERGENCY) and not policy.bypassed(Priority.URGENT)
    assert not ApprovalPolicy(emergency_bypass=False).bypassed(Priority.EMERGENCY)
    assert ApprovalPolicy(()).required(Decimal(5), set(), Priority.ROUTINE) == ()


class Requisition(RuleBasedStateMachine):
    """Any sequence of actions: a terminal status stays; approval comes only after every
    level; goods are received only after they were issued."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.SUBMITTED
        self.levels = 0
        self.approvals = 0
        self.issued = 0
        self.in_transit = False
        self.back_order = True
        self.history: list[Status] = [self.status]

    @rule(levels=st.integers(0, 3))
    @precondition(lambda self: self.history == [Status.SUBMITTED] and self.approvals == 0)
    def configure(self, levels: int) -> None:
        self.levels = levels

    @rule(action=st.sampled_from(list(Action)), short=st.booleans())
    def act(self, action: Action, short: bool) -> None:
        try:
            new = after(self.status, action, levels_left=self.levels - self.approvals,
                        back_order=self.back_order, in_transit=self.in_transit,
                        needs_review=False)  # fmt: skip
        except StatusRefused:
            return
        if action == Action.APPROVE:
            self.approvals += 1
        if action == Action.ISSUE:
            self.issued += 1
            self.in_transit, self.back_order = True, short
        if action == Action.RECEIVE:
            self.in_transit = False
        self.status = new
        self.history.append(new)

    @invariant()
    def terminal_statuses_stay(self) -> None:
        for i, s in enumerate(self.history):
            if s in (Status.REJECTED, Status.CANCELLED):
                assert self.history[i:] == [s]

    @invariant()
    def approved_only_after_every_level(self) -> None:
        if Status.APPROVED in self.history:
            assert self.approvals >= max(1, self.levels)

    @invariant()
    def received_only_after_an_issue(self) -> None:
        if self.status == Status.RECEIVED:
            assert self.issued >= 1 and not self.in_transit


TestRequisitionStateMachine = Requisition.TestCase
