"""Cold-chain compliance records on both databases: a fridge's two days as JSON, CSV and a
PDF whose text carries the figures, its excursion with the acknowledgement, and the record
kept as a quality user signed it (the password again, a reason)."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from central import accounts, alerts
from central.api import create_app
from central.errors import Forbidden
from central.models import Alert, ColdSensor
from rules.coldchain import mean_kinetic_temperature
from rules.events import AlarmState, ColdChainTransition, stamp
from tests.central.conftest import disposed
from tests.central.conftest import signed as signature
from tests.central.test_coldchain import DAY0, MIN_US, T0, day_of_minutes
from tests.central.test_ledger import ledger
from tests.conftest import TEST_NOW

PASSWORD = "correct horse battery"


def test_a_units_record_is_reported_and_kept_as_signed(db_url: str) -> None:
    lg = disposed(ledger(db_url))
    first_day = day_of_minutes(lg, warm=range(600, 630))
    alarm = ColdChainTransition(
        occurred_at_us=T0 + 605 * MIN_US,
        unit="fridge-1",
        sensor="probe-1",
        condition="high_alarm",
        from_state=AlarmState.PENDING,
        to_state=AlarmState.ACTIVE,
        value_c=9.1,
        threshold_c=8.0,
        excursion_started_us=T0 + 600 * MIN_US,
    )
    lg.apply(stamp(alarm, site="s1", gateway="gw1", seq=5000))
    why = "door left open by cleaning; stock checked"
    by = signature(lg, "quinn", why)  # the acknowledgement of an excursion is signed
    with lg.session.begin() as s:
        (raised,) = s.query(Alert).filter(Alert.kind == "coldchain").all()
        with pytest.raises(Forbidden, match="needs your signature"):
            alerts.acknowledge(s, raised.id, "quinn", why, TEST_NOW)
        alerts.acknowledge(s, raised.id, "quinn", why, TEST_NOW, by)
        accounts.add_user(s, "anna", role="nurse", password=PASSWORD)
        quinn = accounts.add_token(s, "quinn", TEST_NOW)
        anna = accounts.add_token(s, "anna", TEST_NOW)
    api = TestClient(create_app(lg, {}))
    h = {"Authorization": f"Bearer {quinn}"}
    period = {
        "start": DAY0.date().isoformat(),
        "end": (DAY0 + timedelta(days=3)).date().isoformat(),  # the alert was raised today
    }
    with lg.session() as s:
        unit_id = s.query(ColdSensor).one().id
    got = api.get(f"/coldchain/units/{unit_id}/report", params=period, headers=h)
    assert got.status_code == 200, got.text
    report = got.json()
    assert (report["unit"], report["low_c"], report["high_c"]) == ("fridge-1", 2.0, 8.0)
    day1, day2 = report["days"]
    assert (day1["min_c"], day1["max_c"], day1["outside_minutes"]) == (4.8, 9.2, 30)
    assert day1["mean_c"] == round((1410 * 5.0 + 30 * 9.0) / 1440, 2)  # 5.08
    expected = mean_kinetic_temperature([(1.0, v) for v in first_day])
    assert math.isclose(day1["mkt_c"], expected, abs_tol=0.01)
    assert (day2["mean_c"], day2["mkt_c"]) == (5.0, 5.0)
    assert report["period"]["minutes"] == 2880 and report["period"]["coverage"] == 0.6667
    (excursion,) = report["excursions"]
    assert excursion["condition"] == "high_alarm" and excursion["acknowledged_by"] == "quinn"
    assert excursion["comment"] == "door left open by cleaning; stock checked"

    rows = list(
        csv.reader(
            io.StringIO(
                api.get(
                    f"/coldchain/units/{unit_id}/report",
                    params=period | {"format": "csv"},
                    headers=h,
                ).text
            )
        )
    )
    assert rows[0][:4] == ["day", "min_c", "max_c", "mean_c"]
    assert rows[1][:4] == [DAY0.date().isoformat(), "4.8", "9.2", "5.08"]
    assert rows[4][0] == "condition" and rows[5][0] == "high_alarm"

    pdf = api.get(
        f"/coldchain/units/{unit_id}/report", params=period | {"format": "pdf"}, headers=h
    )
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "fridge-1" in text and "9.20" in text and "5.08" in text and "Not reviewed" in text
    assert f"{day1['mkt_c']:.2f}" in text and "door left open by cleaning" in text

    body = period | {"password": "wrong password!", "reason": "monthly review"}
    assert api.post(f"/coldchain/units/{unit_id}/reports", json=body, headers=h).status_code == 403
    nurse = {"Authorization": f"Bearer {anna}"}
    body["password"] = PASSWORD
    assert (
        api.post(f"/coldchain/units/{unit_id}/reports", json=body, headers=nurse).status_code == 403
    )
    signed = api.post(f"/coldchain/units/{unit_id}/reports", json=body, headers=h)
    assert signed.status_code == 201, signed.text
    kept = signed.json()
    assert kept["signature"]["user"] == "quinn" and kept["signature"]["reason"] == "monthly review"
    assert len(kept["digest"]) == 64 and kept["days"] == report["days"]
    pdf = api.get(f"/coldchain/reports/{kept['id']}", params={"format": "pdf"}, headers=h)
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Reviewed and signed by quinn (quality)" in text and kept["digest"] in text.replace(
        "\n", ""
    )
    assert api.get("/coldchain/reports/99", headers=h).status_code == 404
    assert api.get("/coldchain/units/99/report", params=period, headers=h).status_code == 404
    bad = api.get(
        f"/coldchain/units/{unit_id}/report",
        headers=h,
        params={"start": period["end"], "end": period["start"]},
    )
    assert bad.status_code == 422


def test_last_months_records_are_kept_for_review_once(db_url: str) -> None:
    """The ledger keeps every unit's last calendar month unsigned, once; quality signs it
    as it was made, and only once."""
    from central.coldchain_report import monthly_reports, previous_month

    lg = disposed(ledger(db_url))
    day_of_minutes(lg, warm=range(0))
    today = DAY0.date().replace(day=1) + timedelta(days=40)  # the month after the minutes'
    assert previous_month(date(2027, 1, 15)) == (date(2026, 12, 1), date(2027, 1, 1))
    assert monthly_reports(lg, today) == 1
    assert monthly_reports(lg, today) == 0
    with lg.session.begin() as s:
        accounts.add_user(s, "quinn", role="quality", password=PASSWORD)
        token = accounts.add_token(s, "quinn", TEST_NOW)
    api = TestClient(create_app(lg, {}))
    h = {"Authorization": f"Bearer {token}"}
    kept = api.get("/coldchain/reports/1", headers=h).json()
    assert kept["signature"] is None and kept["period"]["minutes"] == 2880
    body = {"password": PASSWORD, "reason": "monthly review"}
    signed = api.post("/coldchain/reports/1/sign", json=body, headers=h)
    assert signed.status_code == 200 and signed.json()["signature"]["user"] == "quinn"
    assert signed.json()["digest"] == kept["digest"]  # what was made is what was signed
    assert api.post("/coldchain/reports/1/sign", json=body, headers=h).status_code == 409
