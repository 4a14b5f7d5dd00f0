"""The ledger's errors: one root, four kinds, each mapped once to an HTTP status (the API's
exception handler) and once to an exit code (the CLI's wrapper). A bare KeyError or
ValueError is a bug, never a "not found" or an "invalid input"."""

from __future__ import annotations

from typing import ClassVar


class LedgerError(Exception):
    """Something the ledger refuses, with a message for the person who asked."""

    http_status: ClassVar[int] = 422
    exit_code: ClassVar[int] = 1


class NotFound(LedgerError):  # noqa: N818 (the vocabulary reads as HTTP does)
    """What was named does not exist (a batch, a stocktake, an alert)."""

    http_status = 404
    exit_code = 3


class Conflict(LedgerError):  # noqa: N818
    """The thing exists but its state does not allow it (a confirmed stocktake, a cleared
    alert, a receipt number already booked)."""

    http_status = 409
    exit_code = 4


class Forbidden(LedgerError):  # noqa: N818
    """The user may not do this (role, scope, or their own requisition to approve),
    whatever the thing's state."""

    http_status = 403
    exit_code = 6


class Invalid(LedgerError):  # noqa: N818
    """The input is wrong; the message names the field or the line."""

    http_status = 422
    exit_code = 1


def listed(problems: list[str], shown: int = 50) -> str:
    """Every problem of a refused file or list in one message, the first `shown` of them."""
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more
