"""Daily demand forecasts with statsforecast, one method per series chosen by a backtest.

A series is first sorted by its pattern (Syntetos-Boylan: a mean interval between demands of
1.32 days or more is intermittent). Smooth series try exponential smoothing with a weekday
season (AutoETS A,N,A), the dynamic optimised Theta method and seasonal exponential smoothing,
fitted on their last 14 weeks; intermittent ones try Croston, TSB, ADIDA and IMAPA on their
last year. Each candidate is scored by a rolling-origin backtest (mean absolute error over the
last windows of the history) and the best one forecasts. The full AutoETS search costs ~200 ms
a series here, which 10 000 series cannot afford, so the smooth candidates are the fixed
weekday-seasonal forms that cost a few ms (bench/bench_forecast.py measures both speed and
accuracy).

Holidays (configured dates) are taken out of the history before fitting, replaced by the same
weekday of the neighbouring weeks, and put back into the forecast with the series' own holiday
ratio, or a Sunday's ratio when the history has no holiday.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from central.planning.history import DailySeries

SEASON = 7
SMOOTH_FIT_DAYS = 98
INTERMITTENT_FIT_DAYS = 365
INTERMITTENT_ADI = 1.32  # Syntetos, Boylan & Croston (2005)
BACKTEST_WINDOWS = 2
MAX_BACKTEST_HORIZON = 28
MIN_BACKTEST_HORIZON = 7

Pattern = Literal["smooth", "intermittent", "short", "zero"]
Key = TypeVar("Key", bound=Hashable)
Values = npt.NDArray[np.float64]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forecast:
    """Daily quantities from `start`, by `method`, with its backtest error per day."""

    start: date
    values: tuple[float, ...]
    method: str
    pattern: Pattern
    mae: float | None  # mean absolute error of one day in the backtest (None: not tested)
    rmse: float | None

    @property
    def daily_mean(self) -> float:
        return float(np.mean(self.values)) if self.values else 0.0


def pattern_of(values: Values) -> Pattern:
    """Smooth or intermittent by the mean interval between days with demand."""
    demand_days = int(np.count_nonzero(values))
    if demand_days == 0:
        return "zero"
    return "intermittent" if len(values) / demand_days >= INTERMITTENT_ADI else "smooth"


def backtest_horizon(horizon: int) -> int:
    return min(max(horizon, MIN_BACKTEST_HORIZON), MAX_BACKTEST_HORIZON)


def min_history(horizon: int) -> int:
    """Days a series needs before its methods are backtested: four weeks to fit on, then
    the backtest windows."""
    return 4 * SEASON + BACKTEST_WINDOWS * backtest_horizon(horizon)


def candidates(pattern: Pattern) -> tuple[list[Any], list[Any]]:
    """(models backtested with one fit that rolls forward, models refitted per window)."""
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        CrostonOptimized,
        DynamicOptimizedTheta,
        SeasonalExponentialSmoothingOptimized,
    )

    if pattern == "smooth":
        return (
            [AutoETS(season_length=SEASON, model="ANA", alias="ets"),
             DynamicOptimizedTheta(season_length=SEASON, alias="theta")],
            [SeasonalExponentialSmoothingOptimized(season_length=SEASON, alias="seasonal-es")],
        )  # fmt: skip
    return [], [
        CrostonOptimized(alias="croston"),
        TSB(alpha_d=0.1, alpha_p=0.1, alias="tsb"),
        ADIDA(alias="adida"),
        IMAPA(alias="imapa"),
    ]


def forecast_all(
    series: Mapping[Key, DailySeries],
    horizon: int,
    *,
    holidays: Collection[date] = (),
) -> dict[Key, Forecast]:
    """A forecast of `horizon` days after each series' end, by the method its backtest
    chose (or the mean of its days when it is too short to test)."""
    if horizon < 1:
        raise ValueError("horizon must be at least one day")
    holiday_set = frozenset(holidays)
    adjusted = {k: _without_holidays(v, holiday_set) for k, v in series.items()}
    out: dict[Key, Forecast] = {}
    groups: dict[Pattern, list[Key]] = {"smooth": [], "intermittent": []}
    for key, (values, _ratio) in adjusted.items():
        recent = values[-INTERMITTENT_FIT_DAYS:]
        pattern = pattern_of(recent)
        if pattern == "zero" or len(values) < min_history(horizon):
            out[key] = _plain(
                series[key], values, horizon, "zero" if pattern == "zero" else "short"
            )
        else:
            groups[pattern].append(key)
    for pattern, keys in groups.items():
        fit_days = SMOOTH_FIT_DAYS if pattern == "smooth" else INTERMITTENT_FIT_DAYS
        windows = {k: adjusted[k][0][-fit_days:] for k in keys}
        for key, (method, predicted, mae, rmse) in _backtested(windows, horizon, pattern).items():
            start = series[key].end + timedelta(days=1)
            out[key] = Forecast(start, predicted, method, pattern, mae, rmse)
    return {k: _with_holidays(f, series[k], adjusted[k][1], holiday_set) for k, f in out.items()}


def _plain(s: DailySeries, values: Values, horizon: int, pattern: Pattern) -> Forecast:
    level = float(np.mean(values[-SMOOTH_FIT_DAYS:])) if len(values) else 0.0
    return Forecast(s.end + timedelta(days=1), (round(level, 4),) * horizon,
                    "zero" if pattern == "zero" else "mean", pattern, None, None)  # fmt: skip


def _frame(windows: Mapping[Key, Values]) -> Any:
    import pandas as pd

    ids: list[str] = []
    ds: list[Values] = []
    for i, values in enumerate(windows.values()):
        ids.extend([str(i)] * len(values))
        ds.append(np.arange(len(values), dtype=np.float64))
    ys = [v.astype(np.float64) for v in windows.values()]
    return pd.DataFrame({"unique_id": ids, "ds": np.concatenate(ds).astype(np.int64),
                         "y": np.concatenate(ys)})  # fmt: skip


def _statsforecast(models: Sequence[Any]) -> Any:
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    return StatsForecast(models=list(models), freq=1, n_jobs=1, fallback_model=Naive())


def _backtested(
    windows: Mapping[Key, Values], horizon: int, pattern: Pattern
) -> dict[Key, tuple[str, tuple[float, ...], float, float]]:
    if not windows:
        return {}
    keys = list(windows)
    frame = _frame(windows)
    h = backtest_horizon(horizon)
    rolled, refitted = candidates(pattern)
    errors: dict[str, tuple[Values, Values]] = {}  # model -> (MAE, RMSE) per series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the models warn about flat windows; scores still hold
        for models, refit in ((rolled, False), (refitted, True)):
            if not models:
                continue
            cv = _statsforecast(models).cross_validation(
                df=frame, h=h, step_size=h, n_windows=BACKTEST_WINDOWS, refit=refit
            )
            for model in models:
                name = str(model.alias)
                err = (cv[name] - cv["y"]).to_numpy(dtype=np.float64)
                by_id = cv.assign(abs=np.abs(err), sq=err**2).groupby("unique_id")
                errors[name] = (
                    by_id["abs"].mean().reindex([str(i) for i in range(len(keys))]).to_numpy(),
                    np.sqrt(by_id["sq"].mean().reindex([str(i) for i in range(len(keys))])
                            .to_numpy()),
                )  # fmt: skip
        names = list(errors)
        mae = np.vstack([errors[n][0] for n in names])
        mae = np.where(np.isnan(mae), np.inf, mae)
        best = np.argmin(mae, axis=0)
        out: dict[Key, tuple[str, tuple[float, ...], float, float]] = {}
        by_name = {str(m.alias): m for m in (*rolled, *refitted)}
        for j, name in enumerate(names):
            chosen = [i for i in range(len(keys)) if best[i] == j]
            if not chosen:
                continue
            sub = frame[frame["unique_id"].isin([str(i) for i in chosen])]
            fc = _statsforecast([by_name[name]]).forecast(df=sub, h=horizon)
            per_id = {uid: g[name].to_numpy(dtype=np.float64)
                      for uid, g in fc.groupby("unique_id")}  # fmt: skip
            for i in chosen:
                values = np.clip(np.nan_to_num(per_id[str(i)]), 0.0, None)
                out[keys[i]] = (name, tuple(round(float(v), 4) for v in values),
                                float(errors[name][0][i]), float(errors[name][1][i]))  # fmt: skip
    logger.debug("forecast %s: %d series", pattern, len(out))
    return out


def _without_holidays(s: DailySeries, holidays: frozenset[date]) -> tuple[Values, float | None]:
    """The series with each holiday replaced by the median of the same weekday one and two
    weeks either side, and the median ratio of a holiday's demand to that replacement."""
    values = s.values.astype(np.float64)
    if not holidays:
        return values, None
    out = values.copy()
    ratios: list[float] = []
    for day in holidays:
        i = (day - s.start).days
        if not 0 <= i < len(values):
            continue
        near = (j for j in (i - 14, i - 7, i + 7, i + 14) if 0 <= j < len(values))
        around = [values[j] for j in near if s.start + timedelta(days=j) not in holidays]
        if not around:
            continue
        normal = float(np.median(around))
        if normal > 0:
            ratios.append(float(values[i]) / normal)
        out[i] = normal
    return out, (float(np.median(ratios)) if ratios else None)


def _with_holidays(
    f: Forecast, s: DailySeries, ratio: float | None, holidays: frozenset[date]
) -> Forecast:
    days = [f.start + timedelta(days=i) for i in range(len(f.values))]
    if not holidays or not any(d in holidays for d in days):
        return f
    values = list(f.values)
    for i, day in enumerate(days):
        if day in holidays:
            values[i] = round(values[i] * (ratio if ratio is not None
                                           else _sunday_ratio(s, day)), 4)  # fmt: skip
    return Forecast(f.start, tuple(values), f.method, f.pattern, f.mae, f.rmse)


def _sunday_ratio(s: DailySeries, day: date) -> float:
    """A Sunday's demand against the holiday's weekday, over the last 14 weeks."""
    tail = s.values[-SMOOTH_FIT_DAYS:]
    first = s.end - timedelta(days=len(tail) - 1)
    weekday = np.array([(first + timedelta(days=i)).weekday() for i in range(len(tail))])
    same = tail[weekday == day.weekday()]
    sunday = tail[weekday == 6]
    if not len(same) or not len(sunday) or float(np.mean(same)) == 0:
        return 1.0
    return min(float(np.mean(sunday)) / float(np.mean(same)), 1.0)
