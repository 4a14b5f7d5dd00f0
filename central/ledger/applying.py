"""Applying edge events, idempotently, in one transaction per batch of messages.

- `ingested_event` has the event id as primary key: a duplicate inserts nothing and is
  reported as such, so nothing is counted twice; the same id with other content is a
  conflict (nothing applied, a critical alert).
- An item leaving a place the ledger did not know it to be in is a `discrepancy` (stock never
  goes negative); an event older than the tag's last applied event does not move the tag
  back (last seen location is not a sum), it is journalled only.
- Per gateway, the seqs committed are recorded in the same transaction (the end-to-end
  acknowledgement the edge waits for).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import alerts
from central.ledger.base import IN_CHUNK, ts
from central.ledger.coldchain import ColdChainRecords
from central.ledger.moves import Moving, Pending, TagMove
from central.models import (
    AppUser,
    CabinetWitnessBadge,
    GatewayProgress,
    IngestedEvent,
    Movement,
    ShipNotice,
    ShipNoticeLine,
    ShipNoticeTag,
)
from central.vocab import Outcome
from rules.events import (
    BatchMovement,
    CabinetMovement,
    CabinetWitness,
    Direction,
    Event,
    TemperatureMinute,
    content_id,
)
from rules.progress import SeqProgress


def _conflict(e: Event) -> alerts.Condition:
    return alerts.Condition(
        "conflicting_event", e.event_id, "critical",
        f"event {e.event_id} from {e.site}/{e.gateway} (seq {e.seq}) came again with other"
        " content: not applied, kept in the dead letters",
    )  # fmt: skip


class Applying(Moving, ColdChainRecords):
    def apply(self, event: Event, received_at: datetime | None = None) -> bool:
        """Apply one event; False when it was a duplicate (already applied)."""
        return self.apply_many([(event, received_at or self.clock.now())])[0]

    def apply_many(self, events: list[tuple[Event, datetime]]) -> list[bool]:
        """`apply_batch`, as whether each event was applied."""
        return [o == Outcome.APPLIED for o in self.apply_batch(events)]

    def apply_batch(self, events: list[tuple[Event, datetime]]) -> list[Outcome]:
        """Apply events in order in one transaction (all or nothing). Per event: `applied`,
        `duplicate` (its id was applied before, also within this batch, with the same
        content) or `conflict` (its id was applied before with other content: nothing of it
        is applied, and a critical alert says so)."""
        outcomes: list[Outcome] = []
        self.progress = {}
        digests = [content_id(e) for e, _ in events]
        movements = [e for e, _ in events if isinstance(e, BatchMovement | CabinetMovement)]
        moved = [epc for e in movements for epc in e.epcs]
        to_claim: list[tuple[Event, str]] = [
            (e, d)
            for (e, _), d in zip(events, digests, strict=True)
            if not isinstance(e, TemperatureMinute)
        ]
        minutes: list[TemperatureMinute] = []
        with self.transaction() as s:
            fresh, conflicts = self._claim_many(s, events, to_claim)
            p = Pending()
            self._prefetch(s, p, moved)
            for (event, received_at), digest in zip(events, digests, strict=True):
                if isinstance(event, TemperatureMinute):
                    minutes.append(event)  # idempotent by its key (central.ledger.coldchain)
                    outcomes.append(Outcome.APPLIED)
                    continue
                if conflicts.setdefault(event.event_id, digest) != digest:
                    outcomes.append(Outcome.CONFLICT)
                    alerts.raise_once(s, _conflict(event), received_at)
                    continue
                claimed = event.event_id in fresh
                fresh.discard(event.event_id)  # the same event twice in one batch: once
                outcomes.append(Outcome.APPLIED if claimed else Outcome.DUPLICATE)
                if not claimed:
                    continue
                if isinstance(event, BatchMovement):
                    self._batch_movement(s, p, event)
                elif isinstance(event, CabinetMovement):
                    self._cabinet_movement(s, p, event)
                elif isinstance(event, CabinetWitness):
                    self._cabinet_witness(s, event)
                changes = alerts.from_event(event)
                if (
                    isinstance(event, BatchMovement)
                    and event.uncommissioned
                    and self._all_announced(s, event.epcs)
                ):  # a supplier's ship notice announced them: the delivery books itself
                    changes = [c for c in changes if c[0] != "uncommissioned"]
                alerts.apply_changes(s, changes, received_at)
            self._write(s, p)
            self._record_minutes(s, minutes)
            progress = self._record_progress(s, [e for e, _ in events], self.clock.now())
        self.progress = progress
        return outcomes

    def _all_announced(self, s: Session, epcs: tuple[str, ...]) -> bool:
        """Whether every one of these (new) tags is on a ship notice still on its way."""
        if not epcs:
            return False
        found = set(s.scalars(
            select(ShipNoticeTag.epc)
            .join(ShipNoticeLine, ShipNoticeLine.id == ShipNoticeTag.line_id)
            .join(ShipNotice, ShipNotice.id == ShipNoticeLine.notice_id)
            .where(ShipNoticeTag.epc.in_(epcs[:IN_CHUNK]), ShipNotice.received_at.is_(None))
        ))  # fmt: skip
        return len(found) == len(set(epcs))

    def _record_progress(
        self, s: Session, events: list[Event], now: datetime
    ) -> dict[tuple[str, str], SeqProgress]:
        """Record the seqs of a transaction's events (duplicates and conflicts too: they are
        handled) per gateway; returns the progress of those that changed. The progress row is
        the transaction's last lock, taken in a fixed order, so ledgers never deadlock on it."""
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in events:
            seqs[(e.site, e.gateway)].append(e.seq)
        changed: dict[tuple[str, str], SeqProgress] = {}
        for (site, gateway), batch in sorted(seqs.items()):
            s.execute(
                self._insert(GatewayProgress)
                .values(site=site, gateway=gateway, committed_seq=0, above="[]", updated_at=now)
                .on_conflict_do_nothing(index_elements=["site", "gateway"])
            )
            row = s.scalars(
                select(GatewayProgress)
                .where(GatewayProgress.site == site, GatewayProgress.gateway == gateway)
                .with_for_update()
            ).one()
            before = SeqProgress(row.committed_seq, tuple((a, b) for a, b in json.loads(row.above)))
            after = before.add(batch)
            if after == before:
                continue
            row.committed_seq, row.above = after.committed, json.dumps(after.above)
            row.hole_since = (row.hole_since or now) if after.above else None
            row.updated_at = now
            changed[(site, gateway)] = after
        return changed

    def _claim_many(
        self, s: Session, events: list[tuple[Event, datetime]], claimed: list[tuple[Event, str]]
    ) -> tuple[set[str], dict[str, str]]:
        """Insert every event id at once. Returns the ids that were new (to apply) and, for
        ids applied before, the content they had (None before migration 0005: trusted)."""
        received = {id(e): at for e, at in events}
        rows = [
            {"event_id": e.event_id, "kind": e.kind, "site": e.site, "gateway": e.gateway,
             "seq": e.seq, "occurred_at": ts(e.occurred_at_us), "received_at": received[id(e)],
             "content": digest}
            for e, digest in claimed
        ]  # fmt: skip
        if not rows:
            return set(), {}
        stmt = (
            self._insert(IngestedEvent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(IngestedEvent.event_id)
        )
        fresh = set(s.scalars(stmt))
        seen = sorted({e.event_id for e, _ in claimed} - fresh)
        before: dict[str, str] = {}
        for i in range(0, len(seen), 10_000):
            for event_id, content in s.execute(
                select(IngestedEvent.event_id, IngestedEvent.content).where(
                    IngestedEvent.event_id.in_(seen[i : i + 10_000])
                )
            ):
                if content is not None:
                    before[event_id] = content
        return fresh, before

    def _batch_movement(self, s: Session, p: Pending, e: BatchMovement) -> None:
        batch_id = self._batch(s, e.batch)
        if e.direction == Direction.UNKNOWN or (e.to_zone is None and e.from_zone is None):
            s.add(
                Movement(
                    event_id=e.event_id,
                    kind="batch_seen",
                    batch_id=batch_id,
                    from_location_id=None,
                    to_location_id=None,
                    quantity=e.quantity,
                    biz_step="",
                    actor=e.gateway,
                    case_id="",
                    reason=f"direction unknown at {e.read_point}",
                    occurred_at=ts(e.occurred_at_us),
                    recorded_at=self.clock.now(),
                )
            )
            return
        from_id = self._location(s, e.site, e.from_zone) if e.from_zone else None
        to_id = self._location(s, e.site, e.to_zone) if e.to_zone else None
        move = TagMove(
            epcs=e.epcs, batch_id=batch_id, from_id=from_id, to_id=to_id,
            at=ts(e.occurred_at_us), kind="batch_movement", ref=e.event_id,
            biz_step=e.biz_step or "", actor=e.gateway, expect_known=e.direction == Direction.OUT,
        )  # fmt: skip
        self._move_tags(s, p, move)

    def _user_of(self, s: Session, badge_or_user: str) -> str:
        """The cabinet sends what the badge reader read: a badge or a user id."""
        return s.scalar(select(AppUser.id).where(AppUser.badge == badge_or_user)) or badge_or_user

    def _cabinet_witness(self, s: Session, e: CabinetWitness) -> None:
        s.add(CabinetWitnessBadge(
            event_id=e.event_id, location_id=self._location(s, e.site, e.zone),
            user=self._user_of(s, e.user_id), of_user=self._user_of(s, e.of_user_id),
            session_started_at=ts(e.session_started_us), at=ts(e.occurred_at_us),
        ))  # fmt: skip

    def _cabinet_movement(self, s: Session, p: Pending, e: CabinetMovement) -> None:
        batch_id = self._batch(s, e.batch)
        cabinet = self._location(s, e.site, e.zone)
        take = e.action == "take"
        actor = self._user_of(s, e.user_id) if e.user_id else "unattributed"
        move = TagMove(
            epcs=e.epcs,
            batch_id=batch_id,
            from_id=cabinet if take else None,
            to_id=None if take else cabinet,
            at=ts(e.occurred_at_us),
            kind=f"cabinet_{e.action}",
            ref=e.event_id,
            biz_step="dispensing" if take else "returning",
            actor=actor,
            case_id=e.case_id or "",
            expect_known=take,
        )
        self._move_tags(s, p, move)
