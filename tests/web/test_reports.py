"""The reports screen: hospital-wide figures for an unscoped user, the scoped nurse's own
department only; a period that ends before it starts is refused, not a crash."""

from __future__ import annotations

from pathlib import Path
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
    assert page.get_by_role("heading", name="消耗", exact=True).count() == 1
    context.close()


CANVAS_PIXELS = (
    "(sel) => { const c = document.querySelector(sel + ' canvas'); if (!c) return 0;"
    " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
)


def test_monthly_trend_and_department_ranking_charts(
    cabinet_server: str, browser: Any, tmp_path: Path
) -> None:
    """The charts are drawn under the enforced CSP, with their figures in tables beside."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, cabinet_server, "sam")
    page.get_by_role("link", name="Reports").click()
    trend = page.get_by_test_id("trend").locator("tbody tr")
    assert trend.count() == 12
    assert trend.nth(11).locator("td").all_inner_texts()[1:] == ["4", "10.00"]  # this month
    ranking = page.get_by_test_id("ranking").locator("tbody tr")
    assert [ranking.nth(i).locator("td").first.inner_text() for i in range(2)] in (
        ["or", "ward-5"], ["ward-5", "or"])  # fmt: skip
    for chart in ("[data-testid=trend-chart]", "[data-testid=ranking-chart]"):
        page.locator(f"{chart} canvas").first.wait_for(timeout=10_000)
        assert page.evaluate(CANVAS_PIXELS, chart) > 500, chart
    top = page.get_by_role("heading", name="Top consumers").locator("xpath=..").inner_text()
    assert "anna: 2 (1 case)" in top and "olga: 2 (1 case)" in top
    page.screenshot(path=str(tmp_path / "reports-charts.png"), full_page=True)
    with page.expect_download() as got:  # each table exports
        page.locator("a[href^='/ui/reports/trend.csv']").click()
    rows = Path(got.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "month,items,value" and len(rows) == 13 and rows[-1].endswith(",4,10.00")
    with page.expect_download() as got:
        page.locator("a[href^='/ui/reports/kpis.csv']").click()
    kpis = Path(got.value.path()).read_text(encoding="utf-8-sig")
    assert "consumed_items,4" in kpis and "scrap.items,0" in kpis
    assert problems == [], problems
    context.close()
