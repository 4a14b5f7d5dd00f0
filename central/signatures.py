"""Electronic signatures: a critical action needs the user to re-enter their password (a
second, throttled login of the same user) and a reason at the moment of the action; the
signature is kept with who, what, when and why, in the action's transaction (in the spirit
of 21 CFR Part 11)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy.orm import Session

from central import accounts
from central.accounts import Principal
from central.errors import Forbidden, Invalid
from central.models import Signature


def check_signer(
    begin: Callable[[], AbstractContextManager[Session]],
    who: Principal,
    password: str,
    reason: str,
    now: datetime,
) -> None:
    """Forbidden unless `password` is `who`'s (in a transaction of its own: a failure counts
    towards the login throttle even though the action is refused); Invalid without a
    reason."""
    if not reason.strip():
        raise Invalid("reason: a signature says why")
    try:
        with begin() as s:
            found = accounts.login(s, who.user, password, now)
    except accounts.ThrottledError as exc:
        raise Forbidden(f"signature: {exc}") from None
    if found is None or found.user != who.user:
        raise Forbidden("signature: the password is not right")


def record(
    s: Session, who: Principal, *, action: str, subject: str, reason: str, now: datetime
) -> Signature:
    """The signature, written with the action it signs."""
    row = Signature(user=who.user, role=who.role.value, action=action, subject=subject[:400],
                    reason=reason.strip()[:2000], method="password", at=now)  # fmt: skip
    s.add(row)
    s.flush()
    return row
