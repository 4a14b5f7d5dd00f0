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
