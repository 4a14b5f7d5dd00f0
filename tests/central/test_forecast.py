"""Demand history, the forecasts and `hwms central forecast` (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.planning.forecast import forecast_all, min_history, pattern_of
from central.planning.history import DailySeries, HistoryError, daily_series, read_history_csv
from central.planning.policy import LeadTime, reorder_policy

START = date(2025, 1, 6)  # a Monday
GTIN = "09506000134352"


def weekday_seasonal(days: int, seed: int = 1) -> np.ndarray:
    """Poisson demand of 20 a weekday and 4 a weekend day."""
    rng = np.random.default_rng(seed)
    weekday = np.array([(START + timedelta(days=i)).weekday() for i in range(days)])
    return rng.poisson(np.where(weekday < 5, 20.0, 4.0)).astype(np.float64)


def csv_of(series: dict[tuple[str, str], np.ndarray], start: date = START) -> str:
    lines = ["date,location,gtin,quantity"]
    for (location, gtin), values in series.items():
        for i, v in enumerate(values):
            if v:  # missing days are zero
                lines.append(f"{(start + timedelta(days=i)).isoformat()},{location},{gtin},{v:g}")
    return "\n".join(lines) + "\n"


def test_a_spreadsheets_history_is_read_as_it_is_written() -> None:
    text = "Date, Location ,GTIN,Quantity,Note\r\n2026-01-02,w,g,1.5,x\r\n2026-01-01,w,g,2,y\r\n"
    assert read_history_csv(text)[("w", "g")].values.tolist() == [2.0, 1.5]


def test_history_fills_missing_days_sums_a_day_and_runs_every_series_to_the_last_day() -> None:
    text = (
        "date,location,gtin,quantity\n"
        "2026-03-01,ward-5,A,2\n"
        "2026-03-01,ward-5,A,3\n"  # two rows of one day
        "2026-03-03,ward-5,A,1\n"
        "2026-03-03,ward-5,A,-4\n"  # more returned than taken: no demand that day
        "2026-03-02,or-1,B,7\n"
        "2026-03-05,or-2,B,1\n"  # the last day of the file
    )
    series = read_history_csv(text)
    assert series[("ward-5", "A")].start == date(2026, 3, 1)
    assert series[("ward-5", "A")].values.tolist() == [5, 0, 0, 0, 0]
    assert series[("or-1", "B")].values.tolist() == [7, 0, 0, 0]
    assert series[("or-2", "B")].end == date(2026, 3, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,location,gtin,quantity\n2026-01-01,a,b,1\n", "lacks columns ['date']"),
        ("date,location,gtin,quantity\n", "no rows"),
        ("date,location,gtin,quantity\n2026-13-01,a,b,1\n", "line 2: date '2026-13-01'"),
        ("date,location,gtin,quantity\n2026-01-01,a,b,lots\n", "line 2: quantity 'lots'"),
        ("date,location,gtin,quantity\n2026-01-01,a,b,nan\n", "not a finite number"),
        ("date,location,gtin,quantity\n2026-01-01,,b,1\n2026-01-02,a,b,1\n", "line 2: location"),
        ("", "lacks columns"),
    ],
)
def test_a_bad_history_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(HistoryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_history_csv(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_fuzz_any_text_is_series_or_a_history_error(text: str) -> None:
    try:
        series = read_history_csv("date,location,gtin,quantity\n" + text)
    except HistoryError:
        return
    assert all(s.values.min() >= 0 for s in series.values())


@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.sampled_from("abc"), st.integers(0, 50)),
        min_size=1,
        max_size=80,
    )
)
def test_daily_series_keeps_every_unit_and_ends_on_the_last_day(
    facts: list[tuple[int, str, int]],
) -> None:
    rows = [(START + timedelta(days=d), (k, GTIN), float(q)) for d, k, q in facts]
    series = daily_series(rows)
    last = max(day for day, _, _ in rows)
    assert {s.end for s in series.values()} == {last}
    for key, s in series.items():
        assert s.values.sum() == sum(q for _, k, q in rows if k == key)


def test_a_weekday_seasonal_series_is_forecast_with_its_weekday_shape() -> None:
    history = weekday_seasonal(364)
    truth = weekday_seasonal(364 + 28, seed=1)[364:]  # not the same draws: only the shape
    f = forecast_all({("ward-5", GTIN): DailySeries(START, history)}, 28)[("ward-5", GTIN)]
    assert f.pattern == "smooth" and f.method in {"ets", "theta", "seasonal-es"}
    assert f.start == START + timedelta(days=364) and len(f.values) == 28
    weekday = [(f.start + timedelta(days=i)).weekday() < 5 for i in range(28)]
    work = np.mean([v for v, w in zip(f.values, weekday, strict=True) if w])
    rest = np.mean([v for v, w in zip(f.values, weekday, strict=True) if not w])
    assert 17 < work < 23 and 2 < rest < 7, (work, rest)
    assert f.mae is not None and f.mae < np.mean(np.abs(truth - history[-28:]))


def test_an_intermittent_series_gets_an_intermittent_method_and_its_rate() -> None:
    rng = np.random.default_rng(3)
    history = (rng.random(500) < 0.15) * rng.integers(1, 4, 500)  # about 0.3 a day
    f = forecast_all({("or-1", GTIN): DailySeries(START, history.astype(np.float64))}, 14)
    got = f[("or-1", GTIN)]
    assert got.pattern == "intermittent" and got.method in {"croston", "tsb", "adida", "imapa"}
    assert 0.15 < got.daily_mean < 0.5, got.daily_mean


def test_a_trend_is_followed_and_a_step_change_is_caught_up() -> None:
    days = np.arange(300)
    rng = np.random.default_rng(5)
    trend = rng.poisson(10 + days * 0.05).astype(np.float64)  # 10 a day rising to 25
    step = rng.poisson(np.where(days < 250, 8.0, 24.0)).astype(np.float64)
    got = forecast_all({"trend": DailySeries(START, trend), "step": DailySeries(START, step)}, 14)
    assert got["trend"].daily_mean > 22, got["trend"]
    assert 18 < got["step"].daily_mean < 30, got["step"]


def test_short_flat_and_zero_series_are_forecast_without_a_backtest() -> None:
    short = DailySeries(START, np.array([4.0, 0.0, 4.0, 0.0]))
    zero = DailySeries(START, np.zeros(400))
    got = forecast_all({"short": short, "zero": zero}, 5)
    assert got["short"].values == (2.0,) * 5 and got["short"].method == "mean"
    assert got["zero"].values == (0.0,) * 5 and got["zero"].pattern == "zero"
    assert pattern_of(np.zeros(3)) == "zero"
    assert min_history(1) == min_history(7)  # the backtest's windows are a week at least


def test_a_holiday_is_taken_out_of_the_fit_and_forecast_as_a_holiday() -> None:
    history = weekday_seasonal(364)
    holidays = [START + timedelta(days=d) for d in (98, 185, 276)]  # Mondays to Fridays
    for day in holidays:
        history[(day - START).days] = 4.0  # a holiday is as quiet as a weekend day
    coming = START + timedelta(days=366)  # a Wednesday
    plain = forecast_all({"s": DailySeries(START, history)}, 7)["s"]
    aware = forecast_all({"s": DailySeries(START, history)}, 7, holidays=[*holidays, coming])["s"]
    assert aware.values[2] < 0.4 * plain.values[2]
    assert aware.values[1] == pytest.approx(plain.values[1], rel=0.15)
    sunday_like = forecast_all(
        {"s": DailySeries(START, weekday_seasonal(364))}, 7, holidays=[coming]
    )["s"]
    assert sunday_like.values[2] < 0.4 * sunday_like.values[1]


def test_the_cli_prints_one_object_per_location_and_gtin(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    rng = np.random.default_rng(9)
    history.write_text(
        csv_of(
            {
                ("ward-5", GTIN): weekday_seasonal(200),
                ("or-1", "09506000134369"): (rng.random(200) < 0.1).astype(np.float64),
                ("icu", GTIN): np.array([0.0] * 190 + [3.0]),
            }
        ),
        encoding="utf-8-sig",  # a spreadsheet's CSV
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwms_cli",
            "central",
            "forecast",
            "--history",
            str(history),
            "--horizon",
            "10",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["location"], r["gtin"]) for r in rows] == [
        ("icu", GTIN),
        ("or-1", "09506000134369"),
        ("ward-5", GTIN),
    ]
    last = START + timedelta(days=199)
    for r in rows:
        assert len(r["forecast"]) == 10 and all(v >= 0 for v in r["forecast"])
        assert r["start"] == (last + timedelta(days=1)).isoformat()
    bad = tmp_path / "bad.csv"
    bad.write_text("date,location,gtin,quantity\n2026-02-30,a,b,1\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwms_cli",
            "central",
            "forecast",
            "--history",
            str(bad),
            "--horizon",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 1 and "line 2: date '2026-02-30'" in out.stderr
    assert "Traceback" not in out.stderr


@given(
    demand=st.floats(0, 200),
    error=st.floats(0, 50),
    lead=st.floats(0, 60),
    lead_sd=st.floats(0, 20),
    level=st.floats(0.5, 0.999),
)
def test_a_reorder_policy_grows_with_its_service_level_and_lead_time(
    demand: float, error: float, lead: float, lead_sd: float, level: float
) -> None:
    from central.planning.forecast import Forecast

    f = Forecast(START, (demand,) * 7, "ets", "smooth", error, error)
    base = reorder_policy(f, LeadTime(lead, lead_sd), level)
    assert 0 <= base.minimum <= base.maximum
    assert base.minimum >= demand * lead - 1e-6
    higher = reorder_policy(f, LeadTime(lead, lead_sd), min(level + 0.0005, 0.9995))
    longer = reorder_policy(f, LeadTime(lead + 1, lead_sd), level)
    assert higher.minimum >= base.minimum and longer.minimum >= base.minimum


def test_a_reorder_policy_by_hand() -> None:
    from central.planning.forecast import Forecast

    f = Forecast(START, (10.0,) * 7, "ets", "smooth", 2.0, 3.0)
    got = reorder_policy(f, LeadTime(4, 1), 0.95, review_days=7)
    sigma = (4 * 3.0**2 + (10 * 1) ** 2) ** 0.5  # 11.66
    assert got.safety_stock == pytest.approx(1.6449 * sigma, rel=1e-3)
    assert (got.minimum, got.maximum) == (60, 130)  # ceil(40 + 19.18), ceil(110 + 19.18)
    with pytest.raises(ValueError, match="service level"):
        reorder_policy(f, LeadTime(4), 1.0)
