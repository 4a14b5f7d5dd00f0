"""A reorder point and an order-up-to level from a forecast, its error and a lead time.

The safety stock covers the forecast's own error over the lead time and the supplier's lead
time variability: sigma = sqrt(L * e^2 + d^2 * sL^2) for a daily forecast error e (the
backtest's RMSE), mean daily demand d, mean lead time L and its standard deviation sL (all in
days), times the normal quantile of the service-level target. The reorder point (the new min)
is the lead time's demand plus that; the order-up-to level (the new max) adds the demand of
one review period, so an order placed at the min lasts until the next review.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from central.planning.forecast import Forecast


@dataclass(frozen=True)
class LeadTime:
    """A supplier's measured lead time in days (or the quoted one while none is measured)."""

    mean_days: float
    sd_days: float = 0.0
    measured: bool = False


@dataclass(frozen=True)
class ReorderPolicy:
    minimum: int  # the reorder point
    maximum: int  # the order-up-to level
    safety_stock: float
    daily_demand: float


def reorder_policy(
    forecast: Forecast, lead_time: LeadTime, service_level: float, review_days: int = 7
) -> ReorderPolicy:
    """Min and max in eaches (rounded up) for the forecast's demand."""
    if not 0.5 <= service_level < 1:
        raise ValueError("a service level is between 0.5 and 1")
    d = forecast.daily_mean
    lead = max(lead_time.mean_days, 0.0)
    error = forecast.rmse if forecast.rmse is not None else math.sqrt(d)  # Poisson-like
    sigma = math.sqrt(lead * error**2 + (d * lead_time.sd_days) ** 2)
    safety = NormalDist().inv_cdf(service_level) * sigma
    minimum = math.ceil(d * lead + safety - 1e-9)
    maximum = max(math.ceil(d * (lead + review_days) + safety - 1e-9), minimum)
    return ReorderPolicy(minimum, maximum, round(safety, 3), round(d, 4))
