"""Cold-chain evaluation of fridges, freezers and blood stores (pure; time is an argument).

Each unit has a profile. Every condition (high/low alarm, high/low pre-alarm, freeze,
cumulative time out of range) runs its own state machine NORMAL -> PENDING -> ACTIVE ->
CLEARED and emits each transition. A condition becomes ACTIVE when the excursion lasted its
delay (single continuous excursion), and clears only once the value is back inside by the
hysteresis. Faulty samples (error, sentinel, physically impossible) and silence make the
sensor `fault`/`offline`; neither counts as "in range": conditions keep their state, a
pending excursion does not clear, and gaps are never filled in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from rules.events import AlarmState, ColdChainTransition, SensorStatus
from rules.observations import HOUR, MINUTE, SECOND, TemperatureSample

Condition = Literal["high_alarm", "low_alarm", "high_warn", "low_warn", "freeze", "cumulative"]
MKT_DH_OVER_R: Final = 10_000.0  # USP: dH = 83.144 kJ/mol, R = 8.3144e-3 kJ/(mol K)
KELVIN: Final = 273.15


@dataclass(frozen=True, slots=True, kw_only=True)
class ColdChainProfile:
    name: str
    low_alarm: float | None
    high_alarm: float | None
    low_warn: float | None = None
    high_warn: float | None = None
    freeze_at: float | None = None  # e.g. 0 °C on a 2–8 °C fridge: alarms without delay
    alarm_delay_s: float = 15 * 60
    warn_delay_s: float = 30 * 60
    freeze_delay_s: float = 0.0
    cumulative_limit_s: float | None = 60 * 60
    cumulative_window_s: float = 24 * 3600
    hysteresis_c: float = 0.5
    poll_interval_s: float = 60.0
    valid_min_c: float = -100.0
    valid_max_c: float = 80.0
    sentinels: tuple[float, ...] = (-3276.8, 3276.7, -999.0, 850.0)

    @property
    def offline_after_s(self) -> float:
        return max(3 * self.poll_interval_s, 600.0)


PRESETS: Final = {
    "fridge": ColdChainProfile(
        name="fridge", low_alarm=2.0, high_alarm=8.0, low_warn=3.0, high_warn=7.0, freeze_at=0.0
    ),
    "freezer": ColdChainProfile(name="freezer", low_alarm=-50.0, high_alarm=-15.0),
    "usp_freezer": ColdChainProfile(name="usp_freezer", low_alarm=-25.0, high_alarm=-10.0),
    "red_cells": ColdChainProfile(
        name="red_cells", low_alarm=2.0, high_alarm=6.0, low_warn=2.5, high_warn=5.5, freeze_at=0.0
    ),
    "platelets": ColdChainProfile(name="platelets", low_alarm=20.0, high_alarm=24.0),
    "plasma": ColdChainProfile(name="plasma", low_alarm=None, high_alarm=-18.0),
}


def preset(name: str, **overrides: float | None) -> ColdChainProfile:
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]


@dataclass(slots=True)
class _Cond:
    name: Condition
    state: AlarmState = AlarmState.NORMAL
    since_us: int | None = None
    # the excursion's samples so far: min, max, and the running sum for its MKT
    min_c: float | None = None
    max_c: float | None = None
    mkt_sum: float = 0.0
    mkt_n: int = 0

    def start(self, t: int) -> None:
        self.since_us, self.min_c, self.max_c, self.mkt_sum, self.mkt_n = t, None, None, 0.0, 0

    def add(self, v: float) -> None:
        self.min_c = v if self.min_c is None else min(self.min_c, v)
        self.max_c = v if self.max_c is None else max(self.max_c, v)
        self.mkt_sum += math.exp(-MKT_DH_OVER_R / (v + KELVIN))
        self.mkt_n += 1

    def mkt(self) -> float | None:
        """MKT of the excursion's samples, equally weighted (they come at the poll rate)."""
        if not self.mkt_n:
            return None
        return round(MKT_DH_OVER_R / -math.log(self.mkt_sum / self.mkt_n) - KELVIN, 2)


class ColdChainMonitor:
    """State of one sensor in one unit; `feed` samples, `tick` for silence and delays."""

    def __init__(self, unit: str, sensor: str, profile: ColdChainProfile) -> None:
        self.unit = unit
        self.sensor = sensor
        self.profile = profile
        p = profile
        self._offline_us = int(p.offline_after_s * SECOND)
        self._delays = {
            "high_alarm": int(p.alarm_delay_s * SECOND),
            "low_alarm": int(p.alarm_delay_s * SECOND),
            "high_warn": int(p.warn_delay_s * SECOND),
            "low_warn": int(p.warn_delay_s * SECOND),
            "freeze": int(p.freeze_delay_s * SECOND),
        }
        names: list[Condition] = []
        if p.high_alarm is not None:
            names.append("high_alarm")
        if p.low_alarm is not None:
            names.append("low_alarm")
        if p.high_warn is not None:
            names.append("high_warn")
        if p.low_warn is not None:
            names.append("low_warn")
        if p.freeze_at is not None:
            names.append("freeze")
        self._conds = [_Cond(n) for n in names]
        self._cumulative = _Cond("cumulative")
        self.status: Literal["ok", "fault", "offline"] = "ok"
        self.last_valid_us: int | None = None
        self.last_value: float | None = None
        self._out_intervals: deque[tuple[int, int]] = deque()
        self._last_t_us: int | None = None
        self.faults_total = 0

    # --- public --------------------------------------------------------------------------

    def feed(self, sample: TemperatureSample) -> list[ColdChainTransition | SensorStatus]:
        t = sample.t_us
        if self._last_t_us is not None and t < self._last_t_us:
            return []  # a sample older than one already evaluated cannot rewrite history
        self._last_t_us = t
        out: list[ColdChainTransition | SensorStatus] = list(self._escalate(t))
        fault = self.fault_reason(sample)
        if fault:
            self.faults_total += 1
            if self.status != "fault":
                self.status = "fault"
                out.append(self._status(t, "fault", fault))
            return out
        value = sample.value_c
        assert value is not None
        if self.status != "ok":
            reason = "valid sample after " + self.status
            self.status = "ok"
            out.append(self._status(t, "ok", reason))
        self._account_cumulative(t, value)
        self.last_valid_us = t
        self.last_value = value
        for cond in self._conds:
            out.extend(self._evaluate(cond, t, value))
        out.extend(self._evaluate_cumulative(t))
        return out

    def tick(self, now_us: int) -> list[ColdChainTransition | SensorStatus]:
        out: list[ColdChainTransition | SensorStatus] = list(self._escalate(now_us))
        if (
            self.last_valid_us is not None
            and self.status != "offline"
            and now_us - self.last_valid_us > self._offline_us
        ):
            self.status = "offline"
            at = self.last_valid_us + self._offline_us
            out.append(
                self._status(
                    at, "offline", f"no valid sample for {self.profile.offline_after_s:.0f} s"
                )
            )
        return out

    def export(self) -> dict[str, object]:
        """The monitor's state as plain data, to survive a restart."""
        return {
            "conds": {
                c.name: [c.state.value, c.since_us, c.min_c, c.max_c, c.mkt_sum, c.mkt_n]
                for c in (*self._conds, self._cumulative)
            },
            "status": self.status,
            "last_valid_us": self.last_valid_us,
            "last_value": self.last_value,
            "last_t_us": self._last_t_us,
            "out": [list(iv) for iv in self._out_intervals],
        }

    def restore(self, data: dict[str, Any]) -> None:
        for c in (*self._conds, self._cumulative):
            saved = data.get("conds", {}).get(c.name)
            if saved is not None:
                c.state, c.since_us = AlarmState(saved[0]), saved[1]
                if len(saved) == 6:  # snapshots before excursion statistics have two fields
                    c.min_c, c.max_c, c.mkt_sum, c.mkt_n = saved[2:]
        self.status = data.get("status", "ok")
        self.last_valid_us = data.get("last_valid_us")
        self.last_value = data.get("last_value")
        self._last_t_us = data.get("last_t_us")
        self._out_intervals = deque((int(a), int(b)) for a, b in data.get("out", []))

    def states(self) -> dict[str, AlarmState]:
        return {c.name: c.state for c in (*self._conds, self._cumulative)}

    def time_out_of_range_s(self, now_us: int) -> float:
        start = now_us - int(self.profile.cumulative_window_s * SECOND)
        total = sum(max(0, min(b, now_us) - max(a, start)) for a, b in self._out_intervals)
        return total / SECOND

    # --- internals -----------------------------------------------------------------------

    def fault_reason(self, s: TemperatureSample) -> str:
        """Why a sample is not a valid temperature ("" when it is)."""
        if s.fault:
            return s.fault
        v = s.value_c
        if v is None or math.isnan(v) or math.isinf(v):
            return "no value"
        if any(abs(v - x) < 1e-9 for x in self.profile.sentinels):
            return f"sentinel value {v}"
        if not self.profile.valid_min_c <= v <= self.profile.valid_max_c:
            return f"physically impossible value {v}"
        return ""

    def _is_out(self, name: Condition, v: float) -> bool:
        p = self.profile
        if name == "high_alarm":
            return v > p.high_alarm  # type: ignore[operator]
        if name == "low_alarm":
            return v < p.low_alarm  # type: ignore[operator]
        if name == "high_warn":
            return v > p.high_warn  # type: ignore[operator]
        if name == "low_warn":
            return v < p.low_warn  # type: ignore[operator]
        return v <= p.freeze_at  # type: ignore[operator]

    def _is_back(self, name: Condition, v: float) -> bool:
        p = self.profile
        h = p.hysteresis_c
        if name == "high_alarm":
            return v <= p.high_alarm - h  # type: ignore[operator]
        if name == "low_alarm":
            return v >= p.low_alarm + h  # type: ignore[operator]
        if name == "high_warn":
            return v <= p.high_warn - h  # type: ignore[operator]
        if name == "low_warn":
            return v >= p.low_warn + h  # type: ignore[operator]
        return v > p.freeze_at + h  # type: ignore[operator]

    def _threshold(self, name: Condition) -> float | None:
        p = self.profile
        return {
            "high_alarm": p.high_alarm,
            "low_alarm": p.low_alarm,
            "high_warn": p.high_warn,
            "low_warn": p.low_warn,
            "freeze": p.freeze_at,
            "cumulative": None,
        }[name]

    def _escalate(self, now_us: int) -> list[ColdChainTransition]:
        """PENDING -> ACTIVE for excursions whose delay ran out while the sensor was live."""
        out: list[ColdChainTransition] = []
        if self.last_valid_us is None:
            return out
        live_until = self.last_valid_us + self._offline_us
        for cond in self._conds:
            if cond.state != AlarmState.PENDING or cond.since_us is None:
                continue
            due = cond.since_us + self._delays[cond.name]
            if due <= now_us and due <= live_until:
                out.append(self._move(cond, AlarmState.ACTIVE, due, self.last_value))
        return out

    def _evaluate(self, cond: _Cond, t: int, v: float) -> list[ColdChainTransition]:
        out: list[ColdChainTransition] = []
        if cond.state in (AlarmState.PENDING, AlarmState.ACTIVE):
            cond.add(v)
        if cond.state in (AlarmState.NORMAL, AlarmState.CLEARED):
            if self._is_out(cond.name, v):
                cond.start(t)
                cond.add(v)
                out.append(self._move(cond, AlarmState.PENDING, t, v))
                if self._delays[cond.name] == 0:
                    out.append(self._move(cond, AlarmState.ACTIVE, t, v))
        elif cond.state == AlarmState.PENDING:
            if self._is_back(cond.name, v):
                out.append(self._move(cond, AlarmState.NORMAL, t, v))
                cond.since_us = None
        elif cond.state == AlarmState.ACTIVE and self._is_back(cond.name, v):
            out.append(self._move(cond, AlarmState.CLEARED, t, v))
        return out

    def _account_cumulative(self, t: int, v: float) -> None:
        """The previous valid sample's state holds until this one, unless the gap is a hole."""
        prev_t, prev_v = self.last_valid_us, self.last_value
        if prev_t is None or prev_v is None or t - prev_t > self._offline_us:
            return
        p = self.profile
        was_out = (p.high_alarm is not None and prev_v > p.high_alarm) or (
            p.low_alarm is not None and prev_v < p.low_alarm
        )
        if was_out and t > prev_t:
            if self._out_intervals and self._out_intervals[-1][1] == prev_t:
                self._out_intervals[-1] = (self._out_intervals[-1][0], t)
            else:
                self._out_intervals.append((prev_t, t))
        horizon = t - int(p.cumulative_window_s * SECOND)
        while self._out_intervals and self._out_intervals[0][1] <= horizon:
            self._out_intervals.popleft()

    def _evaluate_cumulative(self, t: int) -> list[ColdChainTransition]:
        limit = self.profile.cumulative_limit_s
        if limit is None:
            return []
        total = self.time_out_of_range_s(t)
        c = self._cumulative
        if c.state != AlarmState.ACTIVE and total >= limit:
            c.since_us = self._out_intervals[0][0] if self._out_intervals else t
            return [self._move(c, AlarmState.ACTIVE, t, self.last_value)]
        if c.state == AlarmState.ACTIVE and total < limit:
            return [self._move(c, AlarmState.CLEARED, t, self.last_value)]
        return []

    def _move(self, cond: _Cond, to: AlarmState, t: int, v: float | None) -> ColdChainTransition:
        ev = ColdChainTransition(
            occurred_at_us=t,
            unit=self.unit,
            sensor=self.sensor,
            condition=cond.name,
            from_state=cond.state,
            to_state=to,
            value_c=v,
            threshold_c=self._threshold(cond.name),
            excursion_started_us=cond.since_us,
            min_c=cond.min_c,
            max_c=cond.max_c,
            mkt_c=cond.mkt(),
        )
        cond.state = to
        return ev

    def _status(
        self, t: int, status: Literal["ok", "fault", "offline"], reason: str
    ) -> SensorStatus:
        return SensorStatus(
            occurred_at_us=t, sensor=self.sensor, unit=self.unit, status=status, reason=reason
        )


# --- reports ---------------------------------------------------------------------------------


def mean_kinetic_temperature(samples: Sequence[tuple[float, float]]) -> float:
    """USP mean kinetic temperature in °C of (duration, temperature °C) pairs.

    T_mkt = (dH/R) / -ln( sum(t_i * exp(-dH/(R T_i))) / sum(t_i) ), computed in log-sum-exp
    form so that it stays exact for any temperature range.
    """
    pairs = [(d, c) for d, c in samples if d > 0]
    if not pairs:
        raise ValueError("mean kinetic temperature needs at least one positive duration")
    total = sum(d for d, _ in pairs)
    exps = [math.log(d / total) - MKT_DH_OVER_R / (c + KELVIN) for d, c in pairs]
    m = max(exps)
    log_mean = m + math.log(sum(math.exp(x - m) for x in exps))
    return MKT_DH_OVER_R / -log_mean - KELVIN


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowStats:
    min_c: float
    max_c: float
    time_out_of_range_s: float
    mkt_c: float
    coverage: float  # fraction of the window covered by valid samples


def window_stats(
    samples: Sequence[tuple[int, float]],
    *,
    start_us: int,
    end_us: int,
    low: float | None,
    high: float | None,
    max_gap_s: float = 600.0,
) -> WindowStats | None:
    """Min, max, time out of range and MKT over [start, end); each sample holds until the
    next one or for at most `max_gap_s` (gaps stay gaps). None when nothing is covered."""
    max_gap = int(max_gap_s * SECOND)
    pts = sorted((t, v) for t, v in samples if start_us <= t < end_us)
    spans: list[tuple[float, float]] = []
    out_us = 0
    for i, (t, v) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else end_us
        dur = min(nxt - t, max_gap)
        if dur <= 0:
            continue
        spans.append((dur / SECOND, v))
        if (high is not None and v > high) or (low is not None and v < low):
            out_us += dur
    if not spans:
        return None
    values = [v for _, v in spans]
    covered = sum(d for d, _ in spans)
    return WindowStats(
        min_c=min(values),
        max_c=max(values),
        time_out_of_range_s=out_us / SECOND,
        mkt_c=mean_kinetic_temperature(spans),
        coverage=covered / ((end_us - start_us) / SECOND),
    )


__all__ = [
    "HOUR",
    "MINUTE",
    "PRESETS",
    "ColdChainMonitor",
    "ColdChainProfile",
    "WindowStats",
    "mean_kinetic_temperature",
    "preset",
    "window_stats",
]
