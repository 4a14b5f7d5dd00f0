"""The ledger's fixed vocabularies, as StrEnums: stored as their text (the columns stay
strings, no migration) and compared with it, but named and checked in code."""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"  # someone is on it; stays open until the condition clears
    CLEARED = "cleared"


OPEN_STATES = (AlertState.RAISED, AlertState.ACKNOWLEDGED)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class OrderState(StrEnum):
    """A transport order as the AGV adapter reports it, then as the ledger sees it."""

    SENT = "sent"
    RUNNING = "running"
    FINISHED = "finished"  # the AGV says so
    DELIVERED = "delivered"  # a portal saw the goods arrive
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the adapter has not heard of it


class StocktakeState(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"


class BookingKind(StrEnum):
    RETURN = "return"  # items come back to the location
    LOSS = "loss"  # items leave stock
    SCRAP = "scrap"  # items leave stock
    ADJUSTMENT = "adjustment"  # tagged items put at the location, or a signed quantity


class Outcome(StrEnum):
    """What applying an event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its id was applied before with the same content
    CONFLICT = "conflict"  # its id was applied before with other content: refused


class Role(StrEnum):
    """Who someone is at the hospital; what each may do is `accounts.PERMISSIONS`."""

    NURSE = "nurse"
    HEAD = "head"  # department head
    STOREKEEPER = "storekeeper"
    QUALITY = "quality"
    PURCHASING = "purchasing"
    ADMIN = "admin"
    VIEWER = "viewer"
    SUPPLIER = "supplier"  # a supplier's user in the portal: their own orders only
    SYSTEM = "system"  # another system (a HIS over FHIR): reads its scope


class Permission(StrEnum):
    READ = "read"  # stock, traces, alerts, reports (within the scope)
    ACKNOWLEDGE = "acknowledge"  # alerts
    RECEIVE = "receive"
    BOOK = "book"  # returns, loss, scrap, adjustments
    STOCKTAKE = "stocktake"
    LOCK = "lock"  # recall lock and unlock
    PURCHASE = "purchase"
    REQUEST = "request"  # requisitions for the department's locations; confirm their receipt
    APPROVE = "approve"  # requisitions, at the approval levels of the user's role
    ISSUE = "issue"  # requisitions from the store
    ADMINISTER = "administer"  # master data, users, dead letters
    SUPPLY = "supply"  # a supplier confirms its purchase orders and announces deliveries
    REVIEW = "review"  # sign compliance records (cold-chain reports)
