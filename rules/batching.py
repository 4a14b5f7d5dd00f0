"""Zone rules and batch aggregation: per-tag transitions -> one movement per batch.

Tags that cross the same read point in the same direction within `cart_gap` of each other
are one cart pass; when the pass is over, it yields one `BatchMovement` per (GTIN, lot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.config import ZoneRule
from rules.events import BatchMovement, Direction
from rules.identity import IdentityResolver, TagIdent, group_by_batch


@dataclass(frozen=True, slots=True, kw_only=True)
class TagTransition:
    """One tag changed zone (or crossed a portal); internal to the rules core."""

    ident: TagIdent
    read_point: str
    direction: Direction
    from_zone: str | None
    to_zone: str | None
    first_seen_us: int
    last_seen_us: int
    confidence: float


class ZoneRules:
    """Maps (from zone, to zone) to a business step; exact rules win over wildcards."""

    def __init__(self, rules: tuple[ZoneRule, ...]) -> None:
        self._rules = {(r.from_zone, r.to_zone): r.biz_step for r in rules}

    def biz_step(self, from_zone: str | None, to_zone: str | None) -> str | None:
        for key in ((from_zone, to_zone), (from_zone, "*"), ("*", to_zone), ("*", "*")):
            step = self._rules.get(key)
            if step is not None:
                return step
        return None


_GroupKey = tuple[str, Direction, str | None, str | None]


@dataclass(slots=True)
class _Group:
    members: dict[str, TagTransition] = field(default_factory=dict)
    first_us: int = 0
    last_us: int = 0


class BatchAggregator:
    def __init__(
        self,
        resolver: IdentityResolver,
        zone_rules: ZoneRules,
        *,
        cart_gap_us: int,
        settle_us: int,
        max_tags: int = 5000,
    ) -> None:
        self._resolver = resolver
        self._zone_rules = zone_rules
        self._cart_gap_us = cart_gap_us
        self._settle_us = settle_us
        # A pass that never pauses (a whole store read on installation day) is cut here,
        # so memory and event payloads stay bounded; stock is a sum, so two events for one
        # batch are as good as one.
        self._max_tags = max_tags
        self._open: dict[_GroupKey, _Group] = {}

    def add(self, tr: TagTransition) -> list[BatchMovement]:
        key = (tr.read_point, tr.direction, tr.from_zone, tr.to_zone)
        out: list[BatchMovement] = []
        group = self._open.get(key)
        if group is not None and tr.first_seen_us > group.last_us + self._cart_gap_us:
            # The pass is over. Passes that ended no later go out first, so that a tag in
            # two passes never gets an event older than one already emitted.
            done = [k for k, g in self._open.items() if g.last_us <= group.last_us]
            for k in sorted(done, key=lambda k: self._open[k].last_us):
                out.extend(self._close(k, self._open.pop(k)))
            group = None
        if group is None:
            group = _Group(first_us=tr.first_seen_us, last_us=tr.last_seen_us)
            self._open[key] = group
        previous = group.members.get(tr.ident.uri)
        if previous is None or previous.last_seen_us <= tr.last_seen_us:
            group.members[tr.ident.uri] = tr
        group.first_us = min(group.first_us, tr.first_seen_us)
        group.last_us = max(group.last_us, tr.last_seen_us)
        if len(group.members) >= self._max_tags:
            out.extend(self._close(key, self._open.pop(key)))
        return out

    def idle(self) -> bool:
        """No cart pass is open (nothing a snapshot would miss)."""
        return not self._open

    def tick(self, now_us: int) -> list[BatchMovement]:
        """Close cart passes that no further tag can join any more."""
        horizon = self._cart_gap_us + self._settle_us
        done = [k for k, g in self._open.items() if now_us > g.last_us + horizon]
        out: list[BatchMovement] = []
        for key in sorted(done, key=lambda k: self._open[k].last_us):
            out.extend(self._close(key, self._open.pop(key)))
        return out

    def flush(self) -> list[BatchMovement]:
        out: list[BatchMovement] = []
        for key in list(self._open):
            out.extend(self._close(key, self._open.pop(key)))
        return out

    def _close(self, key: _GroupKey, group: _Group) -> list[BatchMovement]:
        read_point, direction, from_zone, to_zone = key
        step = (
            self._zone_rules.biz_step(from_zone, to_zone)
            if direction != Direction.UNKNOWN
            else None
        )
        out = []
        batches = group_by_batch(group.members.values(), lambda tr: self._resolver.batch(tr.ident))
        for batch, uncommissioned, members in batches:
            out.append(
                BatchMovement(
                    occurred_at_us=group.last_us,
                    read_point=read_point,
                    direction=direction,
                    from_zone=from_zone,
                    to_zone=to_zone,
                    biz_step=step,
                    batch=batch,
                    quantity=len(members),
                    epcs=tuple(sorted(m.ident.uri for m in members)),
                    first_seen_us=min(m.first_seen_us for m in members),
                    last_seen_us=max(m.last_seen_us for m in members),
                    confidence=round(sum(m.confidence for m in members) / len(members), 3),
                    uncommissioned=uncommissioned,
                )
            )
        return out
