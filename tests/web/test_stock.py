"""Stock screens in the browser: scope (a ward nurse sees her ward only, also when she
types another ward's URL), search, the stock card's running balance, the CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from central import db
from central.imports import import_master_data
from central.ledger import Ledger
from tests.central.test_operations import GTIN
from tests.web.conftest import axe_violations, log_in


def test_a_ward_nurse_sees_her_ward_and_the_storekeeper_everything(
    server: str, browser: Any, tmp_path: Path, ledger_url: str
) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    log_in(page, server, "anna")
    page.get_by_role("link", name="Stock").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "s1/ward-5" in rows.first.inner_text()
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / "stock-nurse.png"), full_page=True)
    # the store's card, typed in by hand: not hers
    page.goto(f"{server}/ui/stock/card?location=s1/store&gtin={GTIN}")
    assert "Not found or not yours to see." in page.content()
    # her ward's card: received 2, balance 2
    page.goto(f"{server}/ui/stock")
    page.locator("tbody tr a").first.click()
    cells = page.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[1] == "receiving" and cells[3] == "+2" and cells[4] == "2"
    page.emulate_media(media="print")  # the card prints on A4 without the navigation
    assert not page.locator("header.bar").is_visible() and page.locator("table").is_visible()
    page.pdf(path=str(tmp_path / "stock-card.pdf"), format="A4")
    page.emulate_media(media="screen")
    with page.expect_download() as download:
        page.goto(f"{server}/ui/stock")
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [(r["location"], r["lot"], r["quantity"]) for r in lines] == [("s1/ward-5", "W5", "2")]
    with page.expect_download() as download:
        page.get_by_role("link", name="Export XLSX").click()
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    assert sheet is not None
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["location", "product", "gtin", "lot", "expiry", "quantity"],
        ["s1/ward-5", None, GTIN, "W5", sheet.cell(2, 5).value, 2],
    ]
    context.close()

    context = browser.new_context(locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/stock")
    assert page.locator("tbody tr").count() == 2  # store and ward
    page.locator("#q").fill("W5")
    page.locator("form[role=search] button").click()
    assert page.locator("tbody tr").count() == 1
    assert "近效期先出" in page.content()
    lg = Ledger(db.engine(ledger_url))
    with lg.session.begin() as s:
        import_master_data(s, "products", f"gtin,name\n{GTIN},Saline 0.9% 500 ml\n")
    page.goto(f"{server}/ui/stock?q=saline")
    assert page.locator("tbody tr").count() == 2  # by name, either case
    page.goto(f"{server}/ui/stock?q=%25")  # `%` is a character, not a wildcard
    assert page.locator("tbody tr").count() == 2  # the name holds one
    page.goto(f"{server}/ui/stock?q=_")
    assert page.locator("tbody tr").count() == 0  # `_` is no wildcard either
    context.close()


def test_stock_by_the_location_tree(server: str, ledger_url: str, browser: Any) -> None:
    """Site -> ward -> cabinet from master data, each with what it and those below it
    hold; a click shows that part of the tree's stock; the nurse's tree is her ward's."""
    lg = Ledger(db.engine(ledger_url))
    with lg.session.begin() as s:
        import_master_data(s, "locations", "code,name,parent,department\ns1/ward-5,Ward 5,,"
                           "ward-5\ns1/ward-5-cab,Ward 5 cabinet,s1/ward-5,ward-5\n")  # fmt: skip
    lg.engine.dispose()
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/stock")
    tree = page.get_by_test_id("tree")
    assert tree.locator("> ul > li").first.inner_text().startswith("s1 (5)")
    assert "Ward 5 (2)" in tree.inner_text() and "Ward 5 cabinet (0)" in tree.inner_text()
    tree.get_by_role("link", name="Ward 5", exact=True).click()
    assert (
        page.locator("tbody tr").count() == 1 and "s1/ward-5" in page.locator("tbody").inner_text()
    )
    assert axe_violations(page) == []
    context.close()

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    log_in(page, server, "anna")
    page.goto(f"{server}/ui/stock")
    assert "store" not in page.get_by_test_id("tree").inner_text()
    context.close()
