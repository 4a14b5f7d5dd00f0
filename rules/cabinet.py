"""Smart-cabinet door cycles: badge -> door open -> door close -> K scans -> diff.

The union of the K scans after the door closes is compared with the last committed
inventory: items that are gone were taken, new items were returned, both attributed to the
badge session (user, case/patient). A tag seen in some but not all scans is `suspect`
(reported, kept in stock until a later cycle confirms it gone). A failed scan never
produces removals. Changes without an authenticated session are flagged `unattributed`.
The very first successful scan is the baseline: it sets the inventory without movements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.events import CabinetAlert, CabinetMovement, CabinetWitness
from rules.identity import IdentityResolver, group_by_batch
from rules.observations import SECOND, BadgeEvent, CabinetScan, DoorEvent

CabinetEvent = CabinetMovement | CabinetAlert | CabinetWitness


@dataclass(frozen=True, slots=True, kw_only=True)
class CabinetConfig:
    name: str
    zone: str
    scans_after_close: int = 2
    door_ajar_s: float = 60.0
    session_timeout_s: float = 120.0
    # a different badge this soon after a session's badge witnesses that session
    witness_window_s: float = 120.0


@dataclass(slots=True)
class _Session:
    user_id: str
    case_id: str | None
    session_id: str
    started_us: int


@dataclass(slots=True)
class _Cycle:
    session: _Session | None
    scans: list[CabinetScan] = field(default_factory=list)


class CabinetCycle:
    def __init__(
        self,
        cfg: CabinetConfig,
        resolver: IdentityResolver,
        inventory: frozenset[str] | None = None,
    ) -> None:
        self.cfg = cfg
        self._resolver = resolver
        self.inventory: frozenset[str] | None = inventory  # EPC URIs; None = not yet known
        self._session: _Session | None = None
        self._door_open_since: int | None = None
        self._ajar_reported = False
        self._open_session: _Session | None = None
        self._last_session: _Session | None = None  # the last badge's, for a witness
        self._cycle: _Cycle | None = None
        self._timeout_us = int(cfg.session_timeout_s * SECOND)
        self._ajar_us = int(cfg.door_ajar_s * SECOND)

    def idle(self) -> bool:
        """No badge session, door cycle or open door in progress."""
        return (
            self._session is None
            and self._open_session is None
            and self._cycle is None
            and self._door_open_since is None
        )

    def feed(self, obs: BadgeEvent | DoorEvent | CabinetScan) -> list[CabinetEvent]:
        if isinstance(obs, BadgeEvent):
            out: list[CabinetEvent] = []
            last = self._last_session
            if (
                last is not None
                and last.user_id != obs.user_id
                and obs.t_us - last.started_us <= self.cfg.witness_window_s * SECOND
            ):
                out.append(CabinetWitness(
                    occurred_at_us=obs.t_us, cabinet=self.cfg.name, zone=self.cfg.zone,
                    user_id=obs.user_id, of_user_id=last.user_id, session_id=last.session_id,
                    session_started_us=last.started_us,
                ))  # fmt: skip
            self._session = _Session(
                obs.user_id, obs.case_id, f"{self.cfg.name}-{obs.t_us}", obs.t_us
            )
            self._last_session = None if out else self._session  # one witness per session
            return out
        if isinstance(obs, DoorEvent):
            return self._door(obs)
        return self._scan(obs)

    def tick(self, now_us: int) -> list[CabinetEvent]:
        out: list[CabinetEvent] = []
        since = self._door_open_since
        if since is not None and not self._ajar_reported and now_us - since > self._ajar_us:
            self._ajar_reported = True
            who = self._open_session.user_id if self._open_session else None
            out.append(
                CabinetAlert(
                    occurred_at_us=since + self._ajar_us,
                    cabinet=self.cfg.name,
                    reason="door_ajar",
                    detail=f"door open for more than {self.cfg.door_ajar_s:.0f} s",
                    user_id=who,
                )
            )
        s = self._session
        if (
            s is not None
            and self._door_open_since is None
            and now_us - s.started_us > self._timeout_us
        ):
            self._session = None
        return out

    # --- internals ---------------------------------------------------------------------

    def _door(self, obs: DoorEvent) -> list[CabinetEvent]:
        if obs.is_open:
            if self._door_open_since is None:
                self._door_open_since = obs.t_us
                self._ajar_reported = False
                s = self._session
                if s is not None and obs.t_us - s.started_us > self._timeout_us:
                    s = None
                self._open_session = s
                self._session = None
            return []
        if self._door_open_since is None:
            return []
        out = self.tick(obs.t_us)
        self._door_open_since = None
        self._cycle = _Cycle(self._open_session)
        self._open_session = None
        return out

    def _scan(self, scan: CabinetScan) -> list[CabinetEvent]:
        cycle = self._cycle
        if cycle is None:  # a scan outside a door cycle (periodic check)
            return self._diff([scan], None)
        cycle.scans.append(scan)
        if len(cycle.scans) < self.cfg.scans_after_close:
            return []
        self._cycle = None
        return self._diff(cycle.scans, cycle.session)

    def _diff(self, scans: list[CabinetScan], session: _Session | None) -> list[CabinetEvent]:
        ident = self._resolver.ident
        ok_sets = [frozenset(ident(h).uri for h in s.epcs) for s in scans if s.ok]
        failed = [s for s in scans if not s.ok]
        at = scans[-1].t_us
        out: list[CabinetEvent] = []
        if failed:
            out.append(
                CabinetAlert(
                    occurred_at_us=at,
                    cabinet=self.cfg.name,
                    reason="scan_failed",
                    detail="; ".join(s.error or "scan failed" for s in failed),
                    user_id=session.user_id if session else None,
                )
            )
        if not ok_sets:
            return out
        union = frozenset().union(*ok_sets)
        if self.inventory is None:
            if not failed:
                self.inventory = union
            return out
        returned = union - self.inventory
        taken = frozenset() if failed else self.inventory - union
        suspects = (self.inventory & union) - frozenset.intersection(*ok_sets)
        self.inventory = (self.inventory | union) if failed else union
        if suspects:
            out.append(
                CabinetAlert(
                    occurred_at_us=at,
                    cabinet=self.cfg.name,
                    reason="suspect_missing",
                    detail=f"{len(suspects)} item(s) missing from some scans",
                    epcs=tuple(sorted(suspects)),
                    user_id=session.user_id if session else None,
                )
            )
        if (taken or returned) and session is None:
            out.append(
                CabinetAlert(
                    occurred_at_us=at,
                    cabinet=self.cfg.name,
                    reason="unattributed_change",
                    detail=f"{len(taken)} taken, {len(returned)} returned without a badge session",
                    epcs=tuple(sorted(taken | returned)),
                )
            )
        out.extend(self._movements("take", taken, at, session))
        out.extend(self._movements("return", returned, at, session))
        return out

    def _movements(
        self, action: str, uris: frozenset[str], at: int, session: _Session | None
    ) -> list[CabinetEvent]:
        out: list[CabinetEvent] = []
        for batch, uncommissioned, members in group_by_batch(uris, self._resolver.batch_of_uri):
            out.append(
                CabinetMovement(
                    occurred_at_us=at,
                    cabinet=self.cfg.name,
                    zone=self.cfg.zone,
                    action="take" if action == "take" else "return",
                    batch=batch,
                    quantity=len(members),
                    epcs=tuple(sorted(members)),
                    user_id=session.user_id if session else None,
                    case_id=session.case_id if session else None,
                    session_id=session.session_id if session else None,
                    attributed=session is not None,
                    uncommissioned=uncommissioned,
                )
            )
        return out
