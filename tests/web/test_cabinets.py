"""Cabinets and consumption: the sessions of the period (who, case, taken and returned) and
consumption by department, user, case and product with value, within scope: the ward nurse
sees her ward's cabinet only; the export holds what the page shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.web.conftest import axe_violations, log_in


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
    anomalies = page.get_by_test_id("anomalies").inner_text()
    assert "cabinet ward-5-cab at s1: suspect missing: 1 item gone without a badge" in anomalies
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
    assert "疑似缺失物品" in page.get_by_test_id("anomalies").inner_text()  # in her site
    wide = page.evaluate("document.scrollingElement.scrollWidth")
    assert wide <= 390, f"horizontal scrolling: {wide} px"
    assert axe_violations(page) == []
    response = page.goto(f"{cabinet_server}/ui/cabinets?by=everything")
    assert response is not None and response.status == 422
    context.close()
