"""The reports screen: hospital-wide figures for an unscoped user, the scoped nurse's own
department only; a period that ends before it starts is refused, not a crash."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import axe_violations, log_in


def test_reports_by_scope(server: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.get_by_role("link", name="Reports").click()
    assert page.get_by_role("heading", name="Key figures").count() == 1
    assert page.get_by_test_id("kpi-accuracy").inner_text() == "–"  # no stocktake yet
    assert page.get_by_role("heading", name="Near expiry (90 days): 0").count() == 1
    assert axe_violations(page) == []
    page.goto(f"{server}/ui/reports?start=2026-02-01&end=2026-01-01")
    assert "start must be before end" in page.locator("[role=alert]").inner_text()
    context.close()

    context = browser.new_context(locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "anna")
    page.goto(f"{server}/ui/reports")
    assert page.get_by_role("heading", name="关键指标").count() == 0  # hospital-wide: not hers
    assert page.get_by_role("heading", name="消耗").count() == 1
    context.close()
