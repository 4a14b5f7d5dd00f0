"""The receiving screen: a delivery file is checked line by line before anything is booked;
a good one is booked under its delivery-note number and shows in stock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.central.test_ledger import epcs
from tests.central.test_operations import GTIN
from tests.conftest import wall_days
from tests.web.conftest import axe_violations, log_in


def delivery(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("epc,gtin,lot,expiry,location\n" + "".join(r + "\n" for r in rows))
    return path


def test_check_then_book_a_delivery(server: str, browser: Any, tmp_path: Path) -> None:
    good = [f"{e},{GTIN},R7,{wall_days(400)},s1/store" for e in epcs(2, 700)]
    bad = delivery(
        tmp_path, "bad.csv", [good[0], f"{epcs(1, 800)[0]},{GTIN},R7,2001-01-01,s1/store"]
    )
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.get_by_role("link", name="Receiving").click()
    page.locator("#file").set_input_files(str(bad))
    page.get_by_role("button", name="Check").click()
    problems = page.locator("section[aria-labelledby=h-problems]").inner_text()
    assert "Line 2: expiry 2001-01-01 is not in the future" in problems
    assert "Nothing was booked." in problems
    assert page.get_by_role("button", name="Book the delivery").count() == 0

    page.locator("#file").set_input_files(str(delivery(tmp_path, "good.csv", good)))
    page.get_by_role("button", name="Check").click()
    assert page.get_by_role("heading", name="2 lines to book").count() == 1
    assert axe_violations(page) == []
    page.locator("#number").fill("DN-2026-0042")
    page.get_by_role("button", name="Book the delivery").click()
    assert page.get_by_role("status").inner_text() == "Booked 2 item(s) as receipt DN-2026-0042."
    page.goto(f"{server}/ui/stock?q=R7")
    assert "s1/store" in page.locator("tbody tr").first.inner_text()
    context.close()

    context = browser.new_context(locale="en-GB")  # a nurse does not receive
    page = context.new_page()
    log_in(page, server, "anna")
    assert page.get_by_role("link", name="Receiving").count() == 0
    page.goto(f"{server}/ui/receiving")
    assert "Your role may not do this." in page.content()
    context.close()


def test_opening_balance_from_an_xlsx_sheet_and_chinese_master_data_from_excel_csv(
    server: str, browser: Any, tmp_path: Path
) -> None:
    """An admin imports the stock the hospital holds from its spreadsheet (GTINs typed as
    numbers, dates as Excel dates, an expired batch among them): checked, then booked all
    at once as an opening balance; product names in Chinese come from a CSV saved by Excel
    on a Chinese Windows (GB18030)."""
    from datetime import date, datetime

    from openpyxl import Workbook

    products = tmp_path / "products.csv"
    products.write_bytes(f"gtin,name,unit_price\n{GTIN},生理盐水 500ml,2.50\n".encode("gb18030"))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["location", "gtin", "lot", "expiry", "quantity"])
    sheet.append(["s1/store", int(GTIN), "OB1", datetime(2099, 5, 31), 40])
    sheet.append(["s1/ward-5", int(GTIN), "OB0", date(2001, 1, 31), 3])  # expired: kept
    bad = tmp_path / "bad.xlsx"
    sheet.append(["not a location", int(GTIN), "OB2", datetime(2099, 1, 1), 1])
    book.save(bad)
    sheet.delete_rows(4)
    good = tmp_path / "stock.xlsx"
    book.save(good)

    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "ada")
    page.get_by_role("link", name="Master data").click()
    page.locator("#kind").select_option("products")
    page.locator("#file").set_input_files(str(products))
    page.get_by_role("button", name="Check and import").click()
    assert page.get_by_role("status").inner_text() == "1 row imported."
    page.get_by_role("link", name="Opening balance", exact=True).click()
    page.locator("#file").set_input_files(str(bad))
    page.get_by_role("button", name="Check").click()
    problems = page.locator("section[aria-labelledby=h-problems]").inner_text()
    assert "Line 3: location 'not a location' is not a location code" in problems
    page.locator("#file").set_input_files(str(good))
    page.get_by_role("button", name="Check").click()
    assert page.get_by_role("heading", name="2 lines to book").count() == 1
    assert axe_violations(page) == []
    page.get_by_role("button", name="Book the opening balance").click()
    assert page.get_by_role("status").inner_text().startswith("Booked 43 item(s) as receipt OB-")
    page.goto(f"{server}/ui/stock?q=OB1")
    assert "生理盐水 500ml" in page.locator("tbody tr").first.inner_text()
    page.goto(f"{server}/ui/alerts")
    assert "OB0" in page.locator("main").inner_text()  # the expired batch is an alert at once
    context.close()

    context = browser.new_context(locale="en-GB")  # a storekeeper receives, not opens stock
    page = context.new_page()
    log_in(page, server, "sam")
    page.goto(f"{server}/ui/opening-balance")
    assert "Your role may not do this." in page.content()
    context.close()
