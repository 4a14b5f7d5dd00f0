"""Cabinets and consumption: the sessions of the period (who, case, taken and returned) and
consumption by department, user, case and product with value, within scope: the ward nurse
sees her ward's cabinet only; the export holds what the page shows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central import db
from central.clock import FixedClock
from central.imports import import_master_data
from central.ledger import Ledger, ReceiptLine
from rules.events import Batch, CabinetMovement, stamp
from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN
from tests.conftest import days
from tests.web.conftest import axe_violations, log_in


def cabinet(zone: str, action: str, tags: tuple[str, ...], user: str, case: str, at: datetime,
            seq: int) -> CabinetMovement:  # fmt: skip
    e = CabinetMovement(
        occurred_at_us=int(at.timestamp() * 1_000_000), cabinet=zone, zone=zone,
        action=action,  # type: ignore[arg-type]
        batch=Batch(gtin=GTIN, lot="C1", expiry=None), quantity=len(tags), epcs=tags,
        user_id=user, case_id=case, session_id=None, attributed=True, uncommissioned=False,
    )  # fmt: skip
    return stamp(e, site="s1", gateway="gw1", seq=seq)


@pytest.fixture
def cabinet_server(ledger_url: str, tmp_path: Path) -> Any:
    """Two cabinets used an hour ago (wall clock: the web process's period is the last 30
    days): ward 5's by anna for case C-1 (3 taken, 1 returned), the OR's by olga for OP-7."""
    at = datetime.now(UTC) - timedelta(hours=1)
    lg = Ledger(db.engine(ledger_url), clock=FixedClock(at - timedelta(hours=1)))  # received before
    ward, theatre = epcs(3, 300), epcs(4, 400)
    lines = [ReceiptLine(epc=e, gtin=GTIN, lot="C1", expiry=days(300), location="s1/ward-5-cab")
             for e in ward] + [ReceiptLine(epc=e, gtin=GTIN, lot="C1", expiry=days(300),
                                           location="s1/or-cab") for e in theatre]  # fmt: skip
    lg.receive(lines, actor="t", today=days(0))
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name,department\ns1/ward-5-cab,Ward 5 cabinet,"
                           "ward-5\ns1/or-cab,OR cabinet,or\n")  # fmt: skip
        import_master_data(s, "products", "gtin,name,unit_price\n04012345000016,Saline 0.9%,2.50\n")
        import_master_data(s, "departments", "code,name\nward-5,Ward 5\nor,Theatres\n")
        import_master_data(s, "users", "id,name,department,badge\nolga,Olga,or,B-OLGA\n"
                           "anna,Anna,ward-5,B-ANNA\n")  # fmt: skip
    lg.apply(cabinet("ward-5-cab", "take", ward, "anna", "C-1", at, 1))
    lg.apply(
        cabinet("ward-5-cab", "return", ward[:1], "anna", "C-1", at + timedelta(minutes=30), 2)
    )
    lg.apply(cabinet("or-cab", "take", theatre[:2], "B-OLGA", "OP-7", at, 3))
    lg.engine.dispose()
    from tests.support import api_process

    yield from api_process(ledger_url, tmp_path / "api.log")


def test_sessions_and_consumption_within_scope(cabinet_server: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)  # for axe
    page = context.new_page()
    log_in(page, cabinet_server, "sam")
    page.get_by_role("link", name="Cabinets", exact=True).click()
    sessions = page.get_by_test_id("sessions").locator("tbody tr")
    assert sessions.count() == 3  # the return is its own door cycle
    text = page.get_by_test_id("sessions").inner_text()
    assert "OP-7" in text and "olga" in text and "−2 Saline 0.9%" in text and "+1" in text
    consumption = page.get_by_test_id("consumption").inner_text()
    assert "or\t2\t5.00" in consumption and "ward-5\t2\t5.00" in consumption
    assert axe_violations(page) == []
    page.locator("#by").select_option("case")
    page.get_by_role("button", name="Show").click()
    assert "C-1\t2\t5.00" in page.get_by_test_id("consumption").inner_text()
    with page.expect_download() as got:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["case", "name", "quantity", "value"]
    assert sorted(rows[1:]) == [["C-1", "", "2", "5.00"], ["OP-7", "", "2", "5.00"]]
    context.close()

    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                  bypass_csp=True)  # fmt: skip
    page = context.new_page()
    log_in(page, cabinet_server, "anna")
    page.goto(f"{cabinet_server}/ui/cabinets?by=product")
    assert page.get_by_role("heading", level=1).inner_text() == "智能柜与消耗"
    text = page.get_by_test_id("sessions").inner_text()
    assert "ward-5-cab" in text and "or-cab" not in text
    assert "Saline 0.9%" in page.get_by_test_id("consumption").inner_text()
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    assert wide <= 390, f"horizontal scrolling: {wide} px"
    assert axe_violations(page) == []
    response = page.goto(f"{cabinet_server}/ui/cabinets?by=everything")
    assert response is not None and response.status == 422
    context.close()
