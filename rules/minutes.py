"""Per-minute temperature summaries of one sensor (pure; time is an argument).

The cold-chain state machines (rules.coldchain) say when a unit is out of range; this says
what the temperature was, minute by minute, for the record a pharmacist or an inspector
reads later: min, mean and max of the valid samples, how many samples and faults. A minute
is closed by the first sample of a later minute or, when the sensor goes quiet, by a tick
`grace_us` after its end; a sample older than the open minute (reordered) is counted in
`late_total` and left out: a closed minute is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from rules.events import TemperatureMinute
from rules.observations import MINUTE, SECOND, TemperatureSample

GRACE_US: Final = 10 * SECOND  # a poll stamped 59.9 s may reach the rules thread a bit later


@dataclass(slots=True)
class _Open:
    start_us: int
    samples: int = 0
    faults: int = 0
    total: float = 0.0
    min_c: float | None = None
    max_c: float | None = None


class MinuteSummaries:
    """Summaries of one sensor of one unit, with the unit's alarm limits on each."""

    def __init__(
        self,
        unit: str,
        sensor: str,
        low_c: float | None,
        high_c: float | None,
        grace_us: int = GRACE_US,
    ) -> None:
        self.unit, self.sensor, self.low_c, self.high_c = unit, sensor, low_c, high_c
        self.grace_us = grace_us
        self._open: _Open | None = None
        self.late_total = 0

    def feed(self, sample: TemperatureSample, valid: bool) -> list[TemperatureMinute]:
        """Account one sample (`valid` as the cold-chain monitor judged it); returns the
        minute it closed, if any."""
        start = sample.t_us - sample.t_us % MINUTE
        out: list[TemperatureMinute] = []
        if self._open is not None and start < self._open.start_us:
            self.late_total += 1
            return out
        if self._open is not None and start > self._open.start_us:
            out.append(self._close())
        if self._open is None:
            self._open = _Open(start)
        m = self._open
        if valid and sample.value_c is not None:
            v = sample.value_c
            m.samples += 1
            m.total += v
            m.min_c = v if m.min_c is None else min(m.min_c, v)
            m.max_c = v if m.max_c is None else max(m.max_c, v)
        else:
            m.faults += 1
        return out

    def tick(self, now_us: int) -> list[TemperatureMinute]:
        if self._open is not None and now_us >= self._open.start_us + MINUTE + self.grace_us:
            return [self._close()]
        return []

    def export(self) -> dict[str, Any]:
        m = self._open
        if m is None:
            return {"open": None}
        return {"open": [m.start_us, m.samples, m.faults, m.total, m.min_c, m.max_c]}

    def restore(self, data: dict[str, Any]) -> None:
        saved = data.get("open")
        self._open = None if saved is None else _Open(*saved)

    def _close(self) -> TemperatureMinute:
        m = self._open
        assert m is not None
        self._open = None
        mean = None
        if m.samples and m.min_c is not None and m.max_c is not None:
            # rounding and float sums may step outside min..max: clamp
            mean = min(max(round(m.total / m.samples, 3), m.min_c), m.max_c)
        return TemperatureMinute(
            occurred_at_us=m.start_us,
            unit=self.unit,
            sensor=self.sensor,
            samples=m.samples,
            faults=m.faults,
            min_c=m.min_c,
            mean_c=mean,
            max_c=m.max_c,
            low_c=self.low_c,
            high_c=self.high_c,
        )
