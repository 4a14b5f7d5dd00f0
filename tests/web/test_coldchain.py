"""The cold-chain screens: units in scope with their state, a unit's chart drawn by
ECharts under the page's Content-Security-Policy, its days with min/max/MKT and the minutes
outside the limits; a nurse sees her ward's fridge only, also when typing another's URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central import db
from central.imports import import_master_data
from central.ledger import Ledger
from central.models import ColdSensor
from rules.events import AlarmState, ColdChainTransition, Event, TemperatureMinute, stamp
from tests.web.conftest import PASSWORD, axe_violations, log_in

MINUTE_US = 60_000_000


def minutes(unit: str, start_us: int, n: int, warm: range, seq0: int) -> list[Event]:
    out: list[Event] = []
    for i in range(n):
        mean = 9.5 if i in warm else 5.0
        m = TemperatureMinute(occurred_at_us=start_us + i * MINUTE_US, unit=unit, sensor=f"{unit}-probe",
                              samples=6, faults=0, min_c=mean - 0.3, mean_c=mean, max_c=mean + 0.3,
                              low_c=2.0, high_c=8.0)  # fmt: skip
        out.append(stamp(m, site="s1", gateway="gw1", seq=seq0 + i))
    return out


@pytest.fixture
def cold_ledger(ledger_url: str) -> str:
    """Two fridges with the last 2 days of minutes (relative to the wall clock the web
    process runs on): fridge-1 on ward 5, warm for 40 minutes 3 hours ago and in alarm;
    fridge-9 in the store, fine."""
    lg = Ledger(db.engine(ledger_url))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = int((now - timedelta(days=2)).timestamp()) * 1_000_000
    n = 2 * 1440
    warm = range(n - 180, n - 140)
    for seq0, unit in ((1, "fridge-1"), (10_001, "fridge-9")):
        events = minutes(unit, start, n, warm if unit == "fridge-1" else range(0), seq0)
        for k in range(0, n, 500):
            lg.apply_batch([(e, now) for e in events[k : k + 500]])
    alarm = ColdChainTransition(
        occurred_at_us=start + (n - 160) * MINUTE_US, unit="fridge-1", sensor="fridge-1-probe",
        condition="high_alarm", from_state=AlarmState.PENDING, to_state=AlarmState.ACTIVE,
        value_c=9.5, threshold_c=8.0, excursion_started_us=start + (n - 180) * MINUTE_US,
    )  # fmt: skip
    lg.apply(stamp(alarm, site="s1", gateway="gw1", seq=20_000))
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name,department\ns1/fridge-1,Fridge 1,ward-5\n")
    lg.engine.dispose()
    return ledger_url


@pytest.fixture
def cold_server(cold_ledger: str, tmp_path: Path) -> Any:
    from tests.support import api_process

    yield from api_process(cold_ledger, tmp_path / "api.log")


def test_the_storekeeper_sees_every_unit_and_a_chart_under_the_csp(
    cold_server: str, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, cold_server, "sam")
    assert page.get_by_test_id("cold-alarm").inner_text() == "1"  # the dashboard's tile
    page.get_by_role("link", name="Cold chain", exact=True).first.click()
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-testid") == "unit-fridge-1"  # worst first
    assert "alarm" in rows.nth(0).inner_text() and "5.0 °C" in rows.nth(0).inner_text()
    assert "5.0 °C" in rows.nth(1).inner_text()
    page.get_by_role("link", name="fridge-1").click()
    chart = page.get_by_test_id("chart")
    chart.locator("canvas").first.wait_for(timeout=10_000)
    drawn = page.evaluate(
        "() => { const c = document.querySelector('[data-testid=chart] canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    )
    assert drawn > 1000, "the chart drew nothing"
    days = page.locator("section[aria-labelledby=c-days] tbody tr")
    assert days.count() in (2, 3)  # today and yesterday (and the day before, after midnight)
    outside = [int(days.nth(i).locator("td").nth(4).inner_text()) for i in range(days.count())]
    assert sum(outside) == 40
    page.screenshot(path=str(Path("/tmp") / "coldchain-unit.png"), full_page=True)
    assert problems == [], problems  # no CSP violation, no script error
    page.goto(f"{cold_server}/ui/coldchain/1?start=2026-02-01&end=2026-01-01")
    assert "start must be before end" in page.locator("[role=alert]").inner_text()
    context.close()

    context = browser.new_context(locale="en-GB", bypass_csp=True)  # for axe
    page = context.new_page()
    log_in(page, cold_server, "sam")
    for path in ("/ui/coldchain", "/ui/coldchain/1"):
        page.goto(f"{cold_server}{path}")
        assert axe_violations(page) == [], path
    context.close()


def test_a_ward_nurse_sees_her_wards_fridge_only(
    cold_server: str, cold_ledger: str, browser: Any, tmp_path: Path
) -> None:
    with Ledger(db.engine(cold_ledger)).session() as s:
        ids = {c.unit: c.id for c in s.query(ColdSensor)}
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                  bypass_csp=True)  # fmt: skip
    page = context.new_page()
    log_in(page, cold_server, "anna")
    page.goto(f"{cold_server}/ui/coldchain")
    assert page.get_by_role("heading", name="冷链").count() == 1
    units = page.locator("tbody tr")
    assert units.count() == 1 and "fridge-1" in units.first.inner_text()
    assert "报警" in units.first.inner_text()
    page.goto(f"{cold_server}/ui/coldchain/{ids['fridge-1']}")
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    assert wide <= 390, f"horizontal scrolling: {wide} px"
    assert axe_violations(page) == []
    page.screenshot(path=str(Path("/tmp") / "coldchain-phone.png"), full_page=True)
    response = page.goto(f"{cold_server}/ui/coldchain/{ids['fridge-9']}")
    assert response is not None and response.status == 404
    context.close()


def test_quality_signs_the_record_with_the_password_again(
    cold_server: str, browser: Any, tmp_path: Path
) -> None:
    """The record of the shown period as a PDF to read, signed by quality: a wrong password
    is refused, the signed record is kept and reads back with the signature."""
    import io

    from pypdf import PdfReader

    page = browser.new_context(bypass_csp=True).new_page()  # for axe
    log_in(page, cold_server, "quinn")
    page.get_by_role("link", name="Cold chain", exact=True).first.click()
    page.get_by_test_id("unit-fridge-1").get_by_role("link").first.click()
    with page.expect_download() as got:
        page.get_by_role("link", name="CSV").click()
    assert Path(got.value.path()).read_text().startswith("day,min_c,max_c,mean_c,mkt_c")
    page.locator("#sign-reason").fill("weekly review: excursion explained")
    page.locator("#sign-password").fill("not my password")
    page.get_by_role("button", name="Sign the record").click()
    assert "password is not right" in page.get_by_role("alert").inner_text()
    page.locator("#sign-reason").fill("weekly review: excursion explained")
    page.locator("#sign-password").fill(PASSWORD)
    page.get_by_role("button", name="Sign the record").click()
    assert "Signed and kept" in page.get_by_role("status").inner_text()
    kept = page.get_by_test_id("kept-reports")
    assert "signed by quinn" in kept.inner_text()
    assert axe_violations(page) == []
    href = kept.get_by_role("link").first.get_attribute("href")
    pdf = page.context.request.get(f"{cold_server}{href}")
    text = PdfReader(io.BytesIO(pdf.body())).pages[0].extract_text()
    assert "Reviewed and signed by quinn (quality)" in text and "fridge-1" in text
    assert "9.80" in text  # the warm minutes' maximum (9.5 + 0.3)
    page.screenshot(path=str(tmp_path / "coldchain-signed.png"), full_page=True)


def test_quality_signs_a_record_the_ledger_kept(
    cold_ledger: str, cold_server: str, browser: Any
) -> None:
    from central.coldchain_report import stored

    lg = Ledger(db.engine(cold_ledger))
    now = datetime.now(UTC)
    with lg.session.begin() as s:
        sensor = s.query(ColdSensor).filter_by(unit="fridge-1").one()
        stored(s, sensor, (now - timedelta(days=2)).date(), now.date(), now, None)
        sensor_id = sensor.id
    lg.engine.dispose()
    page = browser.new_context().new_page()
    log_in(page, cold_server, "quinn")
    page.goto(f"{cold_server}/ui/coldchain/{sensor_id}")
    kept = page.get_by_test_id("kept-reports")
    assert "not signed yet" in kept.inner_text()
    kept.get_by_label("Review comment (why you sign)").fill("month reviewed")
    kept.get_by_label("Your password, to sign").fill(PASSWORD)
    kept.get_by_role("button", name="Sign").click()
    assert "signed by quinn" in page.get_by_test_id("kept-reports").inner_text()


def test_a_nurse_cannot_sign_a_record(cold_server: str, browser: Any) -> None:
    page = browser.new_context().new_page()
    log_in(page, cold_server, "anna")
    page.goto(f"{cold_server}/ui/coldchain")
    page.get_by_test_id("unit-fridge-1").get_by_role("link").first.click()
    assert page.locator("#sign-password").count() == 0
    got = page.context.request.post(
        f"{cold_server}/ui/coldchain/1/reports",
        form={
            "start": "2026-01-01",
            "end": "2026-01-02",
            "password": PASSWORD,
            "reason": "x",
            "csrf": "x",
        },
    )
    assert got.status == 403


def test_a_nurse_acknowledges_her_fridges_excursion_signed(cold_server: str, browser: Any) -> None:
    """In the alert inbox, the excursion asks for a comment and the password again; a wrong
    password is refused and the alert stays open; the right one acknowledges it."""
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, cold_server, "anna")
    page.goto(f"{cold_server}/ui/alerts")
    excursion = page.locator("ul.alerts li", has_text="fridge-1").first
    excursion.locator("input[name=comment]").fill("door shut; vaccines moved to fridge 9")
    excursion.locator("input[name=password]").fill("not my password")
    excursion.get_by_role("button", name="Acknowledge and sign").click()
    assert "the password is not right" in page.locator("main").inner_text()
    page.goto(f"{cold_server}/ui/alerts")
    excursion = page.locator("ul.alerts li", has_text="fridge-1").first
    assert "Acknowledged by" not in excursion.inner_text()
    assert axe_violations(page) == []
    excursion.locator("input[name=comment]").fill("door shut; vaccines moved to fridge 9")
    excursion.locator("input[name=password]").fill(PASSWORD)
    excursion.get_by_role("button", name="Acknowledge and sign").click()
    page.wait_for_url(f"{cold_server}/ui/alerts")
    acknowledged = page.locator("ul.alerts li", has_text="fridge-1").first.inner_text()
    assert "Acknowledged by anna: door shut; vaccines moved to fridge 9" in acknowledged
    context.close()
