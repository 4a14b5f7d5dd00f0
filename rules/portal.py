"""Doorway direction: which way did a tag cross a portal of two antenna groups?

Per (portal, tag) a pass collects, for the inside and the outside group, when the tag was
first and last strongly seen. When the pass ends (`pass_gap` of silence), the decision is:

- outside first *and* inside last -> IN; inside first *and* outside last -> OUT;
- one group only, or the two orders disagree -> UNKNOWN (still reported);
- confidence = min(1, (|d_first| + |d_last|) / (2 * min_separation)) * min(1, reads/min_reads)
  on each side; below `min_confidence` the pass is UNKNOWN.

Fewer than `min_reads` reads in a pass is a stray read and vanishes. A tag that crossed
within `holdoff` before does not produce a new pass (a cart lingering in the doorway does
not flap); the suppressed pass is counted.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from rules.batching import TagTransition
from rules.config import PortalConfig
from rules.events import Direction
from rules.identity import TagIdent
from rules.observations import SECOND

INSIDE = 0
OUTSIDE = 1


@dataclass(slots=True)
class _Pass:
    ident: TagIdent
    first_us: int
    last_us: int
    reads: int
    first_side: list[int | None]
    last_side: list[int | None]
    side_reads: list[int]


class PortalTracker:
    def __init__(self, cfg: PortalConfig) -> None:
        self.cfg = cfg
        self._gap_us = int(cfg.pass_gap_s * SECOND)
        self._holdoff_us = int(cfg.holdoff_s * SECOND)
        self._sep_us = max(1, int(cfg.min_separation_s * SECOND))
        self._passes: dict[str, _Pass] = {}
        self._deadlines: list[tuple[int, str]] = []
        self._last_decided: dict[str, int] = {}
        self.stray_passes_total = 0
        self.suppressed_passes_total = 0
        self.below_floor_total = 0

    def feed(
        self, ident: TagIdent, side: int, t_us: int, rssi_dbm: float | None
    ) -> list[TagTransition]:
        cfg = self.cfg
        if (
            cfg.rssi_floor_dbm is not None
            and rssi_dbm is not None
            and rssi_dbm < cfg.rssi_floor_dbm
        ):
            self.below_floor_total += 1
            return []
        out: list[TagTransition] = []
        p = self._passes.get(ident.uri)
        if p is not None and t_us > p.last_us + self._gap_us:
            out.extend(self._close(self._passes.pop(ident.uri)))
            p = None
        if p is None:
            p = _Pass(ident, t_us, t_us, 0, [None, None], [None, None], [0, 0])
            self._passes[ident.uri] = p
            heapq.heappush(self._deadlines, (t_us + self._gap_us, ident.uri))
        t = t_us if t_us > p.last_us else p.last_us  # time never goes backwards per tag
        p.last_us = t
        p.reads += 1
        if cfg.strong_rssi_dbm is None or rssi_dbm is None or rssi_dbm >= cfg.strong_rssi_dbm:
            if p.first_side[side] is None:
                p.first_side[side] = t
            p.last_side[side] = t
            p.side_reads[side] += 1
        return out

    def idle(self) -> bool:
        """No pass is open (nothing a snapshot would miss)."""
        return not self._passes

    def tick(self, now_us: int) -> list[TagTransition]:
        out: list[TagTransition] = []
        dl = self._deadlines
        while dl and dl[0][0] < now_us:
            _, uri = heapq.heappop(dl)
            p = self._passes.get(uri)
            if p is None:
                continue
            if p.last_us + self._gap_us < now_us:
                out.extend(self._close(self._passes.pop(uri)))
            else:  # read again since: check again at its new deadline
                heapq.heappush(dl, (p.last_us + self._gap_us, uri))
        return out

    def _close(self, p: _Pass) -> list[TagTransition]:
        cfg = self.cfg
        if p.reads < cfg.min_reads:
            self.stray_passes_total += 1
            return []
        previous = self._last_decided.get(p.ident.uri)
        if previous is not None and p.first_us - previous <= self._holdoff_us:
            self.suppressed_passes_total += 1
            self._last_decided[p.ident.uri] = p.last_us
            return []
        self._last_decided[p.ident.uri] = p.last_us
        direction, confidence = self._decide(p)
        from_zone: str | None
        to_zone: str | None
        if direction == Direction.IN:
            from_zone, to_zone = cfg.outside_zone, cfg.inside_zone
        elif direction == Direction.OUT:
            from_zone, to_zone = cfg.inside_zone, cfg.outside_zone
        else:
            from_zone = to_zone = None
        return [
            TagTransition(
                ident=p.ident,
                read_point=cfg.name,
                direction=direction,
                from_zone=from_zone,
                to_zone=to_zone,
                first_seen_us=p.first_us,
                last_seen_us=p.last_us,
                confidence=confidence,
            )
        ]

    def _decide(self, p: _Pass) -> tuple[Direction, float]:
        fi, fo = p.first_side
        li, lo = p.last_side
        if fi is None or fo is None or li is None or lo is None:
            return Direction.UNKNOWN, 0.0
        d_first = fi - fo  # > 0: outside saw it first
        d_last = li - lo  # > 0: inside saw it last
        if d_first > 0 and d_last > 0:
            direction = Direction.IN
        elif d_first < 0 and d_last < 0:
            direction = Direction.OUT
        else:
            return Direction.UNKNOWN, 0.0
        separation = min(1.0, (abs(d_first) + abs(d_last)) / (2 * self._sep_us))
        need = max(1, self.cfg.min_reads)
        coverage = min(1.0, min(p.side_reads) / need)
        confidence = round(separation * coverage, 3)
        if confidence < self.cfg.min_confidence:
            return Direction.UNKNOWN, confidence
        return direction, confidence

    def forget_before(self, t_us: int) -> None:
        """Drop hold-off memory older than `t_us` (bounded memory over months)."""
        horizon = t_us - self._holdoff_us
        self._last_decided = {k: v for k, v in self._last_decided.items() if v >= horizon}
