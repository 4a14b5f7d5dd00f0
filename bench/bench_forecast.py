"""Forecast accuracy, the proposed reorder policy and forecasting speed; prints, asserts nothing.

A generated hospital demand set (`--series` series of two years, in equal parts smooth,
weekday-seasonal, intermittent, trending and step-change, most with a weekday shape):

1. Rolling-origin backtest over the second year (an origin every 28 days, 14 days ahead):
   MASE (the forecast's mean absolute error over the in-sample MAE of a 7-day seasonal naive
   forecast) of the method each series chose, of seasonal naive and of naive, in one run.
   Target: the chosen methods' MASE at least 15 % below seasonal naive's.
2. A simulated year of inventory per series (lost sales, random supplier lead times) under
   the proposed policy (`central.planning.policy`, reforecast every review) and under static
   min/max typed in once from the first year (min two weeks of mean use, max four weeks).
   Fill rate, stockout days and mean inventory value. Target: the same or a better fill rate
   at 20 % less inventory value.
3. Time to forecast `--speed-series` series (default 10 000) on one core. Target: <= 60 s.

    python bench/bench_forecast.py [--series 240] [--speed-series 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from central.planning.forecast import Forecast, forecast_all
from central.planning.history import DailySeries
from central.planning.policy import LeadTime, reorder_policy

START = date(2024, 1, 1)  # a Monday
DAYS = 730
HORIZON = 14
REVIEW_DAYS = 7
SERVICE_LEVEL = 0.98
KINDS = ("smooth", "weekday", "intermittent", "trend", "step")
Values = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Item:
    kind: str
    demand: Values
    price: float
    lead_mean: float
    lead_sd: float


def generate(n: int, rng: np.random.Generator) -> list[Item]:
    t = np.arange(DAYS)
    weekday = (START.weekday() + t) % 7
    items = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        level = rng.uniform(3, 40)
        shape = np.where(weekday < 5, 1.2, 0.5) if rng.random() < 0.7 else np.ones(DAYS)
        if kind == "smooth":
            rate = np.full(DAYS, level)
        elif kind == "weekday":
            rate = level * np.where(weekday < 5, 1.3, 0.25)
        elif kind == "intermittent":
            p, size = rng.uniform(0.03, 0.3), rng.integers(1, 6)
            y = (rng.random(DAYS) < p) * rng.integers(1, size + 1, DAYS)
            items.append(_item(kind, y.astype(np.float64), rng))
            continue
        elif kind == "trend":
            rate = level * np.clip(1 + rng.uniform(-0.6, 1.5) * t / DAYS, 0.05, None) * shape
        else:
            at = rng.integers(DAYS // 3, DAYS - 60)
            rate = level * np.where(t < at, 1.0, rng.choice([0.4, 1.8, 2.5])) * shape
        items.append(_item(kind, rng.poisson(rate).astype(np.float64), rng))
    return items


def _item(kind: str, demand: Values, rng: np.random.Generator) -> Item:
    lead = float(rng.choice([2, 3, 5, 7, 10]))
    return Item(kind, demand, float(rng.uniform(1, 400)), lead, lead * float(rng.uniform(0.1, 0.4)))


def backtest(items: list[Item]) -> dict[str, list[float]]:
    """MASE per (series, origin) of the chosen method, seasonal naive and naive."""
    scores: dict[str, list[float]] = {"chosen": [], "seasonal-naive": [], "naive": []}
    methods: dict[str, int] = {}
    for origin in range(365, DAYS - HORIZON + 1, 28):
        series = {i: DailySeries(START, it.demand[:origin]) for i, it in enumerate(items)}
        forecasts = forecast_all(series, HORIZON)
        for i, it in enumerate(items):
            train, actual = it.demand[:origin], it.demand[origin : origin + HORIZON]
            scale = float(np.mean(np.abs(train[7:] - train[:-7])))
            if scale == 0:
                continue
            f = forecasts[i]
            methods[f.method] = methods.get(f.method, 0) + 1
            snaive = np.resize(train[-7:], HORIZON)
            naive = np.full(HORIZON, train[-1])
            for name, values in (("chosen", np.array(f.values)), ("seasonal-naive", snaive),
                                 ("naive", naive)):  # fmt: skip
                scores[name].append(float(np.mean(np.abs(values - actual))) / scale)
    print("  methods chosen:", ", ".join(f"{m} {n}" for m, n in sorted(methods.items())))
    return scores


@dataclass
class Outcome:
    demanded: float = 0.0
    served: float = 0.0
    stockout_days: int = 0  # days on which at least one item ran short
    item_stockout_days: int = 0  # (item, day) pairs short
    value_days: float = 0.0  # sum over days of the stock's value


def simulate(items: list[Item], rng: np.random.Generator) -> dict[str, Outcome]:
    """The second year under the proposed policy and under static min/max."""
    first = 365
    static = []
    for it in items:
        mean = float(np.mean(it.demand[:first]))
        static.append((int(np.ceil(14 * mean)), int(np.ceil(28 * mean))))
    lead_draws = [
        np.maximum(1, np.round(rng.normal(it.lead_mean, it.lead_sd, DAYS))).astype(int)
        for it in items
    ]
    out = {}
    for name in ("proposed", "static"):
        o = Outcome()
        on_hand = [float(mx) for _, mx in static]  # both start with the same full shelves
        arriving: list[dict[int, float]] = [{} for _ in items]
        levels = list(static)
        for day in range(first, DAYS):
            if name == "proposed" and (day - first) % REVIEW_DAYS == 0:
                levels = _proposed(items, day)
            value = 0.0
            short = False
            for i, it in enumerate(items):
                on_hand[i] += arriving[i].pop(day, 0.0)
                want = it.demand[day]
                give = min(want, on_hand[i])
                on_hand[i] -= give
                o.demanded += want
                o.served += give
                short = short or give < want
                o.item_stockout_days += give < want
                position = on_hand[i] + sum(arriving[i].values())
                low, high = levels[i]
                if position <= low and high > position:
                    due = day + int(lead_draws[i][day])
                    arriving[i][due] = arriving[i].get(due, 0.0) + (high - position)
                value += on_hand[i] * it.price
            o.stockout_days += short
            o.value_days += value
        out[name] = o
    return out


def _proposed(items: list[Item], day: int) -> list[tuple[int, int]]:
    series = {i: DailySeries(START, it.demand[:day]) for i, it in enumerate(items)}
    forecasts: dict[int, Forecast] = forecast_all(series, HORIZON)
    levels = []
    for i, it in enumerate(items):
        p = reorder_policy(forecasts[i], LeadTime(it.lead_mean, it.lead_sd, measured=True),
                           SERVICE_LEVEL, REVIEW_DAYS)  # fmt: skip
        levels.append((p.minimum, p.maximum))
    return levels


def speed(n: int, rng: np.random.Generator) -> float:
    items = generate(n, rng)
    series = {i: DailySeries(START, it.demand) for i, it in enumerate(items)}
    began = time.process_time()
    forecast_all(series, HORIZON)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=240)
    parser.add_argument("--speed-series", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    items = generate(args.series, rng)
    print(f"forecast backtest: {len(items)} series x {DAYS} days, origins every 28 days of the "
          f"second year, {HORIZON} days ahead")  # fmt: skip
    began = time.perf_counter()
    scores = backtest(items)
    mase = {name: float(np.mean(v)) for name, v in scores.items()}
    for name, value in mase.items():
        print(f"  MASE {name:<15} {value:.3f}  ({len(scores[name])} forecasts)")
    better = 1 - mase["chosen"] / mase["seasonal-naive"]
    print(f"  chosen vs seasonal naive: {better:.1%} lower (target >= 15 %); "
          f"vs naive: {1 - mase['chosen'] / mase['naive']:.1%} lower "
          f"[{time.perf_counter() - began:.0f} s]")  # fmt: skip
    print(f"inventory: the second year, service level {SERVICE_LEVEL:.0%}, review every "
          f"{REVIEW_DAYS} days, lost sales")  # fmt: skip
    outcome = simulate(items, rng)
    for name, o in outcome.items():
        print(f"  {name:<9} fill rate {o.served / o.demanded:.2%}  item-days short "
              f"{o.item_stockout_days}/{365 * len(items)}  days with any item short "
              f"{o.stockout_days}/365  mean inventory value {o.value_days / 365:,.0f}")  # fmt: skip
    p, s = outcome["proposed"], outcome["static"]
    print(f"  proposed vs static: fill rate {p.served / p.demanded - s.served / s.demanded:+.2%}"
          f" points, inventory value {1 - p.value_days / s.value_days:.1%} lower (target >= 20 %"
          " at the same or a better fill rate)")  # fmt: skip
    seconds = speed(args.speed_series, rng)
    print(
        f"speed: {args.speed_series} series of {DAYS} days forecast in {seconds:.1f} s CPU "
        f"on one core ({seconds / args.speed_series * 1000:.2f} ms a series; target <= 60 s)"
    )


if __name__ == "__main__":
    main()
