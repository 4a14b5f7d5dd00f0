"""Stocktake and master data in the browser: a count compared with the ledger and booked
only on confirmation; a master-data file refused with its reasons, then imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.central.test_ledger import epcs
from tests.web.conftest import PASSWORD, axe_violations, log_in


def test_count_then_confirm(server: str, browser: Any) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "sam")
    page.get_by_role("link", name="Stocktake").click()
    page.locator("#location").fill("s1/store")
    counted = [*epcs(2), "urn:epc:id:sgtin:4012345.000001.9999"]  # 2 of 3, and a stranger
    page.locator("#epcs").fill("\n".join(counted))
    page.get_by_role("button", name="Compare with the ledger").click()
    assert page.get_by_test_id("accuracy").inner_text() == "50.0%"  # 2 of 4 known either side
    findings = page.locator("tbody").inner_text()
    assert "missing" in findings and "unexpected" in findings
    assert axe_violations(page) == []
    page.locator("#confirm-reason").fill("weekly count of the store")
    page.locator("#confirm-password").fill(PASSWORD)  # the confirmation is signed
    page.get_by_role("button", name="Confirm: book the differences").click()
    assert "confirmed" in page.locator("h2#h-take").inner_text()
    assert page.get_by_role("button", name="Confirm: book the differences").count() == 0
    context.close()


def test_master_data_file_refused_then_imported(server: str, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    page = context.new_page()
    log_in(page, server, "ada")
    page.get_by_role("link", name="Master data").click()
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nicu,Intensive care\n" + "," + "\n")
    page.locator("#kind").select_option("departments")
    page.locator("#file").set_input_files(str(bad))
    page.get_by_role("button", name="Check and import").click()
    assert "line 3: code is empty" in page.get_by_role("alert").inner_text()
    good = tmp_path / "good.csv"
    good.write_text("code,name\nicu,Intensive care\nsurgery,Surgery\n")
    page.locator("#kind").select_option("departments")
    page.locator("#file").set_input_files(str(good))
    page.get_by_role("button", name="Check only").click()
    assert page.get_by_role("status").inner_text() == (
        "2 rows checked: they can be imported; nothing was written."
    )
    page.goto(f"{server}/ui/master-data/departments")
    assert "icu" not in page.get_by_test_id("records").inner_text()  # only checked
    page.get_by_role("link", name="Import a file").click()
    page.locator("#kind").select_option("departments")
    page.locator("#file").set_input_files(str(good))
    page.get_by_role("button", name="Check and import").click()
    assert page.get_by_role("status").inner_text() == "2 rows imported."
    assert axe_violations(page) == []
    context.close()
