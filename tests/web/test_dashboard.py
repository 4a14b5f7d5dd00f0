"""The dashboard's near-expiry value by horizon: each line once, in its nearest horizon."""

from __future__ import annotations

from decimal import Decimal

from central.web.dashboard import _by_horizon


def test_each_line_counts_once_in_its_nearest_horizon() -> None:
    lines = [{"days_left": d, "value": v} for d, v in
             ((-3, "1.00"), (0, "2.00"), (7, "4.00"), (8, "8.00"), (30, "16.00"), (90, "32.00"),
              (91, "64.00"))]  # fmt: skip
    assert _by_horizon(lines) == {"expired": Decimal("1.00"), "7": Decimal("6.00"),
                                  "30": Decimal("24.00"), "90": Decimal("32.00")}  # fmt: skip
