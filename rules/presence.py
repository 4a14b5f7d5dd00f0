"""Presence in areas and shelves: debounced arrival, RSSI-smoothed moves, departure.

Per tag and read point: a tag is confirmed after `min_reads` reads within
`confirm_window` above the zone's RSSI floor (stray single reads vanish). A confirmed tag
moves to another read point when the mobility profile says so, and departs after its
zone's `absence_timeout` without any read. Departure clocks stop while the reader of the
tag's place is down (a dead reader must not make its whole stock leave) and resume,
with the time left, when it is back up.

Event times come from reads, never from the clock that drives `tick`, and never go
backwards per tag: replaying the same reads gives the same events.

Memory matters (a hospital store holds 100 000 tagged items): a present tag keeps its
identity, place, three times and a 20-byte RSSI ring at its place; candidate places exist
only while another read point hears it. Departures are found by a sweep at most once per
`sweep_interval` instead of a timer per tag; the departure time itself is exact.
"""

from __future__ import annotations

from typing import Any

from rules.batching import TagTransition
from rules.config import ReadPointConfig, ZoneConfig
from rules.events import Direction
from rules.identity import TagIdent, ident_from_uri
from rules.observations import SECOND

_OFFSET = 128  # RSSI is kept as dBm + 128 in one byte (1 dB resolution, -128..127 dBm)


def _byte(rssi_dbm: float) -> int:
    return min(255, max(0, round(rssi_dbm) + _OFFSET))


class _Ring(bytearray):
    """The last N RSSI samples at one place, one byte each; the last two bytes hold the
    write position and the fill (no per-object attributes: 100 000 of these exist)."""

    __slots__ = ()

    @classmethod
    def new(cls, size: int) -> _Ring:
        return cls(size + 2)

    def add(self, rssi_dbm: float) -> None:
        size = len(self) - 2
        pos = self[-2]
        self[pos] = _byte(rssi_dbm)
        self[-2] = (pos + 1) % size
        self[-1] = min(size, self[-1] + 1)

    def filled(self) -> int:
        return self[-1]

    def mean(self) -> float:
        n = self[-1]  # samples fill positions 0..n-1 until the ring wraps
        return sum(self[:n]) / n - _OFFSET


class _Candidate:
    """A place that hears the tag but is not (yet) its place."""

    __slots__ = ("last_us", "recent", "ring")

    def __init__(self, size: int) -> None:
        self.recent: list[int] = []
        self.ring = _Ring.new(size)
        self.last_us = 0


class _Tag:
    __slots__ = (
        "arrived_us",
        "base_us",
        "candidates",
        "last_us",
        "place",
        "place_last_us",
        "ring",
        "uri",
    )

    def __init__(self, uri: str) -> None:
        self.uri = uri  # the identity is derived again on a transition: one object less
        self.place: ReadPointConfig | None = None
        self.last_us = 0  # latest read time (monotonic per tag)
        self.base_us = 0  # departure clock; shifted forward over reader downtime
        self.arrived_us = 0
        self.place_last_us = 0  # last read at the current place
        self.ring: _Ring | None = None
        self.candidates: dict[str, _Candidate] | None = None


class AreaTracker:
    def __init__(self, zones: dict[str, ZoneConfig], sweep_interval_s: float = 1.0) -> None:
        self._zones = zones
        self._timeout_us = {n: int(z.absence_timeout_s * SECOND) for n, z in zones.items()}
        self._window_us = {n: int(z.confirm_window_s * SECOND) for n, z in zones.items()}
        self._sweep_us = int(sweep_interval_s * SECOND)
        self._next_sweep = 0
        self._tags: dict[str, _Tag] = {}
        self._down_since: dict[str, int] = {}
        self.below_floor_total = 0
        self.moves_total = 0

    # --- observations ----------------------------------------------------------------

    def feed(
        self, ident: TagIdent, rp: ReadPointConfig, reader: str, t_us: int, rssi_dbm: float | None
    ) -> list[TagTransition]:
        zone = self._zones[rp.zone]
        if (
            zone.rssi_floor_dbm is not None
            and rssi_dbm is not None
            and rssi_dbm < zone.rssi_floor_dbm
        ):
            self.below_floor_total += 1
            return []
        tag = self._tags.get(ident.uri)
        if tag is None:
            tag = self._tags[ident.uri] = _Tag(ident.uri)
        t = t_us if t_us > tag.last_us else tag.last_us
        tag.last_us = t
        current = tag.place
        if current is not None and current.name == rp.name:
            tag.base_us = t
            tag.place_last_us = t
            if rssi_dbm is not None:
                if tag.ring is None:
                    tag.ring = _Ring.new(zone.mobility.buffer_size)
                tag.ring.add(rssi_dbm)
            return []
        if tag.candidates is None:
            tag.candidates = {}
        cand = tag.candidates.get(rp.name)
        if cand is None:
            cand = tag.candidates[rp.name] = _Candidate(zone.mobility.buffer_size)
        cand.last_us = t
        if rssi_dbm is not None:
            cand.ring.add(rssi_dbm)
        if current is None:
            window = self._window_us[rp.zone]
            cand.recent = [x for x in cand.recent if t - x <= window]
            cand.recent.append(t)
            if len(cand.recent) < zone.min_reads:
                return []
            return [self._arrive(tag, rp, cand, t)]
        # Heard at another place while present: present for sure; maybe it moved.
        tag.base_us = t
        ring = tag.ring
        if ring is None or ring.filled() == 0 or cand.ring.filled() < zone.mobility.min_samples:
            return []
        dt_ms = (t - tag.place_last_us) / 1000.0
        if cand.ring.mean() <= ring.mean() + zone.mobility.offset_db(dt_ms):
            return []
        return self._move(tag, rp, cand, t)

    def reader_status(self, reader: str, up: bool, t_us: int) -> None:
        """Freeze departure clocks of a reader's tags while it is down."""
        if not up:
            self._down_since.setdefault(reader, t_us)
            return
        since = self._down_since.pop(reader, None)
        if since is None:
            return
        downtime = max(0, t_us - since)
        for tag in self._tags.values():
            if tag.place is not None and any(a[0] == reader for a in tag.place.antennas):
                tag.base_us += downtime

    def tick(self, now_us: int) -> list[TagTransition]:
        if now_us < self._next_sweep:
            return []
        self._next_sweep = now_us + self._sweep_us
        out: list[TagTransition] = []
        down = self._down_since
        for tag in list(self._tags.values()):
            place = tag.place
            if place is None:
                continue
            deadline = tag.base_us + self._timeout_us[place.zone]
            if deadline > now_us:
                continue
            if down and any(a[0] in down for a in place.antennas):
                continue  # frozen while the reader is down
            out.append(self._depart(tag, deadline))
        return out

    def forget_before(self, t_us: int) -> None:
        """Drop tags that are not present and were not read since `t_us` (bounded memory),
        and candidate places of present tags that went quiet."""
        stale = []
        for uri, tag in self._tags.items():
            if tag.place is None:
                if tag.last_us < t_us:
                    stale.append(uri)
            elif tag.candidates is not None:
                quiet = [n for n, c in tag.candidates.items() if c.last_us < t_us]
                for n in quiet:
                    del tag.candidates[n]
                if not tag.candidates:
                    tag.candidates = None
        for uri in stale:
            del self._tags[uri]

    def export(self) -> list[list[Any]]:
        """Present tags as plain data, to survive a restart: [uri, place, last, base, arrived]."""
        return [
            [uri, t.place.name, t.last_us, t.base_us, t.arrived_us]
            for uri, t in self._tags.items()
            if t.place is not None
        ]

    def restore(self, rows: list[list[Any]], places: dict[str, ReadPointConfig]) -> int:
        """Load `export()` output; tags whose read point no longer exists are skipped."""
        loaded = 0
        for uri, place, last_us, base_us, arrived_us in rows:
            rp = places.get(str(place))
            if rp is None or rp.zone not in self._zones:
                continue
            tag = _Tag(str(uri))
            tag.place = rp
            tag.last_us = tag.place_last_us = int(last_us)
            tag.base_us = int(base_us)
            tag.arrived_us = int(arrived_us)
            self._tags[tag.uri] = tag
            loaded += 1
        return loaded

    # --- state queries --------------------------------------------------------------------

    def idle(self) -> bool:
        """Every tracked tag has its place (no arrival still being confirmed)."""
        return all(t.place is not None for t in self._tags.values())

    def present(self) -> dict[str, str]:
        """EPC URI -> read point name of every confirmed tag."""
        return {uri: t.place.name for uri, t in self._tags.items() if t.place is not None}

    # --- transitions ---------------------------------------------------------------------

    def _take_place(self, tag: _Tag, rp: ReadPointConfig, cand: _Candidate, t: int) -> None:
        tag.place = rp
        tag.place_last_us = t
        tag.base_us = t
        tag.ring = cand.ring if cand.ring.filled() else None
        assert tag.candidates is not None
        del tag.candidates[rp.name]
        if not tag.candidates:
            tag.candidates = None

    def _arrive(self, tag: _Tag, rp: ReadPointConfig, cand: _Candidate, t: int) -> TagTransition:
        self._take_place(tag, rp, cand, t)
        tag.arrived_us = t
        tag.candidates = None  # other places that heard it before it arrived are moot
        return TagTransition(
            ident=ident_from_uri(tag.uri),
            read_point=rp.name,
            direction=Direction.IN,
            from_zone=None,
            to_zone=rp.zone,
            first_seen_us=t,
            last_seen_us=t,
            confidence=1.0,
        )

    def _move(
        self, tag: _Tag, rp: ReadPointConfig, cand: _Candidate, t: int
    ) -> list[TagTransition]:
        old = tag.place
        assert old is not None
        self._take_place(tag, rp, cand, t)
        self.moves_total += 1
        if old.zone == rp.zone:
            return []
        return [
            TagTransition(
                ident=ident_from_uri(tag.uri),
                read_point=rp.name,
                direction=Direction.IN,
                from_zone=old.zone,
                to_zone=rp.zone,
                first_seen_us=t,
                last_seen_us=t,
                confidence=1.0,
            )
        ]

    def _depart(self, tag: _Tag, deadline: int) -> TagTransition:
        place = tag.place
        assert place is not None
        at = max(deadline, tag.last_us)
        tag.last_us = at
        tag.place = None
        tag.ring = None
        tag.candidates = None
        return TagTransition(
            ident=ident_from_uri(tag.uri),
            read_point=place.name,
            direction=Direction.OUT,
            from_zone=place.zone,
            to_zone=None,
            first_seen_us=tag.arrived_us,
            last_seen_us=at,
            confidence=1.0,
        )
