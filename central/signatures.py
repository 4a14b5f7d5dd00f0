"""Electronic signatures: a critical action needs the user to re-enter their password (a
second, throttled login of the same user) and a reason at the moment of the action; the
signature is kept with who, what, when and why, in the action's transaction (in the spirit
of 21 CFR Part 11)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from central import accounts
from central.accounts import Principal
from central.errors import Forbidden, Invalid
from central.models import Signature


@dataclass(frozen=True)
class Signed:
    """A signer whose password was checked for an action, with their reason: the action
    records it in its own transaction (`record`)."""

    who: Principal
    reason: str

    def record(self, s: Session, *, action: str, subject: str, now: datetime) -> Signature:
        return record(s, self.who, action=action, subject=subject, reason=self.reason, now=now)


def sign_as(
    begin: Callable[[], AbstractContextManager[Session]],
    user: str,
    password: str,
    reason: str,
    now: datetime,
) -> Signed:
    """Forbidden unless `password` is `user`'s (in a transaction of its own: a failure
    counts towards the login throttle even though the action is refused); Invalid without a
    reason."""
    if not reason.strip():
        raise Invalid("reason: a signature says why")
    try:
        with begin() as s:
            found = accounts.login(s, user, password, now)
    except accounts.ThrottledError as exc:
        raise Forbidden(f"signature: {exc}") from None
    if found is None:
        raise Forbidden("signature: the password is not right")
    return Signed(found, reason.strip())


def sign(
    begin: Callable[[], AbstractContextManager[Session]],
    who: Principal,
    password: str,
    reason: str,
    now: datetime,
) -> Signed:
    """The signature of the caller `who` (`sign_as`)."""
    return sign_as(begin, who.user, password, reason, now)


def if_given(
    begin: Callable[[], AbstractContextManager[Session]],
    who: Principal,
    password: str | None,
    reason: str,
    now: datetime,
) -> Signed | None:
    """The caller's signature when they gave their password (checked now), else None: an
    action that must be signed then refuses, one that need not goes on."""
    return sign(begin, who, password, reason, now) if password else None


def record(
    s: Session, who: Principal, *, action: str, subject: str, reason: str, now: datetime
) -> Signature:
    """The signature, written with the action it signs."""
    row = Signature(user=who.user, role=who.role.value, action=action, subject=subject[:400],
                    reason=reason.strip()[:2000], method="password", at=now)  # fmt: skip
    s.add(row)
    s.flush()
    return row
