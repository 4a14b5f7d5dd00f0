"""People who log in and the machines that act for them: roles and what they permit,
argon2id password hashes, scope (sites and departments), per-user API tokens.

A token or a session resolves to a `Principal`; the API and the web app check its
permissions and scope on the server for every request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.clock import as_utc
from central.errors import Conflict, Invalid, NotFound
from central.models import Alert, ApiToken, AppUser, Location, Supplier
from central.vocab import Permission, Role

P = Permission
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.READ}),
    Role.NURSE: frozenset({P.READ, P.ACKNOWLEDGE, P.BOOK, P.REQUEST}),
    Role.HEAD: frozenset({P.READ, P.ACKNOWLEDGE, P.BOOK, P.STOCKTAKE, P.REQUEST, P.APPROVE}),
    Role.STOREKEEPER: frozenset({P.READ, P.ACKNOWLEDGE, P.RECEIVE, P.BOOK, P.STOCKTAKE, P.ISSUE}),
    Role.QUALITY: frozenset({P.READ, P.ACKNOWLEDGE, P.LOCK, P.APPROVE, P.REVIEW}),
    Role.PURCHASING: frozenset({P.READ, P.PURCHASE, P.APPROVE}),
    Role.ADMIN: frozenset(Permission),
    Role.SUPPLIER: frozenset({P.SUPPLY}),  # nothing of the hospital's stock or alerts
    Role.SYSTEM: frozenset({P.READ, P.REQUEST}),  # a HIS orders for its wards
}
_hasher = PasswordHasher()  # argon2id with the library's current parameters
MIN_PASSWORD = 10


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user, their role and scope (empty: everywhere)."""

    user: str
    role: Role
    sites: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    supplier: str | None = None  # a supplier's user: whose orders

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def covers(self, location_code: str, department: str | None) -> bool:
        """Whether a location is in scope: its site among `sites` and its department among
        `departments` (each when given)."""
        site = location_code.split("/", 1)[0]
        return (not self.sites or site in self.sites) and (
            not self.departments or department in self.departments
        )

    def locations(self, s: Session) -> list[int] | None:
        """The ids of the locations in scope; None: all of them."""
        if not self.sites and not self.departments:
            return None
        rows = s.execute(select(Location.id, Location.code, Location.department))
        return [i for i, code, dept in rows if self.covers(code, dept)]


def alert_in_scope(who: Principal, key: str, locations: set[int] | None) -> bool:
    """Whether an alert concerns the user's scope: keys of stock alerts end in
    `@<location id>`; the others (cold chain, sensors, gateways) start with the site."""
    if locations is None:
        return True
    where = key.rpartition("@")[2]
    if "@" in key and where.isdigit():
        return int(where) in locations
    return not who.sites or key.split("/", 1)[0] in who.sites


def alerts_in_scope(s: Session, who: Principal, found: Iterable[Alert]) -> list[Alert]:
    """The alerts among `found` that concern the user's scope (`alert_in_scope`)."""
    allowed = who.locations(s)
    places = None if allowed is None else set(allowed)
    return [a for a in found if alert_in_scope(who, a.key, places)]


def outside_scope(s: Session, who: Principal, codes: list[str]) -> list[str]:
    """The location codes among `codes` that are not in the user's scope."""
    if not who.sites and not who.departments:
        return []
    wanted = sorted(set(codes))
    depts = dict(s.execute(select(Location.code, Location.department)
                           .where(Location.code.in_(wanted))).all())  # fmt: skip
    return [c for c in wanted if not who.covers(c, depts.get(c))]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _codes(values: list[str] | None) -> str:
    return ",".join(sorted({v.strip() for v in values or [] if v.strip()}))


def principal_of(u: AppUser) -> Principal:
    assert u.role is not None  # callers checked it logs in
    return Principal(
        user=u.id,
        role=Role(u.role),
        sites=frozenset(filter(None, u.sites.split(","))),
        departments=frozenset(filter(None, u.departments.split(","))),
        supplier=u.supplier if u.role == Role.SUPPLIER else None,
    )


def add_user(
    s: Session,
    user_id: str,
    *,
    role: str,
    password: str,
    name: str = "",
    sites: list[str] | None = None,
    departments: list[str] | None = None,
    supplier: str | None = None,
) -> None:
    """A user who logs in; an existing person (from the users master data) gets a login.
    A supplier's user (role supplier) names the supplier, and only they do."""
    if role not in set(Role):
        raise Invalid(f"unknown role {role!r} (one of {', '.join(Role)})")
    if (role == Role.SUPPLIER) != bool(supplier):
        raise Invalid("a supplier's user (role supplier), and only one, names its supplier")
    if supplier and s.get(Supplier, supplier) is None:
        raise Invalid(f"no supplier {supplier[:40]!r} (import suppliers first)")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password needs at least {MIN_PASSWORD} characters")
    u = s.get(AppUser, user_id)
    if u is not None and u.role is not None:
        raise Conflict(f"user {user_id} exists already")
    u = u or AppUser(id=user_id, name=name or user_id)
    u.role, u.password_hash = role, _hasher.hash(password)
    u.sites, u.departments, u.disabled = _codes(sites), _codes(departments), False
    u.supplier = supplier or None
    s.add(u)


def users(s: Session) -> list[AppUser]:
    return list(s.scalars(select(AppUser).where(AppUser.role.is_not(None)).order_by(AppUser.id)))


def disable_user(s: Session, user_id: str) -> None:
    """No more logins or tokens for this user (history keeps the name)."""
    u = s.get(AppUser, user_id)
    if u is None or u.role is None:
        raise NotFound(f"no user {user_id}")
    u.disabled = True


FREE_ATTEMPTS = 5  # then each failure locks the user out twice as long, up to 15 min
MAX_LOCK_S = 900


class ThrottledError(Exception):
    """Too many failed logins: try again after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; try again in {seconds} s")
        self.seconds = seconds


def login(s: Session, user_id: str, password: str, now: datetime | None = None) -> Principal | None:
    """The principal for a correct password of an enabled user, else None (which of the
    two failed is not said). With `now`, failures are throttled per user: after
    FREE_ATTEMPTS, a growing lock (ThrottledError) whatever the password."""
    u = s.get(AppUser, user_id)
    if u is None or u.role is None or u.password_hash is None or u.disabled:
        _hasher.hash(password)  # the same time whether the user exists or not
        return None
    if now is not None and u.locked_until is not None and as_utc(u.locked_until) > now:
        raise ThrottledError(int((as_utc(u.locked_until) - now).total_seconds()) + 1)
    try:
        _hasher.verify(u.password_hash, password)
    except (VerificationError, InvalidHashError):
        if now is not None:
            u.failed_logins += 1
            over = u.failed_logins - FREE_ATTEMPTS
            if over >= 0:
                u.locked_until = now + timedelta(seconds=min(MAX_LOCK_S, 15 * 2**over))
        return None
    u.failed_logins, u.locked_until = 0, None
    if _hasher.check_needs_rehash(u.password_hash):
        u.password_hash = _hasher.hash(password)
    return principal_of(u)


def change_password(
    s: Session, user_id: str, old: str, new: str, now: datetime | None = None
) -> None:
    """A user's new password, given the current one (with `now`, wrong current passwords
    count as failed logins: the form is no way around the throttle)."""
    if login(s, user_id, old, now) is None:
        raise Invalid("the current password is not right")
    if len(new) < MIN_PASSWORD:
        raise Invalid(f"a password needs at least {MIN_PASSWORD} characters")
    u = s.get(AppUser, user_id)
    assert u is not None
    u.password_hash = _hasher.hash(new)


def add_token(s: Session, user_id: str, now: datetime) -> str:
    """A new bearer token for `user_id`, returned once (only its hash is kept)."""
    u = s.get(AppUser, user_id)
    if u is None or u.role is None:
        raise NotFound(f"no user {user_id}")
    token = secrets.token_urlsafe(32)
    s.add(ApiToken(token_hash=hash_token(token), user_id=user_id, created_at=now))
    return token


def by_token(s: Session, token: str) -> Principal | None:
    row = s.get(ApiToken, hash_token(token))
    if row is None or row.revoked:
        return None
    u = s.get(AppUser, row.user_id)
    if u is None or u.role is None or u.disabled:
        return None
    return principal_of(u)
