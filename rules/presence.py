"""Presence in areas and shelves: debounced arrival, RSSI-smoothed moves, departure.

Per tag and read point: a tag is confirmed after `min_reads` reads within
`confirm_window` above the zone's RSSI floor (stray single reads vanish). A confirmed tag
moves to another read point when the mobility profile says so, and departs after its
zone's `absence_timeout` without any read. Departure clocks stop while the reader of the
tag's place is down (a dead reader must not make its whole stock leave) and resume,
with the time left, when it is back up.

Event times come from reads, never from the clock that drives `tick`, and never go
backwards per tag: replaying the same reads gives the same events.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rules.batching import TagTransition
from rules.config import ReadPointConfig, ZoneConfig
from rules.events import Direction
from rules.identity import TagIdent, ident_from_uri
from rules.observations import SECOND


@dataclass(slots=True)
class _PlaceStats:
    rssi: deque[float]
    recent: deque[int] = field(default_factory=deque)
    last_us: int = 0
    rssi_sum: float = 0.0

    def mean(self) -> float:
        return self.rssi_sum / len(self.rssi)


@dataclass(slots=True)
class _Tag:
    ident: TagIdent
    place: ReadPointConfig | None = None
    places: dict[str, _PlaceStats] = field(default_factory=dict)
    last_us: int = 0  # latest read time (monotonic)
    absence_base_us: int = 0  # departure clock; shifted forward over reader downtime
    arrived_us: int = 0


class AreaTracker:
    def __init__(self, zones: dict[str, ZoneConfig]) -> None:
        self._zones = zones
        self._timeout_us = {n: int(z.absence_timeout_s * SECOND) for n, z in zones.items()}
        self._window_us = {n: int(z.confirm_window_s * SECOND) for n, z in zones.items()}
        self._tags: dict[str, _Tag] = {}
        self._deadlines: list[tuple[int, str]] = []
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
            tag = self._tags[ident.uri] = _Tag(ident)
        t = t_us if t_us > tag.last_us else tag.last_us
        tag.last_us = t
        stats = tag.places.get(rp.name)
        if stats is None:
            stats = tag.places[rp.name] = _PlaceStats(deque(maxlen=zone.mobility.buffer_size))
        if rssi_dbm is not None:
            if len(stats.rssi) == stats.rssi.maxlen:
                stats.rssi_sum -= stats.rssi[0]
            stats.rssi.append(rssi_dbm)
            stats.rssi_sum += rssi_dbm
        stats.last_us = t
        current = tag.place
        if current is None:
            window = self._window_us[rp.zone]
            recent = stats.recent
            recent.append(t)
            while recent and t - recent[0] > window:
                recent.popleft()
            if len(recent) < zone.min_reads:
                return []
            recent.clear()
            return [self._arrive(tag, rp, t)]
        if current.name == rp.name:
            tag.absence_base_us = max(tag.absence_base_us, t)
            return []
        # Read at another place while confirmed elsewhere: the tag is present; maybe moved.
        tag.absence_base_us = max(tag.absence_base_us, t)
        cur_stats = tag.places.get(current.name)
        if cur_stats is None or not cur_stats.rssi or len(stats.rssi) < zone.mobility.min_samples:
            return []
        dt_ms = (t - cur_stats.last_us) / 1000.0
        if stats.mean() <= cur_stats.mean() + zone.mobility.offset_db(dt_ms):
            return []
        return self._move(tag, rp, t)

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
                tag.absence_base_us += downtime
                heapq.heappush(self._deadlines, (self._deadline(tag), tag.ident.uri))

    def tick(self, now_us: int) -> list[TagTransition]:
        out: list[TagTransition] = []
        dl = self._deadlines
        while dl and dl[0][0] <= now_us:
            _, uri = heapq.heappop(dl)
            tag = self._tags.get(uri)
            if tag is None or tag.place is None:
                continue
            if any(a[0] in self._down_since for a in tag.place.antennas):
                continue  # frozen; re-armed when the reader comes back
            deadline = self._deadline(tag)
            if deadline > now_us:
                heapq.heappush(dl, (deadline, uri))
                continue
            out.append(self._depart(tag, deadline))
        return out

    def forget_before(self, t_us: int) -> None:
        """Drop tags that are not present and were not read since `t_us` (bounded memory)."""
        stale = [u for u, t in self._tags.items() if t.place is None and t.last_us < t_us]
        for uri in stale:
            del self._tags[uri]

    def export(self) -> list[list[Any]]:
        """Present tags as plain data, to survive a restart: [uri, place, last, base, arrived]."""
        return [
            [uri, t.place.name, t.last_us, t.absence_base_us, t.arrived_us]
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
            tag = _Tag(
                ident_from_uri(str(uri)), rp, {}, int(last_us), int(base_us), int(arrived_us)
            )
            self._tags[tag.ident.uri] = tag
            heapq.heappush(self._deadlines, (self._deadline(tag), tag.ident.uri))
            loaded += 1
        return loaded

    # --- state queries --------------------------------------------------------------------

    def present(self) -> dict[str, str]:
        """EPC URI -> read point name of every confirmed tag."""
        return {uri: t.place.name for uri, t in self._tags.items() if t.place is not None}

    # --- transitions ---------------------------------------------------------------------

    def _deadline(self, tag: _Tag) -> int:
        assert tag.place is not None
        return tag.absence_base_us + self._timeout_us[tag.place.zone]

    def _arrive(self, tag: _Tag, rp: ReadPointConfig, t: int) -> TagTransition:
        tag.place = rp
        tag.arrived_us = t
        tag.absence_base_us = t
        heapq.heappush(self._deadlines, (self._deadline(tag), tag.ident.uri))
        return TagTransition(
            ident=tag.ident,
            read_point=rp.name,
            direction=Direction.IN,
            from_zone=None,
            to_zone=rp.zone,
            first_seen_us=t,
            last_seen_us=t,
            confidence=1.0,
        )

    def _move(self, tag: _Tag, rp: ReadPointConfig, t: int) -> list[TagTransition]:
        old = tag.place
        assert old is not None
        tag.place = rp
        self.moves_total += 1
        heapq.heappush(self._deadlines, (self._deadline(tag), tag.ident.uri))
        if old.zone == rp.zone:
            return []
        return [
            TagTransition(
                ident=tag.ident,
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
        tag.places.clear()
        return TagTransition(
            ident=tag.ident,
            read_point=place.name,
            direction=Direction.OUT,
            from_zone=place.zone,
            to_zone=None,
            first_seen_us=tag.arrived_us,
            last_seen_us=at,
            confidence=1.0,
        )
