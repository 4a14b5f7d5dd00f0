"""Two-person checks: an issue or a cabinet take of a product of the configured classes
(controlled, high-value) is complete only with a second authorised person's confirmation.
An issue takes the second person's login with it; a take at a cabinet is confirmed by a
second badge at the cabinet in the same session (the edge's `cabinet_witness` event) or by a
second user of the ward on the screen, and raises an alert when nobody has within
`witness_alert_s`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import accounts, alerts
from central.accounts import Principal
from central.clock import as_utc
from central.config import RequisitionConfig
from central.errors import Conflict, Forbidden, Invalid, NotFound
from central.ledger.base import LedgerBase, iso
from central.models import Batch, CabinetWitnessBadge, Location, Movement, Product, WitnessCheck
from central.vocab import Permission

TAKE = "cabinet_take"
LOOK_BACK = timedelta(days=2)  # takes older than this when first seen are not checked
ALERT_KIND = "two_person"


def may_witness(who: Principal) -> bool:
    """Who may be the second person: whoever may book, issue or approve (a second nurse for
    a ward's controlled drugs, a second storekeeper or a pharmacist for the store)."""
    return any(who.may(p) for p in (Permission.BOOK, Permission.ISSUE, Permission.APPROVE))


class Witnessing(LedgerBase):
    requisition_rules: RequisitionConfig

    def two_person_products(self, s: Session, gtins: set[str]) -> dict[str, str]:
        """GTIN -> name of those among `gtins` that need a second person."""
        wanted = set(self.requisition_rules.two_person_classes)
        rows = s.scalars(select(Product).where(Product.gtin.in_(sorted(gtins))))
        return {p.gtin: p.name or p.gtin for p in rows if p.classes() & wanted}

    def _witnessed(
        self, s: Session, who: Principal, witness: Principal | None, store: Location,
        what: str, requisition_id: int, now: datetime,
    ) -> None:  # fmt: skip
        """Check the second person of an issue and record the check."""
        if witness is None:
            raise Invalid(f"witness: a second person confirms the issue of {what}")
        if witness.user == who.user:
            raise Forbidden("witness: the second person is someone else")
        if not may_witness(witness) or not witness.covers(store.code, store.department):
            raise Forbidden(f"witness: {witness.user} may not confirm issues from {store.code}")
        s.add(WitnessCheck(kind="issue", requisition_id=requisition_id, movement_id=None,
                           location_id=store.id, actor=who.user, what=what,
                           witness=witness.user, created_at=now, confirmed_at=now))  # fmt: skip

    def log_in_witness(self, user: str, password: str) -> Principal:
        """The second person of a two-person check, by their own password (throttled as a
        login is): a second login on the same screen."""
        try:
            with self.session.begin() as s:
                found = accounts.login(s, user, password, self.clock.now())
        except accounts.ThrottledError as exc:
            raise Forbidden(f"witness: {exc}") from None
        if found is None:
            raise Forbidden("witness: wrong user or password")
        return found

    def witness_checks(self, who: Principal) -> list[dict[str, Any]]:
        """Takes waiting for their second person, in the user's scope, oldest first."""
        with self.session() as s:
            rows = s.execute(
                select(WitnessCheck, Location.code, Location.department)
                .join(Location, Location.id == WitnessCheck.location_id)
                .where(WitnessCheck.confirmed_at.is_(None)).order_by(WitnessCheck.id)
            ).all()  # fmt: skip
            return [_as_dict(c, code) for c, code, dept in rows if who.covers(code, dept)]

    def confirm_witness(self, who: Principal, check_id: int) -> dict[str, Any]:
        """The second person confirms a take: not the one who took, allowed, in scope."""
        now = self.clock.now()
        with self.session.begin() as s:
            check = s.get(WitnessCheck, check_id, with_for_update=self._pg)
            if check is None:
                raise NotFound(f"no two-person check #{check_id}")
            place = s.get(Location, check.location_id)
            assert place is not None
            if not may_witness(who) or not who.covers(place.code, place.department):
                raise Forbidden(f"{who.user} may not confirm takes at {place.code}")
            if who.user == check.actor:
                raise Forbidden("the second person is someone else than the one who took")
            if check.confirmed_at is not None:
                raise Conflict(f"two-person check #{check_id} is confirmed already")
            check.witness, check.confirmed_at = who.user, now
            return _as_dict(check, place.code)

    def _take_checks(self, s: Session, now: datetime) -> list[alerts.Condition]:
        """Record a check for each new cabinet take of a two-person product; the alerts of
        those not confirmed in time."""
        checked = select(WitnessCheck.movement_id).where(WitnessCheck.movement_id.is_not(None))
        takes = s.execute(
            select(Movement, Batch.gtin)
            .join(Batch, Batch.id == Movement.batch_id)
            .where(Movement.kind == TAKE, Movement.recorded_at >= now - LOOK_BACK,
                   Movement.id.not_in(checked))
        ).all()  # fmt: skip
        names = self.two_person_products(s, {gtin for _m, gtin in takes})
        for m, gtin in takes:
            if gtin in names and m.from_location_id is not None:
                s.add(WitnessCheck(kind=TAKE, requisition_id=None, movement_id=m.id,
                                   location_id=m.from_location_id, actor=m.actor,
                                   what=f"{m.quantity} x {names[gtin]}",
                                   witness=None, created_at=as_utc(m.occurred_at),
                                   confirmed_at=None))  # fmt: skip
        s.flush()
        window = timedelta(seconds=self.requisition_rules.witness_alert_s)
        waiting = list(s.scalars(select(WitnessCheck).where(WitnessCheck.confirmed_at.is_(None))))
        self._badged(s, [c for c in waiting if c.kind == TAKE], window, now)
        codes = dict(s.execute(select(Location.id, Location.code)).all())
        late = now - window
        return [
            alerts.Condition(ALERT_KIND, f"{c.id}@{c.location_id}", "warning",
                             f"{c.what} taken by {c.actor} at {codes.get(c.location_id)}"
                             " has no second person's confirmation")
            for c in waiting if c.confirmed_at is None and as_utc(c.created_at) <= late
        ]  # fmt: skip

    def _badged(
        self, s: Session, checks: list[WitnessCheck], window: timedelta, now: datetime
    ) -> None:
        """Takes confirmed by a second badge at their cabinet: another person's, in the
        same session, within `window` of the take."""
        if not checks:
            return
        badges = s.scalars(
            select(CabinetWitnessBadge).where(CabinetWitnessBadge.at >= now - LOOK_BACK)
        ).all()
        for c in checks:
            taken = as_utc(c.created_at)
            for b in badges:
                if (b.location_id == c.location_id and b.of_user == c.actor
                        and b.user != c.actor and as_utc(b.session_started_at) <= taken
                        and abs(as_utc(b.at) - taken) <= window):  # fmt: skip
                    c.witness, c.confirmed_at = b.user, as_utc(b.at)
                    break


def _as_dict(c: WitnessCheck, where: str) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "location": where, "actor": c.actor, "what": c.what,
            "witness": c.witness, "created_at": iso(c.created_at),
            "confirmed_at": iso(c.confirmed_at)}  # fmt: skip
